package broker_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// postForm posts a client-authenticated form to an endpoint of the issuer.
func postForm(t *testing.T, endpoint, user, pass string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("%s answered %d with non-JSON %q", endpoint, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, body
}

func introspect(t *testing.T, b *testenv.Broker, token string) map[string]any {
	t.Helper()
	st, body := postForm(t, b.URL+"/introspect", testenv.ClientID, testenv.ClientSecret, url.Values{"token": {token}})
	if st != 200 {
		t.Fatalf("introspect: %d %v", st, body)
	}
	return body
}

func active(t *testing.T, b *testenv.Broker, token string) bool {
	t.Helper()
	v, ok := introspect(t, b, token)["active"].(bool)
	if !ok {
		t.Fatal("introspection without active")
	}
	return v
}

func revoke(t *testing.T, b *testenv.Broker, token, hint string) {
	t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	if st, body := postForm(t, b.URL+"/revoke", testenv.ClientID, testenv.ClientSecret, form); st != 200 {
		t.Fatalf("revoke: %d %v", st, body)
	}
}

func refresh(t *testing.T, b *testenv.Broker, rt string) tokenResponse {
	t.Helper()
	return postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// withClient edits the confidential test client.
func withClient(t *testing.T, edit func(*config.Client)) *config.Config {
	cfg := testenv.Config(t)
	edit(&cfg.Clients[0])
	return cfg
}

// TestTokenLifecycle is acceptance 1 of the token service, for both access
// token formats.
func TestTokenLifecycle(t *testing.T) {
	for _, format := range []string{"jwt", "opaque"} {
		t.Run(format, func(t *testing.T) {
			ctx := context.Background()
			b := testenv.Start(t, withClient(t, func(c *config.Client) { c.TokenFormat = format }))
			rp := newRP(t, b)
			tok, idt, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.HasPrefix(tok.AccessToken, "pat_"); got != (format == "opaque") {
				t.Fatalf("access token %q.. has the wrong form for %s", tok.AccessToken[:8], format)
			}
			in := introspect(t, b, tok.AccessToken)
			if in["active"] != true || in["sub"] != idt.Subject || in["client_id"] != testenv.ClientID ||
				in["token_type"] != "Bearer" || in["username"] != testenv.UserName || in["iss"] != b.URL ||
				!strings.Contains(in["scope"].(string), "openid") || in["exp"] == nil || in["iat"] == nil || in["aud"] == nil {
				t.Errorf("introspection of a live access token: %v", in)
			}
			if in := introspect(t, b, tok.RefreshToken); in["active"] != true || in["token_type"] != "refresh_token" {
				t.Errorf("introspection of a live refresh token: %v", in)
			}
			if st := userinfoStatus(t, b.URL, tok.AccessToken); st != 200 {
				t.Fatalf("userinfo with a live token: %d", st)
			}

			r := refresh(t, b, tok.RefreshToken)
			if r.Status != 200 {
				t.Fatalf("refresh: %d %v", r.Status, r.Body)
			}
			if active(t, b, tok.RefreshToken) {
				t.Error("the rotated-away refresh token is still active")
			}
			newAT := r.str("access_token")
			if !active(t, b, newAT) {
				t.Fatal("the refreshed access token is not active")
			}

			revoke(t, b, newAT, "access_token")
			if active(t, b, newAT) {
				t.Error("a revoked access token is still active")
			}
			if st := userinfoStatus(t, b.URL, newAT); st != 401 {
				t.Errorf("userinfo with a revoked access token: %d", st)
			}
			// Revoking the refresh token ends the session and all its tokens.
			revoke(t, b, r.str("refresh_token"), "")
			if active(t, b, r.str("refresh_token")) {
				t.Error("a revoked refresh token is still active")
			}
			if r := refresh(t, b, r.str("refresh_token")); r.str("error") != "invalid_grant" {
				t.Errorf("refresh with a revoked token: %d %v", r.Status, r.Body)
			}
			// Unknown and malformed tokens: 200 at /revoke, inactive at /introspect.
			for _, junk := range []string{"nonsense", "pat_" + strings.Repeat("A", 43), "prt_x", "a.b.c"} {
				revoke(t, b, junk, "")
				if active(t, b, junk) {
					t.Errorf("%q is active", junk)
				}
			}
		})
	}
}

// TestReplayEndsFamilyAndLogs is acceptance 2: replaying a retired refresh
// token revokes the newest one of its family and logs a security event.
func TestReplayEndsFamilyAndLogs(t *testing.T) {
	for _, format := range []string{"jwt", "opaque"} {
		t.Run(format, func(t *testing.T) {
			b := testenv.Start(t, withClient(t, func(c *config.Client) { c.TokenFormat = format }))
			tok, _, err := newRP(t, b).Login(context.Background(), testenv.UserName, testenv.UserPassword)
			if err != nil {
				t.Fatal(err)
			}
			r1 := refresh(t, b, tok.RefreshToken)
			if r1.Status != 200 {
				t.Fatal(r1.Body)
			}
			if r := refresh(t, b, tok.RefreshToken); r.str("error") != "invalid_grant" {
				t.Fatalf("replay accepted: %d %v", r.Status, r.Body)
			}
			if active(t, b, r1.str("refresh_token")) || active(t, b, r1.str("access_token")) {
				t.Error("tokens of a replayed family are still active")
			}
			if !strings.Contains(b.Logs(), `"event":"refresh_replay"`) {
				t.Error("no security event logged for the replay")
			}
			for _, secret := range []string{tok.RefreshToken, r1.str("refresh_token"), r1.str("access_token"), testenv.UserPassword, testenv.ClientSecret} {
				if strings.Contains(b.Logs(), secret) {
					t.Errorf("the log contains a secret: %.12s...", secret)
				}
			}
		})
	}
}

// TestReuseGrace: a client with a grace window may retry the previous
// refresh token once its answer was lost; without one it may not.
func TestReuseGrace(t *testing.T) {
	b := testenv.Start(t, withClient(t, func(c *config.Client) { c.RefreshReuseGrace = config.Duration(30 * time.Second) }))
	tok, _, err := newRP(t, b).Login(context.Background(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	lost := refresh(t, b, tok.RefreshToken) // the client never saw this answer
	retry := refresh(t, b, tok.RefreshToken)
	if lost.Status != 200 || retry.Status != 200 {
		t.Fatalf("retry within the grace window: %d %v", retry.Status, retry.Body)
	}
	if r := refresh(t, b, retry.str("refresh_token")); r.Status != 200 {
		t.Errorf("the retried chain does not continue: %d %v", r.Status, r.Body)
	}
}

// TestDisabledUserRefresh is acceptance 7 for a disabled user (the deleted
// case is TestRefreshOfDeletedUser).
func TestDisabledUserRefresh(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, testenv.Config(t))
	tok, idt, err := newRP(t, b).Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.Server.Store.GetUser(ctx, idt.Subject)
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := b.Server.Store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if r := refresh(t, b, tok.RefreshToken); r.str("error") != "invalid_grant" {
		t.Fatalf("refresh of a disabled user: %d %v", r.Status, r.Body)
	}
	u, _ = b.Server.Store.GetUser(ctx, idt.Subject)
	u.Disabled = false
	b.Server.Store.UpdateUser(ctx, u)
	if r := refresh(t, b, tok.RefreshToken); r.str("error") != "invalid_grant" {
		t.Errorf("the family survived the disabled user's refresh: %d %v", r.Status, r.Body)
	}
	if st := userinfoStatus(t, b.URL, tok.AccessToken); st != 401 {
		t.Errorf("userinfo after the family ended: %d", st)
	}
}

// TestIntrospectionAccess: clients barred from introspection are refused.
func TestIntrospectionAccess(t *testing.T) {
	b := testenv.Start(t, withClient(t, func(c *config.Client) { c.Introspection = config.IntrospectNone }))
	st, body := postForm(t, b.URL+"/introspect", testenv.ClientID, testenv.ClientSecret, url.Values{"token": {"x"}})
	if st != 403 || body["error"] != "unauthorized_client" {
		t.Errorf("barred client: %d %v", st, body)
	}
	st, body = postForm(t, b.URL+"/introspect", testenv.ClientID, "wrong", url.Values{"token": {"x"}})
	if st != 401 || body["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v", st, body)
	}
}

// TestPerClientIDTokenAlg: a client's id_token_signed_response_alg is
// honoured, while access tokens keep the server's algorithm.
func TestPerClientIDTokenAlg(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, withClient(t, func(c *config.Client) { c.IDTokenSignedResponseAlg = "ES256" }))
	rp := newRP(t, b)
	rp.Verifier = rp.Provider.Verifier(&oidc.Config{ClientID: testenv.ClientID, SupportedSigningAlgs: []string{"ES256"}})
	tok, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || jws.Signatures[0].Header.Algorithm != "RS256" {
		t.Errorf("access token alg: %v %v", err, jws)
	}
}

// TestLogout: RP-initiated logout ends the session's tokens and returns
// only to a registered URI.
func TestLogout(t *testing.T) {
	ctx := context.Background()
	const bye = "http://127.0.0.1:5555/bye"
	b := testenv.Start(t, withClient(t, func(c *config.Client) { c.PostLogoutRedirectURIs = []string{bye} }))
	rp := newRP(t, b)
	tok, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	get := func(q url.Values) *http.Response {
		resp, err := noFollow.Get(b.URL + "/logout?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := get(url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {"http://127.0.0.1:5555/evil"}}); r.StatusCode != 400 || r.Header.Get("Location") != "" {
		t.Errorf("unregistered post-logout URI: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := get(url.Values{"id_token_hint": {"not.a.token"}}); r.StatusCode != 400 {
		t.Errorf("bad hint: %d", r.StatusCode)
	}
	if !active(t, b, tok.AccessToken) {
		t.Fatal("a refused logout ended the session")
	}
	r := get(url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {bye}, "state": {"s1"}})
	if r.StatusCode != 303 || r.Header.Get("Location") != bye+"?state=s1" {
		t.Fatalf("logout: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if active(t, b, tok.AccessToken) || active(t, b, tok.RefreshToken) {
		t.Error("tokens of a logged-out session are still active")
	}
}

// TestDiscoveryAdvertises: discovery lists exactly the implemented endpoints
// and methods.
func TestDiscoveryAdvertises(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	resp, err := http.Get(b.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	json.NewDecoder(resp.Body).Decode(&d)
	for k, want := range map[string]any{
		"issuer": b.URL, "token_endpoint": b.URL + "/token", "introspection_endpoint": b.URL + "/introspect",
		"revocation_endpoint": b.URL + "/revoke", "end_session_endpoint": b.URL + "/logout",
		"grant_types_supported":                       []any{"authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange", "urn:ietf:params:oauth:grant-type:device_code"},
		"device_authorization_endpoint":               b.URL + "/device/authorize",
		"token_endpoint_auth_methods_supported":       []any{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"},
		"id_token_signing_alg_values_supported":       []any{"RS256"}, // the only key of the default config
		"code_challenge_methods_supported":            []any{"S256"},
		"response_modes_supported":                    []any{"query", "form_post"},
		"request_parameter_supported":                 true,
		"request_uri_parameter_supported":             false, // absent means true; only /par's
		"pushed_authorization_request_endpoint":       b.URL + "/par",
		"require_pushed_authorization_requests":       false,
		"request_object_signing_alg_values_supported": []any{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"},
	} {
		got, _ := json.Marshal(d[k])
		exp, _ := json.Marshal(want)
		if string(got) != string(exp) {
			t.Errorf("%s = %s, want %s", k, got, exp)
		}
	}
}

// TestTokenMediaTypeCase: media types ignore case (RFC 9110 §8.3.1), at
// the token endpoint as at the body check before it.
func TestTokenMediaTypeCase(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	req, _ := http.NewRequest(http.MethodPost, b.URL+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "APPLICATION/X-WWW-FORM-URLENCODED")
	req.SetBasicAuth(testenv.ClientID, testenv.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("upper-case form media type: %d, want 200", resp.StatusCode)
	}
}
