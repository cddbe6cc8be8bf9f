package broker_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// Clients of the refresh bursts: the test client without a reuse grace,
// and one with the longest grace allowed.
const (
	graceClientID     = "grace-app"
	graceClientSecret = "grace-secret"
)

// burstConfig is the test configuration with the grace client.
func burstConfig(t *testing.T) *config.Config {
	cfg := testenv.Config(t)
	cfg.Clients = append(cfg.Clients, config.Client{ID: graceClientID, Secret: graceClientSecret,
		RedirectURIs: []string{testenv.RedirectURI}, GrantTypes: []string{"authorization_code", "refresh_token"},
		RefreshReuseGrace: config.Duration(time.Minute)})
	return cfg
}

// TestRefreshBurst: 20 concurrent refreshes of one token get exactly what
// refresh_reuse_grace allows (docs/tokens.md), however they interleave, on
// one broker on Badger and on two brokers sharing one PostgreSQL schema
// (replicas, the burst spread over both); the rest are invalid_grant, and
// the family ends, the winners' tokens with it.
func TestRefreshBurst(t *testing.T) {
	const n = 20
	backends := []struct {
		name  string
		start func(t *testing.T) []*testenv.Broker
	}{
		{"badger", func(t *testing.T) []*testenv.Broker {
			return []*testenv.Broker{testenv.Start(t, burstConfig(t))}
		}},
		{"postgres replicas", func(t *testing.T) []*testenv.Broker {
			schema := testenv.PostgresSchema(t)
			shared := t.TempDir() // the sealing key both share, as replicas do
			var bs []*testenv.Broker
			for range 2 {
				cfg := burstConfig(t)
				cfg.Storage = config.Storage{Type: config.StoragePostgres, DSN: testenv.PostgresDSN(), Schema: schema, Dir: shared}
				bs = append(bs, testenv.Start(t, cfg))
			}
			return bs
		}},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			brokers := be.start(t)
			for _, tc := range []struct {
				name           string
				client, secret string
				previous       bool // present the token a first refresh retired
				want           int
			}{
				{"current token without grace", testenv.ClientID, testenv.ClientSecret, false, 1},
				{"current token with grace", graceClientID, graceClientSecret, false, 2},
				{"previous token inside its grace", graceClientID, graceClientSecret, true, 1},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ctx := t.Context()
					rp, err := testenv.NewRP(ctx, brokers[0].URL, tc.client, tc.secret, testenv.RedirectURI)
					if err != nil {
						t.Fatal(err)
					}
					tok, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
					if err != nil {
						t.Fatal(err)
					}
					refresh := func(b *testenv.Broker) tokenResponse {
						return postToken(t, b.URL, tc.client, tc.secret,
							url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
					}
					if tc.previous {
						if r := refresh(brokers[0]); r.Status != 200 { // the answer the client lost
							t.Fatalf("first refresh: %d %v", r.Status, r.Body)
						}
					}
					results := make([]tokenResponse, n)
					var wg sync.WaitGroup
					start := make(chan struct{})
					for i := range n {
						wg.Go(func() {
							<-start
							results[i] = refresh(brokers[i%len(brokers)])
						})
					}
					close(start)
					wg.Wait()
					var won []tokenResponse
					for _, r := range results {
						switch {
						case r.Status == 200:
							won = append(won, r)
						case r.str("error") != "invalid_grant":
							t.Errorf("loser got %d %v, want invalid_grant", r.Status, r.Body)
						}
					}
					if len(won) != tc.want {
						t.Errorf("%d of %d concurrent refreshes succeeded, want exactly %d", len(won), n, tc.want)
					}
					for _, r := range won {
						if active(t, brokers[0], r.str("access_token")) {
							t.Error("an access token of the burst is active: the family was not revoked")
						}
						if again := postToken(t, brokers[len(brokers)-1].URL, tc.client, tc.secret, url.Values{
							"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}}); again.Status == 200 {
							t.Error("a refresh token of the burst still works: the family was not revoked")
						}
					}
				})
			}
		})
	}
}

// TestRefreshReplayRevokesFamily: presenting a rotated-away refresh token
// ends the family, so the newest token of it stops working too.
func TestRefreshReplayRevokesFamily(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	tok, _, err := newRP(t, b).Login(context.Background(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(rt string) tokenResponse {
		return postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	}
	r1 := refresh(tok.RefreshToken)
	if r1.Status != 200 {
		t.Fatal(r1.Body)
	}
	if r := refresh(tok.RefreshToken); r.str("error") != "invalid_grant" {
		t.Fatalf("replay: %d %v", r.Status, r.Body)
	}
	if r := refresh(r1.str("refresh_token")); r.str("error") != "invalid_grant" {
		t.Errorf("newest token of a replayed family still works: %d %v", r.Status, r.Body)
	}
}

// TestRefreshOfDeletedUser: a refresh for a user whose local account is
// gone fails and ends the family.
func TestRefreshOfDeletedUser(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, testenv.Config(t))
	tok, _, err := newRP(t, b).Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	st := b.Server.Store
	acc, err := st.GetLocalAccountByLogin(ctx, testenv.UserName)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteLocalAccount(ctx, acc.ID); err != nil {
		t.Fatal(err)
	}
	r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	if r.Status != 400 || r.str("error") != "invalid_grant" {
		t.Fatalf("refresh of a deleted account: %d %v", r.Status, r.Body)
	}
}

// TestRefreshNarrowScope: a refresh asking for fewer scopes narrows that
// answer only (RFC 6749 §6, OAuth 2.1 §4.3.3): its scope, its access token
// and its id_token's claims. It still gets a refresh token, without
// offline_access asked, and the next refresh without scope gets the
// login's scopes back.
func TestRefreshNarrowScope(t *testing.T) {
	ctx := t.Context()
	b := testenv.Start(t, testenv.Config(t))
	rp := newRP(t, b)
	tok, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	granted, _ := tok.Extra("scope").(string)
	if !slices.Contains(strings.Fields(granted), "offline_access") || !slices.Contains(strings.Fields(granted), "profile") {
		t.Fatalf("login granted %q: the test needs offline_access and profile to narrow away", granted)
	}
	sameScopes := func(what, got, want string) {
		t.Helper()
		g, w := strings.Fields(got), strings.Fields(want)
		slices.Sort(g)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			t.Errorf("%s: scope %q, want %q", what, got, want)
		}
	}

	narrow := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {tok.RefreshToken}, "scope": {"openid email"}})
	if narrow.Status != 200 || narrow.str("refresh_token") == "" {
		t.Fatalf("narrowed refresh: %d %v, want tokens and a refresh token", narrow.Status, narrow.Body)
	}
	sameScopes("narrowed answer", narrow.str("scope"), "openid email")
	at, _ := introspect(t, b, narrow.str("access_token"))["scope"].(string)
	sameScopes("narrowed access token", at, "openid email")
	idt, err := rp.Verifier.Verify(ctx, narrow.str("id_token"))
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims["email"] != testenv.UserEmail || claims["name"] != nil || claims["groups"] != nil {
		t.Errorf("narrowed id_token claims %v: want email, and no profile or groups", claims)
	}

	full := refresh(t, b, narrow.str("refresh_token"))
	if full.Status != 200 {
		t.Fatalf("refresh after the narrowed one: %d %v", full.Status, full.Body)
	}
	sameScopes("next answer", full.str("scope"), granted)
	at, _ = introspect(t, b, full.str("access_token"))["scope"].(string)
	sameScopes("next access token", at, granted)
}
