package rs_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/portico-idp/portico/testenv"
	"github.com/portico-idp/portico/tokensvc/dpop"
	"github.com/portico-idp/portico/tokensvc/rs"
)

type key struct{ p *dpop.Prover }

func newKey(t *testing.T) key {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p, err := dpop.NewProver(k)
	if err != nil {
		t.Fatal(err)
	}
	return key{p}
}

func (k key) proof(t *testing.T, method, u, token string) string {
	t.Helper()
	s, err := k.p.Proof(method, u, dpop.ProofOptions{AccessToken: token})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// token gets testenv's confidential client a client_credentials token,
// bound to k's key when k is set.
func token(t *testing.T, b *testenv.Broker, k *key) (string, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.URL+"/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testenv.ClientID, testenv.ClientSecret)
	if k != nil {
		req.Header.Set("DPoP", k.proof(t, "POST", b.URL+"/token", ""))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	at, _ := body["access_token"].(string)
	if at == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, body)
	}
	return at, body
}

// TestMiddleware: a resource server in front of a handler accepts
// Portico's Bearer tokens, and DPoP-bound ones only with a proof of their
// key for the request; everything else gets 401 with the RFC's challenge.
func TestMiddleware(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	v, err := rs.New(t.Context(), rs.Config{Issuer: b.URL, Audience: testenv.ClientID})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := rs.FromContext(r.Context())
		fmt.Fprintf(w, "%s %s %v %q", tok.Subject, tok.ClientID, tok.HasScope("api"), tok.JKT)
	})))
	defer srv.Close()
	u := srv.URL + "/orders"
	call := func(scheme, tok string, proofs ...string) (int, string, []string) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if tok != "" {
			req.Header.Set("Authorization", scheme+" "+tok)
		}
		for _, p := range proofs {
			req.Header.Add("DPoP", p)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), resp.Header.Values("WWW-Authenticate")
	}

	bearer, _ := token(t, b, nil)
	if st, body, _ := call("Bearer", bearer); st != 200 || body != testenv.ClientID+" "+testenv.ClientID+` true ""` {
		t.Errorf("Bearer token: %d %q", st, body)
	}
	k, other := newKey(t), newKey(t)
	bound, _ := token(t, b, &k)
	if st, body, _ := call("DPoP", bound, k.proof(t, "GET", u, bound)); st != 200 || !strings.HasSuffix(body, " true \""+k.p.JKT+"\"") {
		t.Errorf("DPoP token with its proof: %d %q", st, body)
	}
	replayed := k.proof(t, "GET", u, bound)
	call("DPoP", bound, replayed)
	// An ID token is not an access token.
	idt := idToken(t, b)
	for _, tc := range []struct {
		name, scheme, tok, code string
		proofs                  []string
	}{
		{"no token", "", "", "", nil},
		{"another scheme", "Basic", "YTpi", "", nil},
		{"bound token as Bearer", "Bearer", bound, `DPoP realm="example-app", error="invalid_token"`, nil},
		{"bound token, no proof", "DPoP", bound, `DPoP realm="example-app", error="invalid_dpop_proof"`, nil},
		{"bound token, another key", "DPoP", bound, `DPoP realm="example-app", error="invalid_token"`, []string{other.proof(t, "GET", u, bound)}},
		{"bound token, proof for another URL", "DPoP", bound, `DPoP realm="example-app", error="invalid_dpop_proof"`, []string{k.proof(t, "GET", srv.URL+"/other", bound)}},
		{"bound token, replayed proof", "DPoP", bound, `DPoP realm="example-app", error="invalid_dpop_proof"`, []string{replayed}},
		{"Bearer token with the DPoP scheme", "DPoP", bearer, `DPoP realm="example-app", error="invalid_token"`, []string{k.proof(t, "GET", u, bearer)}},
		{"garbage", "Bearer", "abc", `Bearer realm="example-app", error="invalid_token"`, nil},
		{"forged signature", "Bearer", bearer[:strings.LastIndex(bearer, ".")] + ".AAAA", `Bearer realm="example-app", error="invalid_token"`, nil},
		{"an id_token", "Bearer", idt, `Bearer realm="example-app", error="invalid_token"`, nil},
	} {
		st, body, wa := call(tc.scheme, tc.tok, tc.proofs...)
		if tc.scheme == "Basic" {
			if st != 401 || len(wa) != 2 {
				t.Errorf("%s: %d %q %q, want the plain challenges", tc.name, st, body, wa)
			}
			continue
		}
		if st != 401 || len(wa) == 0 || tc.code != "" && !strings.HasPrefix(wa[0], tc.code) || tc.code == "" && len(wa) != 2 {
			t.Errorf("%s: %d %q %q, want 401 %s", tc.name, st, body, wa, tc.code)
		}
	}
	// Another audience: a resource server that is not example-app.
	v2, err := rs.New(t.Context(), rs.Config{Issuer: b.URL, Audience: "https://api.other.test"})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	if _, err := v2.Verify(req); err == nil || !strings.Contains(err.Error(), "not for this resource server") {
		t.Errorf("another audience: %v", err)
	}
}

func idToken(t *testing.T, b *testenv.Broker) string {
	t.Helper()
	rp, err := testenv.NewRP(t.Context(), b.URL, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := rp.Login(t.Context(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := tok.Extra("id_token").(string)
	return s
}
