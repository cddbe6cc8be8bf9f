// Package dex turns a Dex configuration file into a Portico configuration
// fragment: static clients, static passwords (bcrypt hashes, which the
// local connector verifies and upgrades to argon2id at the next login) and
// the connectors that have a Portico counterpart (ldap, oidc, github,
// saml). Fields are those of Dex's configuration reference
// (dexidp.io/docs/configuration); everything else goes to the report.
package dex

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/internal/importer"
)

// file is the part of Dex's configuration that is imported.
type file struct {
	StaticClients []struct {
		ID           string   `yaml:"id"`
		IDEnv        string   `yaml:"idEnv"`
		Secret       string   `yaml:"secret"`
		SecretEnv    string   `yaml:"secretEnv"`
		RedirectURIs []string `yaml:"redirectURIs"`
		TrustedPeers []string `yaml:"trustedPeers"`
		Public       bool     `yaml:"public"`
		Name         string   `yaml:"name"`
		LogoURL      string   `yaml:"logoURL"`
	} `yaml:"staticClients"`
	EnablePasswordDB bool `yaml:"enablePasswordDB"`
	StaticPasswords  []struct {
		Email       string   `yaml:"email"`
		Hash        string   `yaml:"hash"`
		HashFromEnv string   `yaml:"hashFromEnv"`
		Username    string   `yaml:"username"`
		UserID      string   `yaml:"userID"`
		Groups      []string `yaml:"groups"`
	} `yaml:"staticPasswords"`
	Connectors []struct {
		Type   string         `yaml:"type"`
		ID     string         `yaml:"id"`
		Name   string         `yaml:"name"`
		Config map[string]any `yaml:"config"`
	} `yaml:"connectors"`
}

// Parse reads a Dex configuration file.
func Parse(data []byte) (*importer.Result, error) {
	if len(data) > importer.MaxInput {
		return nil, fmt.Errorf("dex: config is over %d bytes", importer.MaxInput)
	}
	var f file
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("dex: %w", err)
	}
	r := &importer.Result{Source: "dex"}
	for i, c := range f.StaticClients {
		importClient(r, i, c.ID, c.IDEnv, c.Secret, c.SecretEnv, c.Name, c.Public, c.RedirectURIs, len(c.TrustedPeers) > 0)
	}
	if len(f.StaticPasswords) > 0 {
		r.Note("users get new subjects (sub): Dex's encoded the connector and userID; the userID is not kept")
		if !f.EnablePasswordDB {
			r.Note("enablePasswordDB is false in Dex: its staticPasswords were not used there, but are imported")
		}
	}
	seen := map[string]bool{}
	for i, p := range f.StaticPasswords {
		what := fmt.Sprintf("staticPasswords[%d] (%s)", i, importer.ID(p.Username))
		hash := p.Hash
		if b, err := base64.StdEncoding.DecodeString(hash); err == nil && strings.HasPrefix(string(b), "$2") {
			hash = string(b) // Dex accepts a base64-encoded bcrypt hash too
		}
		username := p.Username
		if username == "" {
			username = p.Email
		}
		switch {
		case p.HashFromEnv != "" && hash == "":
			r.Skip("%s: hashFromEnv %s: put the hash itself in password_hash", what, importer.ID(p.HashFromEnv))
			continue
		case config.CheckUsername(username) != "":
			r.Skip("%s: username: %s", what, config.CheckUsername(username))
			continue
		case seen[strings.ToLower(username)] || p.Email != "" && seen[strings.ToLower(p.Email)]:
			r.Skip("%s: duplicate username or email", what)
			continue
		}
		if err := local.CheckHash(hash); err != nil {
			// The message names the format or bound, never the hash.
			r.Skip("%s: %s", what, strings.TrimPrefix(err.Error(), "local: "))
			continue
		}
		seen[strings.ToLower(username)], seen[strings.ToLower(p.Email)] = true, p.Email != ""
		u := importer.User{Username: username, Email: p.Email, PasswordHash: hash, Groups: p.Groups}
		if p.Email != "" {
			u.EmailVerified = importer.Bool(true) // Dex says email_verified: true for them
		}
		r.Users = append(r.Users, u)
	}
	for i, c := range f.Connectors {
		importConnector(r, i, c.Type, c.ID, c.Name, c.Config)
	}
	return r, nil
}

func importClient(r *importer.Result, i int, id, idEnv, secret, secretEnv, name string, public bool, redirects []string, peers bool) {
	what := fmt.Sprintf("staticClients[%d] (%s)", i, importer.ID(id))
	if id == "" {
		r.Skip("%s: no id (idEnv %q: give the id itself)", what, idEnv)
		return
	}
	c := importer.Client{ID: id, Name: name, Public: public, GrantTypes: []string{"authorization_code", "refresh_token"}}
	if !public {
		switch {
		case secret != "":
			c.Secret = secret
		case secretEnv != "":
			ref, ok := importer.Env(secretEnv)
			if !ok {
				r.Skip("%s: secretEnv %s is not a variable name: set secret before loading", what, importer.ID(secretEnv))
				break
			}
			c.Secret = ref
			r.Note("%s: secret from the environment variable %s, as ${%s}", what, secretEnv, secretEnv)
		default:
			r.Note("%s: no secret in Dex: set one (or secret_hash) before loading", what)
		}
	}
	for _, u := range redirects {
		if strings.Contains(u, "*") {
			r.Skip("%s: redirect URI %s: Portico takes no wildcards", what, importer.ID(u))
			continue
		}
		c.RedirectURIs = append(c.RedirectURIs, u)
	}
	if len(c.RedirectURIs) == 0 {
		if public {
			r.Note("%s: Dex let a public client without redirectURIs use http://localhost and the OOB flow: list its loopback redirect URIs", what)
		}
		c.GrantTypes = nil
	}
	if peers {
		r.Skip("%s: trustedPeers (cross-client audiences) have no Portico equivalent", what)
	}
	r.AddClient(what, c)
}

// fields consumes a Dex connector's config map and remembers what it did
// not use, for the report.
type fields struct {
	m    map[string]any
	used map[string]bool
	refs *[]string // environment variables referenced ($VAR), for the report
}

func (f *fields) get(k string) any { f.used[k] = true; return f.m[k] }

// str is the string at k as Dex has it: a literal, or $VAR (see val).
func (f *fields) str(k string) string {
	s, _ := f.get(k).(string)
	return s
}

// val is what str(k) becomes in the fragment: an environment reference
// for Dex's $VAR, a literal (escaped when written) otherwise.
func (f *fields) val(k string) any { return f.conv(f.str(k)) }

func (f *fields) conv(s string) any {
	if ref, name, ok := envRef(s); ok {
		*f.refs = append(*f.refs, name)
		return ref
	}
	return s
}

// join is prefix followed by the value s, for a value Portico builds
// from Dex's (a URL from a host name).
func (f *fields) join(prefix, s, suffix string) any {
	if ref, name, ok := envRef(s); ok {
		*f.refs = append(*f.refs, name)
		return importer.Raw(importer.Escape(prefix) + string(ref) + importer.Escape(suffix))
	}
	return prefix + s + suffix
}

func (f *fields) boolean(k string) bool { b, _ := f.get(k).(bool); return b }

func (f *fields) strs(k string) []any {
	var out []any
	if l, ok := f.get(k).([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, f.conv(s))
			}
		}
	}
	return out
}

func (f *fields) sub(k string) *fields {
	m, _ := f.get(k).(map[string]any)
	return &fields{m: m, used: map[string]bool{}, refs: f.refs}
}

// unused lists keys present but not consumed, sorted.
func (f *fields) unused(prefix string) []string {
	var out []string
	for k := range f.m {
		if !f.used[k] {
			out = append(out, prefix+k)
		}
	}
	slices.Sort(out)
	return out
}

// envRef turns Dex's $VAR (a whole value) in connector config into
// Portico's ${VAR}; anything else is a literal.
func envRef(s string) (importer.Raw, string, bool) {
	if len(s) < 2 || s[0] != '$' {
		return "", "", false
	}
	ref, ok := importer.Env(s[1:])
	return ref, s[1:], ok
}

func set(m map[string]any, k string, v any) {
	switch x := v.(type) {
	case string:
		if x == "" {
			return
		}
	case importer.Raw:
	case []any:
		if len(x) == 0 {
			return
		}
	case bool:
		if !x {
			return
		}
	case []string:
		if len(x) == 0 {
			return
		}
	case map[string]any:
		if len(x) == 0 {
			return
		}
	}
	m[k] = v
}

func importConnector(r *importer.Result, i int, typ, id, name string, raw map[string]any) {
	what := fmt.Sprintf("connectors[%d] (%s, type %s)", i, importer.ID(id), importer.ID(typ))
	f := &fields{m: raw, used: map[string]bool{}, refs: new([]string)}
	out := map[string]any{}
	var unused []string
	switch typ {
	case "ldap":
		unused = ldapConfig(r, what, f, out)
	case "oidc":
		set(out, "issuer", f.val("issuer"))
		set(out, "client_id", f.val("clientID"))
		set(out, "client_secret", f.val("clientSecret"))
		set(out, "scopes", f.strs("scopes"))
		set(out, "get_userinfo", f.boolean("getUserInfo"))
		set(out, "insecure_skip_email_verified", f.boolean("insecureSkipEmailVerified"))
		set(out, "hosted_domains", f.strs("hostedDomains"))
		set(out, "allowed_groups", f.strs("allowedGroups"))
		if f.boolean("basicAuthUnsupported") {
			out["token_auth_method"] = "client_secret_post"
		}
		cm := map[string]any{}
		set(cm, "username", f.val("userNameKey"))
		dm := f.sub("claimMapping")
		set(cm, "username", dm.val("preferred_username"))
		set(cm, "email", dm.val("email"))
		set(cm, "groups", dm.val("groups"))
		set(out, "claim_mapping", cm)
		f.get("redirectURI")
		unused = append(f.unused(""), dm.unused("claimMapping.")...)
	case "github":
		set(out, "client_id", f.val("clientID"))
		set(out, "client_secret", f.val("clientSecret"))
		if h := f.str("hostName"); h != "" {
			out["base_url"], out["api_url"] = f.join("https://", h, ""), f.join("https://", h, "/api/v3")
		}
		var orgs []string
		if l, ok := f.get("orgs").([]any); ok {
			for _, o := range l {
				om, _ := o.(map[string]any)
				if n, ok := om["name"].(string); ok {
					orgs = append(orgs, n)
				}
				if t, ok := om["teams"].([]any); ok && len(t) > 0 {
					r.Skip("%s: orgs[].teams: Portico allows whole organizations only", what)
				}
			}
		}
		set(out, "allowed_orgs", orgs)
		f.get("redirectURI")
		unused = f.unused("")
	case "saml":
		set(out, "idp_sso_url", f.val("ssoURL"))
		set(out, "idp_entity_id", f.val("ssoIssuer"))
		set(out, "entity_id", f.val("entityIssuer"))
		if ca := f.str("ca"); ca != "" {
			out["idp_certificate_files"] = []any{f.conv(ca)}
		}
		if d := f.str("caData"); d != "" {
			if pem, err := base64.StdEncoding.DecodeString(d); err == nil {
				out["idp_certificates"] = []string{string(pem)}
			} else {
				r.Skip("%s: caData is not base64", what)
			}
		}
		for dk, pk := range map[string]string{"usernameAttr": "username_attributes", "emailAttr": "email_attributes", "groupsAttr": "groups_attributes"} {
			if a := f.str(dk); a != "" {
				out[pk] = []any{f.conv(a)}
			}
		}
		set(out, "name_id_format", f.val("nameIDPolicyFormat"))
		if f.boolean("insecureSkipSignatureValidation") {
			r.Skip("%s: insecureSkipSignatureValidation: Portico always checks signatures", what)
		}
		f.get("redirectURI")
		unused = f.unused("")
		if out["idp_entity_id"] == nil {
			r.Note("%s: set idp_entity_id (Dex's ssoIssuer was empty; Portico requires it with idp_sso_url)", what)
		}
	default:
		r.Skip("%s: no Portico connector of this type", what)
		return
	}
	if id == "" {
		id = typ
	}
	for _, k := range unused {
		r.Skip("%s: config.%s not mapped", what, importer.ID(k))
	}
	if len(*f.refs) > 0 {
		r.Note("%s: written as environment references (Dex's $VAR): %s; check each is meant to be read from Portico's environment", what, strings.Join(*f.refs, ", "))
	}
	if typ != "ldap" {
		r.Note("%s: register Portico's callback URL with the upstream in place of Dex's redirectURI", what)
	}
	r.Connectors = append(r.Connectors, importer.Connector{ID: id, Type: typ, Name: name, Config: out})
}

// ldapConfig maps Dex's ldap connector config into out and returns the
// keys it did not use.
func ldapConfig(r *importer.Result, what string, f *fields, out map[string]any) []string {
	host := f.str("host")
	noTLS, startTLS := f.boolean("insecureNoSSL"), f.boolean("startTLS")
	scheme := "ldaps://"
	if noTLS || startTLS {
		scheme = "ldap://"
	}
	if host != "" {
		out["url"] = f.join(scheme, host, "")
	}
	set(out, "start_tls", startTLS)
	set(out, "insecure_no_tls", noTLS && !startTLS)
	set(out, "insecure_skip_verify", f.boolean("insecureSkipVerify"))
	set(out, "root_ca", f.val("rootCA"))
	if d := f.str("rootCAData"); d != "" {
		if pem, err := base64.StdEncoding.DecodeString(d); err == nil {
			out["root_ca_data"] = string(pem)
		} else {
			r.Skip("%s: rootCAData is not base64", what)
		}
	}
	set(out, "bind_dn", f.val("bindDN"))
	set(out, "bind_password", f.val("bindPW"))

	us := f.sub("userSearch")
	u := map[string]any{}
	set(u, "base_dn", us.val("baseDN"))
	set(u, "filter", us.val("filter"))
	set(u, "scope", us.val("scope"))
	if a := us.str("username"); a != "" {
		var attrs []any
		for _, x := range strings.Split(a, ",") {
			attrs = append(attrs, us.conv(x))
		}
		u["username_attributes"] = attrs
	}
	if id := us.str("idAttr"); strings.EqualFold(id, "dn") {
		r.Note("%s: userSearch.idAttr DN: Portico keeps its default id_attribute (entryUUID), which survives renames", what)
	} else {
		set(u, "id_attribute", us.conv(id))
	}
	set(u, "email_attribute", us.val("emailAttr"))
	set(u, "name_attribute", us.val("nameAttr"))
	set(u, "preferred_username_attribute", us.val("preferredUsernameAttr"))
	set(out, "user_search", u)

	gs := f.sub("groupSearch")
	g := map[string]any{}
	set(g, "base_dn", gs.val("baseDN"))
	set(g, "filter", gs.val("filter"))
	set(g, "scope", gs.val("scope"))
	set(g, "name_attribute", gs.val("nameAttr"))
	userAttr, groupAttr := gs.str("userAttr"), gs.str("groupAttr") // Dex's older form
	if l, ok := gs.get("userMatchers").([]any); ok && len(l) > 0 {
		m, _ := l[0].(map[string]any)
		userAttr, _ = m["userAttr"].(string)
		groupAttr, _ = m["groupAttr"].(string)
		if len(l) > 1 {
			r.Skip("%s: groupSearch.userMatchers after the first: add group_searches entries by hand", what)
		}
	}
	set(g, "member_attribute", gs.conv(groupAttr))
	if strings.EqualFold(userAttr, "dn") {
		userAttr = "dn"
	}
	set(g, "member_value", gs.conv(userAttr))
	set(out, "group_search", g)
	if f.str("usernamePrompt") != "" {
		r.Note("%s: usernamePrompt: Portico's login page has its own wording (the message catalogue)", what)
	}
	return append(append(f.unused(""), us.unused("userSearch.")...), gs.unused("groupSearch.")...)
}
