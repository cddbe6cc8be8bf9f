package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/testenv"
)

// TestSessions: `sessions list` shows a user's logins, and `sessions
// revoke` ends one of them (its refresh token stops working) or all.
func TestSessions(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	issuer := "http://" + addr
	cfg := writeConfig(t, dir, addr, "")
	mustRun(t, "s3cret-pass\n", "users", "add", "carol", "--email", "carol@example.com", "--data-dir", dir)

	srv := startServe(t, issuer, "--config", cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rp, err := testenv.NewRP(ctx, issuer, rpClient, rpSecret, rpRedirect)
	if err != nil {
		t.Fatal(err)
	}
	var toks []*oauth2.Token
	for range 2 {
		tok, _, err := rp.Login(ctx, "carol", "s3cret-pass")
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	srv.stop()

	out := mustRun(t, "", "sessions", "list", "--user", "carol", "--data-dir", dir)
	if n := strings.Count(out, " active"); n != 2 {
		t.Fatalf("sessions list shows %d active sessions, want 2:\n%s", n, out)
	}
	// The session id of the first login is its refresh family: take it
	// from the listing's first data row in order of appearance.
	var first string
	for _, line := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			first = f[0]
			break
		}
	}
	mustRun(t, "", "sessions", "revoke", "--user", "carol@example.com", "--session", first, "--data-dir", dir)
	out = mustRun(t, "", "sessions", "list", "--user", "carol", "--data-dir", dir)
	if strings.Count(out, " active") != 1 || strings.Count(out, " revoked") != 1 {
		t.Fatalf("after revoking one session:\n%s", out)
	}
	if msg := mustFail(t, "", "sessions", "revoke", "--user", "nobody", "--data-dir", dir); !strings.Contains(msg, "no user") {
		t.Errorf("unknown user: %q", msg)
	}

	srv = startServe(t, issuer, "--config", cfg)
	alive := 0
	for _, tok := range toks {
		if refreshOK(t, ctx, rp, tok.RefreshToken) {
			alive++
		}
	}
	if alive != 1 {
		t.Fatalf("%d of 2 sessions still refresh after revoking one", alive)
	}
	srv.stop()

	mustRun(t, "", "sessions", "revoke", "--user", "carol", "--data-dir", dir)
	out = mustRun(t, "", "sessions", "list", "--user", "carol", "--data-dir", dir)
	if strings.Contains(out, " active") {
		t.Fatalf("after revoking all:\n%s", out)
	}
}

func refreshOK(t *testing.T, ctx context.Context, rp *testenv.RP, rt string) bool {
	t.Helper()
	resp, err := rp.Browser.PostForm(rp.OAuth2.Endpoint.TokenURL, url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {rpClient}, "client_secret": {rpSecret},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}
