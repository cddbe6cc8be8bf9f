package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/internal/version"
	"github.com/portico-idp/portico/testenv"
)

// login runs the whole code flow against issuer as the relying party rp and
// returns the verified id_token.
func login(t *testing.T, issuer, user, password string) (*oidc.IDToken, error) {
	t.Helper()
	return loginAs(t, issuer, rpClient, rpSecret, rpRedirect, user, password)
}

func loginAs(t *testing.T, issuer, client, secret, redirect, user, password string) (*oidc.IDToken, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rp, err := testenv.NewRP(ctx, issuer, client, secret, redirect)
	if err != nil {
		t.Fatalf("relying party: %v", err)
	}
	_, idt, err := rp.Login(ctx, user, password)
	return idt, err
}

// wantBadPassword fails the test unless err is the login page refusing the
// password (and not, say, a broken server).
func wantBadPassword(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("login succeeded, want the password refused")
	}
	if !strings.Contains(err.Error(), "status 401") {
		t.Fatalf("login failed with %v, want the login page's 401", err)
	}
}

// listed reports whether a table printed by a list command has a row whose
// first column is name.
func listed(out, name string) bool {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

// rows counts the table rows whose first column is name.
func rows(out, name string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			n++
		}
	}
	return n
}

// TestVersion: `portico version` and `portico --version` print the values
// stamped with -ldflags -X (internal/version), on one line.
func TestVersion(t *testing.T) {
	out := mustRun(t, "", "version")
	if !strings.HasPrefix(out, "portico ") || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("version printed %q, want one line starting with \"portico \"", out)
	}
	v, c, d := version.Version, version.Commit, version.Date
	version.Version, version.Commit, version.Date = "v1.2.3", "0123abcd", "2026-01-02T03:04:05Z"
	t.Cleanup(func() { version.Version, version.Commit, version.Date = v, c, d })
	want := "portico v1.2.3 (commit 0123abcd, date 2026-01-02T03:04:05Z, " + runtime.Version() + ")\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if out := mustRun(t, "", args...); out != want {
			t.Errorf("portico %s printed %q, want %q", args[0], out, want)
		}
	}
}

func TestUsers(t *testing.T) {
	dir := t.TempDir()
	// Spaces are part of a password: only the line ending is stripped, be
	// it "\n" or "\r\n".
	const first, second = " first-password 1 ", "second-password 2"

	// The password comes from stdin, never from argv.
	if msg := mustFail(t, "", "users", "add", "alice", "--data-dir", dir); !strings.Contains(msg, "empty password") {
		t.Fatalf("add with empty stdin: %q, want an empty-password error", msg)
	}
	if msg := mustFail(t, first+"\n", "users", "add", "alice", first, "--data-dir", dir); !strings.Contains(msg, "arg") {
		t.Fatalf("add with the password in argv: %q, want an argument error", msg)
	}
	out := mustRun(t, first+"\n", "users", "add", "alice", "--email", "a@example.com", "--name", "Alice A", "--groups", "admins,staff", "--data-dir", dir)
	if !strings.Contains(out, "added alice") {
		t.Fatalf("add printed %q", out)
	}
	if strings.Contains(out, first) {
		t.Fatalf("add echoed the password: %q", out)
	}
	out = mustRun(t, "", "users", "list", "--data-dir", dir)
	if !listed(out, "alice") || !strings.Contains(out, "a@example.com") || !strings.Contains(out, "admins,staff") {
		t.Fatalf("list after add:\n%s", out)
	}
	if strings.Contains(out, "argon2") || strings.Contains(out, first) {
		t.Fatalf("list shows password material:\n%s", out)
	}

	// Taken username, taken email, bad input: clear messages, nothing added.
	if msg := mustFail(t, "other-password\n", "users", "add", "alice", "--data-dir", dir); !strings.Contains(msg, `username "alice" already exists`) {
		t.Fatalf("second add of alice: %q, want a clear already-exists message", msg)
	}
	if msg := mustFail(t, "other-password\n", "users", "add", "bob", "--email", "A@example.com", "--data-dir", dir); !strings.Contains(msg, `email "A@example.com" already belongs to account "alice"`) {
		t.Fatalf("add with alice's email: %q", msg)
	}
	if msg := mustFail(t, "other-password\n", "users", "add", "bob", "--email", "Bob <bob@example.com>", "--data-dir", dir); !strings.Contains(msg, "not a plain email address") {
		t.Fatalf("add with a display-name address: %q", msg)
	}
	if out := mustRun(t, "", "users", "list", "--data-dir", dir); rows(out, "alice") != 1 || listed(out, "bob") {
		t.Fatalf("list after refused adds:\n%s", out)
	}

	// The password works in a real login, and only that password.
	addr := freeAddr(t)
	issuer := "http://" + addr
	cfg := writeConfig(t, dir, addr, "")
	srv := startServe(t, issuer, "--config", cfg)
	idt, err := login(t, issuer, "alice", first)
	if err != nil {
		t.Fatalf("login with the password given to users add: %v", err)
	}
	var claims struct {
		Email  string   `json:"email"`
		Name   string   `json:"name"`
		Groups []string `json:"groups"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Email != "a@example.com" || claims.Name != "Alice A" || !slices.Equal(claims.Groups, []string{"admins", "staff"}) {
		t.Fatalf("id_token claims %+v, want what users add was given", claims)
	}
	wantBadPassword(t, func() error { _, err := login(t, issuer, "alice", second); return err }())

	// While the server holds the directory, the commands say so.
	for _, args := range [][]string{
		{"users", "list"}, {"users", "delete", "alice"}, {"users", "passwd", "alice"}, {"users", "add", "carol"},
	} {
		msg := mustFail(t, second+"\n", append(args, "--data-dir", dir)...)
		if !strings.Contains(msg, "in use") || !strings.Contains(msg, "stop the server") {
			t.Fatalf("%v while serve runs: %q, want an in-use message", args, msg)
		}
	}
	srv.stop()

	// passwd: the old password stops working, the new one works.
	if msg := mustFail(t, "", "users", "passwd", "alice", "--data-dir", dir); !strings.Contains(msg, "empty password") {
		t.Fatalf("passwd with empty stdin: %q", msg)
	}
	if out := mustRun(t, second+"\r\n", "users", "passwd", "alice", "--data-dir", dir); !strings.Contains(out, "password changed for alice") {
		t.Fatalf("passwd printed %q", out)
	}
	if msg := mustFail(t, second+"\n", "users", "passwd", "nobody", "--data-dir", dir); !strings.Contains(msg, `no account "nobody"`) {
		t.Fatalf("passwd of a missing account: %q", msg)
	}
	srv = startServe(t, issuer, "--config", cfg)
	wantBadPassword(t, func() error { _, err := login(t, issuer, "alice", first); return err }())
	if _, err := login(t, issuer, "alice", second); err != nil {
		t.Fatalf("login with the password set by passwd: %v", err)
	}
	srv.stop()

	// delete
	if out := mustRun(t, "", "users", "delete", "alice", "--data-dir", dir); !strings.Contains(out, "deleted alice") {
		t.Fatalf("delete printed %q", out)
	}
	if out := mustRun(t, "", "users", "list", "--data-dir", dir); listed(out, "alice") || strings.Contains(out, "a@example.com") {
		t.Fatalf("list after delete still shows alice:\n%s", out)
	}
	if msg := mustFail(t, "", "users", "delete", "alice", "--data-dir", dir); !strings.Contains(msg, `no account "alice"`) {
		t.Fatalf("second delete: %q", msg)
	}
	// The email is free again.
	mustRun(t, "third-password\n", "users", "add", "alice2", "--email", "a@example.com", "--data-dir", dir)
}

// TestUsersPasswordPolicy: users add and passwd refuse a password the
// policy refuses (through the admin API they call), saying why, and add
// nothing; --config's password_policy is the one applied.
func TestUsersPasswordPolicy(t *testing.T) {
	dir := t.TempDir()
	if msg := mustFail(t, "password\n", "users", "add", "erin", "--data-dir", dir); !strings.Contains(msg, "most common passwords") {
		t.Fatalf("add with a common password: %q", msg)
	}
	if out := mustRun(t, "", "users", "list", "--data-dir", dir); listed(out, "erin") {
		t.Fatalf("a refused account was added:\n%s", out)
	}
	mustRun(t, "quiet-lantern-6\n", "users", "add", "erin", "--data-dir", dir)
	if msg := mustFail(t, "123456789\n", "users", "passwd", "erin", "--data-dir", dir); !strings.Contains(msg, "most common passwords") {
		t.Fatalf("passwd with a common password: %q", msg)
	}
	if msg := mustFail(t, "erin-in-the-garden\n", "users", "passwd", "erin", "--data-dir", dir); !strings.Contains(msg, "username") {
		t.Fatalf("passwd with the username: %q", msg)
	}
	cfg := writeConfig(t, t.TempDir(), freeAddr(t), "password_policy: {min_length: 20}\n")
	if msg := mustFail(t, "quiet-lantern-7\n", "users", "add", "fern", "--config", cfg); !strings.Contains(msg, "shorter than 20 characters") {
		t.Fatalf("add under --config's policy: %q", msg)
	}
}

func TestUsersWithConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, freeAddr(t), "")
	mustRun(t, "quiet-lantern-5\n", "users", "add", "dave", "--config", cfg)
	if out := mustRun(t, "", "users", "list", "--data-dir", dir); !listed(out, "dave") {
		t.Fatalf("users add --config did not write to storage.dir:\n%s", out)
	}
	if msg := mustFail(t, "", "users", "list", "--config", cfg, "--data-dir", dir); !strings.Contains(msg, "not both") {
		t.Fatalf("--config with --data-dir: %q", msg)
	}
}

// A mistyped data directory is an error, not an empty store made on the spot.
func TestMissingDataDir(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "typo")
	for _, args := range [][]string{
		{"users", "list"}, {"users", "delete", "x"}, {"users", "passwd", "x"},
		{"clients", "list"}, {"clients", "delete", "x"}, {"keys", "rotate"},
	} {
		msg := mustFail(t, "pw\n", append(args, "--data-dir", missing)...)
		if !strings.Contains(msg, "does not exist") {
			t.Fatalf("%v on a missing directory: %q", args, msg)
		}
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Fatalf("%v created %s", args, missing)
		}
	}
}

var secretLineRE = regexp.MustCompile(`(?m)^client_secret: (\S+)$`)

func TestClients(t *testing.T) {
	dir := t.TempDir()
	r := run(t, "", "clients", "add", "myapp", "--redirect-uri", "http://127.0.0.1:5555/cb", "--grant-type", "client_credentials", "--scope", "api", "--data-dir", dir)
	if r.err != nil {
		t.Fatalf("clients add: %v", r.err)
	}
	if n := strings.Count(r.out, "client_secret:"); n != 1 {
		t.Fatalf("clients add printed client_secret %d times:\n%s", n, r.out)
	}
	m := secretLineRE.FindStringSubmatch(r.out)
	if m == nil || !strings.Contains(r.out, "client_id: myapp") {
		t.Fatalf("clients add printed:\n%s", r.out)
	}
	secret := m[1]
	if len(secret) < 32 {
		t.Fatalf("secret %q is short", secret)
	}
	if strings.Contains(r.errOut, secret) {
		t.Fatal("the secret was also written to stderr")
	}

	out := mustRun(t, "", "clients", "list", "--data-dir", dir)
	if !listed(out, "myapp") || !strings.Contains(out, "client_credentials") || !strings.Contains(out, "http://127.0.0.1:5555/cb") {
		t.Fatalf("clients list:\n%s", out)
	}
	if strings.Contains(out, secret) || strings.Contains(out, core.HashClientSecret(secret)) || strings.Contains(out, "sha256") {
		t.Fatalf("clients list shows the secret or its hash:\n%s", out)
	}
	if msg := mustFail(t, "", "clients", "add", "myapp", "--redirect-uri", "http://127.0.0.1:5555/cb", "--data-dir", dir); !strings.Contains(msg, `client "myapp": a client with this id exists`) {
		t.Fatalf("second add of myapp: %q", msg)
	}

	// A public client gets no secret.
	out = mustRun(t, "", "clients", "add", "spa", "--public", "--redirect-uri", "http://127.0.0.1:5555/cb", "--data-dir", dir)
	if strings.Contains(out, "client_secret") {
		t.Fatalf("public client add printed a secret:\n%s", out)
	}

	// The printed secret works against a server on that directory; a wrong
	// one, or another client's, does not.
	addr := freeAddr(t)
	issuer := "http://" + addr
	srv := startServe(t, issuer, "--config", writeConfig(t, dir, addr, ""))
	tok, err := clientCredentialsToken(t, issuer, "myapp", secret)
	if err != nil {
		t.Fatalf("client_credentials with the printed secret: %v", err)
	}
	if tok.AccessToken == "" {
		t.Fatal("no access token")
	}
	if _, err := clientCredentialsToken(t, issuer, "myapp", secret+"x"); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("client_credentials with a wrong secret: %v, want invalid_client", err)
	}
	if msg := mustFail(t, "", "clients", "list", "--data-dir", dir); !strings.Contains(msg, "in use") {
		t.Fatalf("clients list while serve runs: %q", msg)
	}
	srv.stop()

	if out := mustRun(t, "", "clients", "delete", "myapp", "--data-dir", dir); !strings.Contains(out, "deleted myapp") {
		t.Fatalf("clients delete printed %q", out)
	}
	if out := mustRun(t, "", "clients", "list", "--data-dir", dir); listed(out, "myapp") || !listed(out, "spa") {
		t.Fatalf("clients list after delete:\n%s", out)
	}
	if msg := mustFail(t, "", "clients", "delete", "myapp", "--data-dir", dir); !strings.Contains(msg, `no client "myapp"`) {
		t.Fatalf("second delete: %q", msg)
	}
	srv = startServe(t, issuer, "--config", writeConfig(t, dir, addr, ""))
	if _, err := clientCredentialsToken(t, issuer, "myapp", secret); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("client_credentials after delete: %v, want invalid_client", err)
	}
	srv.stop()
}

// clients add applies the rules the configuration file's clients obey.
func TestClientsAddValidates(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"evil", "--redirect-uri", "http://evil.example.com/cb"}, `redirect_uris: "http://evil.example.com/cb": http is allowed only for loopback`},
		{[]string{"js", "--redirect-uri", "javascript:alert(1)"}, `scheme "javascript" is not allowed`},
		{[]string{"nouri"}, "redirect_uris: required for authorization_code"},
		{[]string{"pw", "--grant-type", "password"}, "grant_types: unknown grant type password"},
		{[]string{"pub", "--public", "--grant-type", "client_credentials"}, "a public client cannot use client_credentials"},
		{[]string{"refresh", "--grant-type", "refresh_token", "--redirect-uri", "http://127.0.0.1:1/cb"}, "refresh_token requires authorization_code"},
		{[]string{"scope", "--grant-type", "client_credentials", "--scope", `a\b`}, "scopes[0]: invalid scope"},
	} {
		msg := mustFail(t, "", append(append([]string{"clients", "add"}, tc.args...), "--data-dir", dir)...)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("clients add %v: %q, want it to contain %q", tc.args, msg, tc.want)
		}
	}
	if out := mustRun(t, "", "clients", "list", "--data-dir", dir); strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("refused clients were stored:\n%s", out)
	}
}

// addClientAlg makes the config file's client rp want its id_tokens signed
// with alg.
func addClientAlg(t *testing.T, path, alg string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const grants = "    grant_types: [authorization_code, refresh_token, client_credentials]\n"
	if !strings.Contains(string(b), grants) {
		t.Fatal("config template changed")
	}
	b = []byte(strings.Replace(string(b), grants, grants+"    id_token_signed_response_alg: "+alg+"\n", 1))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// keyStates parses what keys rotate prints, a "KID ALG STATE" header and
// a line per key, into each kid's state, and checks that every algorithm
// is left with exactly one active and one next key.
func keyStates(t *testing.T, out string) map[string]string {
	t.Helper()
	states := map[string]string{}
	count := map[string]int{}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if strings.Join(strings.Fields(lines[0]), " ") != "KID ALG STATE" {
		t.Fatalf("keys rotate printed no header: %q", out)
	}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("keys rotate printed %q", out)
		}
		states[f[0]] = f[2]
		count[f[1]+" "+f[2]]++
	}
	// The configured ES256, a client's EdDSA, and RS256, which every
	// server keeps (OpenID Connect Core §15.1).
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		if count[alg+" active"] != 1 || count[alg+" next"] != 1 {
			t.Fatalf("after keys rotate, %s has %d active and %d next keys, want one each:\n%s", alg, count[alg+" active"], count[alg+" next"], out)
		}
	}
	return states
}

// keysOf returns the kids in a JWKS.
func keysOf(t *testing.T, jwksURI string) jose.JSONWebKeySet {
	t.Helper()
	var ks jose.JSONWebKeySet
	getJSON(t, jwksURI, &ks)
	return ks
}

func TestKeysRotate(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	issuer := "http://" + addr
	// ES256, not the default, and EdDSA for one client's id_tokens: keys
	// rotate must keep both, also without --config.
	cfg := writeConfig(t, dir, addr, "tokens:\n  signing_alg: ES256\n")
	addClientAlg(t, cfg, "EdDSA")

	token := func() (raw, kid string) {
		t.Helper()
		tok, err := clientCredentialsToken(t, issuer, rpClient, rpSecret)
		if err != nil {
			t.Fatalf("client_credentials: %v", err)
		}
		kid, alg := jwtHeader(t, tok.AccessToken)
		if alg != "ES256" {
			t.Fatalf("token signed with %s, the config says ES256", alg)
		}
		return tok.AccessToken, kid
	}

	srv := startServe(t, issuer, "--config", cfg)
	tok1, kid1 := token()
	if msg := mustFail(t, "", "keys", "rotate", "--data-dir", dir); !strings.Contains(msg, "in use") {
		t.Fatalf("keys rotate while serve runs: %q", msg)
	}
	srv.stop()

	out := mustRun(t, "", "keys", "rotate", "--data-dir", dir)
	states := keyStates(t, out)
	if states[kid1] != "retired" {
		t.Fatalf("after rotate the old key %s is %q, want retired:\n%s", kid1, states[kid1], out)
	}

	srv = startServe(t, issuer, "--config", cfg)
	_, kid2 := token()
	if kid2 == kid1 {
		t.Fatalf("token after keys rotate still signed with %s", kid1)
	}
	if states[kid2] != "active" {
		t.Fatalf("token signed with %s, which keys rotate listed as %q:\n%s", kid2, states[kid2], out)
	}
	_, jwksURI := discovery(t, issuer)
	ks := keysOf(t, jwksURI)
	if len(ks.Key(kid1)) == 0 || len(ks.Key(kid2)) == 0 {
		t.Fatalf("JWKS lacks the old key %s or the new %s", kid1, kid2)
	}
	// A token signed before the rotation still verifies against /keys.
	jws, err := jose.ParseSigned(tok1, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jws.Verify(ks.Key(kid1)[0].Key); err != nil {
		t.Fatalf("the pre-rotation token does not verify with the published old key: %v", err)
	}
	srv.stop()

	// Rotating again, now with the config, activates the key the first
	// rotation published: it too must be ES256.
	states = keyStates(t, mustRun(t, "", "keys", "rotate", "--config", cfg))
	srv = startServe(t, issuer, "--config", cfg)
	_, kid3 := token()
	if states[kid3] != "active" {
		t.Fatalf("token signed with %s, which keys rotate listed as %q", kid3, states[kid3])
	}
	if kid3 == kid2 || kid3 == kid1 {
		t.Fatalf("token after the second rotation signed with %s (before: %s, %s)", kid3, kid1, kid2)
	}
	if ks := keysOf(t, jwksURI); len(ks.Key(kid2)) == 0 || len(ks.Key(kid3)) == 0 {
		t.Fatalf("JWKS lacks %s or %s after the second rotation", kid2, kid3)
	}
	srv.stop()
}

func TestServeConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown field", `clients:
  - id: app
    secret: s3cret-value
    redirect_uri: http://127.0.0.1:5555/cb
`, []string{"clients[0].redirect_uri", "unknown field", "redirect_uris"}},
		{"list given a string", `clients:
  - id: app
    secret: s3cret-value
    redirect_uris: http://127.0.0.1:5555/cb
`, []string{"clients[0].redirect_uris", "expected a list"}},
		{"bool given a string", `storage:
  dir: DIR
  sync_writes: "yes"
`, []string{"storage.sync_writes", "expected true or false"}},
		{"bad duration", `tokens:
  access_token_ttl: 10
`, []string{"tokens.access_token_ttl", "duration"}},
		{"invalid value", `clients:
  - id: app
    secret: s3cret-value
    redirect_uris: [http://evil.example.com/cb]
`, []string{"clients[0].redirect_uris[0]", "loopback"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			addr := freeAddr(t)
			body := strings.ReplaceAll(tc.yaml, "DIR", dir)
			if !strings.Contains(body, "storage:") {
				body += "storage:\n  dir: " + dir + "\n"
			}
			path := filepath.Join(t.TempDir(), "portico.yaml")
			if err := os.WriteFile(path, []byte("issuer: http://"+addr+"\nlisten: "+addr+"\n"+body), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runWithin(t, 20*time.Second, "", "serve", "--config", path)
			if r.err == nil {
				t.Fatal("serve accepted the config")
			}
			msg := r.err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("serve: %q, want it to contain %q", msg, w)
				}
			}
			if strings.Contains(msg, "s3cret-value") {
				t.Errorf("the error quotes the client secret: %q", msg)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("a bad config still opened the data directory")
			}
		})
	}
}

// Run as a real process, a bad config exits 1 with the path on stderr.
func TestServeConfigErrorExit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "portico.yaml")
	os.WriteFile(path, []byte("issuer: http://127.0.0.1:1\nstorage:\n  dir: x\nclients:\n  - id: a\n    redirect_uri: http://127.0.0.1:5/cb\n"), 0o600)
	p := startProcess(t, "serve", "--config", path)
	if err := p.wait(t, time.Minute); !isExitError(err) {
		t.Fatalf("exit: %v, want a non-zero status", err)
	}
	if e := p.errOut.String(); !strings.HasPrefix(e, "portico: config: clients[0].redirect_uri: unknown field") {
		t.Fatalf("stderr: %q", e)
	}
}

func TestServeFlags(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), freeAddr(t), "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "give --config FILE, or --dev"},
		{[]string{"--dev", "--config", cfg}, "not both"},
		{[]string{"--config", cfg, "--listen", "127.0.0.1:1"}, "--listen applies to --dev only"},
		{[]string{"--config", cfg, "--data-dir", "x"}, "--data-dir applies to --dev only"},
		{[]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, "no such file"},
	} {
		r := runWithin(t, 20*time.Second, "", append([]string{"serve"}, tc.args...)...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("serve %v: %v, want an error containing %q", tc.args, r.err, tc.want)
		}
	}
}

// banner is what serve --dev prints at start.
type banner struct {
	issuer, user, email, password, client, secret, authURL, redirect, verifier string
}

func parseBanner(t *testing.T, out string) banner {
	t.Helper()
	find := func(re string, n int) []string {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if len(m) != n+1 {
			t.Fatalf("banner lacks %s:\n%s", re, out)
		}
		return m[1:]
	}
	var b banner
	b.issuer = find(`(?m)^\s+issuer\s+(\S+)$`, 1)[0]
	u := find(`(?m)^\s+user\s+(\S+) \(or (\S+)\) / password (\S+)$`, 3)
	b.user, b.email, b.password = u[0], u[1], u[2]
	c := find(`(?m)^\s+client\s+(\S+) / secret (\S+)\s`, 2)
	b.client, b.secret = c[0], c[1]
	b.authURL = find(`(?m)^\s+(\S+/authorize\?\S+)$`, 1)[0]
	b.redirect = find(`-d redirect_uri=(\S+)`, 1)[0]
	b.verifier = find(`-d code_verifier=(\S+)`, 1)[0]
	if cu := find(`curl -s -u (\S+):(\S+) (\S+)/token`, 3); cu[0] != b.client || cu[1] != b.secret || cu[2] != b.issuer {
		t.Fatalf("the curl line names %v, the banner %s/%s at %s", cu, b.client, b.secret, b.issuer)
	}
	return b
}

// waitFor polls until cond holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func TestServeDev(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	issuer := "http://" + addr

	p := startProcess(t, "serve", "--dev", "--data-dir", dir, "--listen", addr)
	if err := waitReady(issuer, p.exited, func() error { return p.err }); err != nil {
		t.Fatalf("serve --dev: %v\nstderr:\n%s", err, p.errOut)
	}
	if !waitFor(5*time.Second, func() bool { return strings.Contains(p.out.String(), "code=PASTE_CODE") }) {
		t.Fatalf("no complete banner on stdout:\n%s", p.out)
	}
	b := parseBanner(t, p.out.String())
	if b.issuer != issuer {
		t.Fatalf("banner issuer %s, want %s", b.issuer, issuer)
	}
	if !strings.Contains(p.out.String(), dir) {
		t.Errorf("banner does not name the data directory %s", dir)
	}

	// The printed authorize URL is ready to use: open it, log in, and
	// exchange the code as the printed curl command does.
	au, err := url.Parse(b.authURL)
	if err != nil || !strings.HasPrefix(b.authURL, issuer+"/authorize?") {
		t.Fatalf("authorize URL %q", b.authURL)
	}
	q := au.Query()
	sum := sha256.Sum256([]byte(b.verifier))
	if q.Get("client_id") != b.client || q.Get("redirect_uri") != b.redirect || q.Get("response_type") != "code" ||
		q.Get("code_challenge") != base64.RawURLEncoding.EncodeToString(sum[:]) || q.Get("code_challenge_method") != "S256" {
		t.Fatalf("authorize URL %s does not match the banner (client %s, redirect %s, verifier %s)", b.authURL, b.client, b.redirect, b.verifier)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cb, err := (&testenv.RP{Browser: testenv.NewBrowser(b.redirect)}).Authorize(ctx, b.authURL, b.user, b.password)
	if err != nil || cb.Query == nil || cb.Query.Get("code") == "" {
		t.Fatalf("the printed authorize URL did not come back with a code: %v %+v", err, cb)
	}
	if cb.Query.Get("state") != q.Get("state") {
		t.Fatalf("state %q, want %q", cb.Query.Get("state"), q.Get("state"))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "redirect_uri": {b.redirect},
		"code_verifier": {b.verifier}, "code": {cb.Query.Get("code")}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(b.client, b.secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		IDToken     string `json:"id_token"`
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || tr.IDToken == "" || tr.AccessToken == "" {
		t.Fatalf("the printed curl exchange: %d %+v", resp.StatusCode, tr)
	}

	// A relying party with the printed client logs the printed user in.
	idt, err := loginAs(t, issuer, b.client, b.secret, b.redirect, b.user, b.password)
	if err != nil {
		t.Fatalf("demo login with the printed credentials: %v", err)
	}
	var claims struct {
		Email string `json:"email"`
	}
	idt.Claims(&claims)
	if claims.Email != b.email {
		t.Fatalf("id_token email %q, banner %q", claims.Email, b.email)
	}
	if _, err := loginAs(t, issuer, b.client, b.secret, b.redirect, b.email, b.password); err != nil {
		t.Fatalf("demo login with the printed email: %v", err)
	}

	// A second process on the same directory fails, saying why, and leaves
	// the first one serving.
	p2 := startProcess(t, "serve", "--dev", "--data-dir", dir, "--listen", freeAddr(t))
	if err := p2.wait(t, time.Minute); !isExitError(err) {
		t.Fatalf("second serve on %s: exit %v, want a non-zero status\nstderr:\n%s", dir, err, p2.errOut)
	}
	if e := p2.errOut.String(); !strings.HasPrefix(e, "portico: ") || !strings.Contains(e, "in use") {
		t.Fatalf("second serve's stderr: %q, want the in-use message", e)
	}
	if strings.Contains(p2.out.String(), "Portico dev server") {
		t.Fatal("the second serve printed the banner of a server it did not start")
	}
	// So does an admin command in this process.
	if msg := mustFail(t, "", "users", "list", "--data-dir", dir); !strings.Contains(msg, "in use") {
		t.Fatalf("users list during serve --dev: %q", msg)
	}
	if err := waitReady(issuer, p.exited, func() error { return p.err }); err != nil {
		t.Fatalf("first server after the refused second: %v", err)
	}

	// SIGINT stops it cleanly.
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Fatalf("serve --dev after SIGINT: %v, want exit status 0\nstderr:\n%s", err, p.errOut)
	}

	// A second start on the same directory works: seeding is idempotent.
	srv := startServe(t, issuer, "--dev", "--data-dir", dir, "--listen", addr)
	if b2 := parseBanner(t, srv.out.String()); b2 != (banner{b2.issuer, b.user, b.email, b.password, b.client, b.secret, b2.authURL, b.redirect, b2.verifier}) {
		t.Fatalf("second start's banner %+v differs from the first's %+v", b2, b)
	}
	if _, err := loginAs(t, issuer, b.client, b.secret, b.redirect, b.user, b.password); err != nil {
		t.Fatalf("demo login after restart: %v", err)
	}
	srv.stop()
	if out := mustRun(t, "", "users", "list", "--data-dir", dir); rows(out, b.user) != 1 {
		t.Fatalf("users after two starts:\n%s", out)
	}
	if out := mustRun(t, "", "clients", "list", "--data-dir", dir); rows(out, b.client) != 1 || rows(out, "demo-spa") != 1 {
		t.Fatalf("clients after two starts:\n%s", out)
	}
}

// SIGTERM, what a service manager sends, stops serve --config cleanly too,
// and the data directory is free afterwards.
func TestServeSIGTERM(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	issuer := "http://" + addr
	p := startProcess(t, "serve", "--config", writeConfig(t, dir, addr, ""))
	if err := waitReady(issuer, p.exited, func() error { return p.err }); err != nil {
		t.Fatalf("serve: %v\nstderr:\n%s", err, p.errOut)
	}
	if msg := mustFail(t, "", "keys", "rotate", "--data-dir", dir); !strings.Contains(msg, "in use") {
		t.Fatalf("keys rotate during serve: %q", msg)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Fatalf("serve after SIGTERM: %v\nstderr:\n%s", err, p.errOut)
	}
	mustRun(t, "", "keys", "rotate", "--data-dir", dir)
}

// TestDeclarativeCLI: with declarative: true the file's clients are as
// read-only from the command line (the store opened directly) as over
// HTTP (black-box finding: the CLI changed them).
func TestDeclarativeCLI(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, freeAddr(t), "declarative: true\n")
	out := mustFail(t, "", "clients", "delete", rpClient, "--config", cfg)
	if !strings.Contains(out, "configuration file") && !strings.Contains(out, "managed") {
		t.Fatalf("clients delete of a file-managed client: %s", out)
	}
}
