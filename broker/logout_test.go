package broker_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/testenv"
)

// logoutPage opens /logout in browser with query q and returns the status
// and the page (a redirect is not followed past the redirect URI).
func logoutPage(t *testing.T, browser *http.Client, issuer string, q url.Values) (int, string) {
	t.Helper()
	resp, err := browser.Get(issuer + "/logout?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// alive reports whether tok's session still stands: its access token
// passes userinfo.
func alive(t *testing.T, b *testenv.Broker, tok *oauth2.Token) bool {
	t.Helper()
	return userinfoStatus(t, b.URL, tok.AccessToken) == 200
}

const confirmMark = `name="cancel"`

// localLogin logs user in through the local connector; with sso, in a
// browser that keeps its single sign-on session.
func localLogin(t *testing.T, b *testenv.Broker, sso bool, user, password string) (*testenv.RP, *oauth2.Token) {
	t.Helper()
	rp := newRPFor(t, b, "local")
	if sso {
		rp.Browser = testenv.NewSSOBrowser(testenv.RedirectURI)
	}
	tok, _, err := rp.Login(t.Context(), user, password)
	if err != nil {
		t.Fatalf("login of %s: %v", user, err)
	}
	return rp, tok
}

// TestLogoutCSRF: any page can make a browser open /logout with any
// id_token it holds. The browser's session ends without asking only for a
// hint of that very session; a foreign hint (another user's, or the same
// user's from another browser) or a dead one asks, with Cancel.
func TestLogoutCSRF(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, adminConfig(t))

	// The victim's browser, logged in; the attacker's own login elsewhere.
	victim, vTok := localLogin(t, b, true, testenv.UserName, testenv.UserPassword)
	_, aTok := localLogin(t, b, false, bobName, bobPassword)
	// The same user in another browser: same sub, another sid.
	other := newRPFor(t, b, "local")
	oTok, _, err := other.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	hint := func(tok *oauth2.Token) url.Values {
		raw, _ := tok.Extra("id_token").(string)
		return url.Values{"id_token_hint": {raw}}
	}
	for _, c := range []struct {
		name string
		q    url.Values
	}{
		{"another user's hint", hint(aTok)},
		{"the same user's hint from another browser", hint(oTok)},
	} {
		st, page := logoutPage(t, victim.Browser, b.URL, c.q)
		if st != 200 || !strings.Contains(page, confirmMark) || !strings.Contains(page, "Cancel") {
			t.Errorf("%s: %d, want the confirmation with Cancel: %.300s", c.name, st, page)
		}
		if !alive(t, b, vTok) {
			t.Fatalf("%s ended the victim's session without asking", c.name)
		}
		if tok, _, _ := authorizeSilently(t, victim); tok == nil {
			t.Fatalf("%s ended the victim's browser session", c.name)
		}
	}
	// Cancel keeps everything.
	form := hint(aTok)
	form.Set("cancel", "1")
	resp, err := victim.Browser.PostForm(b.URL+"/logout", form)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "still logged in") || !alive(t, b, vTok) {
		t.Errorf("cancel: %d %.300s", resp.StatusCode, page)
	}
	// A forged confirmation (no CSRF token from our page) only asks again.
	resp, err = victim.Browser.PostForm(b.URL+"/logout", hint(aTok))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !alive(t, b, vTok) {
		t.Fatal("a POST without the confirmation's token logged the victim out")
	}

	// The browser's own hint logs out without asking.
	st, page2 := logoutPage(t, victim.Browser, b.URL, hint(vTok))
	if st != 200 || strings.Contains(page2, confirmMark) {
		t.Errorf("own hint: %d, want logged out without a question: %.300s", st, page2)
	}
	if alive(t, b, vTok) {
		t.Error("own hint: the session survived")
	}
	if !alive(t, b, oTok) {
		t.Error("own hint: the same user's session in another browser ended")
	}

	// A hint whose session is over counts as no hint: with a new login in
	// the browser, it asks.
	v2, _, err := victim.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	st, page3 := logoutPage(t, victim.Browser, b.URL, hint(vTok))
	if st != 200 || !strings.Contains(page3, confirmMark) {
		t.Errorf("dead hint: %d, want the confirmation: %.300s", st, page3)
	}
	if !alive(t, b, v2) {
		t.Error("a dead hint ended the browser's new session")
	}
}

// TestLogoutEndsPendingCodes: a code issued just before logout (or before
// an administrator ends the user's sessions) cannot be redeemed after it.
func TestLogoutEndsPendingCodes(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, adminConfig(t))
	for _, how := range []string{"logout", "admin"} {
		t.Run(how, func(t *testing.T) {
			rp := newRPFor(t, b, "local")
			rp.Browser = testenv.NewSSOBrowser(testenv.RedirectURI)
			tok, id, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
			if err != nil {
				t.Fatal(err)
			}
			// A second authorization by single sign-on: its code waits.
			f := rp.NewFlow()
			cb, err := rp.Authorize(ctx, f.AuthURL, "", "")
			if err != nil || cb.Query.Get("code") == "" {
				t.Fatalf("silent authorization: %v %v", cb, err)
			}
			switch how {
			case "logout":
				raw, _ := tok.Extra("id_token").(string)
				if st, _ := logoutPage(t, rp.Browser, b.URL, url.Values{"id_token_hint": {raw}}); st != 200 {
					t.Fatalf("logout: %d", st)
				}
			case "admin":
				admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
				mustStatus(t, call(t, b, admin, "DELETE", "/users/"+id.Subject+"/sessions", nil), 200, "end sessions")
			}
			r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"authorization_code"},
				"code": {cb.Query.Get("code")}, "redirect_uri": {testenv.RedirectURI}, "code_verifier": {f.Verifier}})
			if r.Status != 400 || r.str("error") != "invalid_grant" {
				t.Errorf("code redeemed after %s: %d %v", how, r.Status, r.Body)
			}
		})
	}
}

// TestLogoutRefusedBeforeAsking: a logout that cannot be carried out as
// asked (a post_logout_redirect_uri with no client to check it against, or
// one the client has not registered) is refused before the browser's
// person is asked to confirm it. Before, the confirmation came first, and
// confirming led to the error with nothing logged out (found by a
// black-box attack).
func TestLogoutRefusedBeforeAsking(t *testing.T) {
	b := testenv.Start(t, adminConfig(t))
	rp, tok := localLogin(t, b, true, testenv.UserName, testenv.UserPassword)
	for _, c := range []struct {
		name string
		q    url.Values
		want string
	}{
		{"no client", url.Values{"post_logout_redirect_uri": {"https://app.example.com/bye"}, "state": {"s1"}}, "not known"},
		{"an unregistered address", url.Values{"client_id": {rp.OAuth2.ClientID}, "post_logout_redirect_uri": {"https://evil.example/bye"}}, "not registered"},
	} {
		st, page := logoutPage(t, rp.Browser, b.URL, c.q)
		if st != http.StatusBadRequest || strings.Contains(page, confirmMark) || !strings.Contains(page, c.want) {
			t.Errorf("%s: %d, want 400 saying %q, without the confirmation: %.300s", c.name, st, c.want, page)
		}
		if !alive(t, b, tok) {
			t.Fatalf("%s: the session ended", c.name)
		}
	}
}
