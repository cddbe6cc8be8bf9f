package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/testenv"
)

// postgresSchema returns the test DSN and a fresh schema, dropped when the
// test ends (testenv.PostgresSchema: without a server it skips, or fails
// under CI=true).
func postgresSchema(t *testing.T) (dsn, schema string) {
	t.Helper()
	schema = testenv.PostgresSchema(t)
	return testenv.PostgresDSN(), schema
}

// postgresConfig writes a copy of the config file at path with its storage
// section (badger in dataDir) replaced by storage.
func postgresConfig(t *testing.T, path, dataDir, storage string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old := "storage:\n  dir: " + dataDir + "\n"
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s has no %q", path, old)
	}
	b = bytes.Replace(b, []byte(old), []byte("storage:\n"+storage), 1)
	out := filepath.Join(t.TempDir(), "portico-postgres.yaml")
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// copyCounts parses the table `store copy` prints: kind → copied,
// existing, skipped.
func copyCounts(t *testing.T, out string) map[string][3]int {
	t.Helper()
	counts := map[string][3]int{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] == "KIND" || f[0] == "copied" {
			continue
		}
		var n [3]int
		for i := range n {
			v, err := strconv.Atoi(f[i+1])
			if err != nil {
				t.Fatalf("count in %q: %v", line, err)
			}
			n[i] = v
		}
		counts[f[0]] = n
	}
	if len(counts) == 0 {
		t.Fatalf("no counts in:\n%s", out)
	}
	return counts
}

// sortedLines is out's lines in order, for listings whose order the
// backends choose.
func sortedLines(out string) []string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	slices.Sort(lines)
	return lines
}

// TestStoreCopyToPostgres is the move from badger to PostgreSQL as an
// operator makes it: log in on a badger server, stop it, migrate and copy
// to PostgreSQL, start a server there. The refresh token issued before
// the move still refreshes after it, the access token still verifies, the
// counts match what the source lists, and people can log in again.
func TestStoreCopyToPostgres(t *testing.T) {
	dsn, schema := postgresSchema(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	issuer := "http://" + addr
	cfg := writeConfig(t, dir, addr, "")
	keyDir := filepath.Join(t.TempDir(), "keys")
	pgCfg := postgresConfig(t, cfg, dir, fmt.Sprintf("  type: postgres\n  dsn: %q\n  schema: %s\n  dir: %s\n", dsn, schema, keyDir))
	mustRun(t, "s3cret-pass\n", "users", "add", "carol", "--email", "carol@example.com", "--data-dir", dir)

	srv := startServe(t, issuer, "--config", cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rp, err := testenv.NewRP(ctx, issuer, rpClient, rpSecret, rpRedirect)
	if err != nil {
		t.Fatal(err)
	}
	before, _, err := rp.Login(ctx, "carol", "s3cret-pass")
	if err != nil {
		t.Fatal(err)
	}
	if before.RefreshToken == "" {
		t.Fatal("the login got no refresh token")
	}
	// Badger allows one process: the copy waits for the server to stop.
	if msg := mustFail(t, "", "store", "copy", "--from", cfg, "--to", pgCfg); !strings.Contains(msg, "stop the server first") {
		t.Fatalf("copy from a badger store in use: %q", msg)
	}
	srv.stop()

	out := mustRun(t, "", "migrate", "--config", pgCfg)
	if !strings.Contains(out, "applied 0001_init") || !strings.Contains(out, "schema "+schema+" is up to date") {
		t.Fatalf("first migrate:\n%s", out)
	}
	if out := mustRun(t, "", "migrate", "--config", pgCfg); strings.TrimSpace(out) != "schema "+schema+" is up to date" {
		t.Fatalf("second migrate:\n%s", out)
	}

	out = mustRun(t, "", "store", "copy", "--from", cfg, "--to", pgCfg)
	counts := copyCounts(t, out)
	// Clients: the file's two and the admin console's built-in one.
	for kind, want := range map[string][3]int{
		"users": {1, 0, 0}, "identities": {1, 0, 0}, "local_accounts": {1, 0, 0}, "clients": {3, 0, 0},
		"refresh_families": {1, 0, 0}, "refresh_tokens": {1, 0, 0},
	} {
		if counts[kind] != want {
			t.Errorf("%s: copied, existing, skipped = %v, want %v\n%s", kind, counts[kind], want, out)
		}
	}
	for _, kind := range []string{"signing_keys", "audit_events"} {
		if counts[kind][0] == 0 {
			t.Errorf("no %s copied:\n%s", kind, out)
		}
	}
	if !strings.Contains(out, "copied badger ("+dir+") to postgres (schema "+schema+")") || strings.Contains(out, dsn) {
		t.Errorf("copy's summary (which must not show the DSN):\n%s", out)
	}
	// The key that seals second factors went along.
	srcKey, err1 := os.ReadFile(filepath.Join(dir, "connector-master.key"))
	dstKey, err2 := os.ReadFile(filepath.Join(keyDir, "connector-master.key"))
	if err1 != nil || err2 != nil || !bytes.Equal(srcKey, dstKey) {
		t.Errorf("key file not copied: %v, %v", err1, err2)
	}
	// The counts match: both stores list the same, through the same
	// commands.
	for _, args := range [][]string{{"users", "list"}, {"clients", "list"}, {"sessions", "list", "--user", "carol"}} {
		a := mustRun(t, "", append(args, "--config", cfg)...)
		b := mustRun(t, "", append(args, "--config", pgCfg)...)
		if !slices.Equal(sortedLines(a), sortedLines(b)) {
			t.Errorf("%s differs after the copy:\nbadger:\n%s\npostgres:\n%s", strings.Join(args, " "), a, b)
		}
	}

	srv = startServe(t, issuer, "--config", pgCfg)
	if !refreshOK(t, ctx, rp, before.RefreshToken) {
		t.Fatal("the refresh token issued before the move does not refresh after it")
	}
	if _, err := rp.Provider.UserInfo(ctx, oauth2.StaticTokenSource(before)); err != nil {
		t.Errorf("userinfo with the access token issued before the move: %v", err)
	}
	if _, err := login(t, issuer, "carol", "s3cret-pass"); err != nil {
		t.Fatalf("login after the move: %v", err)
	}
	srv.stop()

	// A second copy is refused, saying what to do; --merge finds it all
	// there.
	msg := mustFail(t, "", "store", "copy", "--from", cfg, "--to", pgCfg)
	if !strings.Contains(msg, "target store is not empty") || !strings.Contains(msg, "--merge") {
		t.Errorf("second copy: %q", msg)
	}
	counts = copyCounts(t, mustRun(t, "", "store", "copy", "--from", cfg, "--to", pgCfg, "--merge"))
	if counts["users"] != [3]int{0, 1, 0} || counts["clients"] != [3]int{0, 3, 0} {
		t.Errorf("merge copy: %v", counts)
	}
}

// TestMigrate: the DSN may come from the environment; badger has nothing
// to migrate.
func TestMigrate(t *testing.T) {
	dsn, schema := postgresSchema(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:5556", "")
	pgCfg := postgresConfig(t, cfg, dir, "  type: postgres\n  schema: "+schema+"\n")

	t.Setenv("PORTICO_STORAGE_DSN", dsn)
	if out := mustRun(t, "", "migrate", "--config", pgCfg); !strings.Contains(out, "applied 0001_init") {
		t.Errorf("migrate with the DSN from the environment:\n%s", out)
	}
	if out := mustRun(t, "", "migrate", "--config", cfg); !strings.Contains(out, "storage.type is badger: nothing to migrate") {
		t.Errorf("migrate of badger:\n%s", out)
	}
	if msg := mustFail(t, "", "migrate"); !strings.Contains(msg, `"config" not set`) {
		t.Errorf("migrate without --config: %q", msg)
	}
	t.Setenv("PORTICO_STORAGE_DSN", "")
	if msg := mustFail(t, "", "migrate", "--config", pgCfg); !strings.Contains(msg, "storage.dsn: required for postgres") {
		t.Errorf("migrate without a DSN: %q", msg)
	}
}

// TestStoreCopyBadger: badger to badger, which runs without PostgreSQL,
// and the command's refusals.
func TestStoreCopyBadger(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:5556", "")
	mustRun(t, "s3cret-pass\n", "users", "add", "carol", "--email", "carol@example.com", "--data-dir", dir)
	mustRun(t, "", "keys", "rotate", "--config", cfg)
	newDir := filepath.Join(t.TempDir(), "new")
	newCfg := writeConfig(t, newDir, "127.0.0.1:5556", "")

	counts := copyCounts(t, mustRun(t, "", "store", "copy", "--from", cfg, "--to", newCfg))
	if counts["local_accounts"] != [3]int{1, 0, 0} || counts["signing_keys"][0] == 0 {
		t.Errorf("counts: %v", counts)
	}
	a := mustRun(t, "", "users", "list", "--config", cfg)
	b := mustRun(t, "", "users", "list", "--config", newCfg)
	if a != b {
		t.Errorf("users list differs:\n%s\n%s", a, b)
	}

	noDir := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"same store", []string{"--from", cfg, "--to", cfg}, "--from and --to name the same store"},
		{"missing source", []string{"--from", writeConfig(t, noDir, "127.0.0.1:5556", ""), "--to", newCfg},
			"--from: data directory " + noDir + " does not exist"},
		{"bad target config", []string{"--from", cfg, "--to", postgresConfig(t, cfg, dir, "  type: postgres\n  schema: x\n")},
			"--to: config: storage.dsn: required for postgres"},
		{"no --to", []string{"--from", cfg}, `"to" not set`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "bad target config" {
				t.Setenv("PORTICO_STORAGE_DSN", "")
			}
			if msg := mustFail(t, "", append([]string{"store", "copy"}, tc.args...)...); !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want it to contain %q", msg, tc.want)
			}
		})
	}
}
