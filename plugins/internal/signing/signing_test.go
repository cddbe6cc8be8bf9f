package signing_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-idp/portico/plugins/internal/signing"
	"github.com/portico-idp/portico/plugins/internal/signing/signingtest"
)

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	publisher := signingtest.NewPublisher(t, dir, "publisher")
	other := signingtest.NewPublisher(t, dir, "other")
	content := []byte("\x00asm a module, or a plugin binary")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	signed := write("signed", content)
	publisher.Sign(t, signed)
	tampered := write("tampered", content)
	publisher.Sign(t, tampered)
	write("tampered", append([]byte("#"), content...))
	byOther := write("by-other", content)
	other.Sign(t, byOther)
	unsigned := write("unsigned", content)
	garbled := write("garbled", content)
	write("garbled.minisig", []byte("untrusted comment: x\nnot base64\n"))
	// A signature of the whole file, not its hash (minisign -l): still
	// accepted.
	legacy := write("legacy", content)
	publisher.SignWhole(t, legacy)

	keys, err := signing.ParseKeys(nil, publisher.PubFile, "publisher_keys")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path string
		want       string // in the error; "" for verified
	}{
		{"signed", signed, ""},
		{"legacy signature", legacy, ""},
		{"unsigned", unsigned, "is not signed: there is no " + unsigned + ".minisig"},
		{"tampered", tampered, "does not match its signature"},
		{"signed by another key", byOther, "which is not a configured publisher key (trusted: " + keys.IDs()[0] + ")"},
		{"garbled signature", garbled, "is not a minisign signature"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data, err := os.ReadFile(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			for how, verify := range map[string]func() (signing.Signer, error){
				"file":  func() (signing.Signer, error) { return keys.VerifyFile(tt.path, "") },
				"bytes": func() (signing.Signer, error) { return keys.Verify(data, tt.path, "") },
			} {
				s, err := verify()
				switch {
				case tt.want == "" && err != nil:
					t.Errorf("%s: %v", how, err)
				case tt.want == "" && s.KeyID != keys.IDs()[0]:
					t.Errorf("%s: signer %+v", how, s)
				case tt.want != "" && (!errors.Is(err, signing.ErrRefused) || !strings.Contains(err.Error(), tt.want)):
					t.Errorf("%s: %v, want refused with %q", how, err, tt.want)
				}
			}
		})
	}
	// The content matters, not where the signature is: a signature of
	// another file is a mismatch.
	if _, err := keys.VerifyFile(write("different", []byte("x")), signed+".minisig"); err == nil {
		t.Error("a file verified against another file's signature")
	}
	// No keys: nothing required.
	if _, err := (signing.Keys{}).VerifyFile(unsigned, ""); err != nil {
		t.Errorf("no keys: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	dir := t.TempDir()
	a := signingtest.NewPublisher(t, dir, "a")
	b := signingtest.NewPublisher(t, dir, "b")
	text, _ := os.ReadFile(a.PubFile)
	many := filepath.Join(dir, "many.pub")
	os.WriteFile(many, []byte("# our publishers\n"+string(text)+"\n"+b.Key+"\n"), 0o644)
	empty := filepath.Join(dir, "empty.pub")
	os.WriteFile(empty, []byte("# nobody yet\n"), 0o644)
	for _, tt := range []struct {
		name   string
		inline []string
		file   string
		n      int
		err    string
	}{
		{"inline line", []string{a.Key}, "", 1, ""},
		{"inline .pub text", []string{string(text)}, "", 1, ""},
		{"file of several", []string{a.Key}, many, 3, ""},
		{"not a key", []string{"RWQ-nope"}, "", 0, "publisher_keys[0]: not a minisign public key"},
		{"missing file", nil, filepath.Join(dir, "nope"), 0, "publisher_keys_file: open"},
		{"empty file", nil, empty, 0, "holds no key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := signing.ParseKeys(tt.inline, tt.file, "publisher_keys")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || len(k.IDs()) != tt.n {
				t.Errorf("keys %v, err %v; want %d", k.IDs(), err, tt.n)
			}
		})
	}
}
