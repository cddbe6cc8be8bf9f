package ldap

import (
	"context"
	"fmt"
	"slices"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portico-idp/portico/sdk"
)

const (
	// maxGroups bounds the groups collected for one person, nesting
	// included, so a pathological directory cannot make a login unbounded.
	maxGroups = 1000
	// orBatch is how many group DNs one nested group search asks about.
	orBatch = 50
)

// group is a group found for a user: its DN, and once read, its name and
// the DNs in its groups attribute (its own groups, for nesting).
type group struct {
	dn      string
	name    string
	parents []string
	read    bool
}

// groupWalk collects one user's groups, level by level.
type groupWalk struct {
	c    *Connector
	ctx  context.Context
	lc   *goldap.Conn
	seen map[string]bool // normalized DNs of every group met, for cycles
	full bool            // maxGroups reached
}

// groups returns the sorted names of the groups user is in: direct ones,
// and with nesting, those of the groups, up to max_depth levels in all.
func (c *Connector) groups(ctx context.Context, lc *goldap.Conn, user *goldap.Entry) ([]string, error) {
	u, g := c.cfg.UserSearch, c.cfg.GroupSearch
	w := &groupWalk{c: c, ctx: ctx, lc: lc, seen: map[string]bool{}}
	var level []*group
	if u.GroupsAttribute != "" {
		for _, dn := range user.GetEqualFoldAttributeValues(u.GroupsAttribute) {
			level = w.add(level, &group{dn: dn})
		}
	}
	if g.BaseDN != "" {
		v := user.DN
		if !strings.EqualFold(g.MemberValue, "dn") {
			v = text(user, g.MemberValue)
		}
		if v != "" {
			found, err := w.search("(" + g.MemberAttribute + "=" + goldap.EscapeFilter(v) + ")")
			if err != nil {
				return nil, err
			}
			level = w.add(level, found...)
		}
	}
	maxDepth := 1
	if g.Nested {
		maxDepth = g.MaxDepth
	}
	names := map[string]bool{}
	for depth := 1; len(level) > 0; depth++ {
		more := depth < maxDepth
		if err := w.complete(level, more && u.GroupsAttribute != ""); err != nil {
			return nil, err
		}
		for _, gr := range level {
			if gr.name != "" {
				names[gr.name] = true
			}
		}
		if !more {
			break
		}
		next, err := w.parents(level)
		if err != nil {
			return nil, err
		}
		level = next
	}
	if w.full {
		c.log.WarnContext(ctx, "ldap: user is in more groups than Portico reads; the rest are left out", "dn", user.DN, "max", maxGroups)
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// add appends the groups not met before to level.
func (w *groupWalk) add(level []*group, gs ...*group) []*group {
	for _, g := range gs {
		k := normDN(g.dn)
		if w.seen[k] {
			continue
		}
		if len(w.seen) >= maxGroups {
			w.full = true
			return level
		}
		w.seen[k] = true
		level = append(level, g)
	}
	return level
}

// complete names the groups of level that are not read yet. A name is
// taken from the DN when its first RDN is the name attribute; a group is
// read when it is not, or when its parents (groups attribute) are needed.
// A group that cannot be read (a dangling memberOf) is left out.
func (w *groupWalk) complete(level []*group, needParents bool) error {
	nameAttr := w.c.cfg.GroupSearch.NameAttribute
	for _, g := range level {
		if g.read {
			continue
		}
		if !needParents {
			if g.name = rdnValue(g.dn, nameAttr); g.name != "" {
				continue
			}
		}
		e, err := w.readGroup(g.dn)
		if err != nil {
			return err
		}
		if e != nil {
			*g = w.fromEntry(e)
		}
	}
	return nil
}

// parents returns the groups that contain the groups of level and were not
// met before: through their groups attribute, and through group entries
// that list them as members by DN.
func (w *groupWalk) parents(level []*group) ([]*group, error) {
	u, g := w.c.cfg.UserSearch, w.c.cfg.GroupSearch
	var next []*group
	if u.GroupsAttribute != "" {
		for _, gr := range level {
			for _, dn := range gr.parents {
				next = w.add(next, &group{dn: dn})
			}
		}
	}
	if g.BaseDN == "" || !strings.EqualFold(g.MemberValue, "dn") {
		return next, nil
	}
	for chunk := range slices.Chunk(level, orBatch) {
		var b strings.Builder
		b.WriteString("(|")
		for _, gr := range chunk {
			b.WriteString("(" + g.MemberAttribute + "=" + goldap.EscapeFilter(gr.dn) + ")")
		}
		b.WriteString(")")
		found, err := w.search(b.String())
		if err != nil {
			return nil, err
		}
		next = w.add(next, found...)
	}
	return next, nil
}

// search returns the groups under the group base that match the group
// filter and memberFilter.
func (w *groupWalk) search(memberFilter string) ([]*group, error) {
	g := w.c.cfg.GroupSearch
	req := goldap.NewSearchRequest(g.BaseDN, scope(g.Scope), goldap.NeverDerefAliases, maxGroups, w.c.timeLimit(), false,
		"(&"+g.Filter+memberFilter+")", w.groupAttrs(), nil)
	var res *goldap.SearchResult
	err := w.c.d.op(w.ctx, w.lc, "searching groups", func() (err error) { res, err = w.lc.Search(req); return err })
	if code, ok := resultCode(err); ok && code == goldap.LDAPResultSizeLimitExceeded && res != nil {
		w.full = true // use what came
	} else if ok {
		return nil, fmt.Errorf("%w: ldap: searching groups under %s: %w", sdk.ErrUnavailable, g.BaseDN, err)
	} else if err != nil {
		return nil, err
	}
	out := make([]*group, 0, len(res.Entries))
	for _, e := range res.Entries {
		gr := w.fromEntry(e)
		out = append(out, &gr)
	}
	return out, nil
}

// readGroup reads the group entry dn, or returns nil if there is none.
func (w *groupWalk) readGroup(dn string) (*goldap.Entry, error) {
	req := goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, w.c.timeLimit(), false,
		"(objectClass=*)", w.groupAttrs(), nil)
	var res *goldap.SearchResult
	err := w.c.d.op(w.ctx, w.lc, "reading group "+dn, func() (err error) { res, err = w.lc.Search(req); return err })
	if code, ok := resultCode(err); ok && (code == goldap.LDAPResultNoSuchObject || code == goldap.LDAPResultInsufficientAccessRights) {
		w.c.log.DebugContext(w.ctx, "ldap: group not readable; left out", "dn", dn, "err", err)
		return nil, nil
	} else if ok {
		return nil, fmt.Errorf("%w: ldap: reading group %s: %w", sdk.ErrUnavailable, dn, err)
	} else if err != nil {
		return nil, err
	}
	if len(res.Entries) == 0 {
		return nil, nil
	}
	return res.Entries[0], nil
}

func (w *groupWalk) groupAttrs() []string {
	attrs := []string{w.c.cfg.GroupSearch.NameAttribute}
	if a := w.c.cfg.UserSearch.GroupsAttribute; a != "" {
		attrs = append(attrs, a)
	}
	return attrs
}

func (w *groupWalk) fromEntry(e *goldap.Entry) group {
	nameAttr := w.c.cfg.GroupSearch.NameAttribute
	g := group{dn: e.DN, name: text(e, nameAttr), read: true}
	if g.name == "" {
		g.name = rdnValue(e.DN, "")
	}
	if a := w.c.cfg.UserSearch.GroupsAttribute; a != "" {
		g.parents = e.GetEqualFoldAttributeValues(a)
	}
	return g
}

// rdnValue is the value of dn's first RDN if its attribute is attr (any
// attribute if attr is ""), or "".
func rdnValue(dn, attr string) string {
	d, err := goldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 || len(d.RDNs[0].Attributes) != 1 {
		return ""
	}
	a := d.RDNs[0].Attributes[0]
	if attr != "" && !strings.EqualFold(a.Type, attr) {
		return ""
	}
	return a.Value
}

// normDN is a key under which equal DNs meet: escapes resolved, spaces
// around separators gone, case folded (the naming attributes of groups, cn,
// ou and dc, compare case-insensitively).
func normDN(dn string) string {
	if d, err := goldap.ParseDN(dn); err == nil {
		dn = d.String()
	}
	return strings.ToLower(dn)
}
