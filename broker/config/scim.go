package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// SCIM configures SCIM 2.0 provisioning (docs/scim.md). Provisioners can
// also be made through the admin API; those declared here are put in the
// store at every start.
type SCIM struct {
	// Provisioners are the SCIM provisioners of the file, put in the store
	// at every start; more can be made with the admin API, which cannot
	// rotate or delete those of the file.
	Provisioners []SCIMProvisioner `yaml:"provisioners"`
}

// SCIMProvisioner is one directory provisioning through /scim/v2.
type SCIMProvisioner struct {
	// ID names the provisioner: 1-63 of a-z, 0-9, `-` and `_`, starting
	// with a letter or digit.
	ID string `yaml:"id"`
	// Connector is the configured connector whose logins find the
	// provisioned users.
	Connector string `yaml:"connector"`
	// Subject is the SCIM attribute that is that connector's subject:
	// `externalId` or `userName`.
	Subject string `yaml:"subject"`
	// Token is the bearer credential in clear (better from the
	// environment), which must be `portico_scim.<id>.` and at least 32
	// random characters. Set exactly one of `token`, `token_file` and
	// `token_hash`.
	Token string `yaml:"token"`
	// TokenHash is the token's hash, in the form client secret hashes
	// take (`sha256:...`).
	TokenHash string `yaml:"token_hash"`
	// TokenFile is a file holding `token` (a mounted secret), read at
	// start ([Secrets in files](#secrets-in-files)).
	TokenFile string `yaml:"token_file"`
	// AdoptPrivileged lets the provisioner adopt a user who has roles (an
	// administrator): without it such an adoption is refused with 403, as
	// an upstream-bound provisioner could otherwise disable or delete an
	// administrator ([scim.md](scim.md)).
	AdoptPrivileged bool `yaml:"adopt_privileged"`
}

// scimTokenHash is the form of a credential's hash: a client secret hash.
var scimTokenHash = regexp.MustCompile(`^sha256:[A-Za-z0-9_-]{43}$`)

var scimProvisionerID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// scimTokenPrefix begins every credential (broker/scim.Token).
const scimTokenPrefix = "portico_scim."

func (c *Config) validateSCIM(v *validator) {
	seen := map[string]bool{}
	for i, p := range c.SCIM.Provisioners {
		at := fmt.Sprintf("scim.provisioners[%d]", i)
		if !scimProvisionerID.MatchString(p.ID) {
			v.add(at+".id", "1-63 of a-z, 0-9, - and _, starting with a letter or digit")
		} else if seen[p.ID] {
			v.add(at+".id", "duplicate %q", p.ID)
		}
		seen[p.ID] = true
		if i := slices.IndexFunc(c.Connectors, func(cn Connector) bool { return cn.ID == p.Connector }); i < 0 {
			v.add(at+".connector", "no connector %q", printable(p.Connector))
		} else if c.Connectors[i].Type == "local" {
			v.add(at+".connector", "%q is the local connector; SCIM provisions users of upstream connectors (LDAP, SAML, OIDC, GitHub...)", printable(p.Connector))
		}
		if p.Subject != "externalId" && p.Subject != "userName" {
			v.add(at+".subject", `"externalId" or "userName"`)
		}
		switch {
		case (p.Token == "") == (p.TokenHash == ""):
			v.add(at, "set exactly one of token and token_hash")
		case p.Token != "" && (!strings.HasPrefix(p.Token, scimTokenPrefix+p.ID+".") || len(p.Token) < len(scimTokenPrefix+p.ID)+33 || len(p.Token) > 512):
			v.add(at+".token", "must be %s%s.<at least 32 random characters>", scimTokenPrefix, p.ID)
		case p.TokenHash != "" && !scimTokenHash.MatchString(p.TokenHash):
			v.add(at+".token_hash", "must be sha256: and the unpadded base64url of the credential's SHA-256 (43 characters), as a client secret hash")
		}
	}
}

// applySCIMDefaults sets a provisioner's default subject.
func (c *Config) applySCIMDefaults() {
	for i := range c.SCIM.Provisioners {
		if c.SCIM.Provisioners[i].Subject == "" {
			c.SCIM.Provisioners[i].Subject = "externalId"
		}
	}
}
