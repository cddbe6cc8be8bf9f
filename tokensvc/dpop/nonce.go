package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Nonces issues and checks server nonces (§8, §9) without storing them:
// a nonce is a time slot and a MAC of it under a key, so any server with
// the key accepts it and nothing is written per nonce. A nonce is good
// in its slot and the next, so it lives from one to two lifetimes.
type Nonces struct {
	key      []byte
	lifetime time.Duration
	now      func() time.Time
}

// nonceLen: 8 bytes of slot and a 16-byte MAC, in base64url.
const nonceLen = 32

// NewNonces returns nonces under key (32 random bytes every replica
// shares), each slot lifetime long (a minute if zero); now is time.Now
// if nil.
func NewNonces(key []byte, lifetime time.Duration, now func() time.Time) *Nonces {
	if lifetime <= 0 {
		lifetime = time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &Nonces{key: key, lifetime: lifetime, now: now}
}

func (n *Nonces) slot() int64 { return n.now().UnixNano() / int64(n.lifetime) }

func (n *Nonces) make(slot int64) string {
	var b [24]byte
	binary.BigEndian.PutUint64(b[:8], uint64(slot))
	m := hmac.New(sha256.New, n.key)
	m.Write(b[:8])
	copy(b[8:], m.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Current is the nonce to hand out now.
func (n *Nonces) Current() string { return n.make(n.slot()) }

// Valid reports whether s is a nonce of the current or the previous slot.
func (n *Nonces) Valid(s string) bool {
	if len(s) != nonceLen {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return false
	}
	slot, now := int64(binary.BigEndian.Uint64(b[:8])), n.slot()
	if slot != now && slot != now-1 {
		return false
	}
	return hmac.Equal([]byte(n.make(slot)), []byte(s))
}
