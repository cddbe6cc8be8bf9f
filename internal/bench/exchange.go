package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"

	"github.com/portico-idp/portico/broker/protocol"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/testenv"
)

// Token exchange (RFC 8693) scenarios: a workload's token of an external
// issuer (a JWKS on a loopback HTTP server, fetched once and cached)
// exchanged for a Portico token, and a user's access token delegated to a
// service; next to client_credentials, which signs the same one token.

const (
	scExchangeJWT        = "token exchange external JWT"
	scExchangeDelegation = "token exchange delegation"
)

var exchangeClient = creds{"bench-exchanger", "bench-exchanger-secret"}

// benchIssuer is the external issuer: one RSA key and its JWKS.
type benchIssuer struct {
	srv   *httptest.Server
	token string // a Kubernetes-style token, valid for a day
}

var newBenchIssuer = sync.OnceValues(func() (*benchIssuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "bench", Algorithm: "RS256", Use: "sig"}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(jwks) }))
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "bench"}}, nil)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{
		"iss": srv.URL, "sub": "system:serviceaccount:ci:deployer", "aud": "portico-bench",
		"iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix(),
		"kubernetes.io": map[string]any{"namespace": "ci", "serviceaccount": map[string]any{"name": "deployer"}},
	})
	jws, err := sg.Sign(payload)
	if err != nil {
		return nil, err
	}
	tok, _ := jws.CompactSerialize()
	return &benchIssuer{srv: srv, token: tok}, nil
})

// addExchange trusts the bench issuer in cfg and adds the exchanging client.
func addExchange(cfg *config.Config) error {
	is, err := newBenchIssuer()
	if err != nil {
		return err
	}
	cfg.TokenExchange.Issuers = []config.ExchangeIssuer{{
		Name: "bench", Issuer: is.srv.URL, JWKSURI: is.srv.URL, Audiences: []string{"portico-bench"},
		MaxTokenAge:    config.Duration(48 * time.Hour),
		RequiredClaims: map[string][]string{"kubernetes.io/namespace": {"ci"}},
		Subject:        config.ExchangeSubject{Template: "system:serviceaccount:{kubernetes.io/namespace}:{kubernetes.io/serviceaccount/name}"},
	}}
	cfg.Clients = append(cfg.Clients, config.Client{
		ID: exchangeClient.id, Secret: exchangeClient.secret, GrantTypes: []string{config.GrantTokenExchange},
		Scopes: []string{"api"},
		TokenExchange: &config.ClientExchange{Issuers: []string{"bench"}, Delegation: true,
			DelegationFrom: []string{testenv.ClientID}, Audiences: []string{"orders"}},
	})
	return nil
}

// exchangeOp exchanges subject (of type typ) for a token for "orders".
func exchangeOp(c *http.Client, b *testenv.Broker, subject, typ, scope string) op {
	form := url.Values{"grant_type": {core.GrantTokenExchange}, "subject_token": {subject},
		"subject_token_type": {typ}, "audience": {"orders"}, "scope": {scope}}.Encode()
	return func(ctx context.Context, _ int) error {
		req, err := formRequest(ctx, b, "/token", exchangeClient, form)
		if err != nil {
			return err
		}
		body, err := do(c, req)
		if err != nil {
			return err
		}
		if !bytes.Contains(body, accessTokenField) {
			return fmt.Errorf("POST /token: 200 without access_token: %s", truncate(string(body), 100))
		}
		return nil
	}
}

// userAccessToken logs alice in and returns an access token of hers
// (from a refresh: the code flow's client keeps the first).
func userAccessToken(ctx context.Context, c *http.Client, b *testenv.Broker) (string, error) {
	rt, err := login(ctx, b, testenv.UserName, testenv.UserPassword)
	if err != nil {
		return "", err
	}
	req, err := tokenRequest(ctx, b, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode())
	if err != nil {
		return "", err
	}
	body, err := do(c, req)
	if err != nil {
		return "", err
	}
	var resp struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.AccessToken == "" {
		return "", fmt.Errorf("POST /token: no access token: %s", truncate(string(body), 100))
	}
	return resp.AccessToken, nil
}

// exchangeScenarios are the two token exchange paths on the RS256 broker.
func exchangeScenarios(bs *brokers, o options, client func() *http.Client, alg string) []scenario {
	return []scenario{
		{name: scExchangeJWT, setup: func(ctx context.Context) (op, int, error) {
			b, err := bs.get(alg)
			if err != nil {
				return nil, o.workers, err
			}
			is, err := newBenchIssuer()
			if err != nil {
				return nil, o.workers, err
			}
			return exchangeOp(client(), b, is.token, protocol.TokenTypeJWT, "api"), o.workers, nil
		}},
		{name: scExchangeDelegation, setup: func(ctx context.Context) (op, int, error) {
			b, err := bs.get(alg)
			if err != nil {
				return nil, o.workers, err
			}
			c := client()
			at, err := userAccessToken(ctx, c, b)
			if err != nil {
				return nil, o.workers, err
			}
			return exchangeOp(c, b, at, protocol.TokenTypeAccessToken, "openid"), o.workers, nil
		}},
	}
}
