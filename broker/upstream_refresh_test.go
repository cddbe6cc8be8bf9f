package broker_test

import (
	"context"
	"testing"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/connectors/oidc/oidctest"
	"github.com/portico-idp/portico/testenv"
)

// TestUpstreamRefreshVerdicts: what an upstream's token endpoint answers
// a refresh decides what the application gets (RFC 6749 §5.2). A refusal
// (any 4xx but 429, whatever the error code) ends the Portico session:
// invalid_grant, the family revoked, its access token dead. The
// upstream's trouble (5xx, 429, no answer in time) is 503 and ends
// nothing: once the upstream recovers, the same refresh token works.
func TestUpstreamRefreshVerdicts(t *testing.T) {
	ctx := context.Background()
	iss := oidctest.New(t, upClientID, upClientSecret, map[string]any{"sub": "u1", "email": "u1@example.com", "email_verified": true})
	l := loopbackListener(t)
	cfg := testenv.Config(t)
	// A short timeout: the hung upstream is given up on quickly.
	cfg.Connectors = []config.Connector{oidcConnector("upstream", iss.URL, map[string]any{"timeout": "300ms"})}
	b := startOnListener(t, l, cfg, "http://"+l.Addr().String(), nil)

	tests := []struct {
		name string
		set  func(*oidctest.Settings)
		ends bool
	}{
		// Dex answers a claimed or expired refresh token so.
		{"400 invalid_request", func(s *oidctest.Settings) { s.RefreshError = "invalid_request" }, true},
		{"400 invalid_grant", func(s *oidctest.Settings) { s.RefreshError = "invalid_grant" }, true},
		{"403 without an OAuth body", func(s *oidctest.Settings) { s.TokenStatus = 403 }, true},
		{"503", func(s *oidctest.Settings) { s.TokenStatus = 503 }, false},
		{"503 temporarily_unavailable", func(s *oidctest.Settings) { s.RefreshError, s.RefreshStatus = "temporarily_unavailable", 503 }, false},
		{"429", func(s *oidctest.Settings) { s.TokenStatus = 429 }, false},
		{"429 slow_down", func(s *oidctest.Settings) { s.RefreshError, s.RefreshStatus = "slow_down", 429 }, false},
		{"no answer in time", func(s *oidctest.Settings) { s.Hang = true }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			healthy := func(s *oidctest.Settings) { *s = oidctest.Settings{Claims: s.Claims} }
			iss.Update(healthy)
			tok, _, err := newRP(t, b).Login(ctx, "", "")
			if err != nil {
				t.Fatal(err)
			}
			iss.Update(tt.set)
			r := refreshAt(t, b.URL, testenv.ClientID, testenv.ClientSecret, tok.RefreshToken)
			iss.Update(healthy)
			if tt.ends {
				if r.Status != 400 || r.str("error") != "invalid_grant" {
					t.Fatalf("refresh the upstream refused: %d %v, want 400 invalid_grant", r.Status, r.Body)
				}
				if s := userinfoStatus(t, b.URL, tok.AccessToken); s != 401 {
					t.Errorf("the ended session's access token: userinfo %d, want 401", s)
				}
				if r := refreshAt(t, b.URL, testenv.ClientID, testenv.ClientSecret, tok.RefreshToken); r.Status != 400 || r.str("error") != "invalid_grant" {
					t.Errorf("the ended session refreshed once the upstream answered again: %d %v", r.Status, r.Body)
				}
				return
			}
			if r.Status != 503 || r.str("error") != "temporarily_unavailable" {
				t.Fatalf("refresh the upstream could not answer: %d %v, want 503 temporarily_unavailable", r.Status, r.Body)
			}
			if s := userinfoStatus(t, b.URL, tok.AccessToken); s != 200 {
				t.Errorf("the kept session's access token: userinfo %d, want 200", s)
			}
			if r := refreshAt(t, b.URL, testenv.ClientID, testenv.ClientSecret, tok.RefreshToken); r.Status != 200 {
				t.Errorf("refresh once the upstream recovered: %d %v", r.Status, r.Body)
			}
		})
	}
}
