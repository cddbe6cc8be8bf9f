package saml

import (
	"errors"
	"fmt"
	"strings"

	csaml "github.com/crewjam/saml"

	"github.com/portico-idp/portico/sdk"
)

// Bounds on what an identity takes from an assertion, so that an IdP
// misconfigured to send everything does not bloat tokens and the store.
const (
	maxSubjectLen = 1024
	maxValueLen   = 1024
	maxGroups     = 1000
)

// attributes gathers an assertion's attribute values by Name, over every
// AttributeStatement and every Attribute element of that Name (some IdPs
// send one element per group). FriendlyName is not used: it is a label,
// and one attribute's FriendlyName may be another's Name.
func attributes(a *csaml.Assertion) map[string][]string {
	out := map[string][]string{}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			for _, v := range at.Values {
				if v.Nil {
					continue
				}
				val := strings.TrimSpace(v.Value)
				if v.NameID != nil {
					val = strings.TrimSpace(v.NameID.Value)
				}
				if val != "" {
					out[at.Name] = append(out[at.Name], val)
				}
			}
		}
	}
	return out
}

// first returns the values of the first name in names that attrs has.
func first(attrs map[string][]string, names []string) []string {
	for _, n := range names {
		if v := attrs[n]; len(v) > 0 {
			return v
		}
	}
	return nil
}

func one(attrs map[string][]string, names []string) string {
	if v := first(attrs, names); len(v) > 0 {
		return truncate(v[0], maxValueLen)
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// identity maps a validated assertion to an Identity.
func (c *Connector) identity(a *csaml.Assertion) (sdk.Identity, error) {
	attrs := attributes(a)
	var id sdk.Identity
	if c.cfg.SubjectAttribute != "" {
		v := attrs[c.cfg.SubjectAttribute]
		if len(v) != 1 {
			return sdk.Identity{}, fmt.Errorf("the subject attribute %q has %d values, not 1", c.cfg.SubjectAttribute, len(v))
		}
		id.Subject = v[0]
	} else {
		nid := a.Subject.NameID
		if nid == nil {
			return sdk.Identity{}, errors.New("the assertion has no NameID")
		}
		format := nid.Format
		if format == "" {
			format = nameIDFormats["unspecified"]
		}
		switch {
		case format == nameIDFormats["transient"]:
			return sdk.Identity{}, errors.New("the NameID is transient, a new one at every login; configure the IdP for " + c.cfg.NameIDFormat + " or set subject_attribute")
		case c.cfg.NameIDFormat != nameIDFormats["unspecified"] && format != c.cfg.NameIDFormat:
			return sdk.Identity{}, fmt.Errorf("the NameID format is %q, not %q", clean(format, 200), c.cfg.NameIDFormat)
		}
		id.Subject = strings.TrimSpace(nid.Value)
	}
	if id.Subject == "" {
		return sdk.Identity{}, errors.New("the subject is empty")
	}
	if len(id.Subject) > maxSubjectLen {
		return sdk.Identity{}, fmt.Errorf("the subject is longer than %d bytes", maxSubjectLen)
	}
	id.Email = one(attrs, c.cfg.EmailAttributes)
	id.EmailVerified = id.Email != "" && c.cfg.EmailVerified
	id.Name = one(attrs, c.cfg.NameAttributes)
	id.Username = one(attrs, c.cfg.UsernameAttributes)
	id.PreferredUsername = id.Username
	seen := map[string]bool{}
	for _, g := range first(attrs, c.cfg.GroupsAttributes) {
		if len(id.Groups) == maxGroups {
			break
		}
		g = truncate(g, maxValueLen)
		if !seen[g] {
			seen[g] = true
			id.Groups = append(id.Groups, g)
		}
	}
	for _, n := range c.cfg.ExtraAttributes {
		if v := attrs[n]; len(v) > 0 {
			if id.Attributes == nil {
				id.Attributes = map[string][]string{}
			}
			id.Attributes[n] = v
		}
	}
	return id, nil
}
