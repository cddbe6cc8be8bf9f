package broker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/testenv"
)

const appB, appBSecret = "app-b", "app-b-secret-value"

// ssoConfig has a second application, B, beside testenv's client (A).
func ssoConfig(t *testing.T) *config.Config {
	cfg := testenv.Config(t)
	cfg.Clients = append(cfg.Clients, config.Client{ID: appB, Secret: appBSecret, RedirectURIs: []string{testenv.RedirectURI},
		GrantTypes: []string{"authorization_code", "refresh_token"}})
	return cfg
}

// ssoRPs returns relying parties for A and B that share one browser,
// which keeps the single sign-on cookie.
func ssoRPs(t *testing.T, b *testenv.Broker) (a, bb *testenv.RP) {
	t.Helper()
	a = newRP(t, b)
	var err error
	if bb, err = testenv.NewRP(t.Context(), b.URL, appB, appBSecret, testenv.RedirectURI); err != nil {
		t.Fatal(err)
	}
	a.Browser = testenv.NewSSOBrowser(testenv.RedirectURI)
	bb.Browser = a.Browser
	return a, bb
}

// authorizeSilently opens an authorization URL and reports whether the
// browser came straight back with a code (no login page), and the flow's
// result when it did.
func authorizeSilently(t *testing.T, rp *testenv.RP, extra ...oauth2.AuthCodeOption) (*oauth2.Token, *oidc.IDToken, testenv.Callback) {
	t.Helper()
	f := rp.NewFlow(extra...)
	cb, err := rp.Authorize(t.Context(), f.AuthURL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if cb.Query == nil || cb.Query.Get("code") == "" {
		return nil, nil, cb
	}
	tok, idt, err := rp.Finish(t.Context(), f, cb)
	if err != nil {
		t.Fatal(err)
	}
	return tok, idt, cb
}

// TestSSO is the single sign-on acceptance: log in to app A, then app B
// logs in without a password prompt; logout ends both.
func TestSSO(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, ssoConfig(t))
	a, bb := ssoRPs(t, b)
	tokA, idA, err := a.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	tokB, idB, cb := authorizeSilently(t, bb)
	if tokB == nil {
		t.Fatalf("app B was shown a page instead of being logged in: %d %.300s", cb.Status, cb.Page)
	}
	if idB.Subject != idA.Subject || !idB.IssuedAt.After(idA.IssuedAt.Add(-1)) {
		t.Fatalf("B's user %q, A's %q", idB.Subject, idA.Subject)
	}
	var ca, cbb struct {
		AuthTime int64 `json:"auth_time"`
	}
	idA.Claims(&ca)
	idB.Claims(&cbb)
	if ca.AuthTime == 0 || ca.AuthTime != cbb.AuthTime {
		t.Errorf("auth_time A %d, B %d: B's login is A's, not a new one", ca.AuthTime, cbb.AuthTime)
	}
	waitAudit(t, b.Server.Store, "a login by single sign-on", func(e store.AuditEvent) bool {
		return e.Type == "login.success" && e.ClientID == appB && e.Details["sso"] == "true"
	})

	// Logout through A ends the browser session and both apps' tokens.
	rawID, _ := tokA.Extra("id_token").(string)
	resp, err := a.Browser.Get(b.URL + "/logout?id_token_hint=" + url.QueryEscape(rawID))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	for name, tok := range map[string]*oauth2.Token{"A": tokA, "B": tokB} {
		r := postToken(t, b.URL, map[string]string{"A": testenv.ClientID, "B": appB}[name], map[string]string{"A": testenv.ClientSecret, "B": appBSecret}[name],
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		if r.Status != 400 || r.str("error") != "invalid_grant" {
			t.Errorf("app %s's refresh after logout: %d %v, want invalid_grant", name, r.Status, r.Body)
		}
		if st := userinfoStatus(t, b.URL, tok.AccessToken); st != 401 {
			t.Errorf("app %s's access token after logout: userinfo %d, want 401", name, st)
		}
	}
	if tok, _, _ := authorizeSilently(t, bb); tok != nil {
		t.Fatal("after logout, app B still logs in without a password")
	}
}

// TestSSOPromptAndMaxAge: prompt and max_age decide whether the session
// may answer (OpenID Connect Core §3.1.2.1).
func TestSSOPromptAndMaxAge(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, ssoConfig(t))
	a, bb := ssoRPs(t, b)

	// prompt=none without a session: login_required at the redirect URI.
	_, _, cb := authorizeSilently(t, bb, oauth2.SetAuthURLParam("prompt", "none"))
	if cb.Query.Get("error") != "login_required" {
		t.Fatalf("prompt=none without a session: %v %d", cb.Query, cb.Status)
	}
	if _, _, err := a.Login(ctx, testenv.UserName, testenv.UserPassword); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		params map[string]string
		silent bool
		err    string
	}{
		{"no prompt", nil, true, ""},
		{"prompt=none", map[string]string{"prompt": "none"}, true, ""},
		{"max_age long", map[string]string{"max_age": "3600"}, true, ""},
		{"prompt=login", map[string]string{"prompt": "login"}, false, ""},
		{"max_age=0", map[string]string{"max_age": "0"}, false, ""},
		{"prompt=none login", map[string]string{"prompt": "none login"}, false, "invalid_request"},
		{"unknown prompt", map[string]string{"prompt": "bogus"}, false, "invalid_request"},
		{"negative max_age", map[string]string{"max_age": "-1"}, false, "invalid_request"},
	} {
		var opts []oauth2.AuthCodeOption
		for k, v := range c.params {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
		tok, _, cb := authorizeSilently(t, bb, opts...)
		switch {
		case c.err != "":
			if cb.Query.Get("error") != c.err {
				t.Errorf("%s: %v (status %d), want error %s", c.name, cb.Query, cb.Status, c.err)
			}
		case c.silent && tok == nil:
			t.Errorf("%s: a page was shown (%d) where the session should answer", c.name, cb.Status)
		case !c.silent && (tok != nil || !strings.Contains(cb.Page, `name="password"`)):
			t.Errorf("%s: want the password form, got status %d", c.name, cb.Status)
		}
	}
}

// TestSSOEndsWithAdminRevoke: an administrator ending a user's sessions
// ends its browser sessions too.
func TestSSOEndsWithAdminRevoke(t *testing.T) {
	ctx := context.Background()
	cfg := adminConfig(t)
	cfg.Clients = append(cfg.Clients, ssoConfig(t).Clients[2])
	b := testenv.Start(t, cfg)
	a, bb := ssoRPs(t, b)
	a.Connector = "local"
	_, id, err := a.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	mustStatus(t, call(t, b, admin, "DELETE", "/users/"+id.Subject+"/sessions", nil), 200, "revoke sessions")
	if tok, _, _ := authorizeSilently(t, bb); tok != nil {
		t.Fatal("after the administrator ended the user's sessions, single sign-on still logs in")
	}
}

// TestSSODisabled: with login.session.disabled every request asks.
func TestSSODisabled(t *testing.T) {
	cfg := ssoConfig(t)
	cfg.Login.Session.Disabled = true
	b := testenv.Start(t, cfg)
	a, bb := ssoRPs(t, b)
	if _, _, err := a.Login(t.Context(), testenv.UserName, testenv.UserPassword); err != nil {
		t.Fatal(err)
	}
	if tok, _, _ := authorizeSilently(t, bb); tok != nil {
		t.Fatal("single sign-on answered though disabled")
	}
	for _, c := range a.Browser.Jar.Cookies(mustURL(t, b.URL)) {
		if c.Name == testenv.SessionCookie {
			t.Fatal("a session cookie was set though single sign-on is disabled")
		}
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestPromptNoneNeedsUser: prompt=none never shows a page; a login that
// would need consent or a second factor answers with the OpenID error for
// it, and discovery advertises the acr values and prompts.
func TestPromptNoneNeedsUser(t *testing.T) {
	cfg := ssoConfig(t)
	cfg.Clients[2].Consent = true
	b := testenv.Start(t, cfg)
	a, bb := ssoRPs(t, b)
	if _, _, err := a.Login(t.Context(), testenv.UserName, testenv.UserPassword); err != nil {
		t.Fatal(err)
	}
	none := oauth2.SetAuthURLParam("prompt", "none")
	if _, _, cb := authorizeSilently(t, bb, none); cb.Query.Get("error") != "consent_required" {
		t.Errorf("prompt=none for a client needing consent: %v %d", cb.Query, cb.Status)
	}
	if _, _, cb := authorizeSilently(t, a, none, oauth2.SetAuthURLParam("acr_values", "urn:portico:acr:mfa")); cb.Query.Get("error") != "interaction_required" {
		t.Errorf("prompt=none with a second factor to add: %v %d", cb.Query, cb.Status)
	}
	var doc struct {
		ACR    []string `json:"acr_values_supported"`
		Prompt []string `json:"prompt_values_supported"`
		Claims []string `json:"claims_supported"`
	}
	getJSONDoc(t, b.URL+"/.well-known/openid-configuration", &doc)
	if !slices.Equal(doc.ACR, []string{"urn:portico:acr:pwd", "urn:portico:acr:mfa"}) || !slices.Contains(doc.Prompt, "none") || !slices.Contains(doc.Claims, "acr") {
		t.Errorf("discovery: %+v", doc)
	}
}

func getJSONDoc(t *testing.T, u string, out any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}
