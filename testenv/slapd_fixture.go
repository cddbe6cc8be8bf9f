package testenv

import (
	_ "embed"
	"fmt"
	"strings"
)

// The directory in testdata/ldap/fixture.ldif, which StartSlapd loads
// unless SlapdOptions.LDIF replaces it.
const (
	LDAPBaseDN   = "dc=example,dc=org"
	LDAPPeopleDN = "ou=people," + LDAPBaseDN
	LDAPGroupsDN = "ou=groups," + LDAPBaseDN
	// LDAPRootDN's password is each instance's own (Slapd.RootConn).
	LDAPRootDN = "cn=admin," + LDAPBaseDN
	// The service account the connector searches with: it may read
	// everything but passwords.
	LDAPServiceDN       = "cn=portico,ou=services," + LDAPBaseDN
	LDAPServicePassword = "service-secret"
	// The filter that tells enabled accounts from disabled ones.
	LDAPEnabledFilter = "(!(employeeType=disabled))"
	// LDAPSizeLimit is the most entries one search by the service account
	// returns without paging (slapd's limits for it); paged searches have
	// no total limit.
	LDAPSizeLimit = 25
	// LDAPPolicyDN is the default password policy (ppolicy overlay).
	LDAPPolicyDN = "cn=default,ou=policies," + LDAPBaseDN
	// LDAPManyGroups is how many groups LDAPPaul is in: more than
	// LDAPSizeLimit, so that only a paged search finds them all.
	LDAPManyGroups = 40
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

var (
	// nina: nesting across the three styles, with a cycle through them
	// (see the fixture): uq-team, px-direct, gn-dept, px-all, uq-org.
	LDAPNina = LDAPUser{UID: "nina", Password: "nina-secret", Mail: "nina@example.org", Name: "Nina Nested"}
	// paul: member of LDAPManyGroups groupOfNames groups, many-01 to
	// many-40, more than one unpaged search returns.
	LDAPPaul = LDAPUser{UID: "paul", Password: "paul-secret", Mail: "paul@example.org", Name: "Paul Paged"}

	// Password states, from the ppolicy overlay: expired (no grace),
	// expired with grace logins left, reset (must change), locked.
	LDAPExpired = LDAPUser{UID: "expired", Password: "expired-secret", Name: "Ed Expired"}
	LDAPGrace   = LDAPUser{UID: "grace", Password: "grace-secret", Name: "Grace Period"}
	LDAPReset   = LDAPUser{UID: "reset", Password: "reset-secret", Name: "Rita Reset"}
	LDAPLocked  = LDAPUser{UID: "locked", Password: "locked-secret", Name: "Lou Locked"}

	// AD-shaped accounts with userAccountControl 512 (normal), 514
	// (disabled) and 528 (locked out).
	LDAPADOK       = LDAPUser{UID: "ad-ok", Password: "ad-secret", Name: "Ada Normal"}
	LDAPADDisabled = LDAPUser{UID: "ad-disabled", Password: "ad-secret", Name: "Ada Disabled"}
	LDAPADLocked   = LDAPUser{UID: "ad-locked", Password: "ad-secret", Name: "Ada Locked"}
)

//go:embed testdata/ldap/fixture.ldif
var slapdFixtureLDIF string

// slapdFixture is the fixture file plus what is easier generated: paul and
// his many groups.
var slapdFixture = slapdFixtureLDIF + manyGroupsLDIF()

func manyGroupsLDIF() string {
	var b strings.Builder
	// Password: paul-secret
	b.WriteString("\ndn: uid=paul," + LDAPPeopleDN + "\nobjectClass: inetOrgPerson\nuid: paul\ncn: Paul Paged\nsn: Paged\n" +
		"mail: paul@example.org\nuserPassword: {SSHA}he62oCcUG+RtWNiL1iMWZFCYGyU/mQIu\n")
	for i := 1; i <= LDAPManyGroups; i++ {
		fmt.Fprintf(&b, "\ndn: cn=many-%02d,%s\nobjectClass: groupOfNames\ncn: many-%02d\nmember: uid=paul,%s\n", i, LDAPGroupsDN, i, LDAPPeopleDN)
	}
	return b.String()
}
