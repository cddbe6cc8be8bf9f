package broker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/protocol"

	"github.com/portico-idp/portico/broker/audit"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/testenv"
)

// Token exchange (RFC 8693), acceptance 2 of issue 17: tokens of an
// external issuer (a JWKS served over real HTTP, and a second Portico)
// become Portico tokens for the mapped subject; every refusal has its RFC
// error; delegation carries act.

const (
	xClient   = "svc"
	xSecret   = "svc-secret"
	xAudience = "portico-test" // what external tokens must be meant for
)

// extIssuer is an external issuer: a key and its JWKS on a real loopback
// HTTP server, which counts how often it is asked.
type extIssuer struct {
	srv     *httptest.Server
	key     *rsa.PrivateKey
	kid     string
	fetches atomic.Int32
}

func newExtIssuer(t *testing.T) *extIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	x := &extIssuer{key: key, kid: "k1"}
	x.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks" {
			http.NotFound(w, r)
			return
		}
		x.fetches.Add(1)
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: x.kid, Algorithm: "RS256", Use: "sig"}}}
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(x.srv.Close)
	return x
}

// sign signs claims with key (the issuer's unless given) as a JWT.
func signJWT(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := sg.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

// k8sClaims are a Kubernetes service-account token's claims.
func (x *extIssuer) k8sClaims(ns, sa string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": x.srv.URL, "sub": "system:serviceaccount:" + ns + ":" + sa, "aud": []string{xAudience},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"kubernetes.io": map[string]any{"namespace": ns, "serviceaccount": map[string]any{"name": sa, "uid": "u-1"}},
	}
}

// exchangeConfig trusts x as issuer "k8s" and, if peer is set, that
// Portico as "peer" (its keys found through discovery); client svc may
// exchange both and delegate the test app's users' tokens.
func exchangeConfig(t *testing.T, x *extIssuer, peer string) *config.Config {
	cfg := testenv.Config(t)
	cfg.TokenExchange.Issuers = []config.ExchangeIssuer{{
		Name: "k8s", Issuer: x.srv.URL, JWKSURI: x.srv.URL + "/jwks", Audiences: []string{xAudience},
		Algorithms:     []string{"RS256"},
		RequiredClaims: map[string][]string{"kubernetes.io/namespace": {"ci", "build-*"}},
		Subject:        config.ExchangeSubject{Template: "system:serviceaccount:{kubernetes.io/namespace}:{kubernetes.io/serviceaccount/name}"},
	}, {
		// Trusted, but not by svc.
		Name: "other", Issuer: "https://other.example.com", JWKSURI: "https://other.example.com/jwks",
		Audiences: []string{xAudience}, Subject: config.ExchangeSubject{Client: true},
	}}
	issuers := []string{"k8s"}
	if peer != "" {
		cfg.TokenExchange.Issuers = append(cfg.TokenExchange.Issuers, config.ExchangeIssuer{
			Name: "peer", Issuer: peer, Audiences: []string{testenv.ClientID},
			Subject: config.ExchangeSubject{UserEmailClaim: "email"},
		})
		issuers = append(issuers, "peer")
	}
	cfg.Clients = append(cfg.Clients, config.Client{
		ID: xClient, Secret: xSecret, GrantTypes: []string{"client_credentials", config.GrantTokenExchange},
		Scopes: []string{"api", "read"},
		TokenExchange: &config.ClientExchange{Issuers: issuers, Delegation: true,
			DelegationFrom: []string{testenv.ClientID}, Audiences: []string{"orders", "https://api.example.com"}},
	}, config.Client{
		// The resource server "orders": the audience's name is its id.
		ID: "orders", Secret: "orders-secret", GrantTypes: []string{"client_credentials"},
	})
	return cfg
}

func exchangeForm(subject, typ string, kv ...string) url.Values {
	f := url.Values{"grant_type": {core.GrantTokenExchange}, "subject_token": {subject}, "subject_token_type": {typ}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return f
}

func introspectAs(t *testing.T, b *testenv.Broker, id, secret, token string) map[string]any {
	t.Helper()
	st, body := postForm(t, b.URL+"/introspect", id, secret, url.Values{"token": {token}})
	if st != 200 {
		t.Fatalf("introspect: %d %v", st, body)
	}
	return body
}

// TestExchangeExternal: a Kubernetes-style token verified against a JWKS
// served over HTTP becomes a Portico access token for the mapped subject;
// each way such a token can be wrong is refused with its error.
func TestExchangeExternal(t *testing.T) {
	x := newExtIssuer(t)
	b := testenv.Start(t, exchangeConfig(t, x, ""))
	good := signJWT(t, jose.RS256, x.key, x.kid, x.k8sClaims("ci", "deployer"))

	r := postToken(t, b.URL, xClient, xSecret, exchangeForm(good, protocol.TokenTypeJWT, "scope", "api", "audience", "orders"))
	if r.Status != 200 {
		t.Fatalf("exchange: %d %v", r.Status, r.Body)
	}
	if r.str("issued_token_type") != protocol.TokenTypeAccessToken || r.str("token_type") != "Bearer" ||
		r.str("scope") != "api" || r.Body["expires_in"] == nil || r.Body["refresh_token"] != nil || r.Body["id_token"] != nil {
		t.Errorf("response: %v", r.Body)
	}
	if no := r.Header.Get("Cache-Control"); no != "no-store" {
		t.Errorf("Cache-Control %q", no)
	}
	// The token is for orders, not for the client that asked (RFC 8707).
	in := introspectAs(t, b, "orders", "orders-secret", r.str("access_token"))
	if in["active"] != true || in["sub"] != "system:serviceaccount:ci:deployer" || in["client_id"] != xClient ||
		strings.Join(toStrings(in["aud"]), " ") != "orders" || in["act"] != nil {
		t.Errorf("introspection: %v", in)
	}
	if in := introspectAs(t, b, xClient, xSecret, r.str("access_token")); in["active"] != false {
		t.Errorf("the client introspects a token for orders: %v", in)
	}
	waitAudit(t, b.Server.Store, "token.exchange issued", func(e store.AuditEvent) bool {
		return e.Type == audit.TokenExchange && e.Details["result"] == "issued" && e.Details["subject_issuer"] == "k8s" &&
			e.Details["subject"] == "system:serviceaccount:ci:deployer" && e.Details["audience"] == "orders"
	})

	// A second key, same kid: a forged signature.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	claims := func(edit func(map[string]any)) map[string]any {
		c := x.k8sClaims("ci", "deployer")
		edit(c)
		return c
	}
	now := time.Now()
	for _, tc := range []struct {
		name, client, secret, token, code string
		kv                                []string
	}{
		{name: "wrong audience", token: signJWT(t, jose.RS256, x.key, x.kid, claims(func(c map[string]any) { c["aud"] = "kubernetes" })), code: "invalid_request"},
		{name: "expired", token: signJWT(t, jose.RS256, x.key, x.kid, claims(func(c map[string]any) {
			c["iat"], c["exp"] = now.Add(-50*time.Minute).Unix(), now.Add(-5*time.Minute).Unix()
		})), code: "invalid_request"},
		{name: "too old", token: signJWT(t, jose.RS256, x.key, x.kid, claims(func(c map[string]any) {
			c["iat"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(time.Hour).Unix()
		})), code: "invalid_request"},
		{name: "no exp", token: signJWT(t, jose.RS256, x.key, x.kid, claims(func(c map[string]any) { delete(c, "exp") })), code: "invalid_request"},
		{name: "not yet valid", token: signJWT(t, jose.RS256, x.key, x.kid, claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })), code: "invalid_request"},
		{name: "unknown issuer", token: signJWT(t, jose.RS256, x.key, x.kid, claims(func(c map[string]any) { c["iss"] = "https://unknown.example.com" })), code: "invalid_request"},
		{name: "bad signature", token: signJWT(t, jose.RS256, other, x.kid, x.k8sClaims("ci", "deployer")), code: "invalid_request"},
		{name: "unknown kid", token: signJWT(t, jose.RS256, other, "k9", x.k8sClaims("ci", "deployer")), code: "invalid_request"},
		{name: "alg not allowed", token: signJWT(t, jose.ES256, ec, x.kid, x.k8sClaims("ci", "deployer")), code: "invalid_request"},
		{name: "claim rule", token: signJWT(t, jose.RS256, x.key, x.kid, x.k8sClaims("prod", "deployer")), code: "invalid_request"},
		{name: "not a JWT", token: "nonsense", code: "invalid_request"},
		{name: "client not allow-listed", client: testenv.ClientID, secret: testenv.ClientSecret, token: good, code: "unauthorized_client"},
		{name: "issuer not allowed for client", token: signJWT(t, jose.RS256, x.key, x.kid, claims(func(c map[string]any) { c["iss"] = "https://other.example.com" })), code: "unauthorized_client"},
		{name: "scope beyond client", token: good, kv: []string{"scope", "api write"}, code: "invalid_scope"},
		{name: "admin scope", token: good, kv: []string{"scope", "admin"}, code: "invalid_scope"},
		{name: "audience not allowed", token: good, kv: []string{"audience", "billing"}, code: "invalid_target"},
		{name: "resource not allowed", token: good, kv: []string{"resource", "https://evil.example.com/"}, code: "invalid_target"},
		{name: "admin audience", token: good, kv: []string{"audience", core.AdminAudience(b.URL)}, code: "invalid_target"},
		{name: "actor without type", token: good, kv: []string{"actor_token", "x"}, code: "invalid_request"},
		{name: "unknown requested type", token: good, kv: []string{"requested_token_type", "urn:ietf:params:oauth:token-type:saml2"}, code: "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, secret := xClient, xSecret
			if tc.client != "" {
				id, secret = tc.client, tc.secret
			}
			r := postToken(t, b.URL, id, secret, exchangeForm(tc.token, protocol.TokenTypeJWT, tc.kv...))
			if r.Status != 400 || r.str("error") != tc.code {
				t.Errorf("got %d %v, want 400 %s", r.Status, r.Body, tc.code)
			}
		})
	}
	// Forged kids may make Portico ask the issuer once, not once each.
	if n := x.fetches.Load(); n > 2 {
		t.Errorf("the JWKS was fetched %d times", n)
	}
	waitAudit(t, b.Server.Store, "token.exchange refused", func(e store.AuditEvent) bool {
		return e.Type == audit.TokenExchange && e.Details["result"] == "refused" &&
			e.Details["error"] == "unauthorized_client" && e.ClientID == testenv.ClientID
	})
	if logs := b.Logs(); strings.Contains(logs, good[:40]) {
		t.Error("a subject token reached the log")
	}
}

// TestExchangePeerPortico: an id_token of a second Portico (keys found
// through its discovery document) becomes a token of this Portico's user
// with the same verified email.
func TestExchangePeerPortico(t *testing.T) {
	ctx := context.Background()
	peer := testenv.Start(t, testenv.Config(t))
	b := testenv.Start(t, exchangeConfig(t, newExtIssuer(t), peer.URL))
	// alice has logged in here once: her verified email is known.
	_, here := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	tok, idt, err := newRP(t, peer).Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	peerTok, _ := tok.Extra("id_token").(string)
	r := postToken(t, b.URL, xClient, xSecret, exchangeForm(peerTok, protocol.TokenTypeIDToken, "scope", "read",
		"requested_token_type", protocol.TokenTypeJWT))
	if r.Status != 200 {
		t.Fatalf("exchange: %d %v", r.Status, r.Body)
	}
	if r.str("issued_token_type") != protocol.TokenTypeJWT {
		t.Errorf("issued_token_type %q", r.str("issued_token_type"))
	}
	c := jwtClaims(t, r.str("access_token"))
	if c["sub"] != here.Subject || c["iss"] != b.URL {
		t.Errorf("claims %v; want sub %s (the peer's was %s)", c, here.Subject, idt.Subject)
	}
	if in := introspectAs(t, b, xClient, xSecret, r.str("access_token")); in["active"] != true || in["username"] != testenv.UserName {
		t.Errorf("introspection: %v", in)
	}
}
