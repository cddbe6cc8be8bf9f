package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/server"
)

// TestCommandsThroughServer: with --server the admin commands work while
// the server runs (the store is its), through its admin API; their
// changes are audited with the admin client as actor, and take effect at
// once (a new account logs in; a deleted client is refused).
func TestCommandsThroughServer(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	issuer := "http://" + addr
	cfg := writeConfig(t, dir, addr, "")
	srv := startServe(t, issuer, "--config", cfg)

	srvArgs := func(args ...string) []string { return append(args, "--server", issuer) }
	// Without credentials: a clear error, nothing done.
	t.Setenv(envClientID, "")
	t.Setenv(envClientSecret, "")
	t.Setenv(envAdminToken, "")
	if msg := mustFail(t, "quiet-lantern-1\n", srvArgs("users", "add", "carol")...); !strings.Contains(msg, "needs credentials") {
		t.Fatalf("users add --server without credentials: %q", msg)
	}
	// A wrong secret is the server's refusal.
	t.Setenv(envClientID, adminClient)
	t.Setenv(envClientSecret, "wrong")
	if msg := mustFail(t, "quiet-lantern-1\n", srvArgs("users", "list")...); !strings.Contains(msg, "invalid_client") {
		t.Fatalf("users list with a wrong secret: %q", msg)
	}
	t.Setenv(envClientSecret, adminSecret)

	out := mustRun(t, "quiet-lantern-1\n", srvArgs("users", "add", "carol", "--email", "carol@example.com")...)
	if !strings.Contains(out, "added carol") {
		t.Fatalf("users add printed %q", out)
	}
	if _, err := login(t, issuer, "carol", "quiet-lantern-1"); err != nil {
		t.Fatalf("login of the account added through --server: %v", err)
	}
	if msg := mustFail(t, "quiet-lantern-3\n", srvArgs("users", "add", "carol")...); !strings.Contains(msg, `username "carol" already exists`) {
		t.Fatalf("second add: %q", msg)
	}
	mustRun(t, "quiet-lantern-2\n", srvArgs("users", "passwd", "carol")...)
	wantBadPassword(t, func() error { _, err := login(t, issuer, "carol", "quiet-lantern-1"); return err }())
	if _, err := login(t, issuer, "carol", "quiet-lantern-2"); err != nil {
		t.Fatalf("login with the password set through --server: %v", err)
	}
	if out := mustRun(t, "", srvArgs("sessions", "list", "--user", "carol")...); sessionRows(out, rpClient) != 2 {
		t.Fatalf("sessions list: want carol's two logins:\n%s", out)
	}
	if out := mustRun(t, "", srvArgs("sessions", "revoke", "--user", "carol@example.com")...); !strings.Contains(out, "ended 2 session(s)") {
		t.Fatalf("sessions revoke printed %q", out)
	}
	out = mustRun(t, "", srvArgs("clients", "add", "svc", "--grant-type", "client_credentials")...)
	secret := secretLineRE.FindStringSubmatch(out)
	if secret == nil {
		t.Fatalf("clients add printed no secret: %q", out)
	}
	if _, err := clientCredentialsToken(t, issuer, "svc", secret[1]); err != nil {
		t.Fatalf("client added through --server: %v", err)
	}
	mustRun(t, "", srvArgs("clients", "delete", "svc")...)
	if _, err := clientCredentialsToken(t, issuer, "svc", secret[1]); err == nil {
		t.Fatal("a client deleted through --server still gets tokens")
	}
	if out := mustRun(t, "", srvArgs("keys", "rotate")...); !strings.Contains(out, "active") {
		t.Fatalf("keys rotate printed %q", out)
	}
	srv.stop()

	// Every change is in the audit trail with the admin client as actor.
	events := auditTypes(t, cfg, "client:"+adminClient)
	for _, want := range []string{"admin.account_create", "admin.account_password", "admin.user_sessions_revoke",
		"admin.client_create", "admin.client_delete", "admin.keys_rotate"} {
		if events[want] == 0 {
			t.Errorf("no %s event by client:%s; have %v", want, adminClient, events)
		}
	}
}

// TestCommandsOffline: without --server the same operations run in process
// on the store, and are audited with the operating-system user as actor.
func TestCommandsOffline(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, freeAddr(t), "")
	mustRun(t, "quiet-lantern-4\n", "users", "add", "dave", "--config", cfg)
	mustRun(t, "", "users", "delete", "dave", "--config", cfg)
	events := auditTypes(t, cfg, cliActor())
	if events["admin.account_create"] != 1 || events["admin.account_delete"] != 1 {
		t.Fatalf("offline changes by %s: %v, want one account_create and one account_delete", cliActor(), events)
	}
}

// auditTypes counts the stored audit events by type whose actor is actor.
func auditTypes(t *testing.T, cfgPath, actor string) map[string]int {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenStore(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.ListAuditEvents(context.Background(), time.Now().Add(-time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range evs {
		if e.Actor == actor {
			out[e.Type]++
		}
	}
	if len(out) == 0 {
		b, _ := json.Marshal(evs)
		t.Logf("all events: %s", b)
	}
	return out
}

// sessionRows counts the rows of `sessions list` output whose client is
// client (the second column; ids are random and may contain its letters).
func sessionRows(out, client string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == client {
			n++
		}
	}
	return n
}
