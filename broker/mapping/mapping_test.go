package mapping

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/portico-idp/portico/sdk"
)

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		rules  []Rule
		groups Groups
		want   []string // "path: message prefix"
	}{
		{"no claim", []Rule{{From: []string{"email"}}}, Groups{}, []string{"claim_mapping[0].claim: required"}},
		{"reserved", []Rule{{Claim: "sub", From: []string{"email"}}}, Groups{}, []string{`claim_mapping[0].claim: "sub" is set by Portico`}},
		{"email_verified", []Rule{{Claim: "email_verified", From: []string{"email"}}}, Groups{}, []string{`claim_mapping[0].claim: "email_verified" is set by Portico`}},
		{"bad name", []Rule{{Claim: "9lives", From: []string{"email"}}}, Groups{}, []string{`claim_mapping[0].claim: "9lives" is not a claim name`}},
		{"duplicate", []Rule{{Claim: "dept", From: []string{"name"}}, {Claim: "dept", From: []string{"email"}}}, Groups{},
			[]string{`claim_mapping[1].claim: claim "dept" is already set by claim_mapping[0]`}},
		{"no source", []Rule{{Claim: "dept"}}, Groups{}, []string{"claim_mapping[0].from: at least one source is required"}},
		{"unknown source", []Rule{{Claim: "dept", From: []string{"email", "mail"}}}, Groups{}, []string{`claim_mapping[0].from[1]: unknown source "mail"`}},
		{"empty attribute", []Rule{{Claim: "dept", From: []string{"attributes."}}}, Groups{}, []string{`claim_mapping[0].from[0]: unknown source "attributes."`}},
		{"bad regex", []Rule{{Claim: "a", From: []string{"name"}}, {Claim: "b", From: []string{"name"}}, {Claim: "dept", From: []string{"name"}, Regex: "(["}},
			Groups{}, []string{"claim_mapping[2].regex: invalid regexp: error parsing regexp"}},
		{"long regex", []Rule{{Claim: "dept", From: []string{"name"}, Regex: strings.Repeat("a", 2000)}}, Groups{}, []string{"claim_mapping[0].regex: longer than"}},
		{"bad allow", nil, Groups{Allow: []string{"ok", "re:(x"}}, []string{"groups.allow[1]: invalid regexp"}},
		{"empty deny", nil, Groups{Deny: []string{""}}, []string{"groups.deny[0]: must not be empty"}},
		{"several", []Rule{{Claim: "", From: nil}}, Groups{Deny: []string{"re:+"}},
			[]string{"claim_mapping[0].claim: required", "claim_mapping[0].from: at least one", "groups.deny[0]: invalid regexp"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := Compile("corp", c.rules, c.groups)
			if err == nil || m != nil {
				t.Fatalf("Compile succeeded")
			}
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var me *Error
				if !errors.As(e, &me) {
					t.Fatalf("error %v is not a *mapping.Error", e)
				}
				got = append(got, me.Error())
			}
			if len(got) != len(c.want) {
				t.Fatalf("errors %q, want %q", got, c.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], c.want[i]) {
					t.Errorf("error %q, want prefix %q", got[i], c.want[i])
				}
			}
		})
	}
}

func TestApply(t *testing.T) {
	base := sdk.Identity{
		Subject: "s-1", Username: "alice", PreferredUsername: "alice", Email: "Alice@Example.org", EmailVerified: true,
		Name: "Alice Liddell", Groups: []string{"admins", "staff", "test-staff", "eng-web", "Eng-API"},
		Attributes: map[string][]string{
			"ou":       {"Engineering, Platform ,,"},
			"memberOf": {"cn=dev,ou=groups,dc=example,dc=org", "cn=ops,ou=groups,dc=example,dc=org", "uid=x"},
			"mail2":    {"other@example.org"},
			"empty":    {""},
		},
	}
	for _, c := range []struct {
		name   string
		rules  []Rule
		groups Groups
		check  func(t *testing.T, r Result)
	}{
		{"nothing", nil, Groups{}, func(t *testing.T, r Result) {
			if !reflect.DeepEqual(r.Identity, base) || r.Claims != nil {
				t.Errorf("got %+v", r)
			}
		}},
		{"rename and first of several", []Rule{{Claim: "department", From: []string{"attributes.missing", "attributes.empty", "attributes.ou"}}}, Groups{},
			func(t *testing.T, r Result) { want(t, r.Claims["department"], "Engineering, Platform ,,") }},
		{"split and lower, multi", []Rule{{Claim: "units", From: []string{"attributes.ou"}, Split: ",", Lower: true, Multi: true}}, Groups{},
			func(t *testing.T, r Result) { want(t, r.Claims["units"], "engineering", "platform") }},
		{"single keeps the first", []Rule{{Claim: "unit", From: []string{"attributes.ou"}, Split: ","}}, Groups{},
			func(t *testing.T, r Result) { want(t, r.Claims["unit"], "Engineering") }},
		{"regex extract into groups", []Rule{{Claim: "groups", From: []string{"attributes.memberOf"}, Regex: `^cn=([^,]+),`}}, Groups{},
			func(t *testing.T, r Result) { want(t, r.Identity.Groups, "dev", "ops") }},
		{"regex without group keeps the match", []Rule{{Claim: "domain", From: []string{"email"}, Regex: `[^@]+$`, Lower: true}}, Groups{},
			func(t *testing.T, r Result) { want(t, r.Claims["domain"], "example.org") }},
		{"no value, no claim", []Rule{{Claim: "dept", From: []string{"attributes.missing"}}}, Groups{},
			func(t *testing.T, r Result) {
				if _, ok := r.Claims["dept"]; ok || r.Claims != nil {
					t.Errorf("claims %v", r.Claims)
				}
			}},
		{"lower-cased email stays verified", []Rule{{Claim: "email", From: []string{"email"}, Lower: true}}, Groups{},
			func(t *testing.T, r Result) {
				if r.Identity.Email != "alice@example.org" || !r.Identity.EmailVerified {
					t.Errorf("email %q verified %v", r.Identity.Email, r.Identity.EmailVerified)
				}
			}},
		{"email from elsewhere is unverified", []Rule{{Claim: "email", From: []string{"attributes.mail2"}}}, Groups{},
			func(t *testing.T, r Result) {
				if r.Identity.Email != "other@example.org" || r.Identity.EmailVerified {
					t.Errorf("email %q verified %v", r.Identity.Email, r.Identity.EmailVerified)
				}
			}},
		{"name and username", []Rule{{Claim: "name", From: []string{"username"}}, {Claim: "preferred_username", From: []string{"email"}, Regex: `^[^@]+`, Lower: true}}, Groups{},
			func(t *testing.T, r Result) {
				if r.Identity.Name != "alice" || r.Identity.PreferredUsername != "alice" || r.Identity.Username != "alice" {
					t.Errorf("identity %+v", r.Identity)
				}
			}},
		{"allow glob, deny exact, prefix", nil, Groups{Allow: []string{"eng-*", "staff", "admins"}, Deny: []string{"admins"}, Prefix: true},
			func(t *testing.T, r Result) { want(t, r.Identity.Groups, "corp:staff", "corp:eng-web") }},
		{"allow regex matches whole names", nil, Groups{Allow: []string{"re:(?i)eng-[a-z]+"}},
			func(t *testing.T, r Result) { want(t, r.Identity.Groups, "eng-web", "Eng-API") }},
		{"deny glob with ?", nil, Groups{Deny: []string{"test-?????", "eng*"}},
			func(t *testing.T, r Result) { want(t, r.Identity.Groups, "admins", "staff", "Eng-API") }},
		{"filters apply to mapped groups", []Rule{{Claim: "groups", From: []string{"attributes.memberOf"}, Regex: `^cn=([^,]+),`}}, Groups{Deny: []string{"ops"}, Prefix: true},
			func(t *testing.T, r Result) { want(t, r.Identity.Groups, "corp:dev") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := Compile("corp", c.rules, c.groups)
			if err != nil {
				t.Fatal(err)
			}
			in := cloneIdentity(base)
			r := m.Apply(in)
			if !reflect.DeepEqual(in, base) {
				t.Error("Apply modified its input")
			}
			c.check(t, r)
		})
	}
}

func TestNilMapper(t *testing.T) {
	var m *Mapper
	id := sdk.Identity{Subject: "x", Groups: []string{"a"}}
	if r := m.Apply(id); !reflect.DeepEqual(r.Identity, id) || r.Claims != nil || len(m.Claims()) != 0 {
		t.Errorf("nil mapper: %+v", r)
	}
}

func TestClaimsAndLimits(t *testing.T) {
	m, err := Compile("c", []Rule{
		{Claim: "dept", From: []string{"name"}},
		{Claim: "teams", From: []string{"groups"}, Multi: true},
		{Claim: "email", From: []string{"email"}},
	}, Groups{})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Claims(); !reflect.DeepEqual(got, map[string]bool{"dept": false, "teams": true}) {
		t.Errorf("Claims() = %v", got)
	}
	many := make([]string, 3*MaxValues)
	for i := range many {
		many[i] = strings.Repeat("g", i%50+1) + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
	}
	long := strings.Repeat("n", MaxValueLen+1)
	r := m.Apply(sdk.Identity{Name: long, Groups: many})
	if len(r.Claims["teams"]) != MaxValues {
		t.Errorf("teams has %d values, want %d", len(r.Claims["teams"]), MaxValues)
	}
	if _, ok := r.Claims["dept"]; ok {
		t.Error("a value longer than MaxValueLen was kept")
	}
}

func want(t *testing.T, got []string, vals ...string) {
	t.Helper()
	if !reflect.DeepEqual(got, vals) {
		t.Errorf("got %q, want %q", got, vals)
	}
}

func cloneIdentity(id sdk.Identity) sdk.Identity {
	out := id
	out.Groups = append([]string(nil), id.Groups...)
	out.Attributes = map[string][]string{}
	for k, v := range id.Attributes {
		out.Attributes[k] = append([]string(nil), v...)
	}
	return out
}
