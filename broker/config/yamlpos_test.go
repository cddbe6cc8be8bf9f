package config

import (
	"strings"
	"testing"
)

// Syntax errors name the line and the column of the offending token, not
// just a line (which yaml.v3 sometimes gets wrong or leaves out).
func TestSyntaxErrorPosition(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"tab", "issuer: x\nclients:\n  - id: a\n\tsecret: b\n", "config: line 4, column 1: found a tab character"},
		{"unclosed list", "issuer: x\nlisten: [a, b\n", "config: line 2, column 9: "},
		{"colon in a value", "issuer: a: b\n", "config: line 1, column 9: mapping values are not allowed"},
		{"bad indentation", "a:\n  - b\n  c: d\n", "config: line 3, column 3: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.src))
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
