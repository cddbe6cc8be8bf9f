package oidc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
)

// maxSubjectLen is OIDC Core's bound on sub (§2: at most 255 ASCII
// characters); a longer value is not an identifier we should key on.
const maxSubjectLen = 255

// claims is an id_token's or a userinfo response's JSON object, decoded
// with numbers kept as json.Number so a numeric subject keeps every digit.
type claims map[string]any

// parseClaims decodes a JSON object of claims.
func parseClaims(raw []byte) (claims, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var c claims
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	if c == nil {
		return nil, errors.New("claims: not a JSON object")
	}
	return c, nil
}

// lookup finds a claim by its name or, failing that, by a dotted path
// through nested objects. Names with dots are common as they are
// (Auth0's "https://example.com/roles"), so the whole name wins.
func (c claims) lookup(name string) (any, bool) {
	if v, ok := c[name]; ok {
		return v, true
	}
	if !strings.Contains(name, ".") {
		return nil, false
	}
	var cur any = map[string]any(c)
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// str returns a string or number claim as text, else "".
func (c claims) str(name string) string {
	v, _ := c.lookup(name)
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// verified reads email_verified: JSON true, or the string "true" that some
// providers (AWS Cognito) send. Anything else is not verified.
func verified(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

// list returns a list-of-strings claim, or a single string as a list of
// one, without empty or repeated entries; other values are ignored.
func (c claims) list(name string) []string {
	v, _ := c.lookup(name)
	var out []string
	add := func(x any) {
		if s, ok := x.(string); ok && s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			add(x)
		}
	case string:
		add(v)
	}
	return out
}

// mapIdentity builds the identity from claims by cfg's mapping and
// applies cfg's admission rules. Refusals wrap sdk.ErrInvalidCredentials.
func mapIdentity(cl claims, cfg *Config) (sdk.Identity, error) {
	m := cfg.ClaimMapping
	id := sdk.Identity{
		Subject:  cl.str(m.Subject),
		Username: cl.str(m.Username),
		Email:    cl.str(m.Email),
		Name:     cl.str(m.Name),
		Groups:   cl.list(m.Groups),
	}
	id.PreferredUsername = id.Username
	switch {
	case id.Subject == "":
		return sdk.Identity{}, fmt.Errorf("%w: the upstream sent no %q claim to use as the subject", sdk.ErrInvalidCredentials, m.Subject)
	case len(id.Subject) > maxSubjectLen:
		return sdk.Identity{}, fmt.Errorf("%w: the %q claim is %d bytes, more than %d", sdk.ErrInvalidCredentials, m.Subject, len(id.Subject), maxSubjectLen)
	}
	if id.Email != "" {
		// An address the upstream did not vouch for must never pass as
		// verified: applications match users by verified email.
		if v, ok := cl.lookup(m.EmailVerified); ok {
			id.EmailVerified = verified(v)
		} else {
			id.EmailVerified = cfg.InsecureSkipEmailVerified
		}
	}
	if len(cfg.HostedDomains) > 0 {
		if hd := cl.str("hd"); !slices.Contains(cfg.HostedDomains, hd) {
			return sdk.Identity{}, fmt.Errorf("%w: hosted domain %q is not one of hosted_domains", sdk.ErrInvalidCredentials, upstream.Printable(hd, 100))
		}
	}
	if len(cfg.AllowedGroups) > 0 && !slices.ContainsFunc(id.Groups, func(g string) bool { return slices.Contains(cfg.AllowedGroups, g) }) {
		return sdk.Identity{}, fmt.Errorf("%w: %q is in none of allowed_groups", sdk.ErrInvalidCredentials, upstream.Printable(id.Subject, 100))
	}
	return id, nil
}
