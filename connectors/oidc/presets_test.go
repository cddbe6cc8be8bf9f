package oidc_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/portico-idp/portico/connectors/oidc"
	"github.com/portico-idp/portico/connectors/oidc/oidctest"
	"github.com/portico-idp/portico/sdk"
)

// fromConfig builds a connector from a preset's derived config.
func fromConfig(t *testing.T) func(oidc.Config, error) *oidc.Connector {
	return func(cfg oidc.Config, err error) *oidc.Connector {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		c, err := oidc.New(context.Background(), cfg, newKey(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

// TestGoogleFlow: the preset asks for a refresh token Google's way, sends
// the hd hint, and admits only the hosted domain.
func TestGoogleFlow(t *testing.T) {
	iss := newIssuer(t)
	iss.Update(func(s *oidctest.Settings) { s.Claims["hd"] = "example.com"; delete(s.Claims, "preferred_username") })
	c := fromConfig(t)(oidc.GoogleConfig{Issuer: iss.URL, ClientID: clientID, ClientSecret: clientSecret, HostedDomains: []string{"example.com"}}.OIDCConfig())
	rd, err := c.LoginURL(context.Background(), offline, callback, "s")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(rd.URL)
	q := u.Query()
	if q.Get("access_type") != "offline" || q.Get("prompt") != "consent" || q.Get("hd") != "example.com" || strings.Contains(q.Get("scope"), "offline_access") {
		t.Errorf("authorization request %v", q)
	}
	id, err := callbackFrom(t, c, offline, rd)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "alice-123" || id.Username != "alice@example.com" || !id.EmailVerified || len(id.ConnectorData) == 0 {
		t.Errorf("identity %+v", id)
	}
	if _, err := c.Refresh(context.Background(), offline, id); err != nil {
		t.Errorf("refresh: %v", err)
	}
	iss.Update(func(s *oidctest.Settings) { s.Claims["hd"] = "gmail.com" })
	if _, err := login(t, c, offline); !errors.Is(err, sdk.ErrInvalidCredentials) {
		t.Errorf("another domain: %v", err)
	}
}

// TestMicrosoftTenants: on the multi-tenant endpoints each token's issuer
// must be that of the tenant in its tid claim, and the tenant admitted.
func TestMicrosoftTenants(t *testing.T) {
	const (
		contoso  = "11111111-2222-3333-4444-555555555555"
		fabrikam = "66666666-7777-8888-9999-000000000000"
	)
	tests := []struct {
		name    string
		cfg     oidc.MicrosoftConfig
		tid     string // in the token
		issTID  string // in the token's iss, if not tid
		wantErr bool
	}{
		{name: "common, a tenant", cfg: oidc.MicrosoftConfig{}, tid: contoso},
		{name: "common, personal", cfg: oidc.MicrosoftConfig{}, tid: oidc.MicrosoftConsumersTenant},
		{name: "common, issuer of another tenant", cfg: oidc.MicrosoftConfig{}, tid: contoso, issTID: fabrikam, wantErr: true},
		{name: "common, template issuer", cfg: oidc.MicrosoftConfig{}, tid: contoso, issTID: "{tenantid}", wantErr: true},
		{name: "common, no tid", cfg: oidc.MicrosoftConfig{}, tid: "", issTID: contoso, wantErr: true},
		{name: "organizations, a tenant", cfg: oidc.MicrosoftConfig{Tenant: "organizations"}, tid: contoso},
		{name: "organizations, personal", cfg: oidc.MicrosoftConfig{Tenant: "organizations"}, tid: oidc.MicrosoftConsumersTenant, wantErr: true},
		{name: "consumers, personal", cfg: oidc.MicrosoftConfig{Tenant: "consumers"}, tid: oidc.MicrosoftConsumersTenant},
		{name: "consumers, a tenant", cfg: oidc.MicrosoftConfig{Tenant: "consumers"}, tid: contoso, wantErr: true},
		{name: "allowed tenant", cfg: oidc.MicrosoftConfig{AllowedTenants: []string{contoso}}, tid: contoso},
		{name: "other tenant", cfg: oidc.MicrosoftConfig{AllowedTenants: []string{contoso}}, tid: fabrikam, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := newIssuer(t)
			issTID := tt.issTID
			if issTID == "" {
				issTID = tt.tid
			}
			iss.Update(func(s *oidctest.Settings) {
				s.DiscoveryIssuer = iss.URL + "/{tenantid}/v2.0"
				s.TokenIssuer = iss.URL + "/" + issTID + "/v2.0"
				s.Claims["oid"] = "object-" + tt.tid
				if tt.tid != "" {
					s.Claims["tid"] = tt.tid
				}
			})
			cfg := tt.cfg
			cfg.Authority, cfg.ClientID, cfg.ClientSecret = iss.URL, clientID, clientSecret
			c := fromConfig(t)(cfg.OIDCConfig())
			id, err := login(t, c, offline)
			if tt.wantErr {
				if !errors.Is(err, sdk.ErrInvalidCredentials) {
					t.Fatalf("err = %v, want invalid credentials", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.Subject != "object-"+tt.tid || id.EmailVerified || !slices.Equal(id.Attributes["tenant"], []string{tt.tid}) {
				t.Errorf("identity %+v", id)
			}
		})
	}
}

// Entra's email is verified only when the token says so with xms_edov.
func TestMicrosoftEmailVerified(t *testing.T) {
	const tid = "11111111-2222-3333-4444-555555555555"
	iss := newIssuer(t)
	iss.Update(func(s *oidctest.Settings) {
		s.TokenIssuer, s.DiscoveryIssuer = iss.URL+"/"+tid+"/v2.0", iss.URL+"/"+tid+"/v2.0"
		s.Claims["oid"], s.Claims["tid"], s.Claims["xms_edov"] = "o1", tid, true
	})
	c := fromConfig(t)(oidc.MicrosoftConfig{Authority: iss.URL, Tenant: tid, ClientID: clientID, ClientSecret: clientSecret}.OIDCConfig())
	id, err := login(t, c, offline)
	if err != nil {
		t.Fatal(err)
	}
	if !id.EmailVerified || id.Subject != "o1" {
		t.Errorf("identity %+v", id)
	}
}
