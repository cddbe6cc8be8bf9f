package mfa

import (
	"bytes"
	"errors"
	"testing"

	"github.com/portico-idp/portico/sdk/upstream"
)

var (
	testKey  = []byte("0123456789abcdef0123456789abcdef")
	otherKey = []byte("fedcba9876543210fedcba9876543210")
)

func TestSealRoundTrip(t *testing.T) {
	s, err := NewSealer(testKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		plaintext []byte
		ad        []byte
	}{
		{"totp secret", rfcSecret, []byte("user-1")},
		{"empty plaintext", nil, []byte("user-1")},
		{"no additional data", rfcSecret, nil},
		{"largest", make([]byte, maxSealed), []byte("user-1")},
	}
	for _, tt := range tests {
		b, err := s.Seal(tt.plaintext, tt.ad)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(tt.plaintext) > 0 && bytes.Contains(b, tt.plaintext) {
			t.Errorf("%s: sealed data shows the plaintext", tt.name)
		}
		again, _ := s.Seal(tt.plaintext, tt.ad)
		if bytes.Equal(b, again) {
			t.Errorf("%s: sealing twice gave the same bytes (nonce not random)", tt.name)
		}
		got, err := s.Open(b, tt.ad)
		if err != nil || !bytes.Equal(got, tt.plaintext) {
			t.Errorf("%s: Open = %x, %v", tt.name, got, err)
		}
	}
	if _, err := s.Seal(make([]byte, maxSealed+1), nil); err == nil {
		t.Error("sealed more than maxSealed")
	}
}

func TestSealRefusals(t *testing.T) {
	s, _ := NewSealer(testKey)
	other, _ := NewSealer(otherKey)
	ad := []byte("user-1")
	b, err := s.Seal(rfcSecret, ad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	tests := []struct {
		name string
		s    *Sealer
		data []byte
		ad   []byte
	}{
		{"another user's id", s, b, []byte("user-2")},
		{"a prefix of the user id", s, b, []byte("user-")},
		{"no additional data", s, b, nil},
		{"another key", other, b, ad},
		{"altered version", s, flip(0), ad},
		{"altered nonce", s, flip(1), ad},
		{"altered ciphertext", s, flip(13), ad},
		{"altered tag", s, flip(len(b) - 1), ad},
		{"tag cut off", s, b[:len(b)-16], ad},
		{"one byte short", s, b[:len(b)-1], ad},
		{"nonce only", s, b[:13], ad},
		{"version only", s, b[:1], ad},
		{"empty", s, nil, ad},
		{"extra byte", s, append(bytes.Clone(b), 0), ad},
		{"plaintext stored as is", s, rfcSecret, ad},
		{"huge", s, make([]byte, 2*maxSealed), ad},
	}
	for _, tt := range tests {
		if p, err := tt.s.Open(tt.data, tt.ad); !errors.Is(err, ErrSealed) || p != nil {
			t.Errorf("%s: Open = %x, %v", tt.name, p, err)
		}
	}
	for _, n := range []int{0, 16, 24, 31, 33} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("a %d-byte key was accepted", n)
		}
	}
}

// TestSealDomain: under one key, sdk/upstream's sealed tokens and ours do
// not open as one another, even for the same subject.
func TestSealDomain(t *testing.T) {
	s, _ := NewSealer(testKey)
	u, err := upstream.NewSealer(testKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := u.Seal(upstream.Tokens{Refresh: "rt"}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(tok, []byte("alice")); !errors.Is(err, ErrSealed) {
		t.Errorf("upstream tokens opened as an mfa secret: %v", err)
	}
	ours, _ := s.Seal([]byte(`{"rt":"rt"}`), []byte("alice"))
	if _, err := u.Open(ours, "alice"); err == nil {
		t.Error("an mfa secret opened as upstream tokens")
	}
}
