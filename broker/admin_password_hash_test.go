package broker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/testenv"
)

// TestAdminImportHash: the admin API takes password_hash instead of
// password (issue #19), refuses hashes out of bounds or both fields, never
// echoes the hash, and the user logs in with the old password and is
// rehashed to argon2id.
func TestAdminImportHash(t *testing.T) {
	cfg := testenv.Config(t) // one local connector: no picker page
	cfg.Clients = append(cfg.Clients, config.Client{ID: adminClientID, Secret: adminClientSecret,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"admin"}, Admin: true})
	b := testenv.Start(t, cfg)
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	bc, err := bcrypt.GenerateFromPassword([]byte("carol-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		body map[string]any
		want int
	}{
		{"bcrypt cost 31", map[string]any{"username": "x", "password_hash": "$2a$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"}, 400},
		{"pbkdf2 100M iterations", map[string]any{"username": "x", "password_hash": "$pbkdf2-sha256$100000000$MDEyMzQ1Njc4OWFiY2RlZg$rybsuBlIHCOEKCPpDvTVloYHkPEiKOiJqqYGLCHAfF0"}, 400},
		{"both", map[string]any{"username": "x", "password": "p", "password_hash": string(bc)}, 400},
		{"neither", map[string]any{"username": "x"}, 400},
		{"bcrypt", map[string]any{"username": "carol", "password_hash": string(bc)}, 201},
	} {
		r := call(t, b, admin, "POST", "/accounts", tt.body)
		if r.Status != tt.want || strings.Contains(string(r.Raw), "$2a$") {
			t.Fatalf("%s: %d %s, want %d and no hash", tt.name, r.Status, r.Raw, tt.want)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rp, err := testenv.NewRP(ctx, b.URL, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rp.Login(ctx, "carol", "carol-password"); err != nil {
		t.Fatalf("login with the imported bcrypt password: %v", err)
	}
	acc, err := b.Server.Store.GetLocalAccountByLogin(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if local.Algorithm(acc.PasswordHash) != "argon2id" {
		t.Fatalf("after login the hash is %s, want argon2id", local.Algorithm(acc.PasswordHash))
	}
	// PUT /accounts/{id}/password takes an imported hash too.
	r := call(t, b, admin, "PUT", "/accounts/"+acc.ID+"/password", map[string]any{"password_hash": string(bc)})
	if r.Status != 204 {
		t.Fatalf("set password_hash: %d %s", r.Status, r.Raw)
	}
	if logs := b.Logs(); strings.Contains(logs, string(bc)) {
		t.Fatal("the imported hash was logged")
	}
}
