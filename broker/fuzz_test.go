package broker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/portico-idp/portico/testenv"
)

// FuzzTokenEndpoints sends arbitrary tokens and Authorization headers to
// every endpoint that parses one. None may answer 500 or panic, and the
// JSON endpoints must answer JSON.
func FuzzTokenEndpoints(f *testing.F) {
	b := testenv.Start(f, testenv.Config(f))
	tok, _, err := newRPTB(f, b).Login(context.Background(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	for _, s := range []string{tok.AccessToken, tok.RefreshToken, raw, "", "pat_", "prt_", "a.b.c", "Bearer x", "\x00", strings.Repeat("A", 9000)} {
		f.Add(s, "Bearer "+s)
	}
	h := b.Server.Broker
	f.Fuzz(func(t *testing.T, token, authz string) {
		serve := func(method, path, authz string, form url.Values) *httptest.ResponseRecorder {
			var req *http.Request
			if form != nil {
				req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				req = httptest.NewRequest(method, path, nil)
			}
			if authz != "" {
				req.Header.Set("Authorization", authz)
			} else if form != nil {
				req.SetBasicAuth(testenv.ClientID, testenv.ClientSecret)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code >= 500 {
				t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
			}
			return w
		}
		jsonBody := func(w *httptest.ResponseRecorder) {
			if w.Body.Len() > 0 && !json.Valid(w.Body.Bytes()) {
				t.Fatalf("non-JSON answer %d %q", w.Code, w.Body)
			}
		}
		serve(http.MethodGet, "/userinfo", authz, nil)
		jsonBody(serve(http.MethodPost, "/introspect", "", url.Values{"token": {token}}))
		jsonBody(serve(http.MethodPost, "/revoke", "", url.Values{"token": {token}, "token_type_hint": {"refresh_token"}}))
		jsonBody(serve(http.MethodPost, "/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}))
		jsonBody(serve(http.MethodPost, "/token", authz, url.Values{"grant_type": {"client_credentials"}}))
		serve(http.MethodGet, "/logout?id_token_hint="+url.QueryEscape(token), "", nil)
	})
}

func newRPTB(t testing.TB, b *testenv.Broker) *testenv.RP {
	t.Helper()
	rp, err := testenv.NewRP(context.Background(), b.URL, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// FuzzLoginPages sends arbitrary authorization parameters (prompt,
// max_age, acr_values, the rest) and form values to the login journey's
// pages: /authorize, the password form, /mfa, /consent, the account page's
// link. None may answer 500 or panic, and /authorize never redirects to an
// address the client did not register.
func FuzzLoginPages(f *testing.F) {
	cfg := testenv.Config(f)
	cfg.Login.MFA.Clients = []string{testenv.ClientID}
	b := testenv.Start(f, cfg)
	for _, s := range [][2]string{
		{"prompt=none", "123456"}, {"prompt=login+consent&max_age=0", "abcd-efgh"},
		{"max_age=-1&acr_values=urn:portico:acr:mfa", ""}, {"prompt=none+login", "\x00"},
		{"max_age=99999999999999999999", strings.Repeat("9", 70)}, {"prompt=%ff&acr_values=%00", " 1 2 3 4 5 6 "},
	} {
		f.Add(s[0], s[1])
	}
	h := b.Server.Broker
	base := url.Values{"client_id": {testenv.ClientID}, "redirect_uri": {testenv.RedirectURI}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"s"}}.Encode()
	f.Fuzz(func(t *testing.T, query, value string) {
		serve := func(method, target string, form url.Values, cookies []*http.Cookie) *httptest.ResponseRecorder {
			var req *http.Request
			if form != nil {
				req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				req = httptest.NewRequest(method, target, nil)
			}
			for _, c := range cookies {
				req.AddCookie(c)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
				t.Fatalf("%s %s: %d %s", method, target, w.Code, w.Body)
			}
			return w
		}
		if strings.ContainsAny(query, "# \x7f") || strings.ContainsFunc(query, func(r rune) bool { return r < 0x20 }) {
			return // not a request target a client can send
		}
		w := serve(http.MethodGet, "/authorize?"+base+"&"+query, nil, nil)
		if loc := w.Header().Get("Location"); loc != "" && !strings.HasPrefix(loc, "/login") && !strings.HasPrefix(loc, testenv.RedirectURI+"?") {
			t.Fatalf("authorize redirected to %q", loc)
		}
		cookies := w.Result().Cookies()
		req := ""
		if u, err := url.Parse(w.Header().Get("Location")); err == nil {
			req = u.Query().Get("req")
		}
		form := url.Values{"req": {req}, "csrf": {value}, "username": {value}, "password": {value}, "code": {value},
			"recovery": {value}, "answer": {value}}
		serve(http.MethodPost, "/login/local", form, cookies)
		serve(http.MethodGet, "/mfa?req="+url.QueryEscape(value), nil, cookies)
		serve(http.MethodPost, "/mfa", form, cookies)
		serve(http.MethodPost, "/mfa/enrol", form, cookies)
		serve(http.MethodPost, "/consent", form, cookies)
		serve(http.MethodPost, "/account/link/local", form, cookies)
	})
}
