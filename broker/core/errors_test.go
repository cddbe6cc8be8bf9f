package core

import (
	"strings"
	"testing"
)

func TestDescription(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text: ok, 1-2 [x] {y} ~", "plain text: ok, 1-2 [x] {y} ~"},
		{`say "hi"`, "say 'hi'"},
		{`a\b`, "a/b"},
		{"tab\there\nnl\x7f", "tab here?nl?"},
		{"\u00e9\U0001F600", "??"}, // one for each character
		{"RFC 9449 \u00a710", "RFC 9449 section 10"},
		{"", ""},
		{strings.Repeat("a", 600), strings.Repeat("a", 512)},
	} {
		if got := Description(c.in); got != c.want {
			t.Errorf("Description(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
