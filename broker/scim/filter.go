package scim

import (
	"encoding/json"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// Filters (RFC 7644 §3.4.2.2) are parsed by github.com/scim2/filter-parser
// and compiled here against the resource type's schema: an attribute the
// schema lacks, or an operator its type cannot take, is invalidFilter
// before any resource is read.

// maxFilterNodes (comparisons) and maxFilterDepth bound a compiled filter.
const (
	maxFilterNodes = 64
	maxFilterDepth = 16
)

// pred tests one resource (or, inside a value path, one element).
type pred func(m map[string]any) bool

// scope is where a filter's names resolve: a resource type's attributes,
// or the sub-attributes of the multi-valued attribute a value path filters.
type scope struct {
	rt   *resourceType
	elem *attr
}

type compiler struct {
	nodes int
}

// compileFilter parses and compiles a filter of a list request.
func compileFilter(rt *resourceType, raw string) (pred, *Error) {
	if len(raw) > maxFilterLen {
		return nil, bad("invalidFilter", "the filter is longer than %d bytes", maxFilterLen)
	}
	if nesting(raw) > maxFilterDepth {
		return nil, bad("invalidFilter", "the filter nests deeper than %d", maxFilterDepth)
	}
	expr, err := filter.ParseFilter([]byte(raw))
	if err != nil {
		return nil, bad("invalidFilter", "the filter does not parse (RFC 7644 §3.4.2.2)")
	}
	return (&compiler{}).compile(expr, scope{rt: rt})
}

// nesting returns the deepest bracket nesting of s outside strings; it
// keeps the parser's recursion shallow.
func nesting(s string) int {
	depth, most, quoted := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(' || c == '[':
			depth++
			most = max(most, depth)
		case c == ')' || c == ']':
			depth--
		}
	}
	return most
}

func (c *compiler) compile(e filter.Expression, sc scope) (pred, *Error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		l, err := c.compile(e.Left, sc)
		if err != nil {
			return nil, err
		}
		r, err := c.compile(e.Right, sc)
		if err != nil {
			return nil, err
		}
		if e.Operator == filter.AND {
			return func(m map[string]any) bool { return l(m) && r(m) }, nil
		}
		return func(m map[string]any) bool { return l(m) || r(m) }, nil
	case *filter.NotExpression:
		p, err := c.compile(e.Expression, sc)
		if err != nil {
			return nil, err
		}
		return func(m map[string]any) bool { return !p(m) }, nil
	case *filter.ValuePath:
		if sc.elem != nil {
			return nil, bad("invalidFilter", "a value path inside a value path")
		}
		key, a := sc.rt.lookup(e.AttributePath.URI(), e.AttributePath.AttributeName)
		if a == nil || !a.Multi || a.Type != tComplex || e.AttributePath.SubAttribute != nil {
			return nil, bad("invalidFilter", "%s is not a multi-valued complex attribute", e.AttributePath)
		}
		inner, err := c.compile(e.ValueFilter, scope{elem: a})
		if err != nil {
			return nil, err
		}
		return func(m map[string]any) bool {
			for _, el := range elements(container(m, key), a) {
				if inner(el) {
					return true
				}
			}
			return false
		}, nil
	case *filter.AttributeExpression:
		return c.compare(e, sc)
	}
	return nil, bad("invalidFilter", "unsupported filter expression")
}

// compare compiles "attrPath op value".
func (c *compiler) compare(e *filter.AttributeExpression, sc scope) (pred, *Error) {
	// Terms are comparisons, as docs/scim.md says; and, or and not join
	// at most one fewer, and brackets are bounded apart (maxFilterDepth).
	if c.nodes++; c.nodes > maxFilterNodes {
		return nil, bad("invalidFilter", "the filter has more than %d terms", maxFilterNodes)
	}
	p := e.AttributePath
	var (
		key  string
		a    *attr
		leaf *attr
	)
	if sc.elem != nil {
		if p.URI() != "" || p.SubAttribute != nil {
			return nil, bad("invalidFilter", "%s: not a sub-attribute of %s", p, sc.elem.Name)
		}
		leaf = find(sc.elem.Sub, p.AttributeName)
		if leaf == nil {
			return nil, bad("invalidFilter", "%s has no sub-attribute %s", sc.elem.Name, p.AttributeName)
		}
	} else {
		key, a = sc.rt.lookup(p.URI(), p.AttributeName)
		if a == nil {
			return nil, bad("invalidFilter", "unknown attribute %s", p)
		}
		leaf = a
		if a.Type == tComplex {
			// emails eq "x" compares emails.value (RFC 7644 §3.4.2.2).
			name := "value"
			if p.SubAttribute != nil {
				name = *p.SubAttribute
			}
			if leaf = find(a.Sub, name); leaf == nil {
				return nil, bad("invalidFilter", "%s has no sub-attribute %s", a.Name, name)
			}
		} else if p.SubAttribute != nil {
			return nil, bad("invalidFilter", "%s has no sub-attributes", a.Name)
		}
	}
	op := filter.CompareOperator(strings.ToLower(string(e.Operator)))
	cv := e.CompareValue
	switch op {
	case filter.PR:
	case filter.EQ, filter.NE:
	case filter.CO, filter.SW, filter.EW:
		if _, ok := cv.(string); !ok || leaf.Type == tBool {
			return nil, bad("invalidFilter", "%s takes a string", op)
		}
	case filter.GT, filter.GE, filter.LT, filter.LE:
		if leaf.Type == tBool || leaf.Type == tComplex || cv == nil {
			return nil, bad("invalidFilter", "%s cannot order %s", op, leaf.Name)
		}
	default:
		return nil, bad("invalidFilter", "unknown operator %q", e.Operator)
	}
	values := func(m map[string]any) []any {
		if sc.elem != nil {
			return flat(m[leaf.Name])
		}
		ctr := container(m, key)
		if a.Type != tComplex {
			return flat(ctr[a.Name])
		}
		var out []any
		for _, el := range elements(ctr, a) {
			out = append(out, flat(el[leaf.Name])...)
		}
		return out
	}
	return func(m map[string]any) bool {
		vs := values(m)
		switch op {
		case filter.PR:
			return len(vs) > 0
		case filter.NE:
			for _, v := range vs {
				if match(filter.EQ, leaf, v, cv) {
					return false
				}
			}
			return true
		}
		for _, v := range vs {
			if match(op, leaf, v, cv) {
				return true
			}
		}
		return false
	}, nil
}

// container returns the map holding a resource's attributes of key ("" for
// the core, or an extension's URN).
func container(m map[string]any, key string) map[string]any {
	if key == "" {
		return m
	}
	sub, _ := m[key].(map[string]any)
	return sub
}

// elements returns the complex values of a's attribute in m.
func elements(m map[string]any, a *attr) []map[string]any {
	var out []map[string]any
	for _, v := range flat(m[a.Name]) {
		if el, ok := v.(map[string]any); ok {
			out = append(out, el)
		}
	}
	return out
}

func flat(v any) []any {
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		return t
	}
	return []any{v}
}

// match applies op to one value v of attribute a and the filter's value.
func match(op filter.CompareOperator, a *attr, v, cv any) bool {
	switch v := v.(type) {
	case string:
		s, ok := cv.(string)
		if !ok {
			return false
		}
		if !a.CaseExact {
			v, s = strings.ToLower(v), strings.ToLower(s)
		}
		switch op {
		case filter.EQ:
			return v == s
		case filter.CO:
			return strings.Contains(v, s)
		case filter.SW:
			return strings.HasPrefix(v, s)
		case filter.EW:
			return strings.HasSuffix(v, s)
		}
		return order(op, strings.Compare(v, s))
	case bool:
		b, ok := cv.(bool)
		return ok && op == filter.EQ && v == b
	case json.Number:
		x, err := v.Float64()
		var y float64
		switch n := cv.(type) {
		case int:
			y = float64(n)
		case float64:
			y = n
		default:
			return false
		}
		if err != nil {
			return false
		}
		if op == filter.EQ {
			return x == y
		}
		switch {
		case x < y:
			return order(op, -1)
		case x > y:
			return order(op, 1)
		}
		return order(op, 0)
	}
	return false
}

func order(op filter.CompareOperator, c int) bool {
	switch op {
	case filter.GT:
		return c > 0
	case filter.GE:
		return c >= 0
	case filter.LT:
		return c < 0
	case filter.LE:
		return c <= 0
	}
	return false
}
