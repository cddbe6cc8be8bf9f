package config

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The rules for ids and names that every way in applies alike: the
// configuration file, the admin API (and the CLI through it) and dynamic
// registration. A client one of them accepts must be one the others can
// address and load again.

// ClientIDPattern is the rule for client ids: 1-128 of RFC 3986's
// unreserved characters (letters, digits, '.', '_', '~', '-'), starting
// with a letter or digit. Such an id sits in a URL path
// (/admin/v1/clients/{id}, /register/{id}), a query and HTTP Basic
// credentials without escaping, is never a dot segment, and prints as
// itself in logs and audit events.
const ClientIDPattern = `^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$`

// ConnectorIDPattern is the rule for connector ids, narrower since they
// also name callback URLs and prefix groups ("<id>:group").
const ConnectorIDPattern = `^[a-z0-9][a-z0-9_-]{0,62}$`

var (
	clientIDRE    = regexp.MustCompile(ClientIDPattern)
	connectorIDRE = regexp.MustCompile(ConnectorIDPattern)
)

// CheckClientID returns what is wrong with id as a client id, or "".
func CheckClientID(id string) string {
	switch {
	case id == "":
		return "required"
	case !clientIDRE.MatchString(id):
		return fmt.Sprintf("%q must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', '~' and '-', starting with a letter or digit", printable(id))
	}
	return ""
}

// CheckConnectorID returns what is wrong with id as a connector id, or "".
func CheckConnectorID(id string) string {
	switch {
	case id == "":
		return "required"
	case !connectorIDRE.MatchString(id):
		return fmt.Sprintf("%q must be 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit", printable(id))
	}
	return ""
}

// Bounds of the groups and roles a user is given by name (a user's groups
// in the file, a local account's groups, a user's roles and local groups
// through the admin API): each goes into tokens, so a few hundred bytes
// and the number of values a claim mapping keeps (mapping.MaxValues).
const (
	MaxGroupLen = 256
	MaxGroups   = 1000
)

// CheckGroupName returns what is wrong with name as a group or role, or
// "": 1-256 bytes of UTF-8 without control characters or surrounding
// spaces. A name with a trailing space would never match the one an
// operator means, in login.mfa.groups or an application's check.
func CheckGroupName(name string) string {
	if strings.TrimSpace(name) == "" {
		return "must not be empty"
	}
	return checkText(name, MaxGroupLen)
}

// CheckUsername returns what is wrong with name as a local account's
// username, or "": 1-256 bytes of UTF-8 without control characters or
// surrounding spaces. People type it into a login form, and PostgreSQL
// cannot store a NUL at all.
func CheckUsername(name string) string {
	if name == "" {
		return "required"
	}
	return checkText(name, MaxUsernameLen)
}

// checkText is the rule names share: at most max bytes of UTF-8, without
// control characters or surrounding spaces.
func checkText(name string, max int) string {
	switch {
	case len(name) > max:
		return fmt.Sprintf("longer than %d bytes", max)
	case !utf8.ValidString(name):
		return "not valid UTF-8"
	case strings.IndexFunc(name, IsControl) >= 0:
		return "must not contain control characters (bidirectional ones included)"
	case strings.TrimSpace(name) != name:
		return fmt.Sprintf("%q has leading or trailing spaces", name)
	}
	return ""
}

// IsControl reports whether names refuse r: C0, DEL, C1, and the
// bidirectional controls, which make a name read as another
// ("adm\u202enimda" shows as "admadmin").
func IsControl(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }

// CheckDisplayName returns what is wrong with a display name (of a client,
// a connector, an account), or "": empty, or up to 256 bytes of UTF-8
// without control characters. Names are shown on pages and put in tokens.
func CheckDisplayName(name string) string {
	if name == "" {
		return ""
	}
	return CheckUsername(name)
}

// MaxUsernameLen bounds a local account's username.
const MaxUsernameLen = 256

// CheckGroups checks a list of groups or roles at field (such as
// "users[2].groups" or "roles"): each name by CheckGroupName, none twice,
// at most MaxGroups. It returns every problem, each Path naming its entry.
func CheckGroups(field string, names []string) []*FieldError {
	if len(names) > MaxGroups {
		return []*FieldError{{Path: field, Message: fmt.Sprintf("more than %d entries", MaxGroups)}}
	}
	var errs []*FieldError
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		p := fmt.Sprintf("%s[%d]", field, i)
		if msg := CheckGroupName(n); msg != "" {
			errs = append(errs, &FieldError{Path: p, Message: msg})
		} else if seen[n] {
			errs = append(errs, &FieldError{Path: p, Message: fmt.Sprintf("duplicate %q", n)})
		}
		seen[n] = true
	}
	return errs
}

// printable shortens s for an error message, so a hostile id cannot fill
// a log line or an answer.
func printable(s string) string {
	if len(s) > 140 {
		return s[:140] + "..."
	}
	return s
}
