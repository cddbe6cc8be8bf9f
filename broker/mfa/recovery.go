package mfa

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// DefaultRecoveryCodes is how many recovery codes NewRecoveryCodes makes
// when asked for 0: enough to lose a phone a few times, few enough to
// write down.
const DefaultRecoveryCodes = 10

const (
	maxRecoveryCodes = 100
	// recoveryAlphabet has 32 symbols, 5 bits each, none of them 0, 1, l
	// or o, which are read and typed as one another.
	recoveryAlphabet = "23456789abcdefghijkmnpqrstuvwxyz"
	// recoveryLen symbols make 80 bits: what keeps a fast hash of a code
	// out of brute force's reach (see the package doc).
	recoveryLen   = 16
	recoveryGroup = 4
	// recoveryHashPrefix versions the stored form, so it can change
	// without guessing what an old hash was made with.
	recoveryHashPrefix = "rc1:"
	// recoveryDomain keeps these hashes from meaning anything as any other
	// HMAC a caller might compute with the same salt.
	recoveryDomain = "portico recovery code\x00"
)

// NewRecoveryCodes makes n recovery codes (DefaultRecoveryCodes for 0), to
// show the person once, formatted "xxxx-xxxx-xxxx-xxxx", and their hashes,
// which are all the store keeps. salt must be the same for hashing and for
// MatchRecoveryCode; it is best per user (the user id will do, it need not
// be secret), so that a stolen database cannot be searched for all users'
// codes at once.
func NewRecoveryCodes(n int, salt []byte) (codes, hashes []string, err error) {
	if n == 0 {
		n = DefaultRecoveryCodes
	}
	if n < 0 || n > maxRecoveryCodes {
		return nil, nil, fmt.Errorf("recovery codes: count %d outside [1, %d]", n, maxRecoveryCodes)
	}
	if len(salt) == 0 {
		return nil, nil, errors.New("recovery codes: empty salt")
	}
	codes = make([]string, n)
	hashes = make([]string, n)
	raw := make([]byte, recoveryLen)
	for i := range codes {
		rand.Read(raw) // never fails since Go 1.24
		for j, r := range raw {
			// 256 is a multiple of 32, so every symbol is equally likely.
			raw[j] = recoveryAlphabet[r%32]
		}
		codes[i] = formatRecovery(raw)
		hashes[i] = hashRecovery(raw, salt)
	}
	return codes, hashes, nil
}

// MatchRecoveryCode reports which of hashes the code typed by a person
// matches, so the caller can mark that one used (remove it, or blank it:
// an empty or malformed hash matches nothing). Case, white space and
// dashes do not matter. Every hash is compared, in constant time, whether
// or not an earlier one matched, so timing does not tell an attacker how
// close a guess came or where a code sits in the list. An empty salt
// matches nothing.
func MatchRecoveryCode(code string, hashes []string, salt []byte) (index int, ok bool) {
	norm, valid := normalizeRecovery(code)
	if !valid || len(salt) == 0 {
		return -1, false
	}
	h := []byte(hashRecovery(norm, salt))
	index, found := -1, 0
	for i, stored := range hashes {
		eq := subtle.ConstantTimeCompare([]byte(stored), h)
		index = subtle.ConstantTimeSelect(eq&^found, i, index)
		found |= eq
	}
	return index, found == 1
}

// formatRecovery groups a normalized code for reading: "abcd-efgh-...".
func formatRecovery(norm []byte) string {
	var b strings.Builder
	for i := 0; i < len(norm); i += recoveryGroup {
		if i > 0 {
			b.WriteByte('-')
		}
		b.Write(norm[i:min(i+recoveryGroup, len(norm))])
	}
	return b.String()
}

// normalizeRecovery undoes formatting and what people add when they copy
// or type a code: white space, dashes and upper case. What is left must be
// recoveryLen symbols of the alphabet. Only ASCII is folded: Unicode case
// folding would let, say, the Kelvin sign stand for a "k".
func normalizeRecovery(s string) ([]byte, bool) {
	if len(s) > 64 { // bounds the work for junk input
		return nil, false
	}
	out := make([]byte, 0, recoveryLen)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '-':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		if strings.IndexByte(recoveryAlphabet, c) < 0 || len(out) == recoveryLen {
			return nil, false
		}
		out = append(out, c)
	}
	return out, len(out) == recoveryLen
}

// hashRecovery is the stored form of a normalized code: HMAC-SHA-256 keyed
// with the salt. An HMAC rather than a hash of salt||code so that the salt
// and code cannot run into each other whatever their lengths, and so a
// salt that is also secret (mixed with a deployment key) makes the hashes
// useless without it.
func hashRecovery(norm, salt []byte) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(recoveryDomain))
	m.Write(norm)
	return recoveryHashPrefix + hex.EncodeToString(m.Sum(nil))
}
