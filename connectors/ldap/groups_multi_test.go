package ldap_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/portico-idp/portico/connectors/ldap"
	"github.com/portico-idp/portico/testenv"
)

// threeStyles searches the fixture's groups of all three styles with the
// defaults each member attribute implies.
var threeStyles = []ldap.GroupSearch{
	{BaseDN: testenv.LDAPGroupsDN},
	{BaseDN: testenv.LDAPGroupsDN, MemberAttribute: "uniqueMember"},
	{BaseDN: testenv.LDAPGroupsDN, MemberAttribute: "memberUid"},
}

// Acceptance 1 of issue 18: one slapd with groupOfNames, groupOfUniqueNames
// and posixGroup groups nested across styles (nina's chain, see the
// fixture) and a cycle through all three: a user gets all of their groups,
// each once, and the walk ends.
func TestGroupSearches(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	tests := []struct {
		name     string
		searches []ldap.GroupSearch
		nested   bool
		depth    int
		memberOf bool
		user     testenv.LDAPUser
		want     []string
	}{
		// alice: developers, admins (groupOfNames), ops (uniqueMember),
		// unix (memberUid); developers is in staff, staff in everyone.
		{"three styles", threeStyles, false, 0, false, testenv.LDAPAlice, []string{"admins", "developers", "ops", "unix"}},
		{"three styles nested", threeStyles, true, 0, false, testenv.LDAPAlice, []string{"admins", "developers", "everyone", "ops", "staff", "unix"}},
		// memberOf finds developers and admins again: counted once.
		{"three styles and memberOf", threeStyles, true, 0, true, testenv.LDAPAlice, []string{"admins", "developers", "everyone", "ops", "staff", "unix"}},
		{"direct only", threeStyles, false, 0, false, testenv.LDAPNina, []string{"px-direct", "uq-team"}},
		// The whole chain, across styles, with the cycle back to gn-dept.
		{"across styles with a cycle", threeStyles, true, 0, false, testenv.LDAPNina, []string{"gn-dept", "px-all", "px-direct", "uq-org", "uq-team"}},
		{"across styles, depth 2", threeStyles, true, 2, false, testenv.LDAPNina, []string{"gn-dept", "px-direct", "uq-team"}},
		{"across styles, depth 3", threeStyles, true, 3, false, testenv.LDAPNina, []string{"gn-dept", "px-all", "px-direct", "uq-team"}},
		// Without the posixGroup search the chain breaks at gn-dept.
		{"two styles", threeStyles[:2], true, 0, false, testenv.LDAPNina, []string{"gn-dept", "uq-team"}},
		{"posixGroup only", threeStyles[2:], true, 0, false, testenv.LDAPBob, []string{"unix"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(s)
			cfg.GroupSearch = ldap.GroupSearch{}
			cfg.GroupSearches = tt.searches
			cfg.NestedGroups, cfg.MaxGroupDepth = tt.nested, tt.depth
			if tt.memberOf {
				cfg.UserSearch.GroupsAttribute = "memberOf"
			}
			c, _ := newConnector(t, cfg)
			id := login(t, c, tt.user)
			if !slices.Equal(id.Groups, tt.want) {
				t.Errorf("groups of %s: %q, want %q", tt.user.UID, id.Groups, tt.want)
			}
		})
	}
}

// Acceptance 2 (paging) of issue 18: paul is in more groups than slapd
// returns to the service account in one search (testenv.LDAPSizeLimit);
// the group search pages (RFC 2696) and finds them all, with pages
// smaller and larger than the limit.
func TestGroupSearchPaging(t *testing.T) {
	if testenv.LDAPManyGroups <= testenv.LDAPSizeLimit {
		t.Fatal("the fixture must have more groups than the size limit")
	}
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	var want []string
	for i := 1; i <= testenv.LDAPManyGroups; i++ {
		want = append(want, fmt.Sprintf("many-%02d", i))
	}
	for _, page := range []int{7, testenv.LDAPSizeLimit, 500} {
		t.Run(fmt.Sprint(page), func(t *testing.T) {
			cfg := baseConfig(s)
			cfg.PageSize = page
			c, _ := newConnector(t, cfg)
			id := login(t, c, testenv.LDAPPaul)
			if !slices.Equal(id.Groups, want) {
				t.Errorf("%d groups %q, want %d", len(id.Groups), id.Groups, len(want))
			}
		})
	}
}
