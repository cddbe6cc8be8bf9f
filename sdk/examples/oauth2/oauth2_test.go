package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/portico-idp/portico/sdk"
)

// server is a minimal OAuth server: code "good" redeems with the right
// PKCE verifier; its userinfo answers what claims says.
func server(t *testing.T, status int, claims string) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if r.Form.Get("code") != "good" || r.Form.Get("code_verifier") == "" {
			w.WriteHeader(400)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		w.Write([]byte(`{"access_token":"at","token_type":"Bearer"}`))
	})
	mux.HandleFunc("GET /userinfo", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer at" {
			w.WriteHeader(401)
			return
		}
		w.WriteHeader(status)
		w.Write([]byte(claims))
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func newTest(t *testing.T, base string) *connector {
	raw, _ := json.Marshal(map[string]any{"authorization_url": base + "/authorize", "token_url": base + "/token",
		"userinfo_url": base + "/userinfo", "client_id": "c", "client_secret": "s", "timeout": "2s"})
	c, err := newConnector(context.Background(), raw, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return c.(*connector)
}

func TestCallback(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		status int
		claims string
		code   string
		want   error
	}{
		{"ok", 200, `{"sub":"42","email":"a@x","email_verified":true,"groups":["g"]}`, "good", nil},
		{"code refused", 200, `{"sub":"42"}`, "bad", sdk.ErrInvalidCredentials},
		{"no sub", 200, `{"email":"a@x"}`, "good", sdk.ErrInvalidCredentials},
		{"userinfo down", 503, ``, "good", sdk.ErrUnavailable},
		{"not json", 200, `<html>`, "good", sdk.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTest(t, server(t, tc.status, tc.claims).URL)
			rd, err := c.LoginURL(ctx, sdk.Scopes{}, "http://127.0.0.1/cb", "st")
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(rd.URL)
			if q := u.Query(); q.Get("state") != "st" || q.Get("code_challenge_method") != "S256" || q.Get("redirect_uri") != "http://127.0.0.1/cb" {
				t.Errorf("login URL %s", rd.URL)
			}
			id, err := c.HandleCallback(ctx, sdk.Scopes{}, sdk.CallbackRequest{Method: "GET", URL: "http://127.0.0.1/cb",
				Query: map[string][]string{"code": {tc.code}, "state": {"st"}}, Data: rd.Data})
			if tc.want == nil && (err != nil || id.Subject != "42" || id.Email != "a@x" || len(id.Groups) != 1) {
				t.Errorf("identity %+v %v", id, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
	c := newTest(t, "http://127.0.0.1:1")
	if _, err := c.HandleCallback(ctx, sdk.Scopes{}, sdk.CallbackRequest{Query: map[string][]string{"error": {"access_denied"}}}); !errors.Is(err, sdk.ErrInvalidCredentials) {
		t.Errorf("error answer: %v", err)
	}
	if _, err := c.HandleCallback(ctx, sdk.Scopes{}, sdk.CallbackRequest{Query: map[string][]string{"code": {"good"}}, Data: []byte("v")}); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("server down: %v", err)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{`{"authorization_url":"https://a","token_url":"https://a/t","userinfo_url":"https://a/u"}`, "client_id: required"},
		{`{"authorization_url":"http://a.example","token_url":"https://a/t","userinfo_url":"https://a/u","client_id":"c"}`, "http is allowed only for loopback"},
		{`{"client_id":"c","tokenurl":"x"}`, "unknown field"},
	} {
		_, err := newConnector(context.Background(), json.RawMessage(tc.raw), slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.raw, err, tc.want)
		}
	}
}
