package broker_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/testenv"
)

// TestPromptAndHint: with a single sign-on session in the browser,
// prompt=select_account and prompt=consent show their pages instead of
// answering at once, and id_token_hint names the user the application
// expects: the session answers for that user only (prompt=none otherwise
// gets login_required, as does logging in as another), and a hint that is no ID token of the client is
// invalid_request (OpenID Connect Core §3.1.2.1). Before, all three were
// ignored and a code came back (found by a black-box attack).
func TestPromptAndHint(t *testing.T) {
	b := testenv.Start(t, adminConfig(t))
	alice, _ := localLogin(t, b, true, testenv.UserName, testenv.UserPassword)
	_, bobTok := localLogin(t, b, false, bobName, bobPassword)
	bobHint, _ := bobTok.Extra("id_token").(string)
	// Alice's ID token, raw, from a silent login in her browser.
	aliceTok, _, cb := authorizeSilently(t, alice)
	if aliceTok == nil {
		t.Fatalf("silent login: %d %.300s", cb.Status, cb.Page)
	}
	aliceHint, _ := aliceTok.Extra("id_token").(string)
	if aliceHint == "" || bobHint == "" {
		t.Fatal("no ID tokens to hint with")
	}

	// where opens the authorization URL in Alice's browser and says where
	// the first redirect goes: the client (with its query) or a page.
	noFollow := *alice.Browser
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	where := func(params map[string]string) (page string, q url.Values) {
		t.Helper()
		var opts []oauth2.AuthCodeOption
		for k, v := range params {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
		resp, err := noFollow.Get(alice.NewFlow(opts...).AuthURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || loc == "" {
			t.Fatalf("%v: %d Location %q", params, resp.StatusCode, loc)
		}
		if strings.HasPrefix(loc, testenv.RedirectURI) {
			u, _ := url.Parse(loc)
			return "", u.Query()
		}
		u, _ := url.Parse(loc)
		return u.Path, nil
	}

	if _, q := where(map[string]string{"prompt": "none", "id_token_hint": aliceHint}); q.Get("code") == "" {
		t.Errorf("prompt=none with the session's own user as hint: %v, want a code", q)
	}
	if _, q := where(map[string]string{"prompt": "none", "id_token_hint": bobHint}); q.Get("error") != "login_required" {
		t.Errorf("prompt=none with another user as hint: %v, want login_required", q)
	}
	if _, q := where(map[string]string{"id_token_hint": "not-a-token"}); q.Get("error") != "invalid_request" {
		t.Errorf("a hint that is no ID token: %v, want invalid_request", q)
	}
	for name, params := range map[string]map[string]string{
		"another user as hint":  {"id_token_hint": bobHint},
		"prompt=select_account": {"prompt": "select_account"},
	} {
		if page, q := where(params); q != nil || !strings.HasPrefix(page, "/login") {
			t.Errorf("%s: %q %v, want the login page", name, page, q)
		}
	}
	if page, q := where(map[string]string{"prompt": "consent"}); q != nil || page != "/consent" {
		t.Errorf("prompt=consent: %q %v, want the consent page", page, q)
	}
	// Logging in as someone else than the hint names: the client is told
	// (§3.1.2.1: "otherwise, it SHOULD return an error").
	f := alice.NewFlow(oauth2.SetAuthURLParam("id_token_hint", bobHint))
	cb, err := alice.Authorize(t.Context(), f.AuthURL, testenv.UserName, testenv.UserPassword)
	if err != nil || cb.Query.Get("error") != "login_required" || cb.Query.Get("state") != f.State {
		t.Errorf("another user than the hint logged in: %v %v %d %.200s", err, cb.Query, cb.Status, cb.Page)
	}
	f = alice.NewFlow(oauth2.SetAuthURLParam("id_token_hint", bobHint))
	if cb, err = alice.Authorize(t.Context(), f.AuthURL, bobName, bobPassword); err != nil || cb.Query.Get("code") == "" {
		t.Errorf("the user the hint names logged in: %v %v %d %.200s", err, cb.Query, cb.Status, cb.Page)
	}
}
