package journey

import (
	"strings"
	"testing"
)

// TestCleanPasskeyName: a passkey's name is trimmed and bounded, and
// control and formatting characters (which could make the account page's
// list lie) are refused.
func TestCleanPasskeyName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"  Laptop  ", "Laptop", true},
		{"Schlüssel 2", "Schlüssel 2", true},
		{strings.Repeat("ü", 64), strings.Repeat("ü", 64), true},
		{strings.Repeat("n", 65), "", false},
		{"", "", false},
		{"   ", "", false},
		{"bell\x07", "", false},
		{"line\nbreak", "", false},
		{"evil\u202egnp.exe", "", false},
		{"zero\u200bwidth", "", false},
		{"bad\xffutf8", "", false},
	} {
		got, ok := cleanPasskeyName(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("cleanPasskeyName(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestPasskeyIndex: a passkey is found by its credential id only among
// the user's own, and an overlong id is not looked up.
func TestPasskeyIndex(t *testing.T) {
	m := &mfaRecord{Passkeys: []passkey{{ID: []byte{1}}, {ID: []byte{2}}}}
	if i, err := passkeyIndex(m, credentialID([]byte{2})); i != 1 || err != nil {
		t.Errorf("own passkey: %d %v", i, err)
	}
	for _, id := range []string{"", credentialID([]byte{3}), strings.Repeat("A", maxCredentialID+1)} {
		if _, err := passkeyIndex(m, id); err != errNoPasskey {
			t.Errorf("id %.20q: %v, want errNoPasskey", id, err)
		}
	}
}
