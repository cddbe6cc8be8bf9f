package config

import (
	"strings"
	"testing"
)

func TestCheckJSON(t *testing.T) {
	for _, c := range []struct {
		raw, want string // want: a part of the error, "" for none
	}{
		{`{"roles":["admin"],"name":"x"}`, ""},
		{`{"roles":["admin"],"roles":[]}`, "twice"},
		{`{"roles":["admin"],"ROLES":[]}`, "twice"},
		{`{"a":{"b":1,"B":2}}`, "twice"},
		{`{"a":{"b":1},"c":{"b":2}}`, ""}, // another object
		{`[{"b":1},{"b":2}]`, ""},
		{`{"s":"\ud83d\ude00"}`, ""},  // a pair
		{`{"s":"\u00e9\\ud800"}`, ""}, // an escaped backslash, then text
		{`{"s":"sur\ud800x"}`, "surrogate"},
		{`{"s":"sur\udc00x"}`, "surrogate"},
		{`{"s":"\ud800\u0041"}`, "surrogate"},
		{`{"s\ud800":1}`, "surrogate"},
		{`{"a":`, "not JSON"},
	} {
		err := CheckJSON([]byte(c.raw))
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("CheckJSON(%s) = %v, want %q", c.raw, err, c.want)
		}
	}
}
