// Package signingtest makes publisher keys and signs artifacts for tests
// of the runtimes' signature checks, as minisign -S (and `portico
// connector sign`) does: the file prehashed, the file's name in the
// trusted comment.
package signingtest

import (
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"

	"aead.dev/minisign"
)

// Publisher is a key pair; its public key is also written to a .pub file.
type Publisher struct {
	PubFile string // the .pub file, for publisher_keys_file
	Key     string // the public key's RW... line, as publisher_keys takes it
	sk      minisign.PrivateKey
}

// NewPublisher makes a key pair and writes dir/name.pub.
func NewPublisher(t testing.TB, dir, name string) Publisher {
	t.Helper()
	pk, sk, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := pk.MarshalText()
	p := Publisher{PubFile: filepath.Join(dir, name+".pub"), Key: pk.String(), sk: sk}
	if err := os.WriteFile(p.PubFile, append(text, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Sign writes path's signature to path.minisig.
func (p Publisher) Sign(t testing.TB, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := minisign.NewReader(f)
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	sig := r.SignWithComments(p.sk, "timestamp:0\tfile:"+filepath.Base(path)+"\thashed", "signature from a test key")
	if err := os.WriteFile(path+".minisig", sig, 0o644); err != nil {
		t.Fatal(err)
	}
}

// SignWhole writes a signature of the whole file rather than of its hash
// (minisign -l, the legacy format) to path.minisig.
func (p Publisher) SignWhole(t testing.TB, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".minisig", minisign.Sign(p.sk, b), 0o644); err != nil {
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
