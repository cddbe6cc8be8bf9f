package broker_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/portico-idp/portico/testenv"
)

// TestRestartKeepsState: after a restart on the same data directory, with
// a config that no longer seeds anything, users, clients, signing keys and
// live refresh tokens all still work.
func TestRestartKeepsState(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, testenv.Config(t))
	rp := newRP(t, b)
	tok, idt, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)

	b.Config.Users, b.Config.Clients = nil, nil // prove the store, not the seed
	b.Restart(t)

	// The id_token signed before the restart still verifies: same keys.
	rp2 := newRP(t, b)
	if _, err := rp2.Verifier.Verify(ctx, rawID); err != nil {
		t.Errorf("pre-restart id_token: %v", err)
	}
	// The refresh token survived, and the client can still authenticate.
	r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	if r.Status != 200 {
		t.Fatalf("refresh after restart: %d %v", r.Status, r.Body)
	}
	// The user can log in again and is the same user.
	_, idt2, err := rp2.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	if idt2.Subject != idt.Subject {
		t.Errorf("sub changed across restart: %q → %q", idt.Subject, idt2.Subject)
	}
	if st := userinfoStatus(t, b.URL, tok.AccessToken); st != 200 {
		t.Errorf("pre-restart access token at userinfo: %d", st)
	}
}
