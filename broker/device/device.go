// Package device holds the records of the device authorization grant
// (RFC 8628), which two subjects share: broker/protocol issues and
// redeems the codes (/device/authorize, /token), broker/journey shows the
// person the pages that approve or deny them (/device).
//
// State is two store records with the code's expiry: the device record,
// keyed by the device code's hash, and the user code's, keyed by the
// user code's hash and naming the device record. Neither code is stored.
// Every change of the device record (a poll, the approval, the
// redemption) is a compare-and-swap on its Version.
package device

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
)

// Record kinds.
const (
	Kind     = "device"      // key: hash of the device code
	UserKind = "device_user" // key: hash of the user code, normalized
)

// Status of a device record.
const (
	Pending  = "pending"
	Approved = "approved"
	Denied   = "denied"
	Used     = "used" // tokens were issued: the device code is spent
)

// userCodeAlphabet: consonants only, upper case (RFC 8628 §6.1): no
// vowels to spell words, nothing to confuse (0/O, 1/I/L are absent), and
// the same on every keyboard. Eight of them carry 34.5 bits; with the
// throttle on wrong codes (journey's code form) and the code's short
// life, guessing a live one is hopeless.
const (
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLen      = 8
	// MaxUserCodeInput bounds what the page accepts before normalizing:
	// the code, dashes and spaces as people type them.
	MaxUserCodeInput = 64
)

// State is a device record's value.
type State struct {
	ClientID string `json:"client_id"`
	// IssuedAt: a device code older than its client was issued to another
	// client of its id, since deleted (zero in codes from before it).
	IssuedAt time.Time `json:"issued_at,omitzero"`
	Scopes   []string  `json:"scopes,omitempty"`
	UserKey  string    `json:"user_key"` // the user code record's key
	Expires  time.Time `json:"expires"`
	// Interval is the polling interval in force, grown by slow_down;
	// LastPoll is when the device last polled.
	Interval time.Duration `json:"interval"`
	LastPoll time.Time     `json:"last_poll,omitzero"`
	Status   string        `json:"status"`
	// The approved login: who, how, and the token session it starts.
	UserID      string    `json:"user_id,omitempty"`
	ConnectorID string    `json:"connector_id,omitempty"`
	AuthTime    time.Time `json:"auth_time,omitzero"`
	AMR         []string  `json:"amr,omitempty"`
	FamilyID    string    `json:"family_id,omitempty"`
}

// UserRef is a user code record's value.
type UserRef struct {
	DeviceKey string `json:"device_key"`
}

// NewUserCode returns a random user code, normalized (no dash).
func NewUserCode() string {
	var out [userCodeLen]byte
	buf := make([]byte, 2*userCodeLen)
	for i := 0; i < userCodeLen; {
		rand.Read(buf)
		for _, c := range buf {
			// 240 is the largest multiple of 20 within a byte: no bias.
			if c < 240 && i < userCodeLen {
				out[i] = userCodeAlphabet[int(c)%len(userCodeAlphabet)]
				i++
			}
		}
	}
	return string(out[:])
}

// FormatUserCode shows a normalized user code as people read it: XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != userCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// NormalizeUserCode reads a user code as typed: case, dashes and white
// space do not matter. ok is false for anything that cannot be a code.
func NormalizeUserCode(in string) (string, bool) {
	if len(in) > MaxUserCodeInput {
		return "", false
	}
	var sb strings.Builder
	for _, r := range in {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\u00a0':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		if r > 0x7f || !strings.ContainsRune(userCodeAlphabet, r) {
			return "", false
		}
		sb.WriteRune(r)
	}
	if sb.Len() != userCodeLen {
		return "", false
	}
	return sb.String(), true
}

// UserCodeKey is the key of a user code's record.
func UserCodeKey(code string) string { return core.HashString("user-code:" + code) }

// Records is the part of the store the records need.
type Records interface {
	GetRecord(ctx context.Context, kind, key string) (store.Record, error)
	PutRecord(ctx context.Context, r store.Record) error
}

// Load returns the device record at key and its value.
func Load(ctx context.Context, st Records, key string) (State, store.Record, error) {
	var ds State
	rec, err := st.GetRecord(ctx, Kind, key)
	if err != nil {
		return ds, rec, err
	}
	if err := json.Unmarshal(rec.Value, &ds); err != nil {
		return ds, rec, fmt.Errorf("decode device record: %w", err)
	}
	return ds, rec, nil
}

// Save stores ds over rec, compare-and-swap.
func Save(ctx context.Context, st Records, rec store.Record, ds State) error {
	rec.Value, _ = json.Marshal(ds)
	return st.PutRecord(ctx, rec)
}
