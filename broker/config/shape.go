package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// shapeChecker walks the YAML node tree against the Go types, so that
// unknown fields, wrong types and bad durations are reported by path. The
// decoder alone would report them by line, quote the value (which may be a
// secret) and let much through: it turns 1 into "1" for a string field.
// On the way the checker adjusts the tree where yaml.v3 would decode it
// differently from what the file means (see checkSlice and checkRawMapping).
type shapeChecker struct {
	errs []error
	// done holds the anchored nodes already checked, by the type they were
	// checked as: aliases may repeat a subtree any number of times (a
	// "billion laughs" file), and each type needs checking only once.
	done map[visit]bool
	// open holds the lists and mappings being walked, to catch an alias
	// to a value that contains it.
	open map[*yaml.Node]bool
}

type visit struct {
	n *yaml.Node
	t reflect.Type // nil for an undecoded subtree (a connector's config)
}

func newShapeChecker() *shapeChecker {
	return &shapeChecker{done: map[visit]bool{}, open: map[*yaml.Node]bool{}}
}

func (s *shapeChecker) add(path, format string, args ...any) {
	s.errs = append(s.errs, &FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// resolve follows an alias, which is checked against the type where it is
// used (the decoder will decode it there). It returns false when there is
// nothing (more) to check: an anchored value already checked as t, or an
// alias to a value that contains it, which is reported.
func (s *shapeChecker) resolve(path string, n *yaml.Node, t reflect.Type) (*yaml.Node, bool) {
	if n.Kind == yaml.AliasNode {
		if s.open[n.Alias] {
			s.add(path, "an alias must not refer to a value that contains it")
			return nil, false
		}
		n = n.Alias
	}
	if n.Anchor != "" {
		k := visit{n, t}
		if s.done[k] {
			return nil, false
		}
		s.done[k] = true
	}
	return n, true
}

// walk runs f with the list or mapping n marked open.
func (s *shapeChecker) walk(n *yaml.Node, f func()) {
	s.open[n] = true
	f()
	delete(s.open, n)
}

var (
	durationType = reflect.TypeFor[Duration]()
	sizeType     = reflect.TypeFor[Size]()
)

func (s *shapeChecker) check(path string, n *yaml.Node, t reflect.Type) {
	n, ok := s.resolve(path, n, t)
	if !ok {
		return
	}
	if tagged(n) && t.Kind() != reflect.Interface {
		s.add(path, "YAML tags are not supported here")
		return
	}
	if isNull(n) {
		return // leaves the field unset
	}
	if t == durationType {
		s.checkDuration(path, n)
		return
	}
	if t == sizeType {
		s.checkSize(path, n)
		return
	}

	switch t.Kind() {
	case reflect.Pointer:
		s.check(path, n, t.Elem())
	case reflect.String:
		switch {
		case isString(n):
		case n.Kind == yaml.ScalarNode:
			s.add(path, "expected a string, got %s (quote it)", kindOf(n))
		default:
			s.add(path, "expected a string, got %s", kindOf(n))
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			s.add(path, "expected true or false, got %s", kindOf(n))
		}
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			s.add(path, "expected a whole number, got %s", kindOf(n))
		}
	case reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!float" && n.ShortTag() != "!!int") {
			s.add(path, "expected a number, got %s", kindOf(n))
		}
	case reflect.Slice:
		s.checkSlice(path, n, t)
	case reflect.Struct:
		s.checkStruct(path, n, t)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			s.add(path, "expected a mapping, got %s", kindOf(n))
			return
		}
		if t.Elem().Kind() == reflect.Interface {
			s.checkRaw(path, n)
			return
		}
		s.walk(n, func() { s.checkMap(path, n, t) })
	case reflect.Interface:
		s.checkRaw(path, n)
	default:
		panic("config: no shape check for " + t.String())
	}
}

func (s *shapeChecker) checkDuration(path string, n *yaml.Node) {
	switch {
	case n.Kind != yaml.ScalarNode:
		s.add(path, "expected a duration such as \"15m\", got %s", kindOf(n))
	case !isString(n):
		s.add(path, "invalid duration %q (write it like \"15m\" or \"720h\")", n.Value)
	default:
		if d, err := time.ParseDuration(n.Value); err != nil {
			s.add(path, "invalid duration %q", n.Value)
		} else if d <= 0 {
			// Zero would otherwise be taken for "unset" and defaulted.
			s.add(path, "must be positive, got %q", n.Value)
		}
	}
}

func (s *shapeChecker) checkSize(path string, n *yaml.Node) {
	if n.Kind != yaml.ScalarNode || (!isString(n) && n.ShortTag() != "!!int") {
		s.add(path, "expected a size such as \"100MiB\", got %s", kindOf(n))
		return
	}
	if v, err := ParseSize(n.Value); err != nil {
		s.add(path, "%v", err)
	} else if v == 0 {
		// Zero would otherwise be taken for "unset" and defaulted.
		s.add(path, "must be positive, got %q", n.Value)
	}
}

func (s *shapeChecker) checkSlice(path string, n *yaml.Node, t reflect.Type) {
	if n.Kind != yaml.SequenceNode {
		s.add(path, "expected a list, got %s", kindOf(n))
		return
	}
	s.walk(n, func() {
		for i, item := range n.Content {
			if isNull(item) {
				// yaml.v3 drops a null item from a list; keep it as a
				// zero value, for Validate to report by its index.
				n.Content[i] = zeroNode(t.Elem(), item)
				continue
			}
			s.check(fmt.Sprintf("%s[%d]", path, i), item, t.Elem())
		}
	})
}

// zeroNode returns an empty value of type t in place of the null n.
func zeroNode(t reflect.Type, n *yaml.Node) *yaml.Node {
	switch t.Kind() {
	case reflect.String:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Line: n.Line, Column: n.Column}
	case reflect.Struct:
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	}
	return n
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (s *shapeChecker) checkStruct(path string, n *yaml.Node, t reflect.Type) {
	if n.Kind != yaml.MappingNode {
		s.add(path, "expected a mapping, got %s", kindOf(n))
		return
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	s.walk(n, func() {
		seen := map[string]bool{}
		merged := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if isMerge(k) {
				// "<<: *base" merges base's fields in, under this path;
				// keys written here override them, so are no duplicates.
				if s.firstMerge(path, &merged) {
					for _, m := range s.mergeSources(path, v) {
						s.check(path, m, t)
					}
				}
				continue
			}
			if k.Kind != yaml.ScalarNode || tagged(k) {
				s.add(path, "field names must be plain strings, got %s", kindOf(k))
				continue
			}
			key := k.Value
			fp := join(path, key)
			ft, known := fields[key]
			if !known {
				if sug := suggest(key, names); sug != "" {
					s.add(fp, "unknown field (did you mean %s?)", sug)
				} else {
					s.add(fp, "unknown field")
				}
				continue
			}
			if seen[key] {
				s.add(fp, "duplicate field")
				continue
			}
			seen[key] = true
			s.check(fp, v, ft)
		}
	})
}

// checkMap checks a mapping of names to typed values (the custom scopes):
// each key a plain string, once, and each value of the element type.
func (s *shapeChecker) checkMap(path string, n *yaml.Node, t reflect.Type) {
	seen := map[string]bool{}
	merged := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			if s.firstMerge(path, &merged) {
				for _, m := range s.mergeSources(path, v) {
					s.check(path, m, t)
				}
			}
			continue
		}
		if k.Kind != yaml.ScalarNode || tagged(k) || k.ShortTag() != "!!str" {
			s.add(path, "keys must be plain strings, got %s (quote it)", kindOf(k))
			continue
		}
		kp := join(path, k.Value)
		if seen[k.Value] {
			s.add(kp, "duplicate field")
			continue
		}
		seen[k.Value] = true
		s.check(kp, v, t.Elem())
	}
}

// firstMerge reports a second merge key in one mapping, which yaml.v3
// would take for a duplicate key.
func (s *shapeChecker) firstMerge(path string, merged *bool) bool {
	if *merged {
		s.add(join(path, "<<"), "more than one merge key; merge several mappings with <<: [*a, *b]")
		return false
	}
	*merged = true
	return true
}

// mergeSources returns what the merge key's value v merges in: a mapping,
// an alias of one, or a list of those. Anything else is reported.
func (s *shapeChecker) mergeSources(path string, v *yaml.Node) []*yaml.Node {
	sources := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		sources = v.Content
	}
	for _, m := range sources {
		if m.Kind == yaml.AliasNode {
			m = m.Alias
		}
		if m.Kind != yaml.MappingNode {
			s.add(join(path, "<<"), "a merge key takes a mapping, an alias of one, or a list of those")
			return nil
		}
	}
	return sources
}

// checkRaw checks an undecoded subtree (a connector's config). Any YAML may
// fill it, tags included, but the connector gets it as JSON, so mapping keys
// must be unique strings.
func (s *shapeChecker) checkRaw(path string, n *yaml.Node) {
	n, ok := s.resolve(path, n, nil)
	if !ok {
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if tagged(n) {
			// Decode would fail on "!!int abc" too, quoting the value.
			var v any
			if n.Decode(&v) != nil {
				s.add(path, "not a valid %s value", n.ShortTag())
			}
		}
	case yaml.SequenceNode:
		s.walk(n, func() {
			for i, item := range n.Content {
				s.checkRaw(fmt.Sprintf("%s[%d]", path, i), item)
			}
		})
	case yaml.MappingNode:
		s.walk(n, func() { s.checkRawMapping(path, n) })
	}
}

func (s *shapeChecker) checkRawMapping(path string, n *yaml.Node) {
	seen := map[string]bool{}
	merged := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			if s.firstMerge(path, &merged) {
				for _, m := range s.mergeSources(path, v) {
					s.checkRaw(path, m)
				}
			}
			continue
		}
		key := k
		if key.Kind == yaml.AliasNode {
			key = key.Alias
		}
		if key.Kind != yaml.ScalarNode {
			s.add(path, "keys must be strings, got %s", kindOf(key))
			continue
		}
		// yaml.v3 decodes a mapping into map[any]any, which JSON cannot
		// encode, unless every key is a string; so make each key the
		// string it is written as (1 becomes "1", *alias its value).
		n.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key.Value, Line: k.Line, Column: k.Column}
		kp := join(path, key.Value)
		if seen[key.Value] {
			s.add(kp, "duplicate field")
			continue
		}
		seen[key.Value] = true
		s.checkRaw(kp, v)
	}
}

// tagged reports an explicit tag such as !!str or !custom.
func tagged(n *yaml.Node) bool { return n.Style&yaml.TaggedStyle != 0 }

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && !tagged(n) && n.ShortTag() == "!!null"
}

// isString reports a scalar that decodes into a string field as written:
// a date such as 2024-01-01 counts, as it did for the earlier decoder.
func isString(n *yaml.Node) bool {
	if n.Kind != yaml.ScalarNode {
		return false
	}
	switch n.ShortTag() {
	case "!!str", "!!timestamp", "!!merge":
		return true
	}
	return false
}

// isMerge matches yaml.v3's own test for a merge key: a plain <<.
func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

func kindOf(n *yaml.Node) string {
	if tagged(n) {
		return "a tagged value"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		}
		return "a string"
	}
	return "a document"
}

// suggest returns the known field closest to key, if it is close enough to
// be a likely typo: the same apart from case, '_' and '-', or one edit away
// (two for names longer than four letters).
func suggest(key string, names []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestDist := "", 0
	for _, name := range names {
		if norm(name) == norm(key) {
			return name
		}
		limit := 1
		if len(name) > 4 {
			limit = 2
		}
		if d := editDistance(strings.ToLower(key), name); d <= limit && (best == "" || d < bestDist) {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of adjacent bytes.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
