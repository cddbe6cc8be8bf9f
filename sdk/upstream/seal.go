package upstream

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
)

// Tokens are the upstream credentials a connector keeps for a person, so it
// can ask the upstream about them again on Refresh.
type Tokens struct {
	Access  string `json:"at,omitempty"`
	Refresh string `json:"rt,omitempty"`
	// Expiry of Access, Unix seconds; 0 when it does not expire.
	Expiry int64 `json:"exp,omitempty"`
}

// sealVersion is the first byte of sealed data, so the format can change.
const sealVersion = 1

// maxSealed bounds what Open will look at: upstream tokens are small, and
// ConnectorData comes back from the store, not the network, but a bound
// keeps a corrupted record from costing much.
const maxSealed = 64 << 10

// ErrSealed is wrapped by every Open failure: data that is not ours, was
// sealed under another key or for another subject, or was altered.
var ErrSealed = errors.New("connector data cannot be opened")

// Sealer encrypts Tokens with AES-256-GCM under a connector's key. The
// store holds ConnectorData in clear; sealing keeps a copy of the database
// from being a copy of everyone's upstream refresh tokens.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a Sealer for a 32-byte key (server.Env.Key).
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("connector key: want 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// aad binds sealed data to the identity it was made for, so one person's
// ConnectorData copied onto another's identity does not open.
func aad(subject string) []byte {
	return append([]byte{sealVersion}, "portico upstream tokens\x00"+subject...)
}

// Seal encrypts t for subject: version byte, 12-byte random nonce, then
// the GCM ciphertext of t as JSON.
func (s *Sealer) Seal(t Tokens, subject string) ([]byte, error) {
	plain, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:])
	return s.aead.Seal(out, out[1:], plain, aad(subject)), nil
}

// Open decrypts what Seal made for subject. Every failure wraps ErrSealed.
func (s *Sealer) Open(b []byte, subject string) (Tokens, error) {
	n := s.aead.NonceSize()
	switch {
	case len(b) == 0:
		return Tokens{}, fmt.Errorf("%w: empty", ErrSealed)
	case len(b) > maxSealed:
		return Tokens{}, fmt.Errorf("%w: %d bytes is too large", ErrSealed, len(b))
	case b[0] != sealVersion:
		return Tokens{}, fmt.Errorf("%w: unknown format version %d", ErrSealed, b[0])
	case len(b) < 1+n+s.aead.Overhead():
		return Tokens{}, fmt.Errorf("%w: truncated", ErrSealed)
	}
	plain, err := s.aead.Open(nil, b[1:1+n], b[1+n:], aad(subject))
	if err != nil {
		return Tokens{}, fmt.Errorf("%w: %v (sealed under another key or for another subject, or altered)", ErrSealed, err)
	}
	var t Tokens
	if err := json.Unmarshal(plain, &t); err != nil {
		return Tokens{}, fmt.Errorf("%w: %v", ErrSealed, err)
	}
	return t, nil
}
