package github

import (
	"strings"
	"testing"
)

func TestNextLink(t *testing.T) {
	tests := []struct{ header, want string }{
		{`<https://api.github.com/user/orgs?per_page=100&page=2>; rel="next", <https://api.github.com/user/orgs?per_page=100&page=5>; rel="last"`,
			"https://api.github.com/user/orgs?per_page=100&page=2"},
		{`<https://a/?page=1>; rel="prev", <https://a/?page=3>; rel="next"`, "https://a/?page=3"},
		{`<https://a/?page=1>; rel="first", <https://a/?page=4>; rel="last"`, ""},
		{`<https://a/x>; title="a, b; rel=next"; rel="last", <https://a/y>; rel=next`, "https://a/y"},
		{`<https://a/z>; rel="prefetch next"`, "https://a/z"},
		{`<https://a/z>; REL="Next"`, "https://a/z"},
		{``, ""},
		{`https://a/z; rel="next"`, ""},
		{`<https://a/z; rel="next"`, ""},
	}
	for _, tt := range tests {
		if got := nextLink(tt.header); got != tt.want {
			t.Errorf("nextLink(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

// FuzzNextLink: any Link header an upstream sends is parsed without
// panicking or looping, and a target found is one the header delimits.
func FuzzNextLink(f *testing.F) {
	f.Fuzz(func(t *testing.T, h string) {
		got := nextLink(h)
		if got != "" && (!strings.Contains(h, "<"+got+">") || strings.Contains(got, ">")) {
			t.Fatalf("nextLink(%q) = %q", h, got)
		}
	})
}
