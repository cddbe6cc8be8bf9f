package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A config check prints every problem, the connectors' own included, and
// opens no store; a good file prints ok.
func TestConfigCheck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	good := writeConfig(t, dir, freeAddr(t), "")
	if out := mustRun(t, "", "config", "check", good); strings.TrimSpace(out) != "ok" {
		t.Errorf("check of a good file: %q, want ok", out)
	}
	bad := writeConfig(t, dir, freeAddr(t), `tokens:
  signing_alg: none
`)
	b, _ := os.ReadFile(bad)
	os.WriteFile(bad, []byte(strings.Replace(string(b), "connectors:\n", `connectors:
  - {id: corp, type: ldapp}
  - {id: dir, type: ldap, config: {url: "ldaps://ldap.example.com", user_search: {basedn: "dc=x"}}}
`, 1)), 0o600)
	r := run(t, "", "config", "check", bad)
	if r.err == nil || !strings.Contains(r.err.Error(), "3 problems") {
		t.Fatalf("check: %v, want 3 problems\n%s", r.err, r.out)
	}
	for _, want := range []string{
		"config: tokens.signing_alg: unsupported signing algorithm",
		`config: connectors[0].type: unknown connector type "ldapp" (did you mean ldap?)`,
		"config: connectors[1].config.user_search.basedn: unknown field (did you mean base_dn?)",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("check output lacks %q:\n%s", want, r.out)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("config check created the data directory")
	}
}

// A wrong connector type or connector config stops serve before any store
// file exists.
func TestServeConnectorErrorsBeforeStore(t *testing.T) {
	for _, tc := range []struct{ name, conn, want string }{
		{"type", "  - {id: corp, type: ldapp}\n", `connectors[0].type: unknown connector type "ldapp"`},
		{"config", "  - {id: corp, type: ldap, config: {url: \"ldaps://l\"}}\n", "connectors[0].config.user_search.base_dn: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			path := writeConfig(t, dir, freeAddr(t), "")
			b, _ := os.ReadFile(path)
			os.WriteFile(path, []byte(strings.Replace(string(b), "connectors:\n", "connectors:\n"+tc.conn, 1)), 0o600)
			r := runWithin(t, 20*time.Second, "", "serve", "--config", path)
			if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
				t.Fatalf("serve: %v, want %q", r.err, tc.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the data directory was created before the connector was checked")
			}
		})
	}
}

// --issuer sets the issuer for --dev (which may then listen on every
// address, as in a container) and overrides the file's.
func TestServeIssuerFlag(t *testing.T) {
	port := func() string {
		_, p, _ := net.SplitHostPort(freeAddr(t))
		return p
	}
	t.Run("dev on all addresses", func(t *testing.T) {
		p := port()
		issuer := "http://127.0.0.1:" + p
		startServe(t, issuer, "--dev", "--data-dir", filepath.Join(t.TempDir(), "d"), "--listen", "0.0.0.0:"+p, "--issuer", issuer)
	})
	t.Run("dev default on all addresses is localhost", func(t *testing.T) {
		p := port()
		startServe(t, "http://localhost:"+p, "--dev", "--data-dir", filepath.Join(t.TempDir(), "d"), "--listen", "0.0.0.0:"+p)
	})
	t.Run("config", func(t *testing.T) {
		addr := freeAddr(t)
		path := writeConfig(t, filepath.Join(t.TempDir(), "d"), addr, "")
		b, _ := os.ReadFile(path)
		// The file's issuer is not where it listens: the flag fixes it.
		os.WriteFile(path, []byte(strings.Replace(string(b), "issuer: http://"+addr, "issuer: http://127.0.0.1:1", 1)), 0o600)
		startServe(t, "http://localhost:"+strings.Split(addr, ":")[1], "--config", path, "--issuer", "http://localhost:"+strings.Split(addr, ":")[1])
	})
	t.Run("checked", func(t *testing.T) {
		r := runWithin(t, 20*time.Second, "", "serve", "--dev", "--data-dir", filepath.Join(t.TempDir(), "d"), "--issuer", "http://id.example.com")
		if r.err == nil || !strings.Contains(r.err.Error(), "issuer: http is allowed only for loopback hosts") {
			t.Fatalf("serve: %v", r.err)
		}
	})
}
