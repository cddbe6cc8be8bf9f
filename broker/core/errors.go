package core

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/portico-idp/portico/broker/store"
)

var (
	// ErrUserDisabled: the user may not log in or refresh.
	ErrUserDisabled = errors.New("user is disabled")
	// ErrContention: a record changed under every compare-and-swap
	// attempt of one request.
	ErrContention = errors.New("too many concurrent updates")
	// ErrTooManyRetries is ErrConflict, so that the admin API answers 409.
	ErrTooManyRetries = fmt.Errorf("too many concurrent updates: %w", store.ErrConflict)
	// ErrInvalidIdentity: a connector's identity broke the limits
	// (identity.Error says which field and how).
	ErrInvalidIdentity = errors.New("the connector's identity was refused")
	// ErrStore: a store failure already logged.
	ErrStore = errors.New("store error")
)

// Retries bounds the compare-and-swap retries of one request.
const Retries = 8

// HashString is the unpadded base64url SHA-256 of s: how a code, a
// browser binding or a token is kept without keeping it.
func HashString(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ConstantEqual compares secrets without telling by timing how much of
// them matched.
func ConstantEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// WithQuery adds v to u's query, keeping any query u already has.
func WithQuery(u string, v url.Values) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + v.Encode()
}

// maxDescription bounds an error_description.
const maxDescription = 512

// Description makes s an error_description as RFC 6749 allows it (§4.1.2.1,
// §5.2: %x20-21 / %x23-5B / %x5D-7E, which RFC 6750 §3 keeps for the
// header): a double quote becomes a single one, a backslash a slash, §
// "section", a tab a space, any other character outside the set (controls,
// non-ASCII) a question mark, and it is cut to 512 bytes. Descriptions
// echo what requests sent; this keeps them text a client can show and a
// header can quote.
func Description(s string) string {
	b := make([]byte, 0, min(len(s), maxDescription))
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, '\'')
		case r == '\\':
			b = append(b, '/')
		case r == '§': // Portico's own messages cite sections
			b = append(b, "section "...)
		case r == '\t':
			b = append(b, ' ')
		case r < 0x20 || r > 0x7e:
			b = append(b, '?') // one for a character, however many bytes
		default:
			b = append(b, byte(r))
		}
		if len(b) >= maxDescription {
			return string(b[:maxDescription])
		}
	}
	return string(b)
}

// Truncate cuts s to at most n bytes, on a rune boundary.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
