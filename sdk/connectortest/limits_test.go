package connectortest

import (
	"strings"
	"testing"

	"github.com/portico-idp/portico/sdk"
)

func TestCheckIdentity(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	many := func(n int) []string { return make([]string, n) }
	for _, tc := range []struct {
		name string
		lim  Limits
		id   sdk.Identity
		says string // "" for admitted
	}{
		{"minimal", Limits{}, sdk.Identity{Subject: "s"}, ""},
		{"unicode", Limits{}, sdk.Identity{Subject: "s", Name: UnicodeAccount.Want.Name, Groups: UnicodeAccount.Want.Groups}, ""},
		{"no subject", Limits{}, sdk.Identity{Name: "x"}, "subject is empty"},
		{"subject at the key limit", Limits{}, sdk.Identity{Subject: long(1024)}, ""},
		{"subject over the key limit", Limits{}, sdk.Identity{Subject: long(1025)}, "subject is 1025 bytes"},
		{"email over the key limit", Limits{}, sdk.Identity{Subject: "s", Email: long(1025)}, "email is 1025 bytes"},
		{"name at the claim limit", Limits{}, sdk.Identity{Subject: "s", Name: long(4096)}, ""},
		{"name over the claim limit", Limits{}, sdk.Identity{Subject: "s", Name: long(4097)}, "name is 4097 bytes"},
		{"raised claim limit", Limits{MaxClaimLength: 8192}, sdk.Identity{Subject: "s", Name: long(4097)}, ""},
		{"invalid UTF-8", Limits{}, sdk.Identity{Subject: "s", Username: "a\xffb"}, "username is not valid UTF-8"},
		{"a real U+FFFD", Limits{}, sdk.Identity{Subject: "s", Username: "a\uFFFDb"}, ""},
		{"NUL", Limits{}, sdk.Identity{Subject: "s\x00"}, "subject contains a control character (U+0000)"},
		{"DEL", Limits{}, sdk.Identity{Subject: "s", Name: "a\x7f"}, "U+007F"},
		{"C1", Limits{}, sdk.Identity{Subject: "s", Name: "a\u0085"}, "U+0085"},
		{"newline in a group", Limits{}, sdk.Identity{Subject: "s", Groups: []string{"a\nb"}}, "groups[0] contains a control character"},
		{"newline in an attribute value", Limits{}, sdk.Identity{Subject: "s", Attributes: map[string][]string{"address": {"1 Road\r\nTown\t"}}}, ""},
		{"newline in an attribute name", Limits{}, sdk.Identity{Subject: "s", Attributes: map[string][]string{"a\nb": {"x"}}}, "an attribute name contains"},
		{"groups at the limit", Limits{}, sdk.Identity{Subject: "s", Groups: many(1000)}, ""},
		{"too many groups", Limits{}, sdk.Identity{Subject: "s", Groups: many(1001)}, "1001 groups"},
		{"too many attribute values", Limits{}, sdk.Identity{Subject: "s", Attributes: map[string][]string{"x": many(1001)}}, `attribute "x" has 1001 values`},
		{"too large", Limits{}, sdk.Identity{Subject: "s", Groups: []string{long(4000), long(4000)}, ConnectorData: make([]byte, 124<<10)}, "more than the limit of 131072"},
		{"escapes count", Limits{MaxSize: 300}, sdk.Identity{Subject: "s", Name: strings.Repeat("<", 20)}, "more than the limit of 300"},
		{"escapes under the limit", Limits{MaxSize: 300}, sdk.Identity{Subject: "s", Name: strings.Repeat("a", 20)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckIdentity(tc.lim, tc.id)
			if (err == nil) != (tc.says == "") || err != nil && !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("CheckIdentity: got %v, want %q", err, tc.says)
			}
		})
	}
}
