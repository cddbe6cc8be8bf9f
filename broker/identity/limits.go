package identity

import (
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/mapping"
	"github.com/portico-idp/portico/sdk"
)

// Identity admission (docs/identity.md#identity-limits). Whatever a
// connector returns — built in, a process plugin, a WASM module, or an
// upstream they relay — enters the broker through admit, before anything
// is stored or minted: a login (password, callback, IdP-initiated, link)
// through finishLogin, a refresh through refreshIdentity. An identity that
// is not valid UTF-8, holds a control character or breaks its connector's
// limits is refused whole, never trimmed or cleaned: "admin\x00" cleaned
// would be "admin", another person.

// Limits bound what one connector's identity may hold. A zero
// field takes its DefaultLimits value.
type Limits struct {
	// MaxClaimLength bounds each string, in bytes: subject, username,
	// preferred_username, email, name, each group, each attribute name
	// and value. The subject and the email are held to at most
	// maxKeyLength whatever this says: the store indexes them.
	MaxClaimLength int
	// MaxGroups bounds the groups; MaxAttributes the attributes (names);
	// MaxAttributeValues the values of each attribute.
	MaxGroups, MaxAttributes, MaxAttributeValues int
	// MaxSize bounds the whole identity as JSON (its stored form, about
	// what it adds to a token), ConnectorData included.
	MaxSize int
}

// DefaultLimits fit real directories with room to spare: an
// Active Directory user in a thousand groups (the LDAP connector reads no
// more), SAML attribute values of a few KB, an upstream's sealed refresh
// token of a few KB in ConnectorData. 4096 bytes is also the longest value
// claim mapping reads, and 1000 the most values it keeps.
var DefaultLimits = Limits{
	MaxClaimLength:     4096,
	MaxGroups:          1000,
	MaxAttributes:      256,
	MaxAttributeValues: 1000,
	MaxSize:            128 << 10,
}

// maxKeyLength bounds the subject and the email, which the store keys and
// indexes: PostgreSQL refuses a B-tree entry over 2704 bytes, and a
// lower-cased email may be half as long again. No real subject (OIDC's
// are at most 255 ASCII characters) or address (254) comes near.
const maxKeyLength = 1024

// withDefaults fills in l's unset fields.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	for _, f := range []struct{ v, def *int }{
		{&l.MaxClaimLength, &d.MaxClaimLength}, {&l.MaxGroups, &d.MaxGroups}, {&l.MaxAttributes, &d.MaxAttributes},
		{&l.MaxAttributeValues, &d.MaxAttributeValues}, {&l.MaxSize, &d.MaxSize},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return l
}

// Error says which field of an identity broke which rule. Neither
// holds the value: it may be what broke the rule (a control character, a
// megabyte), or a person's data. Field is a path such as "name",
// "groups[3]" or "attributes.department[0]".
type Error struct{ Field, Problem string }

func (e *Error) Error() string {
	return core.ErrInvalidIdentity.Error() + ": " + e.Field + " " + e.Problem
}
func (e *Error) Is(target error) bool { return target == core.ErrInvalidIdentity }

// The JSON encoding of an sdk.Identity beyond its strings: field names,
// braces, brackets and separators. identitySize is an upper bound of the
// encoding's length (a fuzz target checks it against encoding/json).
const (
	identityOverhead = 192 // the names of every field, and the braces
	perValue         = 1   // the comma after a group or a value
	perAttribute     = 4   // the colon, the brackets and the comma of an attribute
)

// checkIdentity applies lim, every field set (withDefaults), to id and returns an
// *Error for the first rule id breaks, in a fixed order. It reads
// no more of id than the limits allow: a 3 MiB name is refused by its
// length, unread.
func checkIdentity(lim Limits, id sdk.Identity) error {
	size := identityOverhead + 2 + 4*((len(id.ConnectorData)+2)/3) // base64 and quotes
	over := func() error {
		return &Error{"size", fmt.Sprintf("is over the limit of %d bytes (the identity as JSON)", lim.MaxSize)}
	}
	if size > lim.MaxSize {
		return &Error{"connector_data", fmt.Sprintf("is %d bytes, more than the identity's size limit of %d", len(id.ConnectorData), lim.MaxSize)}
	}
	if id.Subject == "" {
		return &Error{"subject", "is empty"}
	}
	keyLen := min(lim.MaxClaimLength, maxKeyLength)
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"subject", id.Subject, keyLen}, {"username", id.Username, lim.MaxClaimLength},
		{"preferred_username", id.PreferredUsername, lim.MaxClaimLength}, {"email", id.Email, keyLen},
		{"name", id.Name, lim.MaxClaimLength},
	} {
		n, problem := checkString(f.v, f.max, false)
		if problem != "" {
			return &Error{f.name, problem}
		}
		if size += n; size > lim.MaxSize {
			return over()
		}
	}
	if len(id.Groups) > lim.MaxGroups {
		return &Error{"groups", fmt.Sprintf("are %d, more than the limit of %d", len(id.Groups), lim.MaxGroups)}
	}
	for i, g := range id.Groups {
		n, problem := checkString(g, lim.MaxClaimLength, false)
		if problem != "" {
			return &Error{fmt.Sprintf("groups[%d]", i), problem}
		}
		if size += n + perValue; size > lim.MaxSize {
			return over()
		}
	}
	if len(id.Attributes) > lim.MaxAttributes {
		return &Error{"attributes", fmt.Sprintf("are %d, more than the limit of %d", len(id.Attributes), lim.MaxAttributes)}
	}
	// In name order, so that the same identity is always refused for the
	// same reason.
	for _, name := range slices.Sorted(maps.Keys(id.Attributes)) {
		n, problem := checkString(name, lim.MaxClaimLength, false)
		if problem != "" {
			return &Error{"attributes", "have a name that " + problem}
		}
		field := "attributes." + core.Truncate(name, 64)
		vals := id.Attributes[name]
		if len(vals) > lim.MaxAttributeValues {
			return &Error{field, fmt.Sprintf("has %d values, more than the limit of %d", len(vals), lim.MaxAttributeValues)}
		}
		if size += n + perAttribute; size > lim.MaxSize {
			return over()
		}
		for j, v := range vals {
			// Attribute values may span lines (a postal address, a
			// PEM certificate, AD's info): tab, CR and LF pass there.
			n, problem := checkString(v, lim.MaxClaimLength, true)
			if problem != "" {
				return &Error{fmt.Sprintf("%s[%d]", field, j), problem}
			}
			if size += n + perValue; size > lim.MaxSize {
				return over()
			}
		}
	}
	return nil
}

// checkString checks one string of an identity: at most max bytes, valid
// UTF-8, no control character (C0, DEL, C1) except, when multiline, tab,
// CR and LF. It returns what s takes in JSON, quotes included (encoding/json
// escapes <, > and & as \u003c and so on), or what is wrong, without s.
func checkString(s string, max int, multiline bool) (int, string) {
	if len(s) > max {
		return 0, fmt.Sprintf("is %d bytes, more than the limit of %d", len(s), max)
	}
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case multiline && (c == '\t' || c == '\n' || c == '\r'), c == '"', c == '\\':
				n += 2
			case c < 0x20 || c == 0x7f:
				return 0, fmt.Sprintf("contains a control character (U+%04X)", c)
			case c == '<', c == '>', c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			return 0, "is not valid UTF-8"
		case r <= 0x9f: // C1
			return 0, fmt.Sprintf("contains a control character (U+%04X)", r)
		case r == '\u2028', r == '\u2029':
			n += 6
		default:
			n += w
		}
		i += w
	}
	return n, ""
}

// Admitted is a connector's identity that admit accepted. Only admit makes
// one, and resolveUser and finishLink take nothing else: no identity
// reaches the store or a token unchecked.
type Admitted struct {
	id sdk.Identity   // as the connector said it: the identity record keeps it
	m  mapping.Result // after the connector's claim mapping: the user's profile
}

// Limits returns connector connectorID's limits.
func (s *Service) Limits(connectorID string) Limits {
	return s.opts.Limits[connectorID].withDefaults()
}

// Admit checks id against its connector's limits, applies the connector's
// claim mapping and checks the result too (rules may gather values into
// one claim): what the user's profile, and so the tokens, will hold. The
// error wraps core.ErrInvalidIdentity.
func (s *Service) Admit(connectorID string, id sdk.Identity) (Admitted, error) {
	lim := s.Limits(connectorID)
	// An empty group names nothing, and a repeat adds nothing: both are
	// dropped, as group filters and claim mapping drop them. Names are
	// kept as they are otherwise: trimming " admins" to "admins" would
	// hand out a group the directory did not.
	if len(id.Groups) > 0 {
		seen := make(map[string]bool, len(id.Groups))
		id.Groups = slices.DeleteFunc(slices.Clone(id.Groups), func(g string) bool {
			drop := g == "" || seen[g]
			seen[g] = true
			return drop
		})
	}
	if err := checkIdentity(lim, id); err != nil {
		return Admitted{}, err
	}
	mp := s.opts.Mappings[connectorID]
	m := mp.Apply(id)
	if mp != nil {
		p := m.Identity
		profile := sdk.Identity{Subject: p.Subject, Username: p.Username, PreferredUsername: p.PreferredUsername,
			Email: p.Email, Name: p.Name, Groups: p.Groups, Attributes: m.Claims, ConnectorData: id.ConnectorData}
		if err := checkIdentity(lim, profile); err != nil {
			e := err.(*Error)
			return Admitted{}, &Error{e.Field + " (after claim_mapping)", e.Problem}
		}
	}
	return Admitted{id: id, m: m}, nil
}
