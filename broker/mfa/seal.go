package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// sealVersion is the first byte of sealed data, so the format can change.
const sealVersion = 1

// maxSealed bounds what Seal and Open handle: TOTP secrets are 20 bytes,
// and a bound keeps a corrupted record from costing much.
const maxSealed = 64 << 10

// sealDomain is prefixed to every additional data, so that data sealed
// here and data sealed elsewhere under the same key by mistake (such as
// sdk/upstream's tokens) never open as one another.
const sealDomain = "portico mfa\x00"

// ErrSealed is wrapped by every Open failure: data that is not ours, was
// sealed under another key or with other additional data, or was altered.
var ErrSealed = errors.New("sealed data cannot be opened")

// Sealer encrypts secrets at rest with AES-256-GCM, so a copy of the store
// is not a copy of everyone's TOTP secrets. Its key lives outside the
// store (derived from the data directory's master key, like a connector's).
//
// It is sdk/upstream's Sealer with a byte-slice interface: that one seals
// only upstream Tokens, as JSON, bound to a subject under a label of its
// own, and sdk imports nothing of the broker, so neither can take the
// other's place; the format (version, nonce, ciphertext) is the same.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("mfa sealing key: want 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("mfa sealing key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("mfa sealing key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// aad is what GCM authenticates besides the ciphertext: the format version
// (so a version byte cannot be swapped), the domain, and the caller's
// additional data.
func aad(additionalData []byte) []byte {
	b := make([]byte, 0, 1+len(sealDomain)+len(additionalData))
	b = append(b, sealVersion)
	b = append(b, sealDomain...)
	return append(b, additionalData...)
}

// Seal encrypts plaintext bound to additionalData, which Open must be
// given again: for a TOTP secret, the user id it belongs to, so a sealed
// secret copied onto another user does not open. The result is a version
// byte, a random 12-byte nonce, then the ciphertext and tag. Random nonces
// are safe for far more secrets than one key will ever seal (NIST's limit
// is 2^32).
func (s *Sealer) Seal(plaintext, additionalData []byte) ([]byte, error) {
	if len(plaintext) > maxSealed {
		return nil, fmt.Errorf("seal: %d bytes is too large", len(plaintext))
	}
	n := s.aead.NonceSize()
	out := make([]byte, 1+n, 1+n+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:]) // never fails since Go 1.24
	return s.aead.Seal(out, out[1:], plaintext, aad(additionalData)), nil
}

// Open decrypts what Seal made with the same additionalData. Every
// failure wraps ErrSealed.
func (s *Sealer) Open(sealed, additionalData []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	switch {
	case len(sealed) == 0:
		return nil, fmt.Errorf("%w: empty", ErrSealed)
	case len(sealed) > 1+n+maxSealed+s.aead.Overhead():
		return nil, fmt.Errorf("%w: %d bytes is too large", ErrSealed, len(sealed))
	case sealed[0] != sealVersion:
		return nil, fmt.Errorf("%w: unknown format version %d", ErrSealed, sealed[0])
	case len(sealed) < 1+n+s.aead.Overhead():
		return nil, fmt.Errorf("%w: truncated", ErrSealed)
	}
	plain, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], aad(additionalData))
	if err != nil {
		return nil, fmt.Errorf("%w: %v (sealed under another key or with other additional data, or altered)", ErrSealed, err)
	}
	return plain, nil
}
