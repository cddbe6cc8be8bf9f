package saml

import (
	"github.com/portico-idp/portico/sdk/upstream"

	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"
)

// Defaults.
const (
	DefaultMetadataRefresh = time.Hour
	DefaultClockSkew       = 90 * time.Second

	minMetadataRefresh = time.Second
	maxMetadataRefresh = 7 * 24 * time.Hour
	// maxClockSkew is crewjam/saml's own allowance (saml.MaxClockSkew),
	// which it applies before this connector's stricter checks: a larger
	// skew could not take effect.
	maxClockSkew = 3 * time.Minute
)

// NameID formats, by the short names the config accepts.
var nameIDFormats = map[string]string{
	"persistent":   "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
	"transient":    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
	"emailAddress": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
	"unspecified":  "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
}

// Default attribute names, tried in order; the first one present in the
// assertion is used. They cover Microsoft Entra ID / AD FS claim URIs, the
// LDAP/eduPerson OIDs (Shibboleth, Keycloak with the URI name format) and
// the plain names Okta, Google and Keycloak send by default.
//
// Microsoft's ".../claims/name" is the user principal name
// (alice@corp.example), so it is a username here, not a display name.
var (
	DefaultEmailAttributes = []string{
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
		"urn:oid:0.9.2342.19200300.100.1.3", // mail
		"email", "mail", "emailAddress", "Email",
	}
	DefaultNameAttributes = []string{
		"http://schemas.microsoft.com/identity/claims/displayname",
		"urn:oid:2.16.840.1.113730.3.1.241", // displayName
		"displayName", "name", "urn:oid:2.5.4.3", "cn",
	}
	DefaultUsernameAttributes = []string{
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
		"urn:oid:0.9.2342.19200300.100.1.1", // uid
		"uid", "username", "preferred_username",
	}
	DefaultGroupsAttributes = []string{
		"http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
		"http://schemas.xmlsoap.org/claims/Group", // AD FS "Group"
		"urn:oid:1.3.6.1.4.1.5923.1.5.1.1",        // isMemberOf
		"groups", "memberOf", "Groups",
	}
)

// Config configures a Connector. The broker passes the connector's YAML
// config block converted to JSON to ParseConfig; Go callers may fill it in
// directly and have New apply the defaults and validate it.
type Config struct {
	// The IdP is described by exactly one of: IDPMetadataURL, fetched at
	// start and every IDPMetadataRefresh (default 1h, the last good copy
	// kept when a fetch fails); IDPMetadataFile, read likewise; or
	// IDPSSOURL with IDPEntityID and the IdP's signing certificates.
	IDPMetadataURL     string   `json:"idp_metadata_url,omitempty"`
	IDPMetadataFile    string   `json:"idp_metadata_file,omitempty"`
	IDPMetadataRefresh Duration `json:"idp_metadata_refresh,omitempty"`
	// IDPEntityID picks the IdP in a metadata aggregate, and must match
	// the metadata's entityID when given; it is required with IDPSSOURL.
	IDPEntityID string `json:"idp_entity_id,omitempty"`
	IDPSSOURL   string `json:"idp_sso_url,omitempty"`
	// IDPCertificates are PEM certificates (as text) that the IdP signs
	// with; IDPCertificateFiles are PEM files. Several are allowed, for a
	// key rollover; any one of them may sign. Only with IDPSSOURL.
	IDPCertificates     []string `json:"idp_certificates,omitempty"`
	IDPCertificateFiles []string `json:"idp_certificate_files,omitempty"`
	// IgnoreCertificateExpiry accepts signatures by a trusted IdP
	// certificate outside its validity dates: SAML metadata uses
	// certificates as mere key containers, and some IdPs publish expired
	// ones.
	IgnoreCertificateExpiry bool `json:"ignore_certificate_expiry,omitempty"`
	// AllowSHA1Signatures accepts RSA-SHA1 signatures and SHA-1 digests,
	// refused by default.
	AllowSHA1Signatures bool `json:"allow_sha1_signatures,omitempty"`
	// InsecureAllowHTTP allows http:// for the metadata URL and the SSO
	// URL. A man in the middle could swap the IdP's certificates; for
	// tests only.
	InsecureAllowHTTP bool `json:"insecure_allow_http,omitempty"`

	// EntityID is Portico's entity ID for this IdP (default: the URL the
	// broker serves the SP metadata at, {issuer}/metadata/{id}).
	EntityID string `json:"entity_id,omitempty"`
	// KeyFile and CertificateFile are Portico's RSA key pair for this IdP,
	// in PEM: it signs requests and decrypts assertions. Without them a
	// key and a self-signed certificate are generated once and kept in the
	// data directory (saml-{id}.key).
	KeyFile         string `json:"key_file,omitempty"`
	CertificateFile string `json:"certificate_file,omitempty"`
	// SignRequests signs AuthnRequests (RSA-SHA256), sent with the
	// HTTP-POST binding. Requests are also signed when the IdP's metadata
	// says WantAuthnRequestsSigned.
	SignRequests bool `json:"sign_requests,omitempty"`

	// RequireSignature says which element the IdP's signature must cover:
	// "either" (default: the Response or the Assertion), "response",
	// "assertion" or "both". Unsigned is never accepted.
	RequireSignature string `json:"require_signature,omitempty"`
	// ClockSkew is how far the IdP's clock may be off when checking
	// NotBefore and NotOnOrAfter (default 90s, at most 3m).
	ClockSkew Duration `json:"clock_skew,omitempty"`

	// NameIDFormat is asked for in AuthnRequests: persistent (default),
	// emailAddress, unspecified, transient, or a format URI. When the
	// subject is the NameID, a NameID of another format (or transient) is
	// refused.
	NameIDFormat string `json:"name_id_format,omitempty"`
	// SubjectAttribute, if set, holds the stable subject instead of the
	// NameID (an immutable id such as objectGUID); it must carry exactly
	// one value.
	SubjectAttribute string `json:"subject_attribute,omitempty"`
	// The attribute names read for the identity, the first one present
	// winning (defaults: DefaultEmailAttributes and the like). All values
	// of the groups attribute are groups, over one or several Attribute
	// elements. ExtraAttributes are copied into Identity.Attributes.
	EmailAttributes    []string `json:"email_attributes,omitempty"`
	NameAttributes     []string `json:"name_attributes,omitempty"`
	UsernameAttributes []string `json:"username_attributes,omitempty"`
	GroupsAttributes   []string `json:"groups_attributes,omitempty"`
	ExtraAttributes    []string `json:"extra_attributes,omitempty"`
	// EmailVerified sets email_verified on identities with an email. SAML
	// says nothing about verification and many IdPs let people edit their
	// address, so the default is false; set it when the IdP's address is
	// assigned by the organisation.
	EmailVerified bool `json:"email_verified,omitempty"`

	// IDPInitiated accepts unsolicited responses (off by default).
	IDPInitiated IDPInitiated `json:"idp_initiated,omitzero"`
}

// IDPInitiated configures IdP-initiated login: a response the IdP sends
// without a request from Portico. It has no InResponseTo to tie it to a
// browser, so anyone holding a fresh one can log in with it; assertion IDs
// are still single-use.
type IDPInitiated struct {
	Enabled bool `json:"enabled,omitempty"`
	// DefaultClientID and DefaultRedirectURI are the application the
	// person is logged in to (required when enabled).
	DefaultClientID    string `json:"default_client_id,omitempty"`
	DefaultRedirectURI string `json:"default_redirect_uri,omitempty"`
}

// Duration is a time.Duration written in JSON as a string ("5s").
type Duration = upstream.Duration

// ParseConfig decodes the connector's JSON config, refusing unknown fields,
// applies the defaults and validates it. Errors name the field, as in
// "saml: config.idp_sso_url: required with idp_entity_id".
func ParseConfig(raw []byte) (Config, error) {
	var c Config
	if err := upstream.DecodeStrict("saml: config", raw, &c); err != nil {
		return Config{}, err
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// setDefaults fills in what is left empty. It is idempotent.
func (c *Config) setDefaults() {
	if c.IDPMetadataRefresh == 0 && (c.IDPMetadataURL != "" || c.IDPMetadataFile != "") {
		c.IDPMetadataRefresh = Duration(DefaultMetadataRefresh)
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = Duration(DefaultClockSkew)
	}
	if c.RequireSignature == "" {
		c.RequireSignature = "either"
	}
	if c.NameIDFormat == "" {
		c.NameIDFormat = "persistent"
	}
	if full, ok := nameIDFormats[c.NameIDFormat]; ok {
		c.NameIDFormat = full
	}
	defList(&c.EmailAttributes, DefaultEmailAttributes)
	defList(&c.NameAttributes, DefaultNameAttributes)
	defList(&c.UsernameAttributes, DefaultUsernameAttributes)
	defList(&c.GroupsAttributes, DefaultGroupsAttributes)
}

func defList(l *[]string, def []string) {
	if len(*l) == 0 {
		*l = append([]string(nil), def...)
	}
}

// Validate checks a Config with its defaults applied. Every problem is
// reported, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("saml: config.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	c.validateIDP(bad)
	if c.EntityID != "" && !printable(c.EntityID, 1024) {
		bad("entity_id", "must be printable text, at most 1024 bytes")
	}
	if (c.KeyFile == "") != (c.CertificateFile == "") {
		bad("key_file", "key_file and certificate_file go together")
	} else if c.KeyFile != "" {
		if _, _, err := loadKeyPair(c.KeyFile, c.CertificateFile); err != nil {
			bad("key_file", "%v", err)
		}
	}
	switch c.RequireSignature {
	case "either", "response", "assertion", "both":
	default:
		bad("require_signature", "%q must be \"either\", \"response\", \"assertion\" or \"both\"", c.RequireSignature)
	}
	if d := time.Duration(c.ClockSkew); d <= 0 || d > maxClockSkew {
		bad("clock_skew", "%v is out of range (0, %v]", d, maxClockSkew)
	}
	if !strings.HasPrefix(c.NameIDFormat, "urn:") || !printable(c.NameIDFormat, 256) {
		bad("name_id_format", "%q is not persistent, transient, emailAddress, unspecified or a format URI", c.NameIDFormat)
	} else if c.SubjectAttribute == "" && c.NameIDFormat == nameIDFormats["transient"] {
		bad("name_id_format", "a transient NameID changes at every login, so it cannot be the subject; set subject_attribute or another format")
	}
	if c.SubjectAttribute != "" {
		checkAttr(bad, "subject_attribute", c.SubjectAttribute)
	}
	for _, f := range []struct {
		name string
		l    []string
	}{
		{"email_attributes", c.EmailAttributes}, {"name_attributes", c.NameAttributes}, {"username_attributes", c.UsernameAttributes},
		{"groups_attributes", c.GroupsAttributes}, {"extra_attributes", c.ExtraAttributes},
	} {
		for i, a := range f.l {
			checkAttr(bad, fmt.Sprintf("%s[%d]", f.name, i), a)
		}
	}
	p := c.IDPInitiated
	if p.Enabled {
		if p.DefaultClientID == "" {
			bad("idp_initiated.default_client_id", "required when idp_initiated is enabled")
		}
		if u, err := url.Parse(p.DefaultRedirectURI); err != nil || !u.IsAbs() || u.Fragment != "" {
			bad("idp_initiated.default_redirect_uri", "an absolute URL without fragment is required when idp_initiated is enabled")
		}
	} else if p.DefaultClientID != "" || p.DefaultRedirectURI != "" {
		bad("idp_initiated.enabled", "default_client_id and default_redirect_uri are set but idp_initiated is not enabled")
	}
	return errors.Join(errs...)
}

func (c *Config) validateIDP(bad func(string, string, ...any)) {
	n := 0
	for _, s := range []string{c.IDPMetadataURL, c.IDPMetadataFile, c.IDPSSOURL} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		bad("idp_metadata_url", "exactly one of idp_metadata_url, idp_metadata_file and idp_sso_url is required")
	}
	if c.IDPMetadataURL != "" {
		c.checkURL(bad, "idp_metadata_url", c.IDPMetadataURL)
	}
	if c.IDPMetadataURL != "" || c.IDPMetadataFile != "" {
		if d := time.Duration(c.IDPMetadataRefresh); d < minMetadataRefresh || d > maxMetadataRefresh {
			bad("idp_metadata_refresh", "%v is out of range [%v, %v]", d, minMetadataRefresh, maxMetadataRefresh)
		}
	} else if c.IDPMetadataRefresh != 0 {
		bad("idp_metadata_refresh", "only with idp_metadata_url or idp_metadata_file")
	}
	if c.IDPEntityID != "" && !printable(c.IDPEntityID, 1024) {
		bad("idp_entity_id", "must be printable text, at most 1024 bytes")
	}
	certs := len(c.IDPCertificates) + len(c.IDPCertificateFiles)
	if c.IDPSSOURL == "" {
		if certs > 0 {
			bad("idp_certificates", "only with idp_sso_url; metadata carries the IdP's certificates")
		}
		return
	}
	c.checkURL(bad, "idp_sso_url", c.IDPSSOURL)
	if c.IDPEntityID == "" {
		bad("idp_entity_id", "required with idp_sso_url")
	}
	if certs == 0 {
		bad("idp_certificates", "at least one signing certificate is required with idp_sso_url")
	}
	if _, err := c.idpCertificates(); err != nil {
		bad("idp_certificates", "%v", err)
	}
}

func (c *Config) checkURL(bad func(string, string, ...any), field, s string) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		bad(field, "%v", err)
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		bad(field, "%q is not an absolute https URL", s)
	case u.Scheme == "http" && !c.InsecureAllowHTTP:
		bad(field, "http:// lets anyone on the path swap the IdP's keys: use https, or (for tests) insecure_allow_http: true")
	}
}

// idpCertificates parses the configured IdP signing certificates.
func (c *Config) idpCertificates() ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	add := func(what string, data []byte) error {
		n := 0
		for {
			var b *pem.Block
			b, data = pem.Decode(data)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			out, n = append(out, cert), n+1
		}
		if n == 0 {
			return fmt.Errorf("%s: no PEM certificate", what)
		}
		return nil
	}
	for i, s := range c.IDPCertificates {
		if err := add(fmt.Sprintf("[%d]", i), []byte(s)); err != nil {
			return nil, err
		}
	}
	for _, f := range c.IDPCertificateFiles {
		b, err := readFile(f)
		if err == nil {
			err = add(f, b)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loadKeyPair reads an RSA key and its certificate from PEM files.
func loadKeyPair(keyFile, certFile string) (*rsa.PrivateKey, *x509.Certificate, error) {
	kb, err := readFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cb, err := readFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	key, cert, err := parseKeyPair(kb, cb)
	if err != nil {
		return nil, nil, fmt.Errorf("%s, %s: %w", keyFile, certFile, err)
	}
	return key, cert, nil
}

// readFile reads a config file, refusing absurd sizes (a path such as
// /dev/zero must not eat the memory).
func readFile(path string) ([]byte, error) {
	const max = 16 << 20
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && len(b) > max {
		err = fmt.Errorf("%s is larger than %d MiB", path, max>>20)
	}
	return b, err
}

func checkAttr(bad func(string, string, ...any), field, a string) {
	if a == "" || !printable(a, 1024) {
		bad(field, "%q is not an attribute name", a)
	}
}

// printable reports whether s is non-empty, at most max bytes, and free of
// control characters and spaces.
func printable(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}
