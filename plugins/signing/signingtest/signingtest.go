// Package signingtest makes publisher keys and signs artifacts for tests
// of the runtimes' signature checks.
package signingtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-idp/portico/plugins/signing"
)

// Publisher is a key pair written to a directory.
type Publisher struct {
	PubFile string // the .pub file
	KeyFile string // the private key, unencrypted
	Key     string // the public key's RW... line, as publisher_keys takes it
}

// NewPublisher makes a key pair named name in dir.
func NewPublisher(t testing.TB, dir, name string) Publisher {
	t.Helper()
	pub, priv, err := signing.GenerateKey("")
	if err != nil {
		t.Fatal(err)
	}
	p := Publisher{PubFile: filepath.Join(dir, name+".pub"), KeyFile: filepath.Join(dir, name+".key")}
	if err := os.WriteFile(p.PubFile, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.KeyFile, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(pub)), "\n")
	p.Key = lines[len(lines)-1]
	return p
}

// Sign writes path's signature to path + signing.Suffix.
func (p Publisher) Sign(t testing.TB, path string) {
	t.Helper()
	sk, err := signing.ReadPrivateKey(p.KeyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.SignFile(sk, path); err != nil {
		t.Fatal(err)
	}
}

// Copy copies the file at src into dir and returns the copy's path, so
// a test can sign or change an artifact others share.
func Copy(t testing.TB, src, dir string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}
