package core

import (
	"strings"
	"testing"
)

// FuzzBearer: any Authorization header either yields a token without
// blanks or is refused; it never panics.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer abc", "Bearer", "Bearer ", "Basic abc", "Bearer a b", "Bearer\tabc", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := BearerToken(h)
		if ok && (tok == "" || strings.ContainsAny(tok, " \t")) {
			t.Fatalf("BearerToken(%q) = %q", h, tok)
		}
	})
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"Bearer abc.def", "abc.def", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic YTpi", "", false},
		{"Bearer a b", "", false},
		{"", "", false},
	} {
		got, ok := BearerToken(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
