package oidc_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/connectors/oidc"
	"github.com/portico-idp/portico/connectors/oidc/oidctest"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
)

func TestLogin(t *testing.T) {
	iss := newIssuer(t)
	c := newConnector(t, iss, nil)
	rd, err := c.LoginURL(context.Background(), offline, callback, "state-1")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(rd.URL)
	q := u.Query()
	if q.Get("state") != "state-1" || q.Get("nonce") == "" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("redirect_uri") != callback || q.Get("client_id") != clientID || q.Get("response_type") != "code" {
		t.Errorf("authorization request %v", q)
	}
	if got := strings.Fields(q.Get("scope")); !slices.Equal(got, []string{"openid", "profile", "email", "offline_access"}) {
		t.Errorf("scopes %q", got)
	}
	if strings.Contains(string(rd.Data), "state-1") {
		t.Error("the state should not be in the connector's data: the broker keeps it")
	}
	id, err := callbackFrom(t, c, offline, rd)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "alice-123" || id.Email != "alice@example.com" || !id.EmailVerified || id.Name != "Alice Example" ||
		id.Username != "alice" || id.PreferredUsername != "alice" || !slices.Equal(id.Groups, []string{"admins", "staff"}) {
		t.Errorf("identity %+v", id)
	}
	if len(id.ConnectorData) == 0 {
		t.Fatal("no connector data with offline access")
	}

	// Without offline access nothing is asked for, nor kept.
	rd, _ = c.LoginURL(context.Background(), sdk.Scopes{}, callback, "s")
	if strings.Contains(rd.URL, "offline_access") {
		t.Errorf("offline_access asked for without the client asking: %s", rd.URL)
	}
	if id, err = callbackFrom(t, c, sdk.Scopes{}, rd); err != nil || id.ConnectorData != nil {
		t.Errorf("login without offline access: %v, data %x", err, id.ConnectorData)
	}
}

// TestLoginFailures is acceptance 3 at the connector: every misbehaviour
// of the upstream is a clean failure of the right kind.
func TestLoginFailures(t *testing.T) {
	tests := []struct {
		name string
		set  func(*oidctest.Settings)
		cfg  func(*oidc.Config)
		want error
	}{
		{"wrong audience", func(s *oidctest.Settings) { s.Audience = "someone-else" }, nil, sdk.ErrInvalidCredentials},
		{"wrong nonce", func(s *oidctest.Settings) { s.Nonce = "not-the-nonce" }, nil, sdk.ErrInvalidCredentials},
		{"no nonce", func(s *oidctest.Settings) { s.Edit = func(c map[string]any) { delete(c, "nonce") } }, nil, sdk.ErrInvalidCredentials},
		{"expired", func(s *oidctest.Settings) { s.Expired = true }, nil, sdk.ErrInvalidCredentials},
		{"unknown key", func(s *oidctest.Settings) { s.UnknownKey = true }, nil, sdk.ErrInvalidCredentials},
		{"keys unavailable", func(s *oidctest.Settings) { s.KeysStatus = 503 }, nil, sdk.ErrUnavailable},
		{"wrong issuer", func(s *oidctest.Settings) { s.TokenIssuer = "https://evil.example" }, nil, sdk.ErrInvalidCredentials},
		{"bad at_hash", func(s *oidctest.Settings) {
			s.Edit = func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" }
		}, nil, sdk.ErrInvalidCredentials},
		{"azp of another client", func(s *oidctest.Settings) {
			s.Edit = func(c map[string]any) { c["aud"], c["azp"] = []any{clientID, "other"}, "other" }
		}, nil, sdk.ErrInvalidCredentials},
		{"no id_token", func(s *oidctest.Settings) { s.NoIDToken = true }, nil, sdk.ErrInvalidCredentials},
		{"no subject", func(s *oidctest.Settings) { s.Edit = func(c map[string]any) { delete(c, "sub") } }, nil, sdk.ErrInvalidCredentials},
		{"error parameter", func(s *oidctest.Settings) { s.AuthError = "access_denied" }, nil, sdk.ErrInvalidCredentials},
		{"upstream says unavailable", func(s *oidctest.Settings) { s.AuthError = "temporarily_unavailable" }, nil, sdk.ErrUnavailable},
		{"token endpoint 500", func(s *oidctest.Settings) { s.TokenStatus = 500 }, nil, sdk.ErrUnavailable},
		{"token endpoint garbage", func(s *oidctest.Settings) { s.TokenStatus = 200 }, nil, sdk.ErrUnavailable},
		{"token endpoint slow", func(s *oidctest.Settings) { s.Delay = 3 * time.Second },
			func(c *oidc.Config) { c.Timeout = upstream.Duration(200 * time.Millisecond) }, sdk.ErrUnavailable},
		{"wrong client secret", nil, func(c *oidc.Config) { c.ClientSecret = "wrong" }, sdk.ErrUnavailable},
		{"not in allowed groups", nil, func(c *oidc.Config) { c.AllowedGroups = []string{"ops"} }, sdk.ErrInvalidCredentials},
		{"no hosted domain", nil, func(c *oidc.Config) { c.HostedDomains = []string{"example.com"} }, sdk.ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := newIssuer(t)
			c := newConnector(t, iss, tt.cfg)
			if tt.set != nil {
				iss.Update(tt.set)
			}
			start := time.Now()
			id, err := login(t, c, offline)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if id.Subject != "" || id.ConnectorData != nil {
				t.Errorf("an identity came with the error: %+v", id)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("failure took %v", d)
			}
		})
	}
}

// A callback that does not carry this login's data (a forged or mixed-up
// request reaching the connector) is refused without asking the upstream.
func TestCallbackWithoutState(t *testing.T) {
	c := newConnector(t, newIssuer(t), nil)
	for _, req := range []sdk.CallbackRequest{
		{Query: url.Values{"code": {"x"}}},
		{Query: url.Values{"code": {"x"}}, Data: []byte(`{"n":"","v":""}`)},
		{Query: url.Values{}, Data: []byte(`{"n":"a","v":"b"}`)},
		{Query: url.Values{"code": {"x"}, "iss": {"https://other.example"}}, Data: []byte(`{"n":"a","v":"b"}`)},
	} {
		if _, err := c.HandleCallback(context.Background(), offline, req); !errors.Is(err, sdk.ErrInvalidCredentials) {
			t.Errorf("%+v: %v", req, err)
		}
	}
}

// The upstream's keys rotate: a token signed by a new key verifies once
// the key set is fetched again, without a restart.
func TestKeyRotation(t *testing.T) {
	iss := newIssuer(t)
	c := newConnector(t, iss, nil)
	if _, err := login(t, c, offline); err != nil {
		t.Fatal(err)
	}
	iss.RotateKey(false)
	if _, err := login(t, c, offline); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
}

// An upstream down when Portico starts is not fatal: logins fail as
// unavailable until it answers, then work.
func TestUpstreamDownAtStart(t *testing.T) {
	iss := newIssuer(t)
	iss.Update(func(s *oidctest.Settings) { s.Down = true })
	c := newConnector(t, iss, nil)
	// Logins arriving together share one discovery attempt and all fail
	// as unavailable.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := c.LoginURL(context.Background(), offline, callback, "s"); !errors.Is(err, sdk.ErrUnavailable) {
				t.Errorf("login with the upstream down: %v", err)
			}
		})
	}
	wg.Wait()
	iss.Update(func(s *oidctest.Settings) { s.Down = false })
	if _, err := login(t, c, offline); err != nil {
		t.Fatalf("login once the upstream is back: %v", err)
	}

	// Nothing listening at all.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err = oidc.New(context.Background(), oidc.Config{Issuer: "http://" + addr, ClientID: "a", ClientSecret: "b"}, newKey(t), nil)
	if err != nil {
		t.Fatalf("New with the upstream unreachable: %v", err)
	}
	if _, err := c.LoginURL(context.Background(), offline, callback, "s"); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("LoginURL with the upstream unreachable: %v", err)
	}
}

// An upstream that answers for another issuer is a config error at start.
func TestDiscoveryIssuerMismatch(t *testing.T) {
	iss := newIssuer(t)
	iss.Update(func(s *oidctest.Settings) { s.DiscoveryIssuer = "https://elsewhere.example" })
	_, err := oidc.New(context.Background(), oidc.Config{Issuer: iss.URL, ClientID: "a", ClientSecret: "b"}, newKey(t), nil)
	if err == nil || !strings.Contains(err.Error(), "config.issuer") {
		t.Fatalf("err = %v", err)
	}
}

// With get_userinfo, claims the id_token lacks come from userinfo.
func TestUserInfo(t *testing.T) {
	iss := newIssuer(t)
	iss.Update(func(s *oidctest.Settings) {
		s.Edit = func(c map[string]any) { delete(c, "groups"); delete(c, "email") }
	})
	c := newConnector(t, iss, func(c *oidc.Config) { c.GetUserInfo = true })
	id, err := login(t, c, offline)
	if err != nil {
		t.Fatal(err)
	}
	if id.Email != "alice@example.com" || !slices.Equal(id.Groups, []string{"admins", "staff"}) {
		t.Errorf("identity %+v", id)
	}
	// Userinfo about someone else is refused.
	iss.Update(func(s *oidctest.Settings) {
		s.Claims["sub"] = "mallory"
		s.Edit = func(c map[string]any) { c["sub"] = "alice-123" }
	})
	if _, err := login(t, c, offline); !errors.Is(err, sdk.ErrInvalidCredentials) {
		t.Errorf("userinfo for another subject: %v", err)
	}
}

// email_verified is respected: false, missing or odd values are not
// verified unless insecure_skip_email_verified covers the missing case.
func TestEmailVerified(t *testing.T) {
	tests := []struct {
		name     string
		value    any // nil: claim absent
		skip     bool
		verified bool
	}{
		{"true", true, false, true},
		{"string true", "true", false, true},
		{"false", false, false, false},
		{"false with skip", false, true, false},
		{"missing", nil, false, false},
		{"missing with skip", nil, true, true},
		{"number", 1, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := newIssuer(t)
			iss.Update(func(s *oidctest.Settings) {
				s.Edit = func(c map[string]any) {
					delete(c, "email_verified")
					if tt.value != nil {
						c["email_verified"] = tt.value
					}
				}
			})
			c := newConnector(t, iss, func(c *oidc.Config) { c.InsecureSkipEmailVerified = tt.skip })
			id, err := login(t, c, offline)
			if err != nil {
				t.Fatal(err)
			}
			if id.EmailVerified != tt.verified {
				t.Errorf("email_verified %v", id.EmailVerified)
			}
		})
	}
}
