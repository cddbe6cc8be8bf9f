package oidc

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestGoogleConfig: the preset's derivation of the generic config.
func TestGoogleConfig(t *testing.T) {
	tests := []struct {
		name, json string
		authParams map[string]string
		issuer     string
	}{
		{"minimal", `{"client_id":"a","client_secret":"b"}`, nil, GoogleIssuer},
		{"one domain", `{"client_id":"a","client_secret":"b","hosted_domains":["example.com"]}`, map[string]string{"hd": "example.com"}, GoogleIssuer},
		{"two domains", `{"client_id":"a","client_secret":"b","hosted_domains":["a.com","b.com"]}`, map[string]string{"hd": "*"}, GoogleIssuer},
		{"test issuer", `{"client_id":"a","client_secret":"b","issuer":"http://127.0.0.1:5556"}`, nil, "http://127.0.0.1:5556"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseGoogleConfig([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			m := c.ClaimMapping
			if c.kind != "google" || c.Issuer != tt.issuer || c.discoveryURL != "" || c.tenancy != nil ||
				!slices.Equal(c.Scopes, DefaultScopes) || c.GetUserInfo || c.InsecureSkipEmailVerified {
				t.Errorf("config %+v", c)
			}
			if m != (ClaimMapping{Subject: "sub", Email: "email", EmailVerified: "email_verified", Username: "email", Name: "name", Groups: "groups"}) {
				t.Errorf("claim mapping %+v", m)
			}
			if !maps.Equal(c.offlineParams, map[string]string{"access_type": "offline", "prompt": "consent"}) {
				t.Errorf("offline params %v", c.offlineParams)
			}
			if !maps.Equal(c.authParams, tt.authParams) {
				t.Errorf("auth params %v, want %v", c.authParams, tt.authParams)
			}
		})
	}
}

// TestMicrosoftConfig: issuer, discovery and tenant rules per tenant.
func TestMicrosoftConfig(t *testing.T) {
	const tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	const auth = MicrosoftAuthority + "/"
	tests := []struct {
		tenant, issuer, discovery string
		tenancy                   *tenancy
	}{
		{"", auth + "{tenantid}/v2.0", auth + "common/v2.0", &tenancy{prefix: auth, suffix: "/v2.0", claim: "tid", allowed: []string{}}},
		{"organizations", auth + "{tenantid}/v2.0", auth + "organizations/v2.0",
			&tenancy{prefix: auth, suffix: "/v2.0", claim: "tid", allowed: []string{}, denied: []string{MicrosoftConsumersTenant}}},
		{"consumers", auth + "{tenantid}/v2.0", auth + "consumers/v2.0",
			&tenancy{prefix: auth, suffix: "/v2.0", claim: "tid", allowed: []string{MicrosoftConsumersTenant}}},
		{tid, auth + tid + "/v2.0", "", nil},
		{strings.ToUpper(tid), auth + tid + "/v2.0", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.tenant, func(t *testing.T) {
			c, err := ParseMicrosoftConfig([]byte(`{"client_id":"a","client_secret":"b","tenant":"` + tt.tenant + `"}`))
			if err != nil {
				t.Fatal(err)
			}
			if c.Issuer != tt.issuer || c.discoveryURL != tt.discovery {
				t.Errorf("issuer %q discovery %q", c.Issuer, c.discoveryURL)
			}
			if (c.tenancy == nil) != (tt.tenancy == nil) || (c.tenancy != nil && (c.tenancy.prefix != tt.tenancy.prefix ||
				c.tenancy.suffix != tt.tenancy.suffix || c.tenancy.claim != "tid" ||
				!slices.Equal(c.tenancy.allowed, tt.tenancy.allowed) || !slices.Equal(c.tenancy.denied, tt.tenancy.denied))) {
				t.Errorf("tenancy %+v, want %+v", c.tenancy, tt.tenancy)
			}
			if c.ClaimMapping != (ClaimMapping{Subject: "oid", Email: "email", EmailVerified: "xms_edov", Username: "preferred_username", Name: "name", Groups: "groups"}) {
				t.Errorf("claim mapping %+v", c.ClaimMapping)
			}
			if c.offlineParams != nil || c.authParams != nil || !slices.Equal(c.Scopes, DefaultScopes) {
				t.Errorf("config %+v", c)
			}
		})
	}
	c, err := ParseMicrosoftConfig([]byte(`{"client_id":"a","client_secret":"b","authority":"http://127.0.0.1:1","allowed_tenants":["` + strings.ToUpper(tid) + `"],"claim_mapping":{"subject":"sub"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.discoveryURL != "http://127.0.0.1:1/common/v2.0" || !slices.Equal(c.tenancy.allowed, []string{tid}) || c.ClaimMapping.Subject != "sub" {
		t.Errorf("config %+v %+v", c, c.tenancy)
	}
}

func TestPresetErrors(t *testing.T) {
	const tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	tests := []struct {
		name  string
		parse func([]byte) (Config, error)
		json  string
		want  string
	}{
		{"google empty", ParseGoogleConfig, `{}`, "google: config.client_id: required"},
		{"google unknown field", ParseGoogleConfig, `{"client_id":"a","client_secret":"b","tenant":"x"}`, `google: config: unknown field "tenant"`},
		{"google http issuer", ParseGoogleConfig, `{"client_id":"a","client_secret":"b","issuer":"http://accounts.example.com"}`, "google: config.issuer:"},
		{"google bad domain", ParseGoogleConfig, `{"client_id":"a","client_secret":"b","hosted_domains":["a b"]}`, "google: config.hosted_domains[0]:"},
		{"microsoft domain tenant", ParseMicrosoftConfig, `{"client_id":"a","client_secret":"b","tenant":"contoso.com"}`, "microsoft: config.tenant:"},
		{"microsoft allowed with one tenant", ParseMicrosoftConfig, `{"client_id":"a","client_secret":"b","tenant":"` + tid + `","allowed_tenants":["` + tid + `"]}`, "microsoft: config.allowed_tenants:"},
		{"microsoft allowed not a guid", ParseMicrosoftConfig, `{"client_id":"a","client_secret":"b","allowed_tenants":["contoso"]}`, "microsoft: config.allowed_tenants[0]:"},
		{"microsoft http authority", ParseMicrosoftConfig, `{"client_id":"a","client_secret":"b","authority":"http://login.example.com"}`, "microsoft: config.authority:"},
		{"microsoft timeout", ParseMicrosoftConfig, `{"client_id":"a","client_secret":"b","timeout":"forever"}`, "microsoft: config.timeout:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.parse([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
