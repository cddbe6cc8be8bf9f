package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/portico-idp/portico/broker/config"
)

// Bounds on what a provisioner may send. Directories hold people, not
// documents: these are far above what Okta or Entra send and far below
// what would cost the server.
const (
	MaxBody      = 1 << 20 // bytes of a request body
	maxString    = 2048    // bytes of one string value
	maxValues    = 100     // values of a multi-valued attribute (emails...)
	MaxMembers   = 10000   // members of one group
	maxKeys      = 200     // keys of one JSON object (unknown ones included)
	maxOps       = 1000    // operations of one PATCH
	maxPathLen   = 512     // bytes of a PATCH path
	maxFilterLen = 1024    // bytes of a filter
	maxParamLen  = 1024    // bytes of attributes / excludedAttributes
)

// Error is a SCIM error (RFC 7644 §3.12): Status, and for 400s a scimType.
type Error struct {
	Status int
	Type   string // invalidFilter, invalidSyntax, invalidPath, invalidValue, uniqueness, mutability, noTarget, tooMany...
	Detail string
}

func (e *Error) Error() string { return fmt.Sprintf("scim %d %s: %s", e.Status, e.Type, e.Detail) }

func errf(status int, typ, format string, args ...any) *Error {
	return &Error{Status: status, Type: typ, Detail: fmt.Sprintf(format, args...)}
}

func bad(typ, format string, args ...any) *Error {
	return errf(http.StatusBadRequest, typ, format, args...)
}

// errorBody is the JSON of e; status is a string (RFC 7644 §3.12).
func errorBody(e *Error) map[string]any {
	m := map[string]any{"schemas": []string{URNError}, "status": fmt.Sprint(e.Status), "detail": e.Detail}
	if e.Type != "" {
		m["scimType"] = e.Type
	}
	return m
}

// decodeObject reads one JSON object, numbers kept as json.Number, and
// nothing after it.
func decodeObject(r io.Reader) (map[string]any, *Error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxBody+1))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || len(raw) > MaxBody {
		return nil, errf(http.StatusRequestEntityTooLarge, "", "the request body is larger than %d bytes", MaxBody)
	} else if err != nil {
		return nil, bad("invalidSyntax", "the body could not be read")
	}
	// encoding/json would replace invalid UTF-8 and unpaired surrogate
	// escapes silently, and keep the last of repeated keys: all are
	// refused (RFC 8259 §8.1, §8.2, §4). Keys compare without case, as
	// SCIM compares names.
	if !utf8.Valid(raw) {
		return nil, bad("invalidSyntax", "the body is not UTF-8")
	}
	if err := config.CheckJSON(raw); err != nil {
		return nil, bad("invalidSyntax", "%s", err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, bad("invalidSyntax", "the body is not JSON")
	}
	if dec.More() {
		return nil, bad("invalidSyntax", "trailing data after the JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, bad("invalidSyntax", "the body is not a JSON object")
	}
	return m, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// decodeResource reads and normalizes a resource body.
func decodeResource(rt *resourceType, r io.Reader) (map[string]any, *Error) {
	in, e := decodeObject(r)
	if e != nil {
		return nil, e
	}
	if e := checkSchemas(in, rt); e != nil {
		return nil, e
	}
	return normalize(rt, in)
}

// checkSchemas: a resource names its core schema in schemas (RFC 7643
// §3), which is required.
func checkSchemas(in map[string]any, rt *resourceType) *Error {
	for k, v := range in {
		if !strings.EqualFold(k, "schemas") {
			continue
		}
		list, ok := v.([]any)
		if !ok {
			return bad("invalidSyntax", "schemas must be a list of URNs")
		}
		for _, s := range list {
			if u, ok := s.(string); ok && strings.EqualFold(u, rt.Schema.ID) {
				return nil
			}
		}
		return bad("invalidSyntax", "schemas must include %s", rt.Schema.ID)
	}
	return bad("invalidSyntax", "schemas is required and must include %s", rt.Schema.ID)
}

// normalize returns the resource in canonical form: attribute names as
// the schema spells them, extensions under their URN, values checked and
// coerced (Entra's "True"/"False" strings become booleans), read-only and
// unknown attributes dropped, unassigned ones (null, "", []) absent.
func normalize(rt *resourceType, in map[string]any) (map[string]any, *Error) {
	if len(in) > maxKeys {
		return nil, bad("invalidSyntax", "more than %d attributes", maxKeys)
	}
	out := map[string]any{}
	for k, v := range in {
		if strings.EqualFold(k, "schemas") {
			continue
		}
		if ext := rt.extension(k); ext != nil {
			if v == nil {
				continue
			}
			m, ok := v.(map[string]any)
			if !ok {
				return nil, bad("invalidSyntax", "%s must be an object", ext.ID)
			}
			sub, e := normObject(ext.Attrs, m, ext.ID)
			if e != nil {
				return nil, e
			}
			if len(sub) > 0 {
				out[ext.ID] = sub
			}
			continue
		}
		_, a := rt.lookup("", k)
		if a == nil || a.Mutability == readOnly {
			continue // unknown (a provisioner's custom attribute) or the server's
		}
		nv, e := normValue(rt, a, v, a.Name)
		if e != nil {
			return nil, e
		}
		if nv != nil {
			out[a.Name] = nv
		}
	}
	return out, nil
}

// normObject normalizes a complex value's sub-attributes.
func normObject(attrs []*attr, in map[string]any, where string) (map[string]any, *Error) {
	if len(in) > maxKeys {
		return nil, bad("invalidSyntax", "%s: more than %d attributes", where, maxKeys)
	}
	out := map[string]any{}
	for k, v := range in {
		a := find(attrs, k)
		if a == nil || a.Mutability == readOnly {
			continue
		}
		nv, e := normValue(nil, a, v, where+"."+a.Name)
		if e != nil {
			return nil, e
		}
		if nv != nil {
			out[a.Name] = nv
		}
	}
	return out, nil
}

// normValue checks and coerces one attribute's value; nil means
// unassigned.
func normValue(rt *resourceType, a *attr, v any, where string) (any, *Error) {
	if v == nil {
		return nil, nil
	}
	if !a.Multi {
		return normSingle(a, v, where)
	}
	list, ok := v.([]any)
	if !ok {
		list = []any{v} // a lone value where a list belongs: lenient
	}
	limit := maxValues
	if a.Name == "members" {
		limit = MaxMembers
	}
	if len(list) > limit {
		return nil, bad("invalidValue", "%s: more than %d values", where, limit)
	}
	out := make([]any, 0, len(list))
	for _, el := range list {
		nv, e := normSingle(a, el, where)
		if e != nil {
			return nil, e
		}
		if nv != nil && !containsValue(out, nv, a) {
			out = append(out, nv)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func normSingle(a *attr, v any, where string) (any, *Error) {
	switch a.Type {
	case tComplex:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, bad("invalidValue", "%s must be an object", where)
		}
		out, e := normObject(a.Sub, m, where)
		if e != nil || len(out) == 0 {
			return nil, e
		}
		return out, nil
	case tBool:
		switch b := v.(type) {
		case bool:
			return b, nil
		case string:
			// Entra ID sends "True" and "False" (a documented deviation).
			if strings.EqualFold(b, "true") {
				return true, nil
			} else if strings.EqualFold(b, "false") {
				return false, nil
			}
		}
		return nil, bad("invalidValue", "%s must be a boolean", where)
	case tInt:
		if n, ok := v.(json.Number); ok {
			if _, err := n.Int64(); err == nil {
				return n, nil
			}
		}
		return nil, bad("invalidValue", "%s must be an integer", where)
	default: // string, reference, dateTime
		s, ok := v.(string)
		if !ok {
			return nil, bad("invalidValue", "%s must be a string", where)
		}
		if e := checkString(s, where); e != nil {
			return nil, e
		}
		if s == "" {
			return nil, nil
		}
		return s, nil
	}
}

func checkString(s, where string) *Error {
	switch {
	case len(s) > maxString:
		return bad("invalidValue", "%s: longer than %d bytes", where, maxString)
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		return bad("invalidValue", "%s: not UTF-8 text", where)
	}
	return nil
}

// containsValue reports whether list holds v already: complex values
// with a "value" are the same when their values are (members by id).
func containsValue(list []any, v any, a *attr) bool {
	for _, el := range list {
		if sameElement(el, v, a) {
			return true
		}
	}
	return false
}

func sameElement(x, y any, a *attr) bool {
	mx, okx := x.(map[string]any)
	my, oky := y.(map[string]any)
	if okx && oky {
		vx, hx := mx["value"].(string)
		vy, hy := my["value"].(string)
		if hx && hy {
			va := find(a.Sub, "value")
			return equalString(vx, vy, va != nil && va.CaseExact)
		}
		return reflect.DeepEqual(mx, my)
	}
	return reflect.DeepEqual(x, y)
}

func equalString(x, y string, caseExact bool) bool {
	if caseExact {
		return x == y
	}
	return strings.EqualFold(x, y)
}

// clone deep-copies a resource, so a failed PATCH leaves the stored one.
func clone(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = clone(x)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, x := range t {
			l[i] = clone(x)
		}
		return l
	}
	return v
}

// getString returns the string at key of m, or "".
func getString(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// project applies attributes / excludedAttributes (RFC 7644 §3.4.2.5) to
// a representation, at the top level: "emails.value" keeps emails whole.
// id and schemas are always returned.
func project(rt *resourceType, rep map[string]any, attributes, excluded []string) map[string]any {
	if len(attributes) == 0 && len(excluded) == 0 {
		return rep
	}
	top := func(n string) string {
		if u, rest, ok := cutURN(rt, n); ok {
			if rest == "" {
				return u
			}
			n = rest
			if u != rt.Schema.ID {
				return u // an extension's attribute: keep or drop the extension
			}
		}
		n, _, _ = strings.Cut(n, ".")
		if _, a := rt.lookup("", n); a != nil {
			return a.Name
		}
		return n
	}
	out := maps.Clone(rep)
	if len(attributes) > 0 {
		keep := map[string]bool{"id": true, "schemas": true}
		for _, n := range attributes {
			keep[top(n)] = true
		}
		for k := range out {
			if !keep[k] {
				delete(out, k)
			}
		}
	}
	for _, n := range excluded {
		if k := top(n); k != "id" && k != "schemas" {
			delete(out, k)
		}
	}
	return out
}

// cutURN splits a name that begins with one of rt's schema URNs.
func cutURN(rt *resourceType, n string) (string, string, bool) {
	for _, s := range append([]*schema{rt.Schema}, rt.Extensions...) {
		if len(n) >= len(s.ID) && strings.EqualFold(n[:len(s.ID)], s.ID) {
			rest := n[len(s.ID):]
			if rest == "" {
				return s.ID, "", true
			}
			if rest[0] == ':' {
				return s.ID, rest[1:], true
			}
		}
	}
	return "", "", false
}

// splitParam splits a comma-separated attribute list, bounded.
func splitParam(v string) ([]string, *Error) {
	if v == "" {
		return nil, nil
	}
	if len(v) > maxParamLen {
		return nil, bad("invalidValue", "attribute list longer than %d bytes", maxParamLen)
	}
	var out []string
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}
