package ldap

import (
	"fmt"
	"strings"
	"testing"
)

func TestADDataCode(t *testing.T) {
	tests := []struct{ msg, want string }{
		{"80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 532, v4563", "532"},
		{"80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 773, v4563\x00", "773"},
		{"80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 775, v1db1", "775"},
		{"... data 52E, v4563", "52e"},
		{"metadata 532, v1", ""},
		{"data 53x2, v1", ""},
		{"data 123456789, v1", ""},
		{"invalid credentials", ""},
		{"data , data 701", "701"},
	}
	for _, tt := range tests {
		if got, _ := adDataCode(tt.msg); got != tt.want {
			t.Errorf("adDataCode(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}

// FuzzADDataCode: whatever a server writes in a bind error, the code
// found is 1 to 8 lowercase hex digits that appear in the message.
func FuzzADDataCode(f *testing.F) {
	f.Fuzz(func(t *testing.T, msg string) {
		code, ok := adDataCode(msg)
		if !ok {
			if code != "" {
				t.Fatalf("no code but %q", code)
			}
			return
		}
		if len(code) < 1 || len(code) > 8 || strings.Trim(code, "0123456789abcdef") != "" ||
			!strings.Contains(strings.ToLower(msg), "data "+code) {
			t.Fatalf("adDataCode(%q) = %q", msg, code)
		}
	})
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		desc, attr string
		lo, hi     int
		ok         bool
	}{
		{"member;range=0-1499", "member", 0, 1499, true},
		{"member;Range=1500-*", "member", 1500, -1, true},
		{"memberOf;range=3000-3000", "memberOf", 3000, 3000, true},
		{"member;binary;range=0-9", "member;binary", 0, 9, true},
		{"member", "", 0, 0, false},
		{"member;range=5-2", "", 0, 0, false},
		{"member;range=-1-*", "", 0, 0, false},
		{"member;range=0-1;range=2-*", "", 0, 0, false},
		{";range=0-*", "", 0, 0, false},
		{"member;range=0-9999999999", "", 0, 0, false},
		{"member;range=a-*", "", 0, 0, false},
	}
	for _, tt := range tests {
		attr, lo, hi, ok := parseRange(tt.desc)
		if attr != tt.attr || lo != tt.lo || hi != tt.hi || ok != tt.ok {
			t.Errorf("parseRange(%q) = %q %d %d %v", tt.desc, attr, lo, hi, ok)
		}
	}
}

// FuzzParseRange: a range parsed is well formed (0 <= lo <= hi, or hi -1
// for "*"), and writing it back parses the same.
func FuzzParseRange(f *testing.F) {
	f.Fuzz(func(t *testing.T, desc string) {
		attr, lo, hi, ok := parseRange(desc)
		if !ok {
			return
		}
		if attr == "" || lo < 0 || (hi != -1 && hi < lo) {
			t.Fatalf("parseRange(%q) = %q %d %d", desc, attr, lo, hi)
		}
		end := "*"
		if hi >= 0 {
			end = fmt.Sprint(hi)
		}
		a2, lo2, hi2, ok2 := parseRange(fmt.Sprintf("%s;range=%d-%s", attr, lo, end))
		if !ok2 || a2 != attr || lo2 != lo || hi2 != hi {
			t.Fatalf("round trip of %q: %q %d %d %v", desc, a2, lo2, hi2, ok2)
		}
	})
}
