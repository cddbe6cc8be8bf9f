package oidc

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/portico-idp/portico/sdk/upstream"
)

// Config configures a generic OpenID Connect upstream. The broker passes
// the connector's YAML config block, as JSON, to ParseConfig; Go callers may
// fill it in and have New apply the defaults and validate it. Google and
// Microsoft have their own configs (GoogleConfig, MicrosoftConfig) that
// derive one of these.
type Config struct {
	// Issuer is the upstream's issuer URL; discovery is read from
	// Issuer + "/.well-known/openid-configuration" and must name the same
	// issuer, as must every id_token.
	Issuer string `json:"issuer"`
	// ClientID and ClientSecret are Portico's client at the upstream,
	// registered with the connector's callback URL
	// (<portico issuer>/callback/<connector id>) as its redirect URI.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// Scopes asked of the upstream (default openid, profile, email);
	// openid is added if missing. offline_access is added by the connector
	// when the application asked Portico for a refresh token.
	Scopes []string `json:"scopes,omitempty"`
	// GetUserInfo also reads the userinfo endpoint after each login and
	// refresh, for upstreams that keep claims (groups, often) out of the
	// id_token. Its claims win over the id_token's; its sub must match.
	GetUserInfo bool `json:"get_userinfo,omitempty"`
	// ClaimMapping names the upstream claims the identity is built from.
	ClaimMapping ClaimMapping `json:"claim_mapping,omitzero"`
	// InsecureSkipEmailVerified treats an email whose email_verified claim
	// is missing as verified. An explicit false stays false. Only for an
	// upstream that verifies every address but does not say so.
	InsecureSkipEmailVerified bool `json:"insecure_skip_email_verified,omitempty"`
	// HostedDomains, if set, admits only people whose "hd" claim (Google
	// Workspace's domain) is one of these.
	HostedDomains []string `json:"hosted_domains,omitempty"`
	// AllowedGroups, if set, admits only people in at least one of these
	// groups (after mapping), at login and at every refresh.
	AllowedGroups []string `json:"allowed_groups,omitempty"`
	// TokenAuthMethod is how Portico authenticates to the token endpoint:
	// client_secret_basic or client_secret_post. Empty picks from the
	// upstream's discovery (basic if offered, as the spec's default).
	TokenAuthMethod string `json:"token_auth_method,omitempty"`
	// Timeout bounds each upstream HTTP call (default 10s).
	Timeout upstream.Duration `json:"timeout,omitempty"`

	// Set by the presets only; not part of the generic config file.
	discoveryURL  string            // where discovery lives, if not at Issuer
	authParams    map[string]string // added to every authorization request
	offlineParams map[string]string // ask for a refresh token this way instead of the offline_access scope
	tenancy       *tenancy          // multi-tenant issuer rules (Microsoft)
	kind          string            // "oidc", "google", "microsoft": error prefixes
}

// ClaimMapping says which upstream claim fills which identity field. A
// name is first looked up as a top-level claim; failing that, a dotted name
// walks into objects ("realm_access.roles").
type ClaimMapping struct {
	// Subject is the stable id of the person at the upstream (default
	// "sub"). Never an email or username: those can change or be reused.
	Subject string `json:"subject,omitempty"`
	// Email (default "email") and EmailVerified (default
	// "email_verified"), which must be true or "true" for the address to
	// count as verified.
	Email         string `json:"email,omitempty"`
	EmailVerified string `json:"email_verified,omitempty"`
	// Username (default "preferred_username"), Name (default "name").
	Username string `json:"username,omitempty"`
	Name     string `json:"name,omitempty"`
	// Groups (default "groups"): a list of strings, or one string.
	Groups string `json:"groups,omitempty"`
}

// Token endpoint authentication methods (RFC 8414 names).
const (
	AuthBasic = "client_secret_basic"
	AuthPost  = "client_secret_post"
)

// DefaultScopes are asked of an upstream whose config names none.
var DefaultScopes = []string{"openid", "profile", "email"}

// ParseConfig decodes the connector's JSON config, refusing unknown fields,
// applies the defaults and validates it. Errors name the field, as in
// "oidc: config.issuer: required".
func ParseConfig(raw []byte) (Config, error) {
	var c Config
	if err := upstream.DecodeStrict("oidc: config", raw, &c); err != nil {
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
	if c.kind == "" {
		c.kind = "oidc"
	}
	if len(c.Scopes) == 0 {
		c.Scopes = slices.Clone(DefaultScopes)
	} else if !slices.Contains(c.Scopes, "openid") {
		c.Scopes = append([]string{"openid"}, c.Scopes...)
	}
	m := &c.ClaimMapping
	def(&m.Subject, "sub")
	def(&m.Email, "email")
	def(&m.EmailVerified, "email_verified")
	def(&m.Username, "preferred_username")
	def(&m.Name, "name")
	def(&m.Groups, "groups")
	if c.Timeout == 0 {
		c.Timeout = upstream.Duration(upstream.DefaultTimeout)
	}
	// An empty list is no list: one config, one form.
	if len(c.HostedDomains) == 0 {
		c.HostedDomains = nil
	}
	if len(c.AllowedGroups) == 0 {
		c.AllowedGroups = nil
	}
}

func def(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

// Validate checks a Config with its defaults applied. Every problem is
// reported, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	prefix := c.kind
	if prefix == "" {
		prefix = "oidc"
	}
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: config.%s: %s", prefix, field, fmt.Sprintf(format, args...)))
	}
	if c.tenancy == nil { // a preset's issuer is derived and checked there
		upstream.CheckURL(bad, "issuer", c.Issuer)
	}
	if c.ClientID == "" {
		bad("client_id", "required")
	}
	if c.ClientSecret == "" {
		bad("client_secret", "required")
	}
	for i, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			bad(fmt.Sprintf("scopes[%d]", i), "%q is not a scope", s)
		}
		if s == "offline_access" {
			bad(fmt.Sprintf("scopes[%d]", i), "offline_access is asked for by the connector when an application wants a refresh token; leave it out")
		}
	}
	m := c.ClaimMapping
	for _, f := range []struct{ field, v string }{
		{"subject", m.Subject}, {"email", m.Email}, {"email_verified", m.EmailVerified},
		{"username", m.Username}, {"name", m.Name}, {"groups", m.Groups},
	} {
		if f.v == "" || strings.HasPrefix(f.v, ".") || strings.HasSuffix(f.v, ".") {
			bad("claim_mapping."+f.field, "%q is not a claim name", f.v)
		}
	}
	for i, d := range c.HostedDomains {
		if d == "" || strings.ContainsAny(d, " /@") {
			bad(fmt.Sprintf("hosted_domains[%d]", i), "%q is not a domain", d)
		}
	}
	for i, g := range c.AllowedGroups {
		if g == "" {
			bad(fmt.Sprintf("allowed_groups[%d]", i), "empty group name")
		}
	}
	switch c.TokenAuthMethod {
	case "", AuthBasic, AuthPost:
	default:
		bad("token_auth_method", "%q must be %s or %s", c.TokenAuthMethod, AuthBasic, AuthPost)
	}
	upstream.CheckTimeout(bad, "timeout", c.Timeout)
	return errors.Join(errs...)
}
