package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"aead.dev/minisign"
)

// TestConnectorSign: keygen makes a key pair and prints the config line;
// sign writes FILE.minisig, a prehashed minisign signature (what the
// broker and minisign -V verify) by the key on that line, which fails
// once the file changes.
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
	var pk minisign.PublicKey
	if err := pk.UnmarshalText([]byte(m[1])); err != nil {
		t.Fatal(err)
	}
	// As the broker verifies it (plugins/internal/signing, whose tests
	// sign the same way) and as minisign -V does: prehashed.
	verify := func() bool {
		sig, err := os.ReadFile(art + ".minisig")
		if err != nil {
			t.Fatal(err)
		}
		f, _ := os.Open(art)
		defer f.Close()
		r := minisign.NewReader(f)
		io.Copy(io.Discard, r)
		return r.Verify(pk, sig)
	}
	if !verify() {
		t.Fatal("the signature does not verify")
	}
	// And the minisign tool, when it is here (plugins/internal/signing's
	// TestMinisignTool requires it under CI).
	if ms, err := exec.LookPath("minisign"); err == nil {
		if out, err := exec.Command(ms, "-Vm", art, "-p", filepath.Join(dir, "acme.pub")).CombinedOutput(); err != nil {
			t.Errorf("minisign -V: %v\n%s", err, out)
		}
	} else {
		t.Log("minisign not on PATH: its verification of the signature not checked")
	}
	os.WriteFile(art, []byte("a plugin binary, changed"), 0o755)
	if verify() {
		t.Error("a changed file verified")
	}
	if msg := mustFail(t, "", "connector", "sign", art); !strings.Contains(msg, "--key is required") {
		t.Errorf("sign without a key: %s", msg)
	}
}
