package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/testenv"
)

// TestImportAndLogin is issue #19's acceptance: a Dex config and a
// Keycloak realm export (written from their documented formats) import;
// a real broker started with the result lets their users log in with their
// OLD passwords (bcrypt from Dex, PBKDF2-SHA256 and -SHA512 from
// Keycloak), and afterwards their stored hash is argon2id.
func TestImportAndLogin(t *testing.T) {
	// The Dex fixture refers to secrets in the environment ($VAR).
	for _, v := range []string{"ENV_APP_SECRET", "LDAP_BIND_PW", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"} {
		t.Setenv(v, "from-env-0123456789abcdef")
	}
	dir := t.TempDir()
	sources := []struct{ kind, file string }{
		{"dex", "../../internal/importer/testdata/dex-config.yaml"},
		{"keycloak", "../../internal/importer/testdata/keycloak-realm.json"},
	}
	cfg := testenv.Config(t)
	cfg.Clients = nil // the imported clients replace the test ones
	for _, s := range sources {
		out := filepath.Join(dir, s.kind+".yaml")
		// Dry run first: it reports and writes nothing.
		dry := mustRun(t, "", "import", s.kind, s.file, "--out", out)
		if !strings.Contains(dry, "dry run") || strings.Contains(dry, "$2a$") || strings.Contains(dry, "secret-0123") {
			t.Fatalf("dry run of %s:\n%s", s.kind, dry)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("dry run wrote %s", out)
		}
		mustRun(t, "", "import", s.kind, s.file, "--apply", "--out", out)
		if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("fragment %s: %v, mode %v; want 0600", out, err, fi.Mode())
		}
		if msg := mustFail(t, "", "import", s.kind, s.file, "--apply", "--out", out); !strings.Contains(msg, "exists") {
			t.Fatalf("second --apply over the fragment: %s", msg)
		}
		frag, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		// The fragment is a valid configuration, connectors included.
		head := "issuer: https://portico.example.com\nstorage: {type: badger, dir: " + dir + "}\n"
		parsed, err := config.Parse(append([]byte(head), frag...))
		if err != nil {
			t.Fatalf("%s fragment does not load as a config: %v\n%s", s.kind, err, frag)
		}
		// The broker runs the users and clients; the connectors point at
		// upstreams that do not exist here.
		cfg.Users = append(cfg.Users, parsed.Users...)
		cfg.Clients = append(cfg.Clients, parsed.Clients...)
	}
	b := testenv.Start(t, cfg)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	// Each application logs in through its imported client: Dex's
	// example-app, Keycloak's webapp (secrets as the fixtures have them).
	rps := map[string]*testenv.RP{}
	for id, secret := range map[string]string{"example-app": "ZXhhbXBsZS1hcHAtc2VjcmV0", "webapp": "webapp-secret-0123456789abcdef"} {
		rp, err := testenv.NewRP(ctx, b.URL, id, secret, testenv.RedirectURI)
		if err != nil {
			t.Fatal(err)
		}
		rps[id] = rp
	}
	for _, u := range []struct{ login, password, alg, client string }{
		{"admin", "dex-admin-password", "bcrypt", "example-app"},
		{"bob@example.com", "dex-bob-password", "bcrypt", "example-app"},
		{"alice.kc", "kc-alice-password", "pbkdf2-sha256", "webapp"},
		{"bob.kc", "kc-bob-password", "pbkdf2-sha512", "webapp"},
	} {
		rp := rps[u.client]
		acc, err := b.Server.Store.GetLocalAccountByLogin(ctx, u.login)
		if err != nil {
			t.Fatalf("%s: %v", u.login, err)
		}
		if got := local.Algorithm(acc.PasswordHash); got != u.alg {
			t.Fatalf("%s: stored %s before login, want %s", u.login, got, u.alg)
		}
		if _, _, err := rp.Login(ctx, u.login, u.password+"-wrong"); err == nil {
			t.Fatalf("%s logged in with a wrong password", u.login)
		}
		_, idt, err := rp.Login(ctx, u.login, u.password)
		if err != nil {
			t.Fatalf("%s with the old password: %v", u.login, err)
		}
		if acc, err = b.Server.Store.GetLocalAccountByLogin(ctx, u.login); err != nil {
			t.Fatal(err)
		}
		if got := local.Algorithm(acc.PasswordHash); got != "argon2id" {
			t.Fatalf("%s: stored %s after login, want argon2id", u.login, got)
		}
		if _, _, err := rp.Login(ctx, u.login, u.password); err != nil {
			t.Fatalf("%s after the rehash: %v", u.login, err)
		}
		if u.login == "alice.kc" { // Keycloak's subgroup and its realm role
			var c struct{ Groups []string }
			if err := idt.Claims(&c); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(c.Groups, "staff/admins") || !slices.Contains(c.Groups, "auditor") {
				t.Errorf("alice.kc groups = %v, want staff/admins and auditor", c.Groups)
			}
		}
	}
	if logs := b.Logs(); strings.Contains(logs, "kc-alice-password") || strings.Contains(logs, "$pbkdf2") || strings.Contains(logs, "$2a$") {
		t.Fatal("a password or hash reached the log")
	}
}

// TestImportWriteModeAndSymlink: --apply --force replaces an existing
// 0644 file with a 0600 one, and replaces a symlink itself, never writing
// through it to its target; without --force a symlink (even dangling) is
// refused.
func TestImportWriteModeAndSymlink(t *testing.T) {
	src := "../../internal/importer/testdata/keycloak-realm.json"
	dir := t.TempDir()
	out := filepath.Join(dir, "kc.yaml")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "", "import", "keycloak", src, "--apply", "--out", out, "--force")
	if fi, err := os.Lstat(out); err != nil || fi.Mode().Perm() != 0o600 || !fi.Mode().IsRegular() {
		t.Fatalf("after --force over a 0644 file: %v %v", fi.Mode(), err)
	}

	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if msg := mustFail(t, "", "import", "keycloak", src, "--apply", "--out", link); !strings.Contains(msg, "exists") {
		t.Fatalf("--apply over a symlink: %s", msg)
	}
	dangling := filepath.Join(dir, "dangling.yaml")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	if msg := mustFail(t, "", "import", "keycloak", src, "--apply", "--out", dangling); !strings.Contains(msg, "exists") {
		t.Fatalf("--apply over a dangling symlink: %s", msg)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); err == nil {
		t.Fatal("wrote through a dangling symlink")
	}
	mustRun(t, "", "import", "keycloak", src, "--apply", "--out", link, "--force")
	if data, _ := os.ReadFile(target); string(data) != "keep" {
		t.Fatalf("--force wrote through the symlink to its target: %q", data)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode().Perm() != 0o600 || !fi.Mode().IsRegular() {
		t.Fatalf("after --force over a symlink: %v %v", fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 4 {
		t.Errorf("left temporary files: %v", ents)
	}
}
