package mapping

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/portico-idp/portico/sdk"
)

// fuzzRules exercise every step: split, regex, lower, multi, the email
// rule, and groups filtered by exact, glob and regexp patterns, prefixed.
var fuzzRules = []Rule{
	{Claim: "email", From: []string{"attributes.mail", "email"}, Lower: true},
	{Claim: "groups", From: []string{"attributes.memberOf", "groups"}, Split: ";", Regex: `^cn=([^,]*)`, Multi: true},
	{Claim: "dept", From: []string{"attributes.ou", "name"}, Split: ",", Lower: true},
	{Claim: "teams", From: []string{"attributes.ou"}, Split: ",", Regex: `(?i)team-(\w+)`, Multi: true},
	{Claim: "name", From: []string{"name"}, Regex: `\S.*\S|\S`},
}

var fuzzGroups = Groups{Allow: []string{"*", "re:.*"}, Deny: []string{"admins", "test-*", "re:(?i)^x.?y$"}, Prefix: true}

// FuzzApply maps identities with arbitrary values (seeds in
// testdata/fuzz/FuzzApply): Apply must not panic, must keep its limits and
// its promises, and must be deterministic.
func FuzzApply(f *testing.F) {
	f.Add("Alice@Example.org", true, "cn=dev,ou=g;cn=admins,ou=g; cn=ops", "Eng, team-web,TEAM-api", "Alice", "grp")
	f.Add("", false, "", "", "", "")
	f.Add("x@y", true, ";;;", ",,,", " ", "admins")
	m, err := Compile("corp", fuzzRules, fuzzGroups)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, email string, verified bool, memberOf, ou, name, group string) {
		id := sdk.Identity{
			Subject: "s", Email: email, EmailVerified: verified, Name: name,
			Groups:     []string{group, group + "-2"},
			Attributes: map[string][]string{"memberOf": {memberOf}, "ou": {ou, ou}},
		}
		if email != "" && len(email)%2 == 0 {
			id.Attributes["mail"] = []string{strings.ToUpper(email)}
		}
		in := cloneIdentity(id)
		r := m.Apply(id)
		if !reflect.DeepEqual(in, id) {
			t.Fatal("Apply modified its input")
		}
		if again := m.Apply(id); !reflect.DeepEqual(again, r) {
			t.Fatalf("Apply is not deterministic: %+v then %+v", r, again)
		}
		out := r.Identity
		if out.EmailVerified && (!verified || !strings.EqualFold(out.Email, email) || out.Email == "") {
			t.Fatalf("email %q verified, upstream %q verified %v", out.Email, email, verified)
		}
		if len(out.Groups) > MaxValues {
			t.Fatalf("%d groups", len(out.Groups))
		}
		seen := map[string]bool{}
		for _, g := range out.Groups {
			rest, ok := strings.CutPrefix(g, "corp:")
			if !ok || rest == "" || seen[g] || rest == "admins" || strings.HasPrefix(rest, "test-") {
				t.Fatalf("group %q in %q", g, out.Groups)
			}
			seen[g] = true
		}
		for claim, vals := range r.Claims {
			if len(vals) == 0 || len(vals) > MaxValues || (claim == "dept" && len(vals) != 1) {
				t.Fatalf("claim %s has %d values", claim, len(vals))
			}
			for _, v := range vals {
				if v == "" || len(v) > MaxValueLen {
					t.Fatalf("claim %s value %q", claim, v)
				}
				if claim == "dept" && utf8.ValidString(v) && strings.ToLower(v) != v {
					t.Fatalf("dept %q is not lower-case", v)
				}
			}
		}
	})
}
