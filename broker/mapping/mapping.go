// Package mapping turns what a connector says about a person (an
// sdk.Identity) into the claims Portico issues, by declarative rules an
// operator writes under each connector: rename an attribute to a claim,
// take the first of several, lower-case, split a string into a list,
// extract with a regular expression; then filter the groups by allow and
// deny patterns and prefix them with the connector id.
//
// Every rule reads the identity as the connector gave it, never another
// rule's output, so rules do not depend on their order. Compile checks the
// rules once, at configuration load, and reports each problem by its path
// ("claim_mapping[2].regex: ..."); Apply never fails.
package mapping

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/portico-idp/portico/sdk"
)

// Rule sets one claim. YAML:
//
//   - claim: department
//     from: [attributes.departmentNumber, attributes.ou]
//     split: ","
//     regex: '^([a-z]+)'
//     lower: true
//     multi: true
type Rule struct {
	// Claim is the claim the rule sets: `email`, `name`,
	// `preferred_username`, `groups`, or a custom claim that a scope
	// (top-level `scopes`) releases.
	Claim string `yaml:"claim"`
	// From are the sources, in order; the first with a value is used:
	// `subject`, `username`, `preferred_username`, `email`, `name`,
	// `groups`, or `attributes.<name>` for one of the connector's
	// attributes.
	From []string `yaml:"from"`
	// Split splits each value at this separator; parts are trimmed and
	// empty ones dropped.
	Split string `yaml:"split"`
	// Regex keeps, of each value, its first capture group (or the whole
	// match when the expression has none); values that do not match are
	// dropped. Go syntax (RE2), unanchored: write `^` and `$` as needed.
	Regex string `yaml:"regex"`
	// Lower lower-cases the values (after `split` and `regex`).
	Lower bool `yaml:"lower"`
	// Multi makes the claim a list of every value; otherwise it is the
	// first value, a string. Always true for `groups`.
	Multi bool `yaml:"multi"`
}

// Groups filters and prefixes a connector's groups. A group is kept when
// it matches an allow pattern (or there are none) and no deny pattern.
// A pattern is the exact name; a glob where * matches any run of
// characters and ? one character; or, after "re:", a Go regular expression
// that must match the whole name.
type Groups struct {
	// Allow keeps only the groups matching one of these patterns (exact
	// names, globs with `*` and `?`, or `re:` regexps matching the whole
	// name); empty keeps all.
	Allow []string `yaml:"allow"`
	// Deny drops the groups matching one of these patterns.
	Deny []string `yaml:"deny"`
	// Prefix puts `<connector id>:` before every group kept, so that
	// groups of the same name from two connectors stay apart.
	Prefix bool `yaml:"prefix"`
}

// Limits on what Apply reads and makes, so that a hostile or broken
// upstream cannot make it slow or make tokens huge.
const (
	// MaxValueLen: longer values are dropped as they are read (no real
	// name, address or group is this long; regexps then read at most this).
	MaxValueLen = 4096
	// MaxValues: a claim keeps at most this many values.
	MaxValues = 1000
	// maxPatternLen bounds a regexp or glob in the configuration.
	maxPatternLen = 1024
)

// Claims the rules may set besides custom ones.
const (
	ClaimEmail             = "email"
	ClaimName              = "name"
	ClaimPreferredUsername = "preferred_username"
	ClaimGroups            = "groups"
)

// reserved claims are set by Portico itself, never by a mapping rule:
// they name the token, the session or the login, or carry a verdict
// (email_verified) that only the connector may give.
var reserved = []string{
	"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "acr", "amr", "azp",
	"at_hash", "c_hash", "sid", "scope", "client_id", "cnf", "act", "email_verified", "roles",
	"updated_at", "username",
}

// Reserved reports whether claim is one that only Portico sets.
func Reserved(claim string) bool { return slices.Contains(reserved, claim) }

var claimNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:/-]{0,127}$`)

// ValidClaimName reports whether name may be a custom claim's name.
func ValidClaimName(name string) bool { return claimNameRE.MatchString(name) && !Reserved(name) }

const attrPrefix = "attributes."

var fieldSources = []string{"subject", "username", "preferred_username", "email", "name", "groups"}

// Error is one problem with one rule; Path is relative to the connector,
// such as "claim_mapping[2].regex".
type Error struct {
	Path    string
	Message string
}

func (e *Error) Error() string { return e.Path + ": " + e.Message }

// Mapper applies one connector's rules. The nil *Mapper maps nothing.
type Mapper struct {
	prefix      string
	rules       []rule
	allow, deny []*regexp.Regexp
}

type rule struct {
	Rule
	re *regexp.Regexp
}

// Compile checks the rules and groups filter of connector connectorID.
// The error joins one *Error per problem.
func Compile(connectorID string, rules []Rule, groups Groups) (*Mapper, error) {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &Error{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	m := &Mapper{}
	if groups.Prefix {
		m.prefix = connectorID + ":"
	}
	set := map[string]int{}
	for i, r := range rules {
		p := fmt.Sprintf("claim_mapping[%d]", i)
		switch {
		case r.Claim == "":
			bad(p+".claim", "required")
		case Reserved(r.Claim):
			bad(p+".claim", "%q is set by Portico and cannot be mapped", r.Claim)
		case !claimNameRE.MatchString(r.Claim):
			bad(p+".claim", "%q is not a claim name (a letter, then letters, digits and _ . : / -, at most 128)", r.Claim)
		default:
			if j, dup := set[r.Claim]; dup {
				bad(p+".claim", "claim %q is already set by claim_mapping[%d]", r.Claim, j)
			}
			set[r.Claim] = i
		}
		if len(r.From) == 0 {
			bad(p+".from", "at least one source is required")
		}
		for j, src := range r.From {
			if !validSource(src) {
				bad(fmt.Sprintf("%s.from[%d]", p, j), "unknown source %q (use one of %s, or attributes.<name>)", src, strings.Join(fieldSources, ", "))
			}
		}
		cr := rule{Rule: r}
		cr.From = slices.Clone(r.From)
		if r.Claim == ClaimGroups {
			cr.Multi = true
		}
		if r.Regex != "" {
			re, err := compileRegexp(r.Regex)
			if err != nil {
				bad(p+".regex", "%v", err)
			}
			cr.re = re
		}
		m.rules = append(m.rules, cr)
	}
	for _, l := range []struct {
		name string
		pats []string
		out  *[]*regexp.Regexp
	}{{"allow", groups.Allow, &m.allow}, {"deny", groups.Deny, &m.deny}} {
		for i, pat := range l.pats {
			re, err := compilePattern(pat)
			if err != nil {
				bad(fmt.Sprintf("groups.%s[%d]", l.name, i), "%v", err)
				continue
			}
			*l.out = append(*l.out, re)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

func validSource(s string) bool {
	if name, ok := strings.CutPrefix(s, attrPrefix); ok {
		return name != ""
	}
	return slices.Contains(fieldSources, s)
}

func compileRegexp(s string) (*regexp.Regexp, error) {
	if len(s) > maxPatternLen {
		return nil, fmt.Errorf("longer than %d bytes", maxPatternLen)
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("invalid regexp: %w", err)
	}
	return re, nil
}

// compilePattern turns a group pattern (exact, glob, or re:regexp) into a
// regexp matching whole names.
func compilePattern(p string) (*regexp.Regexp, error) {
	switch {
	case p == "":
		return nil, errors.New("must not be empty")
	case len(p) > maxPatternLen:
		return nil, fmt.Errorf("longer than %d bytes", maxPatternLen)
	}
	if expr, ok := strings.CutPrefix(p, "re:"); ok {
		if _, err := regexp.Compile(expr); err != nil {
			return nil, fmt.Errorf("invalid regexp: %w", err)
		}
		return regexp.Compile(`^(?:` + expr + `)$`)
	}
	var b strings.Builder
	b.WriteString("^")
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString("(?s:.*)")
		case '?':
			b.WriteString("(?s:.)")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// Claims returns the custom claims the rules set, each true when it is a
// list claim (Multi).
func (m *Mapper) Claims() map[string]bool {
	out := map[string]bool{}
	if m == nil {
		return out
	}
	for _, r := range m.rules {
		if !standard(r.Claim) {
			out[r.Claim] = r.Multi
		}
	}
	return out
}

func standard(claim string) bool {
	switch claim {
	case ClaimEmail, ClaimName, ClaimPreferredUsername, ClaimGroups:
		return true
	}
	return false
}

// Result is an identity after mapping.
type Result struct {
	// Identity is the input with email, name, preferred_username and
	// groups as the rules and the groups filter made them. EmailVerified
	// stays true only while the email is, apart from letter case, the one
	// the connector verified.
	Identity sdk.Identity
	// Claims are the custom claims, each with at least one value (exactly
	// one unless the rule is Multi).
	Claims map[string][]string
}

// Apply maps id. The input is not modified.
func (m *Mapper) Apply(id sdk.Identity) Result {
	out := id
	out.Groups = slices.Clone(id.Groups)
	out.Attributes = maps.Clone(id.Attributes)
	if m == nil {
		return Result{Identity: out}
	}
	var claims map[string][]string
	for _, r := range m.rules {
		vals := r.eval(id)
		switch r.Claim {
		case ClaimEmail:
			out.Email = first(vals)
			out.EmailVerified = id.EmailVerified && out.Email != "" && strings.EqualFold(out.Email, id.Email)
		case ClaimName:
			out.Name = first(vals)
		case ClaimPreferredUsername:
			out.PreferredUsername = first(vals)
		case ClaimGroups:
			out.Groups = vals
		default:
			if len(vals) == 0 {
				continue
			}
			if claims == nil {
				claims = map[string][]string{}
			}
			claims[r.Claim] = vals
		}
	}
	out.Groups = m.filterGroups(out.Groups)
	return Result{Identity: out, Claims: claims}
}

func first(vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	return vals[0]
}

// eval returns the rule's values for id: those of the first source that
// has any, split, extracted, lower-cased, without empties or repeats.
func (r *rule) eval(id sdk.Identity) []string {
	var vals []string
	for _, src := range r.From {
		vals = source(id, src)
		if slices.ContainsFunc(vals, func(v string) bool { return v != "" }) {
			break
		}
	}
	var out []string
	seen := map[string]bool{}
	add := func(v string) bool {
		if r.Lower {
			v = strings.ToLower(v) // may grow: invalid UTF-8 becomes U+FFFD
		}
		if v == "" || len(v) > MaxValueLen || seen[v] {
			return true
		}
		seen[v] = true
		out = append(out, v)
		return r.Multi && len(out) < MaxValues
	}
	for _, v := range vals {
		if len(v) > MaxValueLen {
			continue
		}
		parts := []string{v}
		if r.Split != "" {
			parts = strings.Split(v, r.Split)
		}
		for _, p := range parts {
			if r.Split != "" {
				p = strings.TrimSpace(p)
			}
			if r.re != nil {
				var ok bool
				if p, ok = extract(r.re, p); !ok {
					continue
				}
			}
			if !add(p) {
				return out
			}
		}
	}
	return out
}

// extract returns re's first capture group in v, or its whole match.
func extract(re *regexp.Regexp, v string) (string, bool) {
	m := re.FindStringSubmatch(v)
	switch {
	case m == nil:
		return "", false
	case len(m) > 1:
		return m[1], true
	}
	return m[0], true
}

// source returns the values of one source of id; values too long to be
// real are left out.
func source(id sdk.Identity, src string) []string {
	one := func(s string) []string {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	switch src {
	case "subject":
		return one(id.Subject)
	case "username":
		return one(id.Username)
	case "preferred_username":
		return one(id.PreferredUsername)
	case "email":
		return one(id.Email)
	case "name":
		return one(id.Name)
	case "groups":
		return id.Groups
	}
	name, _ := strings.CutPrefix(src, attrPrefix)
	return id.Attributes[name]
}

// filterGroups applies the allow and deny patterns, then the prefix.
func (m *Mapper) filterGroups(groups []string) []string {
	if len(m.allow) == 0 && len(m.deny) == 0 && m.prefix == "" {
		return groups
	}
	out := groups[:0:0]
	seen := map[string]bool{}
	for _, g := range groups {
		if g == "" || len(g) > MaxValueLen || !m.allowed(g) {
			continue
		}
		g = m.prefix + g
		if !seen[g] && len(out) < MaxValues {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

func (m *Mapper) allowed(g string) bool {
	match := func(res []*regexp.Regexp) bool {
		return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(g) })
	}
	return (len(m.allow) == 0 || match(m.allow)) && !match(m.deny)
}
