package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/portico-idp/portico/plugins/signing"
)

// TestConnectorSign: keygen makes a key pair and prints the config line;
// sign writes FILE.minisig, which the broker's check accepts with that
// line as the publisher key, and which fails once the file changes.
func TestConnectorSign(t *testing.T) {
	dir := t.TempDir()
	out := mustRun(t, "", "connector", "keygen", "--dir", dir, "acme")
	m := regexp.MustCompile(`publisher_keys: \[(RW[A-Za-z0-9+/=]+)\]`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no publisher_keys line in:\n%s", out)
	}
	key := filepath.Join(dir, "acme.key")
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v %v", fi, err)
	}
	if msg := mustFail(t, "", "connector", "keygen", "--dir", dir, "acme"); !strings.Contains(msg, "not overwriting") {
		t.Errorf("keygen over a key: %s", msg)
	}
	art := filepath.Join(dir, "plugin")
	os.WriteFile(art, []byte("a plugin binary"), 0o755)
	if out := mustRun(t, "", "connector", "sign", "--key", key, art); !strings.Contains(out, art+".minisig: signed with key") {
		t.Errorf("sign printed %q", out)
	}
	keys, err := signing.ParseKeys([]string{m[1]}, "", "publisher_keys")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.VerifyFile(art, ""); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(art, []byte("a plugin binary, changed"), 0o755)
	if _, err := keys.VerifyFile(art, ""); err == nil {
		t.Error("a changed file verified")
	}
	if msg := mustFail(t, "", "connector", "sign", art); !strings.Contains(msg, "--key is required") {
		t.Errorf("sign without a key: %s", msg)
	}
}
