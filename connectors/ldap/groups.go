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
// and with nesting, those of the groups, up to the depth bound in all.
// Every group search contributes, and groups found by several (or by the
// groups attribute too) count once: groups are keyed by normalized DN.
func (c *Connector) groups(ctx context.Context, lc *goldap.Conn, user *goldap.Entry) ([]string, error) {
	u := c.cfg.UserSearch
	w := &groupWalk{c: c, ctx: ctx, lc: lc, seen: map[string]bool{}}
	var level []*group
	if u.GroupsAttribute != "" {
		dns, err := c.values(ctx, lc, user, u.GroupsAttribute)
		if err != nil {
			return nil, err
		}
		for _, dn := range dns {
			level = w.add(level, &group{dn: dn})
		}
	}
	for _, gs := range c.cfg.groupSearches() {
		v := user.DN
		if !strings.EqualFold(gs.MemberValue, "dn") {
			v = text(user, gs.MemberValue)
		}
		if v == "" {
			continue
		}
		f := "(" + gs.MemberAttribute + "=" + goldap.EscapeFilter(v) + ")"
		if gs.InChain {
			f = "(" + gs.MemberAttribute + ":" + matchingRuleInChain + ":=" + goldap.EscapeFilter(v) + ")"
		}
		found, err := w.search(gs, f)
		if err != nil {
			return nil, err
		}
		level = w.add(level, found...)
	}
	nested, maxDepth := c.cfg.nesting()
	names := map[string]bool{}
	for depth := 1; len(level) > 0; depth++ {
		more := nested && depth < maxDepth
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

// matchingRuleInChain is Active Directory's LDAP_MATCHING_RULE_IN_CHAIN:
// a filter (member:1.2.840.113556.1.4.1941:=DN) matches the groups DN is
// in, directly or through other groups.
const matchingRuleInChain = "1.2.840.113556.1.4.1941"

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

// complete names the groups of level that are not read yet (those found
// through the groups attribute). A name is taken from the DN when its
// first RDN is the name attribute; a group is read when it is not, or when
// its parents (groups attribute) are needed. A group that cannot be read
// (a dangling memberOf) is left out.
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
			if *g, err = w.fromEntry(e, nameAttr); err != nil {
				return err
			}
		}
	}
	return nil
}

// parents returns the groups that contain the groups of level and were not
// met before, whatever their style: through the groups attribute of the
// groups, through group entries that list them as members by DN (member,
// uniqueMember), and through group entries that list them by name
// (posixGroup's memberUid holding a group's cn).
func (w *groupWalk) parents(level []*group) ([]*group, error) {
	u := w.c.cfg.UserSearch
	var next []*group
	if u.GroupsAttribute != "" {
		for _, gr := range level {
			for _, dn := range gr.parents {
				next = w.add(next, &group{dn: dn})
			}
		}
	}
	for _, gs := range w.c.cfg.groupSearches() {
		if gs.InChain {
			continue // the directory has followed the chain already
		}
		byDN := strings.EqualFold(gs.MemberValue, "dn")
		var vals []string
		for _, gr := range level {
			switch {
			case byDN:
				vals = append(vals, gr.dn)
			case gr.name != "":
				vals = append(vals, gr.name)
			}
		}
		for chunk := range slices.Chunk(vals, orBatch) {
			var b strings.Builder
			b.WriteString("(|")
			for _, v := range chunk {
				b.WriteString("(" + gs.MemberAttribute + "=" + goldap.EscapeFilter(v) + ")")
			}
			b.WriteString(")")
			found, err := w.search(gs, b.String())
			if err != nil {
				return nil, err
			}
			next = w.add(next, found...)
		}
	}
	return next, nil
}

// search returns the groups under gs's base that match its filter and
// memberFilter. It pages (RFC 2696), so that a server's size limit below
// maxGroups does not cut the answer short; servers without paging ignore
// the control, which is not critical.
func (w *groupWalk) search(gs GroupSearch, memberFilter string) ([]*group, error) {
	req := goldap.NewSearchRequest(gs.BaseDN, scope(gs.Scope), goldap.NeverDerefAliases, maxGroups, w.c.timeLimit(), false,
		"(&"+gs.Filter+memberFilter+")", w.groupAttrs(), nil)
	var res *goldap.SearchResult
	err := w.c.d.op(w.ctx, w.lc, "searching groups", func() (err error) {
		res, err = w.lc.SearchWithPaging(req, uint32(w.c.cfg.PageSize))
		return err
	})
	if code, ok := resultCode(err); ok && code == goldap.LDAPResultSizeLimitExceeded && res != nil {
		w.full = true // use what came
	} else if ok {
		return nil, fmt.Errorf("%w: ldap: searching groups under %s: %w", sdk.ErrUnavailable, gs.BaseDN, err)
	} else if err != nil {
		return nil, err
	}
	out := make([]*group, 0, len(res.Entries))
	for _, e := range res.Entries {
		gr, err := w.fromEntry(e, gs.NameAttribute)
		if err != nil {
			return nil, err
		}
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

// groupAttrs are the attributes read from group entries: every name
// attribute, and the groups attribute for nesting.
func (w *groupWalk) groupAttrs() []string {
	attrs := []string{w.c.cfg.GroupSearch.NameAttribute}
	for _, gs := range w.c.cfg.groupSearches() {
		attrs = append(attrs, gs.NameAttribute)
	}
	if a := w.c.cfg.UserSearch.GroupsAttribute; a != "" {
		attrs = append(attrs, a)
	}
	return uniqueFold(attrs)
}

func (w *groupWalk) fromEntry(e *goldap.Entry, nameAttr string) (group, error) {
	g := group{dn: e.DN, name: text(e, nameAttr), read: true}
	if g.name == "" {
		g.name = rdnValue(e.DN, "")
	}
	if a := w.c.cfg.UserSearch.GroupsAttribute; a != "" {
		var err error
		if g.parents, err = w.c.values(w.ctx, w.lc, e, a); err != nil {
			return group{}, err
		}
	}
	return g, nil
}

// uniqueFold returns attrs without empty names and case-insensitive
// repeats, in order.
func uniqueFold(attrs []string) []string {
	var out []string
	for _, a := range attrs {
		if a != "" && !slices.ContainsFunc(out, func(b string) bool { return strings.EqualFold(a, b) }) {
			out = append(out, a)
		}
	}
	return out
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
