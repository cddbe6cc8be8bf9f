package oidc

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/portico-idp/portico/sdk/upstream"
)

// Presets: Google and Microsoft are OpenID Connect providers with a few
// habits of their own. Their configs are small, and each derives a generic
// Config with those habits filled in; the connector is the same.

// Google's and Microsoft's real endpoints, the defaults of the presets.
const (
	GoogleIssuer       = "https://accounts.google.com"
	MicrosoftAuthority = "https://login.microsoftonline.com"
	// MicrosoftConsumersTenant is the tenant id of personal Microsoft
	// accounts (outlook.com, xbox), the only tenant of the "consumers"
	// endpoint and the one "organizations" must refuse.
	MicrosoftConsumersTenant = "9188040d-6c67-4c5b-b112-36a304b66dad"
)

// GoogleConfig configures login with Google accounts.
type GoogleConfig struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// HostedDomains, if set, admits only Google Workspace accounts of these
	// domains (the id_token's hd claim); a single domain is also sent as
	// the hd hint so Google's account chooser offers only that domain.
	HostedDomains []string `json:"hosted_domains,omitempty"`
	// Scopes (default openid, profile, email).
	Scopes []string `json:"scopes,omitempty"`
	// ClaimMapping overrides the defaults (sub, email, email_verified,
	// username from email, name). Google sends no groups.
	ClaimMapping ClaimMapping `json:"claim_mapping,omitzero"`
	// Issuer is Google's (the default); set only to test against another.
	Issuer  string            `json:"issuer,omitempty"`
	Timeout upstream.Duration `json:"timeout,omitempty"`
}

// ParseGoogleConfig decodes a google connector's JSON config and derives
// the generic Config from it.
func ParseGoogleConfig(raw []byte) (Config, error) {
	var g GoogleConfig
	if err := upstream.DecodeStrict("google: config", raw, &g); err != nil {
		return Config{}, err
	}
	return g.OIDCConfig()
}

// OIDCConfig derives the generic Config, with defaults applied, validated.
func (g GoogleConfig) OIDCConfig() (Config, error) {
	m := g.ClaimMapping
	def(&m.Username, "email") // Google has no preferred_username
	c := Config{
		kind: "google", Issuer: g.Issuer, ClientID: g.ClientID, ClientSecret: g.ClientSecret,
		Scopes: g.Scopes, ClaimMapping: m, HostedDomains: g.HostedDomains, Timeout: g.Timeout,
		// Google does not take the offline_access scope: it gives a
		// refresh token for access_type=offline, and again on later logins
		// only when the consent screen is shown again.
		offlineParams: map[string]string{"access_type": "offline", "prompt": "consent"},
	}
	def(&c.Issuer, GoogleIssuer)
	switch len(g.HostedDomains) {
	case 0:
	case 1:
		c.authParams = map[string]string{"hd": g.HostedDomains[0]}
	default:
		c.authParams = map[string]string{"hd": "*"} // any Workspace domain; the claim check picks
	}
	c.setDefaults()
	return c, c.Validate()
}

// MicrosoftConfig configures login with Microsoft Entra ID (work and
// school accounts) and personal Microsoft accounts, through the v2.0
// endpoints.
type MicrosoftConfig struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// Tenant is "common" (the default: any organisation and personal
	// accounts), "organizations" (any organisation), "consumers" (personal
	// accounts) or one tenant's id (a GUID): only its members.
	Tenant string `json:"tenant,omitempty"`
	// AllowedTenants, if set, admits only these tenant ids: for a
	// multi-tenant app that serves a known list of organisations.
	AllowedTenants []string `json:"allowed_tenants,omitempty"`
	// AllowedGroups, if set, admits only members of one of these groups
	// (object ids, as the groups claim carries them when the app
	// registration's groupMembershipClaims is set).
	AllowedGroups []string `json:"allowed_groups,omitempty"`
	// Scopes (default openid, profile, email).
	Scopes []string `json:"scopes,omitempty"`
	// ClaimMapping overrides the defaults: subject "oid" (the user's
	// object id, the same for every app of the tenant and immutable),
	// email "email", email_verified "xms_edov", username
	// "preferred_username", name "name", groups "groups".
	ClaimMapping ClaimMapping `json:"claim_mapping,omitzero"`
	// InsecureSkipEmailVerified treats email as verified when the token
	// does not say. Entra ID's email claim is whatever the tenant's admin
	// typed; leave this off unless every tenant you admit is yours.
	InsecureSkipEmailVerified bool `json:"insecure_skip_email_verified,omitempty"`
	// Authority is Microsoft's login host (the default); set it for a
	// national cloud (https://login.microsoftonline.us) or a test.
	Authority string            `json:"authority,omitempty"`
	Timeout   upstream.Duration `json:"timeout,omitempty"`
}

// tenantIDRE is a tenant id: a GUID.
var tenantIDRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func validTenantID(s string) bool { return tenantIDRE.MatchString(s) }

// ParseMicrosoftConfig decodes a microsoft connector's JSON config and
// derives the generic Config from it.
func ParseMicrosoftConfig(raw []byte) (Config, error) {
	var m MicrosoftConfig
	if err := upstream.DecodeStrict("microsoft: config", raw, &m); err != nil {
		return Config{}, err
	}
	return m.OIDCConfig()
}

// OIDCConfig derives the generic Config, with defaults applied, validated.
//
// A single tenant's issuer is exact: <authority>/<tenant>/v2.0. The
// common, organizations and consumers endpoints serve many tenants: their
// discovery names the issuer "<authority>/{tenantid}/v2.0" and each
// id_token carries its tenant's issuer, so the connector checks every
// token's issuer against the tenant in its tid claim.
func (m MicrosoftConfig) OIDCConfig() (Config, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("microsoft: config.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	def(&m.Tenant, "common")
	if validTenantID(m.Tenant) {
		m.Tenant = strings.ToLower(m.Tenant) // as Microsoft writes it in issuers
	}
	def(&m.Authority, MicrosoftAuthority)
	upstream.CheckURL(bad, "authority", m.Authority)
	cm := m.ClaimMapping
	def(&cm.Subject, "oid")
	def(&cm.EmailVerified, "xms_edov") // Entra's "email domain owner verified"
	c := Config{
		kind: "microsoft", ClientID: m.ClientID, ClientSecret: m.ClientSecret, Scopes: m.Scopes,
		ClaimMapping: cm, AllowedGroups: m.AllowedGroups, InsecureSkipEmailVerified: m.InsecureSkipEmailVerified,
		Timeout: m.Timeout,
	}
	base := strings.TrimSuffix(m.Authority, "/") + "/"
	c.Issuer = base + m.Tenant + "/v2.0"
	t := &tenancy{prefix: base, suffix: "/v2.0", claim: "tid", allowed: m.AllowedTenants}
	switch {
	case m.Tenant == "common":
	case m.Tenant == "organizations":
		t.denied = []string{MicrosoftConsumersTenant}
	case m.Tenant == "consumers":
		t.allowed = []string{MicrosoftConsumersTenant}
		if len(m.AllowedTenants) > 0 {
			bad("allowed_tenants", "does not apply to tenant \"consumers\", which is one tenant")
		}
	case validTenantID(m.Tenant):
		t = nil // one tenant: the issuer is exact
		if len(m.AllowedTenants) > 0 {
			bad("allowed_tenants", "applies to the common and organizations tenants only; tenant %s admits its own members alone", m.Tenant)
		}
	default:
		bad("tenant", "%q must be common, organizations, consumers or a tenant id (a GUID; not a domain name)", m.Tenant)
	}
	for i, id := range m.AllowedTenants {
		if !validTenantID(id) {
			bad(fmt.Sprintf("allowed_tenants[%d]", i), "%q is not a tenant id (a GUID)", id)
		}
	}
	if t != nil {
		t.allowed = slices.Clone(t.allowed)
		for i, id := range t.allowed {
			t.allowed[i] = strings.ToLower(id)
		}
		c.tenancy = t
		c.discoveryURL = c.Issuer
		c.Issuer = base + "{tenantid}/v2.0"
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}
