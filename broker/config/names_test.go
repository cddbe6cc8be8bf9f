package config

import (
	"strings"
	"testing"
)

func TestCheckClientID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"example-app", true}, {"rp", true}, {"a", true}, {"App.v2_beta~1", true},
		{"Zr3k9_-QpLx-1aB2c3D4e5", true}, // a generated id (base64url), starting with a letter
		{strings.Repeat("a", 128), true},
		{"", false}, {"a/b", false}, {"..", false}, {".hidden", false}, {"-x", false}, {"_x", false},
		{"?x=1", false}, {"my app", false}, {"a%2Fb", false}, {"é", false}, {"a\x00", false},
		{strings.Repeat("a", 129), false},
	} {
		if got := CheckClientID(tc.id) == ""; got != tc.ok {
			t.Errorf("CheckClientID(%q): ok %v, want %v (%s)", tc.id, got, tc.ok, CheckClientID(tc.id))
		}
	}
}

func TestCheckConnectorID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"local", true}, {"corp-saml", true}, {"a_1", true}, {strings.Repeat("a", 63), true},
		{"", false}, {"Local", false}, {"-a", false}, {"a.b", false}, {"a/b", false}, {strings.Repeat("a", 64), false},
	} {
		if got := CheckConnectorID(tc.id) == ""; got != tc.ok {
			t.Errorf("CheckConnectorID(%q): ok %v, want %v", tc.id, got, tc.ok)
		}
	}
}

func TestCheckGroups(t *testing.T) {
	many := make([]string, MaxGroups+1)
	for i := range many {
		many[i] = "g" + strings.Repeat("x", i%7) + string(rune('a'+i%26))
	}
	for _, tc := range []struct {
		name  string
		in    []string
		paths string // the problems' paths, space-separated
	}{
		{"none", nil, ""},
		{"fine", []string{"admins", "Domain Users", "team:ops", "équipe"}, ""},
		{"empty", []string{"ok", ""}, "roles[1]"},
		{"blank", []string{" "}, "roles[0]"},
		{"surrounding space", []string{"ok", " ops"}, "roles[1]"},
		{"control character", []string{"a\nb", "c\x7f"}, "roles[0] roles[1]"},
		{"bidirectional control", []string{"adm\u202enimda", "ok"}, "roles[0]"},
		{"not UTF-8", []string{"\xff"}, "roles[0]"},
		{"too long", []string{strings.Repeat("g", MaxGroupLen+1)}, "roles[0]"},
		{"longest", []string{strings.Repeat("g", MaxGroupLen)}, ""},
		{"duplicate", []string{"a", "b", "a", "a"}, "roles[2] roles[3]"},
		{"too many", many, "roles"},
	} {
		var paths []string
		for _, e := range CheckGroups("roles", tc.in) {
			paths = append(paths, e.Path)
		}
		if got := strings.Join(paths, " "); got != tc.paths {
			t.Errorf("%s: problems at %q, want %q", tc.name, got, tc.paths)
		}
	}
}

func TestCheckUsername(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"alice", true}, {"alice@example.com", true}, {"Zoë Ünal", true}, {strings.Repeat("u", MaxUsernameLen), true},
		{"", false}, {" alice", false}, {"alice ", false}, {"a\x00b", false}, {"a\tb", false}, {"\xff", false},
		{strings.Repeat("u", MaxUsernameLen+1), false},
	} {
		if got := CheckUsername(tc.name) == ""; got != tc.ok {
			t.Errorf("CheckUsername(%q): ok %v, want %v", tc.name, got, tc.ok)
		}
	}
}
