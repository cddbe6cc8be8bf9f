package broker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// TestAdminPasswordPolicy: the admin API refuses, on create and on set
// password, a password the configured policy refuses, with 400
// weak_password and the rule broken; it takes a good one, which then logs
// in. The policy is the file's: min_strength reaches it. The answers are
// as the OpenAPI document says.
func TestAdminPasswordPolicy(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Clients = append(cfg.Clients, config.Client{ID: adminClientID, Secret: adminClientSecret,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"admin"}, Admin: true})
	cfg.PasswordPolicy = config.PasswordPolicy{MinStrength: 3}
	b := testenv.Start(t, cfg)
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	d := loadDoc(t, b)

	refused := func(t *testing.T, r apiResp, op, violation, desc string) {
		t.Helper()
		_, _, o, _ := d.opByID(op)
		d.conforms(t, op, o, r)
		if r.Status != 400 || r.Body["error"] != "weak_password" || r.Body["violation"] != violation ||
			!strings.Contains(r.Body["error_description"].(string), desc) {
			t.Fatalf("answer %d %s, want 400 weak_password %s %q", r.Status, r.Raw, violation, desc)
		}
	}
	account := func(pw string) map[string]any {
		return map[string]any{"username": "dora", "email": "dora.explorer@example.com", "password": pw}
	}
	for _, tt := range []struct{ name, pw, violation, desc string }{
		{"common", "password", "common", "most common passwords"},
		{"common any case", "PASSWORD1", "common", "most common passwords"},
		{"too short", "Xq9#v", "too_short", "shorter than 8 characters"},
		{"username", "dora-2026-dora", "contains_username", "username or email"},
		{"email local part", "DORA.EXPLORER!", "contains_username", "username or email"},
		{"weak", "abcdefgh1", "weak", "strength below 3"},
		{"control character", "violet\ntractor umbrella", "invalid", "control character"},
		{"too long", strings.Repeat("violet tractor ", 20), "too_long", "longer than 256 bytes"},
	} {
		t.Run("create "+tt.name, func(t *testing.T) {
			refused(t, call(t, b, admin, "POST", "/accounts", account(tt.pw)), "createAccount", tt.violation, tt.desc)
		})
	}
	if r := call(t, b, admin, "GET", "/accounts?login=dora", nil); r.Status != 200 || strings.Contains(string(r.Raw), "dora") {
		t.Fatalf("a refused account was created: %d %s", r.Status, r.Raw)
	}
	r := call(t, b, admin, "POST", "/accounts", account("violet-tractor-umbrella"))
	if r.Status != 201 {
		t.Fatalf("create with a good password: %d %s", r.Status, r.Raw)
	}
	id := r.Body["id"].(string)

	for _, tt := range []struct{ name, pw, violation, desc string }{
		{"common", "password", "common", "most common passwords"},
		{"common with digits", "123456789", "common", "most common passwords"},
		{"username", "xxdoraxx-yy", "contains_username", "username or email"},
		{"weak", "abcdefgh1", "weak", "strength below 3"},
	} {
		t.Run("set "+tt.name, func(t *testing.T) {
			refused(t, call(t, b, admin, "PUT", "/accounts/"+id+"/password", map[string]any{"password": tt.pw}), "setAccountPassword", tt.violation, tt.desc)
		})
	}
	// An unknown account is 404 before the policy is asked.
	if r := call(t, b, admin, "PUT", "/accounts/nobody/password", map[string]any{"password": "password"}); r.Status != 404 {
		t.Fatalf("password of an unknown account: %d %s", r.Status, r.Raw)
	}
	if r := call(t, b, admin, "PUT", "/accounts/"+id+"/password", map[string]any{"password": "plum orchard at dusk"}); r.Status != 204 {
		t.Fatalf("set a good password: %d %s", r.Status, r.Raw)
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rp, err := testenv.NewRP(ctx, b.URL, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rp.Login(ctx, "dora", "plum orchard at dusk"); err != nil {
		t.Fatalf("login with the password set: %v", err)
	}
	if logs := b.Logs(); strings.Contains(logs, "abcdefgh1") || strings.Contains(logs, "plum orchard") {
		t.Fatal("a password was logged")
	}
}
