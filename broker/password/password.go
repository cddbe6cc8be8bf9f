// Package password is the policy for passwords Portico sets for local
// accounts: every way a password is set (admin API, console, command line,
// the journey's pages) checks it here, so that one rule holds everywhere.
//
// The rules follow NIST SP 800-63B (5.1.1.2): a minimum length and a list
// of common passwords refused, and no composition rules ("a digit and a
// symbol"), which make passwords harder to remember without making them
// harder to guess. A maximum length bounds the work of hashing one (argon2
// reads all of its input) and of estimating its strength. An optional
// strength estimate (zxcvbn) refuses guessable passwords the list misses.
//
// The common list and the estimator are github.com/trustelem/zxcvbn's,
// compiled in: a check never reaches the network.
package password

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/frequency"
	"golang.org/x/text/unicode/norm"
)

// Defaults and bounds of a Policy.
const (
	// DefaultMinLength is NIST's minimum for a password the person
	// chose, in characters.
	DefaultMinLength = 8
	// DefaultMaxLength bounds a password, in bytes: more than any pass
	// phrase needs.
	DefaultMaxLength = 256
	// HardMaxLength is the most MaxLength may be, in bytes.
	HardMaxLength = 1024
	// MaxStrength is the highest zxcvbn score.
	MaxStrength = 4
	// strengthRunes is how much of a password the estimator reads: its
	// cost grows faster than the length, and 100 characters are strong
	// unless repetitive, which the start shows too.
	strengthRunes = 100
	// minContained is the shortest username or email local part a
	// password may not contain; a shorter one it may not equal only.
	minContained = 4
)

// Violation codes: what a refused password broke. They are stable, for
// API clients and page messages.
const (
	CodeInvalid          = "invalid"           // invalid UTF-8, a control character, or nothing visible
	CodeTooShort         = "too_short"         // fewer than MinLength characters
	CodeTooLong          = "too_long"          // more than MaxLength bytes
	CodeContainsUsername = "contains_username" // equals or contains the username or email
	CodeCommon           = "common"            // on the list of common passwords
	CodeWeak             = "weak"              // scored below MinStrength
)

// Policy says which passwords may be set. The zero Policy is the safe
// default: at least 8 characters, at most 256 bytes, no common password,
// no strength estimate.
type Policy struct {
	// MinLength is the fewest characters (Unicode code points, after NFC
	// normalisation); 0 is DefaultMinLength.
	MinLength int
	// MaxLength is the most bytes (UTF-8); 0 is DefaultMaxLength.
	MaxLength int
	// MinStrength is the lowest zxcvbn score accepted, 1 to 4; 0 does not
	// estimate.
	MinStrength int
	// AllowCommon accepts passwords on the common list.
	AllowCommon bool
}

// Violation is why Check refused a password. Its message never quotes the
// password.
type Violation struct {
	// Code is one of the Code constants.
	Code string
	// Limit is the bound broken: the length for too_short (characters)
	// and too_long (bytes), the score for weak; 0 otherwise.
	Limit int
}

func (v *Violation) Error() string {
	switch v.Code {
	case CodeInvalid:
		return "password contains a control character, is not valid UTF-8, or has nothing visible"
	case CodeTooShort:
		return fmt.Sprintf("password is shorter than %d characters", v.Limit)
	case CodeTooLong:
		return fmt.Sprintf("password is longer than %d bytes", v.Limit)
	case CodeContainsUsername:
		return "password contains the username or email address"
	case CodeCommon:
		return "password is one of the most common passwords"
	case CodeWeak:
		return fmt.Sprintf("password is too easy to guess (strength below %d of 4)", v.Limit)
	}
	return "password refused: " + v.Code
}

// PolicyCode returns the code and the arguments of a page's message for
// it (catalogue id "password."+code): the length, for too_short and
// too_long, and none for the others (a person is not told a score).
// Pages word the refusal in the reader's language this way.
func (v *Violation) PolicyCode() (string, []any) {
	if v.Code == CodeTooShort || v.Code == CodeTooLong {
		return v.Code, []any{v.Limit}
	}
	return v.Code, nil
}

// Bounds returns p's minimum and maximum length with the defaults filled
// in, for a form's minlength and maxlength.
func (p Policy) Bounds() (minRunes, maxBytes int) {
	minRunes, maxBytes = p.MinLength, p.MaxLength
	if minRunes <= 0 {
		minRunes = DefaultMinLength
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxLength
	}
	return minRunes, maxBytes
}

// Validate reports a policy that cannot be met or bounds nothing.
func (p Policy) Validate() error {
	minRunes, maxBytes := p.Bounds()
	switch {
	case p.MinLength < 0 || p.MaxLength < 0:
		return fmt.Errorf("password policy: lengths must not be negative")
	case p.MaxLength > HardMaxLength:
		return fmt.Errorf("password policy: max_length %d is over %d bytes", p.MaxLength, HardMaxLength)
	case maxBytes < minRunes:
		// A character is at least one byte: fewer bytes than characters
		// refuses every password.
		return fmt.Errorf("password policy: max_length %d (bytes) is below min_length %d (characters)", maxBytes, minRunes)
	case p.MinStrength < 0 || p.MinStrength > MaxStrength:
		return fmt.Errorf("password policy: min_strength %d is outside 0 to %d", p.MinStrength, MaxStrength)
	}
	return nil
}

// Check returns nil if pw may be set, or a *Violation. userInputs are what
// the password must not be built from: the account's username and email
// address (empty ones are skipped); they also weaken the strength estimate.
func (p Policy) Check(pw string, userInputs ...string) error {
	minRunes, maxBytes := p.Bounds()
	// The cheap bound first: what follows reads the whole password.
	if len(pw) > maxBytes {
		return &Violation{Code: CodeTooLong, Limit: maxBytes}
	}
	if !utf8.ValidString(pw) || strings.ContainsFunc(pw, unicode.IsControl) {
		return &Violation{Code: CodeInvalid}
	}
	// NFC counts "é" as one character however it was typed. The password
	// is hashed as given; normal form is for the checks only.
	n := norm.NFC.String(pw)
	if utf8.RuneCountInString(n) < minRunes {
		return &Violation{Code: CodeTooShort, Limit: minRunes}
	}
	// Nothing but spaces and invisible formatting characters (zero-width
	// spaces, direction marks) is no password a person could type again.
	if strings.TrimFunc(pw, func(r rune) bool { return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) }) == "" {
		return &Violation{Code: CodeInvalid}
	}
	lower := strings.ToLower(n)
	inputs := userWords(userInputs)
	for _, in := range inputs {
		if lower == in || utf8.RuneCountInString(in) >= minContained && strings.Contains(lower, in) {
			return &Violation{Code: CodeContainsUsername}
		}
	}
	if !p.AllowCommon && IsCommon(n) {
		return &Violation{Code: CodeCommon}
	}
	if p.MinStrength > 0 && Strength(n, inputs...) < p.MinStrength {
		return &Violation{Code: CodeWeak, Limit: p.MinStrength}
	}
	return nil
}

// userWords are the lower-case forms of the user inputs: each, and an
// email address's local part too.
func userWords(userInputs []string) []string {
	var out []string
	for _, in := range userInputs {
		in = strings.ToLower(norm.NFC.String(strings.TrimSpace(in)))
		if in == "" {
			continue
		}
		out = append(out, in)
		if local, _, ok := strings.Cut(in, "@"); ok && local != "" {
			out = append(out, local)
		}
	}
	return out
}

// common is the set of common passwords, lower case: zxcvbn's list (30,000
// passwords, most used first, from leaked password lists).
var common = sync.OnceValue(func() map[string]struct{} {
	list := frequency.FrequencyLists["passwords"]
	m := make(map[string]struct{}, len(list))
	for _, w := range list {
		m[strings.ToLower(w)] = struct{}{}
	}
	return m
})

// IsCommon reports whether pw, ignoring case, is on the common list.
func IsCommon(pw string) bool {
	_, ok := common()[strings.ToLower(norm.NFC.String(pw))]
	return ok
}

// Strength is zxcvbn's score of pw, from 0 (too guessable) to 4 (very
// unguessable), with the user inputs as words an attacker knows. Only the
// first 100 characters are read.
func Strength(pw string, userInputs ...string) int {
	if i := runeOffset(pw, strengthRunes); i >= 0 {
		pw = pw[:i]
	}
	return zxcvbn.PasswordStrength(pw, userInputs).Score
}

// runeOffset is the byte offset of s's nth rune, or -1 if s is shorter.
func runeOffset(s string, n int) int {
	for i := range s {
		if n == 0 {
			return i
		}
		n--
	}
	return -1
}
