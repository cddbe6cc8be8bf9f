package broker_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/testenv"
	"github.com/portico-idp/portico/tokensvc"
)

// consoleClientID is a public client the configuration trusts for
// administration: how a person gets a token for the admin API (the code
// flow with PKCE, asking for the admin scope).
const consoleClientID = "admin-console"

func adminAuthConfig(t *testing.T) *config.Config {
	cfg := adminConfig(t)
	cfg.Clients = append(cfg.Clients, config.Client{ID: consoleClientID, Public: true, Admin: true,
		RedirectURIs: []string{testenv.RedirectURI}, GrantTypes: []string{"authorization_code", "refresh_token"},
		Scopes: []string{"admin"}})
	return cfg
}

// personToken logs user in through client (secret empty for a public one)
// asking for scopes, and returns the access token.
func personToken(t *testing.T, b *testenv.Broker, client, secret, user, pass string, scopes ...string) *oauth2.Token {
	t.Helper()
	rp, err := testenv.NewRP(context.Background(), b.URL, client, secret, testenv.RedirectURI, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	rp.Connector = "local"
	tok, _, err := rp.Login(context.Background(), user, pass)
	if err != nil {
		t.Fatalf("login of %s through %s: %v", user, client, err)
	}
	return tok
}

// jwtClaims decodes a JWT's payload without checking it (the server did).
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAdminTokenRules: the admin API takes a person's token only from a
// client trusted for administration, with the admin scope and the admin
// audience, of a user who is an administrator now. Every other token of an
// administrator — from an application, from a client created at runtime,
// without the scope, without the audience — is refused with 403 at every
// protected operation the OpenAPI document lists.
func TestAdminTokenRules(t *testing.T) {
	b := testenv.Start(t, adminAuthConfig(t))
	ctx := context.Background()
	machine := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	_, alice := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	mustStatus(t, call(t, b, machine, "PATCH", "/users/"+alice.Subject, map[string]any{"roles": []string{"admin"}}), 200, "make alice an admin")

	// A client created at runtime, even listing the admin scope.
	r := call(t, b, machine, "POST", "/clients", map[string]any{"id": "runtime-app",
		"redirect_uris": []string{testenv.RedirectURI}, "grant_types": []string{"authorization_code"}})
	mustStatus(t, r, 201, "create runtime client")
	runtimeSecret, _ := r.Body["client_secret"].(string)

	// The admin scope is not offered to untrusted clients at all.
	for _, c := range []struct{ id, secret string }{{testenv.ClientID, testenv.ClientSecret}, {"runtime-app", runtimeSecret}} {
		rp, err := testenv.NewRP(ctx, b.URL, c.id, c.secret, testenv.RedirectURI, "openid", "admin")
		if err != nil {
			t.Fatal(err)
		}
		cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, testenv.UserName, testenv.UserPassword)
		if err != nil || cb.Query.Get("error") != "invalid_scope" {
			t.Errorf("%s asking for the admin scope: %v %v", c.id, cb.Query, err)
		}
	}
	if r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}); r.str("error") != "invalid_scope" {
		t.Errorf("client_credentials with admin from an untrusted client: %d %v", r.Status, r.Body)
	}

	app := personToken(t, b, testenv.ClientID, testenv.ClientSecret, testenv.UserName, testenv.UserPassword)
	runtime := personToken(t, b, "runtime-app", runtimeSecret, testenv.UserName, testenv.UserPassword, "openid")
	noScope := personToken(t, b, consoleClientID, "", testenv.UserName, testenv.UserPassword, "openid")
	console := personToken(t, b, consoleClientID, "", testenv.UserName, testenv.UserPassword, "openid", "admin")
	if aud := jwtClaims(t, console.AccessToken)["aud"]; !slices.Contains(toStrings(aud), core.AdminAudience(b.URL)) {
		t.Fatalf("console token audience %v lacks %s", aud, core.AdminAudience(b.URL))
	}
	if aud := jwtClaims(t, app.AccessToken)["aud"]; slices.Contains(toStrings(aud), core.AdminAudience(b.URL)) {
		t.Errorf("an application's token names the admin API: %v", aud)
	}
	// A token of the trusted client with the scope but not the audience:
	// only the token service could mint it, so mint it there.
	noAud, err := b.Server.Tokens.Issue(ctx, tokensvc.Grant{Subject: alice.Subject, ClientID: consoleClientID, Scopes: []string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	// bob is no administrator: the console's token for him lacks the scope.
	bobTok := personToken(t, b, consoleClientID, "", bobName, bobPassword, "openid", "admin")
	if strings.Contains(bobTok.Extra("scope").(string), "admin") {
		t.Errorf("a non-administrator was granted the admin scope: %v", bobTok.Extra("scope"))
	}

	d := loadDoc(t, b)
	for path, ops := range d.Paths {
		for m, op := range ops {
			if op.Security != nil && len(*op.Security) == 0 {
				continue // public
			}
			p := path
			for strings.Contains(p, "{") {
				i, j := strings.Index(p, "{"), strings.Index(p, "}")
				p = p[:i] + "x" + p[j+1:]
			}
			for _, c := range []struct{ name, token string }{
				{"an admin's token from an application", app.AccessToken},
				{"an admin's token from a runtime client", runtime.AccessToken},
				{"a trusted client's token without the admin scope", noScope.AccessToken},
				{"a trusted client's token without the admin audience", noAud.AccessToken},
				{"a non-administrator's console token", bobTok.AccessToken},
			} {
				r := call(t, b, c.token, strings.ToUpper(m), p, nil)
				if r.Status != http.StatusForbidden {
					t.Errorf("%s %s with %s: %d, want 403", strings.ToUpper(m), path, c.name, r.Status)
				}
			}
		}
	}
	mustStatus(t, call(t, b, console.AccessToken, "GET", "/users", nil), 200, "trusted client with scope and audience")

	// No client learns about admin tokens by introspection, even one
	// named like the admin API's audience.
	if r := call(t, b, machine, "POST", "/clients", map[string]any{"id": core.AdminAudience(b.URL), "grant_types": []string{"client_credentials"}}); r.Status == 201 {
		sec, _ := r.Body["client_secret"].(string)
		st, body := postForm(t, b.URL+"/introspect", core.AdminAudience(b.URL), sec, url.Values{"token": {console.AccessToken}})
		if st != 200 || body["active"] != false {
			t.Errorf("a client named like the admin audience introspected an admin token: %d %v", st, body)
		}
	}
	mustStatus(t, call(t, b, machine, "GET", "/users", nil), 200, "machine client")

	// The role is checked at each request, and a refreshed token keeps the
	// rights only while the user has it.
	mustStatus(t, call(t, b, machine, "PATCH", "/users/"+alice.Subject, map[string]any{"roles": []string{}}), 200, "drop the role")
	mustStatus(t, call(t, b, console.AccessToken, "GET", "/users", nil), 403, "after the role is gone")
	// Revoking the console's session ends its token.
	mustStatus(t, call(t, b, machine, "PATCH", "/users/"+alice.Subject, map[string]any{"roles": []string{"admin"}}), 200, "give the role back")
	mustStatus(t, call(t, b, console.AccessToken, "GET", "/users", nil), 200, "role back")
	mustStatus(t, call(t, b, machine, "DELETE", "/users/"+alice.Subject+"/sessions", nil), 200, "end alice's sessions")
	mustStatus(t, call(t, b, console.AccessToken, "GET", "/users", nil), 401, "revoked token")
}

func toStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// TestAdminScopeNeedsLogin: a browser's single sign-on session never
// hands out an admin token by itself — any local process can listen on a
// loopback port and start such a request in the administrator's browser
// (RFC 8252 §8.6) — so the admin scope always asks for the password.
func TestAdminScopeNeedsLogin(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, adminAuthConfig(t))
	machine := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	_, alice := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	mustStatus(t, call(t, b, machine, "PATCH", "/users/"+alice.Subject, map[string]any{"roles": []string{"admin"}}), 200, "make alice an admin")

	app := newRPFor(t, b, "local")
	app.Browser = testenv.NewSSOBrowser(testenv.RedirectURI)
	if _, _, err := app.Login(ctx, testenv.UserName, testenv.UserPassword); err != nil {
		t.Fatal(err)
	}
	console, err := testenv.NewRP(ctx, b.URL, consoleClientID, "", testenv.RedirectURI, "openid", "admin")
	if err != nil {
		t.Fatal(err)
	}
	console.Browser, console.Connector = app.Browser, "local"
	// Without scope admin the session serves the console silently...
	plain, err := testenv.NewRP(ctx, b.URL, consoleClientID, "", testenv.RedirectURI, "openid")
	if err != nil {
		t.Fatal(err)
	}
	plain.Browser = app.Browser
	if tok, _, _ := authorizeSilently(t, plain); tok == nil {
		t.Fatal("single sign-on did not serve the console without the admin scope")
	}
	// ...with it, never.
	if tok, _, cb := authorizeSilently(t, console); tok != nil || cb.Query != nil {
		t.Fatalf("an admin token was issued from the browser session: %v", cb.Query)
	}
	if _, _, cb := authorizeSilently(t, console, oauth2.SetAuthURLParam("prompt", "none")); cb.Query.Get("error") != "login_required" {
		t.Errorf("prompt=none with the admin scope: %v", cb.Query)
	}
	// The password gets it.
	tok, _, err := console.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	mustStatus(t, call(t, b, tok.AccessToken, "GET", "/users", nil), 200, "after logging in")
}

// TestAdminRefusedModule: a WASM module or plugin the broker refuses is a
// 400 when an administrator adds it at runtime, not a connector on the
// login page that always answers 503.
func TestAdminRefusedModule(t *testing.T) {
	b := testenv.Start(t, adminConfig(t))
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	notWasm := filepath.Join(t.TempDir(), "mod.wasm")
	if err := os.WriteFile(notWasm, []byte("not a module"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []map[string]any{
		{"id": "badmod", "type": "wasm", "config": map[string]any{"path": notWasm, "sha256": strings.Repeat("0", 64)}},
		{"id": "badplug", "type": "plugin", "config": map[string]any{"path": notWasm, "sha256": strings.Repeat("0", 64)}},
	} {
		r := call(t, b, admin, "POST", "/connectors", c)
		if r.Status != 400 || r.Body["error"] != "invalid_connector" {
			t.Errorf("%s: %d %s, want 400 invalid_connector", c["id"], r.Status, r.Raw)
		}
	}
	if r := call(t, b, admin, "GET", "/connectors", nil); strings.Contains(string(r.Raw), "badmod") || strings.Contains(string(r.Raw), "badplug") {
		t.Errorf("a refused connector was added: %s", r.Raw)
	}
}
