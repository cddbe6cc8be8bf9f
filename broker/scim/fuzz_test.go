package scim

import (
	"encoding/json"
	"strings"
	"testing"
)

// sample is a user as stored, for filters and PATCHes to work on.
func sample() map[string]any {
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(`{"userName":"Alice","externalId":"a-1","active":true,"displayName":"Alice A",
		"name":{"givenName":"Alice","familyName":"A"},
		"emails":[{"value":"alice@example.com","type":"work","primary":true},{"value":"a@home.example","type":"home"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales","manager":{"value":"m-1"}}}`))
	dec.UseNumber()
	dec.Decode(&m)
	return m
}

// FuzzFilter: any filter either compiles or is invalidFilter, and a
// compiled one evaluates without panicking (testdata/fuzz/FuzzFilter).
func FuzzFilter(f *testing.F) {
	for _, s := range []string{`userName eq "alice"`, `emails[type eq "work" and value co "@"]`, `not (active eq false) or title pr`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department sw "S"`, `members[value eq "x"]`, `meta.version gt "1"`,
		`name.givenName ew "e"`, `((userName eq "a"))`, `emails eq "a@home.example"`, `externalId ne "a-1"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, rt := range []*resourceType{userType, groupType} {
			p, e := compileFilter(rt, s)
			if e != nil {
				if e.Status != 400 || e.Type != "invalidFilter" {
					t.Fatalf("%q: %v", s, e)
				}
				continue
			}
			p(sample())
		}
	})
}

// FuzzPatch: any PATCH body is applied or refused with a 400, and what is
// applied still normalizes within the bounds (testdata/fuzz/FuzzPatch).
func FuzzPatch(f *testing.F) {
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false,"name.givenName":"B"}}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"emails[type eq \"work\"].value","value":"x@y"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"emails[type eq \"home\"]"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value","value":"m-2"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"division":"D"}}}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		body, e := decodeObject(strings.NewReader(s))
		if e != nil {
			return
		}
		ops, e := parsePatch(body)
		if e != nil {
			if e.Status != 400 {
				t.Fatalf("%q: %v", s, e)
			}
			return
		}
		res := sample()
		if e := applyPatch(userType, res, ops); e != nil {
			if e.Status != 400 || e.Type == "" {
				t.Fatalf("%q: %v", s, e)
			}
			return
		}
		if _, e := normalize(userType, res); e != nil && e.Status != 400 {
			t.Fatalf("%q: %v", s, e)
		}
	})
}

// FuzzResource: any body is a normalized resource or a 400/413
// (testdata/fuzz/FuzzResource); normalizing again changes nothing.
func FuzzResource(f *testing.F) {
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","active":"True","emails":[{"value":"a@b","primary":"true"}]}`,
		`{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"1"},"x":{"y":[1,2]}}`,
		`{"displayName":"G","members":[{"value":"u1"},{"value":"u1"},{"value":"u2","type":"User"}]}`,
		`{"userName":null,"emails":"a@b","name":{"givenName":""}}`,
		`{"a":{"b":1,"B":[{"c":1},{"c":2}]},"A":2}`, // duplicate keys, case-folded, nested
		`{"x":[{"k":1,"k":2}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, rt := range []*resourceType{userType, groupType} {
			res, e := decodeResource(rt, strings.NewReader(s))
			if e != nil {
				if e.Status != 400 && e.Status != 413 {
					t.Fatalf("%q: %v", s, e)
				}
				continue
			}
			again, e := normalize(rt, clone(res).(map[string]any))
			if e != nil {
				t.Fatalf("%q: normalizing again: %v", s, e)
			}
			a, _ := json.Marshal(res)
			b, _ := json.Marshal(again)
			if string(a) != string(b) {
				t.Fatalf("%q: not idempotent: %s then %s", s, a, b)
			}
		}
	})
}
