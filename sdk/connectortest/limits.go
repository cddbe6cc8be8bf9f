package connectortest

import (
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/portico-idp/portico/sdk"
)

// Limits bound an identity as the broker admits it (docs/identity.md,
// "Identity limits"): an identity over them is refused whole, and the
// login fails. An operator can raise them per connector; a connector
// that needs that should say so in its docs.
type Limits struct {
	// MaxClaimLength bounds each string in bytes: username,
	// preferred_username, name, each group, attribute name and value.
	MaxClaimLength int
	// MaxKeyLength bounds the subject and the email, which the broker's
	// store indexes.
	MaxKeyLength int
	// MaxGroups, MaxAttributes and MaxAttributeValues (per attribute)
	// bound the counts.
	MaxGroups, MaxAttributes, MaxAttributeValues int
	// MaxSize bounds the identity as JSON, ConnectorData included.
	MaxSize int
}

// DefaultLimits are the broker's defaults.
var DefaultLimits = Limits{
	MaxClaimLength:     4096,
	MaxKeyLength:       1024,
	MaxGroups:          1000,
	MaxAttributes:      256,
	MaxAttributeValues: 1000,
	MaxSize:            128 << 10,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	for _, f := range []struct{ v, d *int }{
		{&l.MaxClaimLength, &d.MaxClaimLength}, {&l.MaxKeyLength, &d.MaxKeyLength}, {&l.MaxGroups, &d.MaxGroups},
		{&l.MaxAttributes, &d.MaxAttributes}, {&l.MaxAttributeValues, &d.MaxAttributeValues}, {&l.MaxSize, &d.MaxSize},
	} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	return l
}

// CheckIdentity reports the first way id breaks l (zero fields take
// DefaultLimits'), as the broker would refuse it: an empty subject; a
// string longer than its limit, not valid UTF-8, or holding a control
// character (C0, DEL, C1; attribute values may hold tab, CR and LF);
// too many groups, attributes or values; or more than MaxSize bytes as
// JSON. The size is counted as generously as the broker counts it (an
// upper bound of encoding/json's output), so an identity that passes
// here is admitted there.
func CheckIdentity(l Limits, id sdk.Identity) error {
	l = l.withDefaults()
	if id.Subject == "" {
		return fmt.Errorf("identity: subject is empty")
	}
	// 192 for the field names and braces, as the broker counts them,
	// then ConnectorData as quoted base64.
	size := 192 + 2 + 4*((len(id.ConnectorData)+2)/3)
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"subject", id.Subject, min(l.MaxKeyLength, l.MaxClaimLength)},
		{"email", id.Email, min(l.MaxKeyLength, l.MaxClaimLength)},
		{"username", id.Username, l.MaxClaimLength},
		{"preferred_username", id.PreferredUsername, l.MaxClaimLength},
		{"name", id.Name, l.MaxClaimLength},
	} {
		n, err := claim(f.v, f.max, false)
		if err != nil {
			return fmt.Errorf("identity: %s %v", f.name, err)
		}
		size += n
	}
	if len(id.Groups) > l.MaxGroups {
		return fmt.Errorf("identity: %d groups, more than the limit of %d", len(id.Groups), l.MaxGroups)
	}
	for i, g := range id.Groups {
		n, err := claim(g, l.MaxClaimLength, false)
		if err != nil {
			return fmt.Errorf("identity: groups[%d] %v", i, err)
		}
		size += n + 1
	}
	if len(id.Attributes) > l.MaxAttributes {
		return fmt.Errorf("identity: %d attributes, more than the limit of %d", len(id.Attributes), l.MaxAttributes)
	}
	for _, name := range slices.Sorted(maps.Keys(id.Attributes)) {
		n, err := claim(name, l.MaxClaimLength, false)
		if err != nil {
			return fmt.Errorf("identity: an attribute name %v", err)
		}
		size += n + 4
		vals := id.Attributes[name]
		if len(vals) > l.MaxAttributeValues {
			return fmt.Errorf("identity: attribute %q has %d values, more than the limit of %d", name, len(vals), l.MaxAttributeValues)
		}
		for j, v := range vals {
			n, err := claim(v, l.MaxClaimLength, true)
			if err != nil {
				return fmt.Errorf("identity: attribute %q[%d] %v", name, j, err)
			}
			size += n + 1
		}
	}
	if size > l.MaxSize {
		return fmt.Errorf("identity: about %d bytes as JSON, more than the limit of %d", size, l.MaxSize)
	}
	return nil
}

// claim checks one string and returns its length in JSON, quoted and
// escaped as encoding/json escapes it (<, > and & as \u003c, and so on).
func claim(s string, max int, multiline bool) (int, error) {
	if len(s) > max {
		return 0, fmt.Errorf("is %d bytes, more than the limit of %d", len(s), max)
	}
	n := 2
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		i += w
		switch {
		case r == utf8.RuneError && w == 1:
			return 0, fmt.Errorf("is not valid UTF-8")
		case multiline && (r == '\t' || r == '\n' || r == '\r'), r == '"', r == '\\':
			n += 2
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
			return 0, fmt.Errorf("contains a control character (U+%04X)", r)
		case r == '<', r == '>', r == '&', r == '\u2028', r == '\u2029':
			n += 6
		default:
			n += w
		}
	}
	return n, nil
}
