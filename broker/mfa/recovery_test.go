package mfa

import (
	"regexp"
	"strings"
	"testing"
)

var userSalt = []byte("user:4f1c9a")

func TestNewRecoveryCodes(t *testing.T) {
	codes, hashes, err := NewRecoveryCodes(0, userSalt)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != DefaultRecoveryCodes || len(hashes) != DefaultRecoveryCodes {
		t.Fatalf("%d codes, %d hashes", len(codes), len(hashes))
	}
	format := regexp.MustCompile(`^[2-9a-km-np-z]{4}(-[2-9a-km-np-z]{4}){3}$`)
	seen := map[string]bool{}
	for i, c := range codes {
		if !format.MatchString(c) {
			t.Errorf("code %q is not xxxx-xxxx-xxxx-xxxx over the alphabet", c)
		}
		if strings.ContainsAny(c, "01lo") {
			t.Errorf("code %q has an ambiguous character", c)
		}
		if seen[c] || seen[hashes[i]] {
			t.Errorf("code %d repeats", i)
		}
		seen[c], seen[hashes[i]] = true, true
		if strings.Contains(hashes[i], strings.ReplaceAll(c, "-", "")[:8]) {
			t.Errorf("hash %q shows its code", hashes[i])
		}
		if j, ok := MatchRecoveryCode(c, hashes, userSalt); !ok || j != i {
			t.Errorf("code %d matches %d, %v", i, j, ok)
		}
	}
	if got, _, err := NewRecoveryCodes(3, userSalt); err != nil || len(got) != 3 {
		t.Errorf("NewRecoveryCodes(3) = %d codes, %v", len(got), err)
	}
	for _, tt := range []struct {
		n    int
		salt []byte
	}{{-1, userSalt}, {maxRecoveryCodes + 1, userSalt}, {10, nil}, {10, []byte{}}} {
		if _, _, err := NewRecoveryCodes(tt.n, tt.salt); err == nil {
			t.Errorf("NewRecoveryCodes(%d, %q) succeeded", tt.n, tt.salt)
		}
	}
}

// TestRecoveryAlphabet: every symbol turns up, so no bias leaves one out.
func TestRecoveryAlphabet(t *testing.T) {
	codes, _, err := NewRecoveryCodes(maxRecoveryCodes, userSalt)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(codes, "")
	for _, c := range recoveryAlphabet {
		if !strings.ContainsRune(all, c) {
			t.Errorf("%q never appears in %d codes", c, len(codes))
		}
	}
}

func TestMatchRecoveryCode(t *testing.T) {
	// Fixed codes, hashed as NewRecoveryCodes does.
	known := []string{"abcd-efgh-ijkm-npqr", "2345-6789-stuv-wxyz", "zzzz-zzzz-zzzz-zzzz"}
	hashes := make([]string, len(known))
	for i, c := range known {
		norm, ok := normalizeRecovery(c)
		if !ok {
			t.Fatalf("%q does not normalize", c)
		}
		hashes[i] = hashRecovery(norm, userSalt)
	}
	used := append([]string(nil), hashes...)
	used[1] = ""
	tests := []struct {
		name   string
		code   string
		hashes []string
		salt   []byte
		index  int
		ok     bool
	}{
		{"as shown", "abcd-efgh-ijkm-npqr", hashes, userSalt, 0, true},
		{"upper case", "2345-6789-STUV-WXYZ", hashes, userSalt, 1, true},
		{"no dashes", "abcdefghijkmnpqr", hashes, userSalt, 0, true},
		{"white space", " abcd efgh\tijkm npqr\r\n", hashes, userSalt, 0, true},
		{"extra dashes", "--zzzz--zzzzzzzz-zzzz-", hashes, userSalt, 2, true},
		{"last in the list", "zzzzzzzzzzzzzzzz", hashes, userSalt, 2, true},
		{"used (blanked)", "2345-6789-stuv-wxyz", used, userSalt, -1, false},
		{"others still good after one is used", "abcd-efgh-ijkm-npqr", used, userSalt, 0, true},
		{"other user's salt", "abcd-efgh-ijkm-npqr", hashes, []byte("user:other"), -1, false},
		{"empty salt", "abcd-efgh-ijkm-npqr", hashes, nil, -1, false},
		{"not in the list", "abcd-efgh-ijkm-npqs", hashes, userSalt, -1, false},
		{"no hashes", "abcd-efgh-ijkm-npqr", nil, userSalt, -1, false},
		{"one short", "abcd-efgh-ijkm-npq", hashes, userSalt, -1, false},
		{"one long", "abcd-efgh-ijkm-npqrs", hashes, userSalt, -1, false},
		{"zero for o", "abcd-efgh-ijkm-np0r", hashes, userSalt, -1, false},
		{"ell", "abcd-efgh-ijkl-npqr", hashes, userSalt, -1, false},
		{"kelvin sign for k", "abcd-efgh-ij\u212am-npqr", hashes, userSalt, -1, false},
		{"dots", "abcd.efgh.ijkm.npqr", hashes, userSalt, -1, false},
		{"underscores", "abcd_efgh_ijkm_npqr", hashes, userSalt, -1, false},
		{"empty", "", hashes, userSalt, -1, false},
		{"over the length bound", strings.Repeat("-", 60) + "abcdefghijkmnpqr", hashes, userSalt, -1, false},
		{"a stored hash typed in", hashes[0], hashes, userSalt, -1, false},
	}
	for _, tt := range tests {
		index, ok := MatchRecoveryCode(tt.code, tt.hashes, tt.salt)
		if index != tt.index || ok != tt.ok {
			t.Errorf("%s: MatchRecoveryCode(%q) = %d, %v; want %d, %v", tt.name, tt.code, index, ok, tt.index, tt.ok)
		}
	}
	// A list holding one hash twice (it cannot happen by chance) reports
	// the first, after looking at both.
	if i, ok := MatchRecoveryCode(known[2], []string{hashes[0], hashes[2], hashes[2]}, userSalt); i != 1 || !ok {
		t.Errorf("duplicate: %d, %v", i, ok)
	}
}
