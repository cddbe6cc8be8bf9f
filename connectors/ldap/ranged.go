package ldap

// Range retrieval of large multi-valued attributes, as Active Directory
// does it (MS-ADTS 3.1.1.3.1.3.3, "Range Retrieval of Attribute Values"):
// an attribute with more values than the server's MaxValRange (1500 by
// default) comes back as "member;range=0-1499" with the first values, and
// the client asks for "member;range=1500-*" and so on until the server
// answers with a range ending in "*". OpenLDAP never does this: it sends
// every value, and values() then costs nothing extra.

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portico-idp/portico/sdk"
)

const (
	// maxValues bounds the values read for one attribute across ranges,
	// maxRanges the follow-up searches: a server cannot make a login
	// read without end.
	maxValues = 100000
	maxRanges = 200
)

// values returns every value of attribute attr of e, following range
// retrieval when the server split them. Values that are not valid UTF-8
// are kept as they are: these are DNs, which the server sends as text.
func (c *Connector) values(ctx context.Context, lc *goldap.Conn, e *goldap.Entry, attr string) ([]string, error) {
	vals, lo, hi, ranged := rangedValues(e, attr)
	if !ranged {
		return e.GetEqualFoldAttributeValues(attr), nil
	}
	if lo != 0 {
		return nil, fmt.Errorf("%w: ldap: %s of %s: the first range starts at %d, not 0", sdk.ErrUnavailable, attr, e.DN, lo)
	}
	if err := rangeCount(e.DN, attr, lo, hi, len(vals)); err != nil {
		return nil, err
	}
	for n := 0; hi >= 0; n++ {
		if n >= maxRanges || len(vals) >= maxValues {
			c.log.WarnContext(ctx, "ldap: attribute has more values than Portico reads; the rest are left out", "dn", e.DN, "attribute", attr, "read", len(vals))
			return vals, nil
		}
		next := fmt.Sprintf("%s;range=%d-*", attr, hi+1)
		req := goldap.NewSearchRequest(e.DN, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, c.timeLimit(), false,
			"(objectClass=*)", []string{next}, nil)
		var res *goldap.SearchResult
		err := c.d.op(ctx, lc, "reading "+next+" of "+e.DN, func() (err error) { res, err = lc.Search(req); return err })
		if _, ok := resultCode(err); ok {
			return nil, fmt.Errorf("%w: ldap: reading %s of %s: %w", sdk.ErrUnavailable, next, e.DN, err)
		} else if err != nil {
			return nil, err
		}
		if len(res.Entries) != 1 {
			return nil, fmt.Errorf("%w: ldap: reading %s of %s: %d entries", sdk.ErrUnavailable, next, e.DN, len(res.Entries))
		}
		more, nlo, nhi, ok := rangedValues(res.Entries[0], attr)
		if !ok || nlo != hi+1 {
			// No range at all, or not the one asked for: the server
			// does not follow the protocol; stop rather than loop.
			return nil, fmt.Errorf("%w: ldap: reading %s of %s: the server answered another range", sdk.ErrUnavailable, next, e.DN)
		}
		if err := rangeCount(e.DN, attr, nlo, nhi, len(more)); err != nil {
			return nil, err
		}
		vals = append(vals, more...)
		lo, hi = nlo, nhi
	}
	return vals, nil
}

// rangeCount checks that a range other than the last, lo-hi, came with
// its hi-lo+1 values, as AD sends them: the next request starts after hi,
// so a range that claims more values than it holds would skip the others
// without a word ("member;range=0-999999998" with 1500 values).
func rangeCount(dn, attr string, lo, hi, n int) error {
	if hi >= 0 && hi-lo+1 != n {
		return fmt.Errorf("%w: ldap: %s of %s: range %d-%d claims %d values, the server sent %d", sdk.ErrUnavailable, attr, dn, lo, hi, hi-lo+1, n)
	}
	return nil
}

// rangedValues finds attr;range=lo-hi among e's attributes. hi is -1 for
// "*", the last range. ranged is false when e has no ranged form of attr.
func rangedValues(e *goldap.Entry, attr string) (vals []string, lo, hi int, ranged bool) {
	for _, a := range e.Attributes {
		name, l, h, ok := parseRange(a.Name)
		if ok && strings.EqualFold(name, attr) {
			return a.Values, l, h, true
		}
	}
	return nil, 0, 0, false
}

// parseRange splits an attribute description "member;range=0-1499" into
// the attribute ("member"), the first and last index (1499, or -1 for
// "*"). Other options may come before or after the range option. ok is
// false when there is no well-formed range option: a description such as
// "member;range=5-2" or "member;range=-1-*" is not one.
func parseRange(desc string) (attr string, lo, hi int, ok bool) {
	parts := strings.Split(desc, ";")
	if len(parts) < 2 || len(parts) > 8 {
		return "", 0, 0, false
	}
	var rest []string
	found := false
	for _, p := range parts[1:] {
		v, isRange := cutPrefixFold(p, "range=")
		if !isRange {
			rest = append(rest, p)
			continue
		}
		if found {
			return "", 0, 0, false // two ranges
		}
		l, h, good := strings.Cut(v, "-")
		if !good {
			return "", 0, 0, false
		}
		var err error
		if lo, err = index(l); err != nil {
			return "", 0, 0, false
		}
		if h == "*" {
			hi = -1
		} else if hi, err = index(h); err != nil || hi < lo {
			return "", 0, 0, false
		}
		found = true
	}
	if !found || parts[0] == "" {
		return "", 0, 0, false
	}
	return strings.Join(append([]string{parts[0]}, rest...), ";"), lo, hi, true
}

// index parses a range bound: decimal digits only, at most 9 of them.
func index(s string) (int, error) {
	if s == "" || len(s) > 9 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("bad index %q", s)
	}
	return strconv.Atoi(s)
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}
