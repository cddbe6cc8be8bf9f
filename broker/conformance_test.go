package broker_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// descriptionOK reports whether s uses only what RFC 6749 §5.2 allows in an
// error_description: %x20-21 / %x23-5B / %x5D-7E.
func descriptionOK(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// TestErrorDescriptionCharset: an error_description that echoes the
// request keeps to RFC 6749's characters, at the token endpoint (JSON) and
// at the redirect URI. Before, quotes, backslashes, controls and non-ASCII
// came back as sent (found by a black-box attack).
func TestErrorDescriptionCharset(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	hostile := "x\"\\\u00e9\x01"
	r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {hostile}})
	if d := r.str("error_description"); r.Status != http.StatusBadRequest || d == "" || !descriptionOK(d) {
		t.Errorf("token endpoint: %d error_description %q", r.Status, d)
	}
	q := baseQuery()
	q.Set("scope", "openid "+hostile)
	resp, err := noFollow.Get(authorizeURL(b.URL, q))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if d := u.Query().Get("error_description"); u.Query().Get("error") != "invalid_scope" || d == "" || !descriptionOK(d) {
		t.Errorf("authorization error: %s error_description %q", u.Query().Get("error"), d)
	}
}

// TestUnauthorizedChallenges: every 401 of the endpoints that take client
// authentication names a scheme (RFC 7235 §3.1), also when the client
// authenticated in the body or not at all. Before, only a failed Basic
// got WWW-Authenticate (found by a black-box attack).
func TestUnauthorizedChallenges(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	for _, path := range []string{"/token", "/introspect", "/revoke"} {
		for name, form := range map[string]url.Values{
			"client_secret_post": {"client_id": {testenv.ClientID}, "client_secret": {"wrong"}, "grant_type": {"client_credentials"}, "token": {"x"}},
			"unknown client":     {"client_id": {"nobody"}, "grant_type": {"client_credentials"}, "token": {"x"}},
		} {
			resp, err := http.PostForm(b.URL+path, form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s, %s: 401 without WWW-Authenticate", path, name)
			}
			if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s, %s: %d, want 401 or 400", path, name, resp.StatusCode)
			}
		}
	}
}

// TestGrantedScope: the token response names the scope granted (RFC 6749
// §3.3, §5.1): offline_access only with a refresh token, and no scope
// member when none was granted; introspection likewise. Before, a client
// without the refresh_token grant was told offline_access was granted,
// and client_credentials without scope answered "scope": "" (found by a
// black-box attack).
func TestGrantedScope(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.Config(t)
	cfg.Clients = append(cfg.Clients, config.Client{ID: "no-refresh", Secret: "no-refresh-secret",
		RedirectURIs: []string{testenv.RedirectURI}, GrantTypes: []string{"authorization_code", "client_credentials"}})
	b := testenv.Start(t, cfg)

	rp, err := testenv.NewRP(ctx, b.URL, "no-refresh", "no-refresh-secret", testenv.RedirectURI, "openid", "offline_access")
	if err != nil {
		t.Fatal(err)
	}
	rp.Connector = "local"
	tok, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	scope, _ := tok.Extra("scope").(string)
	if tok.RefreshToken != "" || slices.Contains(strings.Fields(scope), "offline_access") || !slices.Contains(strings.Fields(scope), "openid") {
		t.Errorf("no refresh grant, offline_access asked: scope %q, refresh token given: %v", scope, tok.RefreshToken != "")
	}

	r := postToken(t, b.URL, "no-refresh", "no-refresh-secret", url.Values{"grant_type": {"client_credentials"}})
	if r.Status != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", r.Status, r.Body)
	}
	if _, ok := r.Body["scope"]; ok {
		t.Errorf("client_credentials without scope: scope %q in the answer", r.Body["scope"])
	}
	st, in := postForm(t, b.URL+"/introspect", "no-refresh", "no-refresh-secret", url.Values{"token": {r.str("access_token")}})
	if _, ok := in["scope"]; st != http.StatusOK || in["active"] != true || ok {
		t.Errorf("introspection of a token without scope: %d %v", st, in)
	}
}

// TestRevocationAuthNone: public clients revoke their own tokens with
// client_id alone, so discovery lists "none" for revocation (RFC 8414 §2)
// but not for introspection, which they cannot use.
func TestRevocationAuthNone(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	d := discovery(t, b.URL)
	has := func(k string) bool {
		l, _ := d[k].([]any)
		return slices.Contains(l, any("none"))
	}
	if !has("revocation_endpoint_auth_methods_supported") || has("introspection_endpoint_auth_methods_supported") {
		t.Errorf("revocation %v, introspection %v", d["revocation_endpoint_auth_methods_supported"], d["introspection_endpoint_auth_methods_supported"])
	}
	resp, err := http.PostForm(b.URL+"/revoke", url.Values{"client_id": {testenv.PublicClient}, "token": {"unknown"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a public client's revocation: %d", resp.StatusCode)
	}
}
