package testenv

import (
	_ "embed"
)

// The directory in testdata/ldap/fixture.ldif, which StartSlapd loads
// unless SlapdOptions.LDIF replaces it.
const (
	LDAPBaseDN       = "dc=example,dc=org"
	LDAPPeopleDN     = "ou=people," + LDAPBaseDN
	LDAPGroupsDN     = "ou=groups," + LDAPBaseDN
	LDAPRootDN       = "cn=admin," + LDAPBaseDN
	LDAPRootPassword = "root-secret"
	// The service account the connector searches with: it may read
	// everything but passwords.
	LDAPServiceDN       = "cn=portico,ou=services," + LDAPBaseDN
	LDAPServicePassword = "service-secret"
	// The filter that tells enabled accounts from disabled ones.
	LDAPEnabledFilter = "(!(employeeType=disabled))"
)

// LDAPUser is a person in the fixture.
type LDAPUser struct {
	UID, Password, Mail, Name string
}

// DN is the user's entry.
func (u LDAPUser) DN() string { return "uid=" + u.UID + "," + LDAPPeopleDN }

// People in the fixture, and the groups they are in.
var (
	// alice: member of developers and admins (groupOfNames), and so of staff
	// (depth 2) and everyone (depth 3); of ops (groupOfUniqueNames) and unix
	// (posixGroup).
	LDAPAlice = LDAPUser{UID: "alice", Password: "alice-secret", Mail: "alice@example.org", Name: "Alice Liddell"}
	// bob: developers (so staff, everyone), unix.
	LDAPBob = LDAPUser{UID: "bob", Password: "bob-secret", Mail: "bob@example.org", Name: "Bob Builder"}
	// zoë: non-ASCII uid, name and password; member of staff directly.
	LDAPZoe = LDAPUser{UID: "zoë", Password: "zoë-secret", Mail: "zoe@example.org", Name: "Zoë Ångström"}
	// dave: disabled (employeeType: disabled), with a working password.
	LDAPDave = LDAPUser{UID: "dave", Password: "dave-secret", Mail: "dave@example.org", Name: "Dave Departed"}
	// carol and carl share the mail shared@example.org.
	LDAPCarol = LDAPUser{UID: "carol", Password: "carol-secret", Mail: "shared@example.org", Name: "Carol Shared"}
	LDAPCarl  = LDAPUser{UID: "carl", Password: "carl-secret", Mail: "shared@example.org", Name: "Carl Shared"}
	// eve: member of cycle-a, which contains cycle-b, which contains cycle-a.
	LDAPEve = LDAPUser{UID: "eve", Password: "eve-secret", Mail: "eve@example.org", Name: "Eve Cycle"}
	// star*user: a uid with a filter metacharacter in it.
	LDAPStar = LDAPUser{UID: "star*user", Password: "star-secret", Mail: "star@example.org", Name: "Star User"}
)

//go:embed testdata/ldap/fixture.ldif
var slapdFixture string
