package scim

import (
	"slices"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// PATCH (RFC 7644 §3.5.2), in the shapes provisioners send: Okta's
// lower-case ops and no-path {"active": false}; Entra ID's "Add",
// "Replace", "Remove", string booleans, "emails[type eq \"work\"].value"
// paths and no-path values keyed by paths ("name.givenName").

type patchOp struct {
	op    string // add, replace, remove
	path  string
	value any
}

// parsePatch reads a PatchOp body.
func parsePatch(body map[string]any) ([]patchOp, *Error) {
	var rawOps any
	schemaOK := false
	for k, v := range body {
		switch {
		case strings.EqualFold(k, "schemas"):
			list, _ := v.([]any)
			for _, s := range list {
				if u, ok := s.(string); ok && strings.EqualFold(u, URNPatchOp) {
					schemaOK = true
				}
			}
		case strings.EqualFold(k, "Operations"):
			rawOps = v
		}
	}
	if !schemaOK {
		return nil, bad("invalidSyntax", "schemas must be [%q]", URNPatchOp)
	}
	list, ok := rawOps.([]any)
	if !ok || len(list) == 0 {
		return nil, bad("invalidSyntax", "Operations must be a non-empty list")
	}
	if len(list) > maxOps {
		return nil, bad("tooMany", "more than %d operations", maxOps)
	}
	ops := make([]patchOp, 0, len(list))
	for _, raw := range list {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, bad("invalidSyntax", "an operation is not an object")
		}
		var op patchOp
		for k, v := range m {
			switch strings.ToLower(k) {
			case "op":
				s, _ := v.(string)
				op.op = strings.ToLower(s)
			case "path":
				s, ok := v.(string)
				if !ok {
					return nil, bad("invalidPath", "path must be a string")
				}
				op.path = s
			case "value":
				op.value = v
			}
		}
		switch op.op {
		case "add", "replace", "remove":
		default:
			return nil, bad("invalidSyntax", "op must be add, replace or remove")
		}
		if op.op != "remove" && op.value == nil {
			return nil, bad("invalidValue", "%s needs a value", op.op)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// applyPatch applies ops to res (a canonical resource, changed in place:
// the caller passes a clone). The result still needs validate.
func applyPatch(rt *resourceType, res map[string]any, ops []patchOp) *Error {
	for _, op := range ops {
		if op.path == "" {
			if e := applyNoPath(rt, res, op); e != nil {
				return e
			}
			continue
		}
		p, e := parsePath(op.path)
		if e != nil {
			return e
		}
		if e := applyPath(rt, res, op.op, p, op.value); e != nil {
			return e
		}
	}
	return nil
}

func parsePath(raw string) (filter.Path, *Error) {
	if len(raw) > maxPathLen {
		return filter.Path{}, bad("invalidPath", "path longer than %d bytes", maxPathLen)
	}
	if nesting(raw) > 1 {
		return filter.Path{}, bad("invalidPath", "path nests filters")
	}
	p, err := filter.ParsePath([]byte(raw))
	if err != nil {
		return filter.Path{}, bad("invalidPath", "the path does not parse (RFC 7644 §3.5.2)")
	}
	return p, nil
}

// applyNoPath: the value is an object whose keys are attributes (or
// paths, or an extension's URN holding its attributes).
func applyNoPath(rt *resourceType, res map[string]any, op patchOp) *Error {
	if op.op == "remove" {
		return bad("noTarget", "remove needs a path")
	}
	m, ok := op.value.(map[string]any)
	if !ok {
		return bad("invalidValue", "without a path, value must be an object")
	}
	if len(m) > maxKeys {
		return bad("invalidValue", "more than %d attributes", maxKeys)
	}
	for k, v := range m {
		switch {
		case strings.EqualFold(k, "schemas"), strings.EqualFold(k, "id"), strings.EqualFold(k, "meta"):
			continue // Okta repeats the id; neither is the provisioner's to change
		}
		if strings.HasPrefix(strings.ToLower(k), "urn:") && rt.extension(k) == nil && find(rt.Schema.Attrs, k) == nil {
			if _, _, known := cutURN(rt, k); !known {
				continue // a custom extension's object: ignored, as in a POST
			}
		}
		if ext := rt.extension(k); ext != nil {
			sub, ok := v.(map[string]any)
			if !ok {
				return bad("invalidValue", "%s must be an object", ext.ID)
			}
			for sk, sv := range sub {
				p, e := parsePath(ext.ID + ":" + sk)
				if e != nil {
					return e
				}
				if e := applyPath(rt, res, op.op, p, sv); e != nil {
					return e
				}
			}
			continue
		}
		p, e := parsePath(k)
		if e != nil {
			return e
		}
		if e := applyPath(rt, res, op.op, p, v); e != nil {
			return e
		}
	}
	return nil
}

// ignored reports whether a path names what docs/scim.md says Portico
// ignores: a password, or an attribute of an extension it does not know
// (a provisioner's custom one). Other unknown paths are invalidPath.
func ignored(rt *resourceType, p filter.Path) bool {
	uri := p.AttributePath.URI()
	if uri == "" || strings.EqualFold(uri, rt.Schema.ID) {
		return strings.EqualFold(p.AttributePath.AttributeName, "password")
	}
	return rt.extension(uri) == nil
}

// applyPath applies one operation at a parsed path.
func applyPath(rt *resourceType, res map[string]any, op string, p filter.Path, value any) *Error {
	if ignored(rt, p) {
		return nil
	}
	key, a := rt.lookup(p.AttributePath.URI(), p.AttributePath.AttributeName)
	if a == nil {
		return bad("invalidPath", "no attribute %s", p.AttributePath)
	}
	if a.Mutability == readOnly {
		return bad("mutability", "%s is read-only", a.Name)
	}
	if op == "remove" && a.Name == "active" && key == "" {
		// Removing it would leave the user's state unsaid: say false.
		return bad("mutability", "active cannot be removed; replace it with true or false")
	}
	ctr := res
	if key != "" {
		sub, _ := res[key].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
			res[key] = sub
		}
		ctr = sub
		defer func() {
			if len(sub) == 0 {
				delete(res, key)
			}
		}()
	}
	if p.ValueExpression != nil {
		return applyFiltered(ctr, a, op, p, value)
	}
	if s := p.AttributePath.SubAttribute; s != nil {
		return applySub(ctr, a, op, *s, value)
	}
	switch op {
	case "remove":
		if a.Multi && value != nil {
			// Entra and Okta: remove these members (by value).
			drop, e := normValue(rt, a, value, a.Name)
			if e != nil {
				return e
			}
			kept := slices.DeleteFunc(flat(ctr[a.Name]), func(el any) bool { return containsValue(flat(drop), el, a) })
			setOrDelete(ctr, a.Name, kept)
			return nil
		}
		delete(ctr, a.Name)
		return nil
	}
	nv, e := normValue(rt, a, value, a.Name)
	if e != nil {
		return e
	}
	switch {
	case a.Multi && op == "add":
		list := flat(ctr[a.Name])
		for _, el := range flat(nv) {
			if !containsValue(list, el, a) {
				list = append(list, el)
			}
		}
		setOrDelete(ctr, a.Name, list)
	case a.Type == tComplex && !a.Multi:
		// Sub-attributes given replace theirs; others stay (§3.5.2.3).
		old, _ := ctr[a.Name].(map[string]any)
		merged := map[string]any{}
		for k, v := range old {
			merged[k] = v
		}
		if nm, ok := nv.(map[string]any); ok {
			for k, v := range nm {
				merged[k] = v
			}
		}
		setOrDelete(ctr, a.Name, merged)
	default:
		setOrDelete(ctr, a.Name, nv)
	}
	return nil
}

// applySub changes name.givenName and the like.
func applySub(ctr map[string]any, a *attr, op, name string, value any) *Error {
	if a.Type != tComplex {
		return bad("invalidPath", "%s has no sub-attributes", a.Name)
	}
	sa := find(a.Sub, name)
	if sa == nil {
		return bad("invalidPath", "%s has no sub-attribute %s", a.Name, name)
	}
	if sa.Mutability == readOnly {
		return bad("mutability", "%s.%s is read-only", a.Name, sa.Name)
	}
	if a.Multi {
		// emails.value without a filter: every element.
		for _, el := range elements(ctr, a) {
			if e := setSub(el, sa, op, value, a.Name); e != nil {
				return e
			}
		}
		return nil
	}
	obj, _ := ctr[a.Name].(map[string]any)
	if obj == nil {
		obj = map[string]any{}
	}
	if e := setSub(obj, sa, op, value, a.Name); e != nil {
		return e
	}
	setOrDelete(ctr, a.Name, obj)
	return nil
}

func setSub(obj map[string]any, sa *attr, op string, value any, where string) *Error {
	if op == "remove" {
		delete(obj, sa.Name)
		return nil
	}
	nv, e := normValue(nil, sa, value, where+"."+sa.Name)
	if e != nil {
		return e
	}
	setOrDelete(obj, sa.Name, nv)
	return nil
}

// applyFiltered handles members[value eq "x"] and
// emails[type eq "work"].value.
func applyFiltered(ctr map[string]any, a *attr, op string, p filter.Path, value any) *Error {
	if !a.Multi || a.Type != tComplex {
		return bad("invalidPath", "%s is not a multi-valued complex attribute", a.Name)
	}
	if nesting(p.String()) > 1 {
		return bad("invalidPath", "path nests filters")
	}
	pr, e := (&compiler{}).compile(p.ValueExpression, scope{elem: a})
	if e != nil {
		e.Type = "invalidPath"
		return e
	}
	var sa *attr
	if p.SubAttribute != nil {
		if sa = find(a.Sub, *p.SubAttribute); sa == nil {
			return bad("invalidPath", "%s has no sub-attribute %s", a.Name, *p.SubAttribute)
		}
	}
	list := flat(ctr[a.Name])
	matched := 0
	for i, el := range list {
		m, ok := el.(map[string]any)
		if !ok || !pr(m) {
			continue
		}
		matched++
		switch {
		case op == "remove" && sa == nil:
			list[i] = nil
		case sa != nil:
			if e := setSub(m, sa, op, value, a.Name); e != nil {
				return e
			}
		default: // add or replace a whole element
			nv, e := normSingle(a, value, a.Name)
			if e != nil {
				return e
			}
			list[i] = nv
		}
	}
	if matched == 0 && op != "remove" {
		// Entra sends add or replace of emails[type eq "work"].value
		// for a user without one: make the element the filter names.
		// Only that shape (a type eq filter and a sub-attribute) does.
		el, ok := elementOf(p.ValueExpression, a)
		if _, typed := el["type"]; !ok || sa == nil || len(el) != 1 || !typed {
			return bad("noTarget", "no value of %s matches the filter", a.Name)
		}
		if e := setSub(el, sa, op, value, a.Name); e != nil {
			return e
		}
		if len(list) >= maxValues {
			return bad("invalidValue", "%s: more than %d values", a.Name, maxValues)
		}
		list = append(list, el)
	}
	list = slices.DeleteFunc(list, func(el any) bool {
		m, ok := el.(map[string]any)
		return el == nil || (ok && len(m) == 0)
	})
	setOrDelete(ctr, a.Name, list)
	return nil
}

// elementOf builds the element an and-chain of eq comparisons describes.
func elementOf(e filter.Expression, a *attr) (map[string]any, bool) {
	el := map[string]any{}
	var walk func(filter.Expression) bool
	walk = func(e filter.Expression) bool {
		switch e := e.(type) {
		case *filter.LogicalExpression:
			return e.Operator == filter.AND && walk(e.Left) && walk(e.Right)
		case *filter.AttributeExpression:
			sa := find(a.Sub, e.AttributePath.AttributeName)
			if sa == nil || strings.ToLower(string(e.Operator)) != string(filter.EQ) || e.AttributePath.SubAttribute != nil {
				return false
			}
			switch v := e.CompareValue.(type) {
			case string, bool:
				el[sa.Name] = v
				return true
			}
		}
		return false
	}
	return el, walk(e)
}

func setOrDelete(m map[string]any, k string, v any) {
	switch t := v.(type) {
	case nil:
		delete(m, k)
	case []any:
		if len(t) == 0 {
			delete(m, k)
			return
		}
		m[k] = t
	case map[string]any:
		if len(t) == 0 {
			delete(m, k)
			return
		}
		m[k] = t
	default:
		m[k] = v
	}
}
