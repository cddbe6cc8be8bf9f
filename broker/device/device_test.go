package device

import (
	"strings"
	"testing"
)

// TestUserCodeNormalize: people type codes in any case, with or without
// the dash, with spaces; anything else is not a code.
func TestUserCodeNormalize(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"BCDF-GHJK", "BCDFGHJK", true},
		{"bcdf-ghjk", "BCDFGHJK", true},
		{" bcdf ghjk ", "BCDFGHJK", true},
		{"BCDFGHJK", "BCDFGHJK", true},
		{"bc-df-gh-jk", "BCDFGHJK", true},
		{"BCDF-GHJA", "", false},  // a vowel is never in a code
		{"BCDF-GHJ", "", false},   // short
		{"BCDF-GHJKL", "", false}, // long
		{"BCDF-GHJ0", "", false},
		{"ВCDF-GHJK", "", false}, // Cyrillic В looks like B
		{"", "", false},
		{strings.Repeat(" ", 60) + "BCDFGHJK", "", false}, // over the input bound
	} {
		got, ok := NormalizeUserCode(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizeUserCode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestNewUserCode: codes use the alphabet only, read back as themselves,
// and differ.
func TestNewUserCode(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		c := NewUserCode()
		if n, ok := NormalizeUserCode(FormatUserCode(c)); !ok || n != c {
			t.Fatalf("code %q reads back as %q, %v", c, n, ok)
		}
		seen[c] = true
	}
	if len(seen) < 999 {
		t.Errorf("%d distinct codes of 1000", len(seen))
	}
}

// FuzzUserCode: whatever is typed into the code form, normalizing never
// panics and yields either nothing or a code of the alphabet that reads
// back as itself.
func FuzzUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", "", "\x00", "ÄÖÜ-ßßßß", strings.Repeat("B", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, ok := NormalizeUserCode(in)
		if !ok {
			if c != "" {
				t.Fatalf("rejected %q but returned %q", in, c)
			}
			return
		}
		if len(c) != userCodeLen || strings.Trim(c, userCodeAlphabet) != "" {
			t.Fatalf("%q normalized to %q", in, c)
		}
		if again, ok := NormalizeUserCode(FormatUserCode(c)); !ok || again != c {
			t.Fatalf("%q does not read back: %q", c, again)
		}
	})
}
