package config

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// Resource indicators (RFC 8707) are bounded like every stored value: a
// token carries each in its audience.
const (
	MaxResourceLen = 512
	MaxResources   = 20
)

// MaxClientList bounds each list of a client the admin API or dynamic
// registration stores (redirect URIs, scopes, grant types): every stored
// value is bounded, and no application needs more.
const MaxClientList = 100

// CheckClientLists returns what is wrong with a client's lists, by field
// name, or "": one longer than MaxClientList.
func CheckClientLists(lists map[string][]string) string {
	for _, name := range slices.Sorted(maps.Keys(lists)) { // the same field named each time
		if len(lists[name]) > MaxClientList {
			return fmt.Sprintf("%s: at most %d", name, MaxClientList)
		}
	}
	return ""
}

// CheckResource returns what is wrong with raw as a resource indicator,
// or "": RFC 8707 §2 wants an absolute URI without a fragment. The
// authorization endpoint, the token endpoint and the admin API apply it.
func CheckResource(raw string) string {
	switch {
	case raw == "":
		return "must not be empty"
	case len(raw) > MaxResourceLen:
		return fmt.Sprintf("longer than %d bytes", MaxResourceLen)
	case strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return "must not contain spaces or control characters"
	case strings.Contains(raw, "#"):
		return "must not contain a fragment"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Opaque != "" || u.Host == "" {
		return "must be an absolute URI with a host"
	}
	if u.User != nil {
		return "must not contain user info"
	}
	return ""
}

// validateResources checks the clients' resource indicators: each well
// formed, and a resource server's URI (resource_uris) given to one client
// only, since that client's introspection answers for its tokens.
func (c *Config) validateResources(v *validator) {
	owner := map[string]string{}
	admin := strings.TrimSuffix(c.Issuer, "/") + "/admin"
	for i, cl := range c.Clients {
		p := fmt.Sprintf("clients[%d]", i)
		check := func(field string, list []string) {
			if len(list) > MaxResources {
				v.add(p+"."+field, "at most %d", MaxResources)
			}
			seen := map[string]bool{}
			for j, r := range list {
				rp := fmt.Sprintf("%s.%s[%d]", p, field, j)
				switch msg := CheckResource(r); {
				case msg != "":
					v.add(rp, "%s", msg)
				case seen[r]:
					v.add(rp, "duplicate resource %q", r)
				case r == admin:
					v.add(rp, "%q is the admin API's audience, which no client may take", r)
				}
				seen[r] = true
			}
		}
		check("resources", cl.Resources)
		check("resource_uris", cl.ResourceURIs)
		for j, r := range cl.ResourceURIs {
			if o, ok := owner[r]; ok && o != cl.ID {
				v.add(fmt.Sprintf("%s.resource_uris[%d]", p, j), "%q already names client %q", r, o)
			}
			owner[r] = cl.ID
		}
	}
}
