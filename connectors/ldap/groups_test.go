package ldap_test

import (
	"slices"
	"testing"

	"github.com/portico-idp/portico/connectors/ldap"
	"github.com/portico-idp/portico/testenv"
)

// The fixture's groups: alice is in developers and admins (groupOfNames);
// developers is in staff, staff in everyone; zoë is in staff; eve is in
// cycle-a, which is in cycle-b, which is in cycle-a. alice and carol are in
// ops (groupOfUniqueNames), alice and bob in unix (posixGroup, memberUid).
func TestGroups(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	groupOfNames := ldap.GroupSearch{BaseDN: testenv.LDAPGroupsDN, Filter: "(objectClass=groupOfNames)", MemberAttribute: "member"}
	nested := func(g ldap.GroupSearch, depth int) ldap.GroupSearch {
		g.Nested, g.MaxDepth = true, depth
		return g
	}
	memberOf := ldap.GroupSearch{}

	tests := []struct {
		name     string
		groups   ldap.GroupSearch
		memberOf bool // user_search.groups_attribute: memberOf
		user     testenv.LDAPUser
		want     []string
	}{
		{"groupOfNames", groupOfNames, false, testenv.LDAPAlice, []string{"admins", "developers"}},
		{"groupOfNames nested", nested(groupOfNames, 0), false, testenv.LDAPAlice, []string{"admins", "developers", "everyone", "staff"}},
		{"groupOfNames depth 2", nested(groupOfNames, 2), false, testenv.LDAPAlice, []string{"admins", "developers", "staff"}},
		{"groupOfNames depth 1", nested(groupOfNames, 1), false, testenv.LDAPAlice, []string{"admins", "developers"}},
		{"groupOfNames nested zoë", nested(groupOfNames, 0), false, testenv.LDAPZoe, []string{"everyone", "staff"}},
		{"groupOfNames cycle", nested(groupOfNames, 32), false, testenv.LDAPEve, []string{"cycle-a", "cycle-b"}},
		{"groupOfNames none", groupOfNames, false, testenv.LDAPCarol, nil},
		{"groupOfUniqueNames", ldap.GroupSearch{BaseDN: testenv.LDAPGroupsDN, Filter: "(objectClass=groupOfUniqueNames)", MemberAttribute: "uniqueMember"},
			false, testenv.LDAPAlice, []string{"ops"}},
		{"groupOfUniqueNames carol", ldap.GroupSearch{BaseDN: testenv.LDAPGroupsDN, Filter: "(objectClass=groupOfUniqueNames)", MemberAttribute: "uniqueMember"},
			false, testenv.LDAPCarol, []string{"ops"}},
		{"posixGroup", ldap.GroupSearch{BaseDN: testenv.LDAPGroupsDN, Filter: "(objectClass=posixGroup)", MemberAttribute: "memberUid", MemberValue: "uid"},
			false, testenv.LDAPBob, []string{"unix"}},
		{"default filter, member", ldap.GroupSearch{BaseDN: testenv.LDAPGroupsDN}, false, testenv.LDAPAlice, []string{"admins", "developers"}},
		{"memberOf", memberOf, true, testenv.LDAPAlice, []string{"admins", "developers"}},
		{"memberOf nested", nested(memberOf, 0), true, testenv.LDAPAlice, []string{"admins", "developers", "everyone", "staff"}},
		{"memberOf depth 2", nested(memberOf, 2), true, testenv.LDAPAlice, []string{"admins", "developers", "staff"}},
		{"memberOf cycle", nested(memberOf, 32), true, testenv.LDAPEve, []string{"cycle-a", "cycle-b"}},
		{"memberOf and uniqueMember", ldap.GroupSearch{BaseDN: testenv.LDAPGroupsDN, Filter: "(objectClass=groupOfUniqueNames)", MemberAttribute: "uniqueMember"},
			true, testenv.LDAPAlice, []string{"admins", "developers", "ops"}},
		{"memberOf and member nested", nested(groupOfNames, 3), true, testenv.LDAPAlice, []string{"admins", "developers", "everyone", "staff"}},
		{"name attribute", ldap.GroupSearch{BaseDN: testenv.LDAPGroupsDN, Filter: "(objectClass=posixGroup)", MemberAttribute: "memberUid", MemberValue: "uid", NameAttribute: "gidNumber"},
			false, testenv.LDAPAlice, []string{"5000"}},
		{"memberOf, name attribute not in the RDN", ldap.GroupSearch{NameAttribute: "objectClass"}, true, testenv.LDAPAlice, []string{"groupOfNames"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(s)
			cfg.GroupSearch = tt.groups
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
