package config

import (
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Environment variables in the file (issue 19).
//
// ${NAME} and ${NAME:-default} are expanded in values, after the YAML is
// parsed and before anything is checked: a variable can never add a field
// or change the file's structure, whatever it holds (a colon, a newline),
// and a problem names the field it is in. Field names are never expanded.
// $$ is a literal $; a $ followed by anything else is kept as written, so
// PHC password hashes ($argon2id$v=19$...) need no escaping.
//
// An unset variable without a default is an error naming the field and
// the variable, never an empty value. ${NAME:-default} takes the default
// when NAME is unset or empty, as a POSIX shell does. A whole unquoted
// value that is one reference is read as YAML reads it after expansion:
// "port: ${PORT}" with PORT=8080 is a number, "enabled: ${ON}" with
// ON=true a boolean; quote it ("${PORT}") to keep it a string.

// maxExpanded bounds a value after expansion: a variable holds a secret
// or a URL, not a document.
const maxExpanded = 64 << 10

// lookupEnv is os.LookupEnv; tests may replace it.
var lookupEnv = os.LookupEnv

// expandEnv expands the references in every value under root, in place,
// and returns one error per problem.
func expandEnv(root *yaml.Node) []error {
	e := &expander{seen: map[*yaml.Node]bool{}}
	e.walk("", root)
	return e.errs
}

type expander struct {
	errs []error
	// seen holds the nodes already expanded: an alias repeats its anchor's
	// node, which is expanded once, where it is first met.
	seen map[*yaml.Node]bool
}

func (e *expander) walk(path string, n *yaml.Node) {
	if n == nil || e.seen[n] {
		return
	}
	e.seen[n] = true
	switch n.Kind {
	case yaml.AliasNode:
		e.walk(path, n.Alias)
	case yaml.SequenceNode:
		for i, item := range n.Content {
			e.walk(fmt.Sprintf("%s[%d]", path, i), item)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			p := path
			if k.Kind == yaml.ScalarNode && !isMerge(k) {
				p = join(path, k.Value)
			}
			e.walk(p, n.Content[i+1])
		}
	case yaml.ScalarNode:
		e.scalar(path, n)
	}
}

func (e *expander) scalar(path string, n *yaml.Node) {
	if !strings.Contains(n.Value, "$") {
		return
	}
	v, errs := expand(n.Value)
	for _, msg := range errs {
		e.errs = append(e.errs, &FieldError{Path: path, Message: msg})
	}
	if len(errs) > 0 {
		return
	}
	if len(v) > maxExpanded {
		e.errs = append(e.errs, &FieldError{Path: path, Message: fmt.Sprintf("longer than %d bytes after expanding environment variables", maxExpanded)})
		return
	}
	if v == n.Value {
		return
	}
	n.Value = v
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle|yaml.TaggedStyle) == 0 {
		// A plain value is resolved again, as YAML would read the
		// expanded text: a number, a boolean, null when empty.
		n.Tag = ""
	}
}

// expand expands one value. Messages name variables, never values: a
// value may be a secret.
func expand(s string) (string, []string) {
	var b strings.Builder
	var errs []string
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String(), errs
		}
		b.WriteString(s[:i])
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			s = s[i+2:]
			continue
		case '{':
		default:
			b.WriteByte('$')
			s = s[i+1:]
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			errs = append(errs, "unterminated ${ (write ${NAME} or ${NAME:-default}; $$ for a literal $)")
			return "", errs
		}
		ref := s[i+2 : i+end]
		s = s[i+end+1:]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !envName(name) {
			errs = append(errs, "invalid reference ${...}: a variable name is letters, digits and _, not starting with a digit (write ${NAME} or ${NAME:-default}; $$ for a literal $)")
			continue
		}
		val, ok := lookupEnv(name)
		switch {
		case ok && (val != "" || !hasDef):
			b.WriteString(val)
		case hasDef:
			b.WriteString(def)
		default:
			errs = append(errs, fmt.Sprintf("environment variable %s is not set (give it a default with ${%s:-default})", name, name))
		}
	}
}

func envName(s string) bool {
	if s == "" || len(s) > 256 || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
