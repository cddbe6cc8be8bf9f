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
