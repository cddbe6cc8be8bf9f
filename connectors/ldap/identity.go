package ldap

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portico-idp/portico/sdk"
)

// connectorData is kept by the broker with the identity. Refresh finds the
// user by subject, not by DN (which a rename changes), so it needs nothing
// from here; the DN is kept for whoever debugs an account.
type connectorData struct {
	DN string `json:"dn"`
}

// identity turns a user entry into an sdk.Identity, with groups if s asks
// for them.
func (c *Connector) identity(ctx context.Context, lc *goldap.Conn, s sdk.Scopes, e *goldap.Entry) (sdk.Identity, error) {
	u := c.cfg.UserSearch
	sub, err := c.subject(e)
	if err != nil {
		// The entry exists and the password was right: this is the
		// operator's to fix, not the person's.
		c.log.ErrorContext(ctx, "ldap: user entry has no usable id; check user_search.id_attribute", "dn", e.DN, "err", err)
		return sdk.Identity{}, fmt.Errorf("%w: ldap: %s: %w", sdk.ErrUnavailable, e.DN, err)
	}
	id := sdk.Identity{
		Subject:  sub,
		Username: text(e, u.PreferredUsernameAttribute),
		Email:    text(e, u.EmailAttribute),
		Name:     text(e, u.NameAttribute),
	}
	id.PreferredUsername = id.Username
	id.EmailVerified = c.cfg.EmailVerified && id.Email != ""
	id.Attributes = map[string][]string{"dn": {e.DN}}
	for _, a := range u.ExtraAttributes {
		var vals []string
		for _, v := range e.GetEqualFoldRawAttributeValues(a) {
			if utf8.Valid(v) {
				vals = append(vals, string(v))
			}
		}
		if len(vals) > 0 {
			id.Attributes[a] = vals
		}
	}
	id.ConnectorData, _ = json.Marshal(connectorData{DN: e.DN})
	if s.Groups {
		if id.Groups, err = c.groups(ctx, lc, e); err != nil {
			return sdk.Identity{}, err
		}
	}
	return id, nil
}

// text is the first value of attribute a of e that is valid UTF-8, or "".
func text(e *goldap.Entry, a string) string {
	for _, v := range e.GetEqualFoldRawAttributeValues(a) {
		if utf8.Valid(v) {
			return string(v)
		}
	}
	return ""
}

// subject is the identity's subject: the id attribute's single value, as a
// UUID string for objectGUID.
func (c *Connector) subject(e *goldap.Entry) (string, error) {
	a := c.cfg.UserSearch.IDAttribute
	vals := e.GetEqualFoldRawAttributeValues(a)
	switch {
	case len(vals) == 0:
		return "", fmt.Errorf("no %s attribute (or no right to read it)", a)
	case len(vals) > 1:
		return "", fmt.Errorf("%s has %d values; an id must have one", a, len(vals))
	case isGUIDAttr(a):
		return formatGUID(vals[0])
	case len(vals[0]) == 0 || !utf8.Valid(vals[0]):
		return "", fmt.Errorf("%s is not text; binary ids other than objectGUID are not supported", a)
	}
	return string(vals[0]), nil
}

// rawID is the id attribute's value for a subject: what subject undoes.
func (c *Connector) rawID(subject string) ([]byte, error) {
	if subject == "" {
		return nil, errors.New("empty subject")
	}
	if isGUIDAttr(c.cfg.UserSearch.IDAttribute) {
		return parseGUID(subject)
	}
	return []byte(subject), nil
}

func isGUIDAttr(a string) bool { return strings.EqualFold(a, "objectGUID") }

// guidOrder maps the bytes of a UUID string, in the order they are
// written, to their positions in an objectGUID value: Microsoft's GUID
// struct stores its first three fields (uint32, uint16, uint16)
// little-endian and the last eight bytes as they are.
var guidOrder = [16]int{3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15}

// formatGUID writes a 16-byte objectGUID value as the lowercase UUID
// string AD tools show ("8c4ac332-975f-4717-ad7b-ba4a4e968fff").
func formatGUID(b []byte) (string, error) {
	if len(b) != 16 {
		return "", fmt.Errorf("objectGUID has %d bytes, not 16", len(b))
	}
	var u [16]byte
	for i, j := range guidOrder {
		u[i] = b[j]
	}
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// parseGUID is the inverse of formatGUID. It accepts only the canonical
// form formatGUID writes (lowercase or uppercase hex), since a subject
// comes from formatGUID.
func parseGUID(s string) ([]byte, error) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return nil, fmt.Errorf("%q is not a GUID", s)
	}
	u, err := hex.DecodeString(s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:])
	if err != nil {
		return nil, fmt.Errorf("%q is not a GUID", s)
	}
	b := make([]byte, 16)
	for i, j := range guidOrder {
		b[j] = u[i]
	}
	return b, nil
}

// escapeBytes writes every byte of v as \xx, which a filter value may
// always do (RFC 4515), and which binary values such as objectGUID need.
func escapeBytes(v []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 3*len(v))
	for _, c := range v {
		out = append(out, '\\', digits[c>>4], digits[c&15])
	}
	return string(out)
}

// hostOf is the host of an ldap[s]:// URL, the name TLS checks the
// certificate against.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
