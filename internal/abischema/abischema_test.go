package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/portico-idp/portico/sdk/wire"
)

// root is the repository's root, seen from this package's directory.
const root = "../.."

// TestUpToDate fails when someone changed a message type or its doc
// comments without regenerating the schemas, or left a stale file.
func TestUpToDate(t *testing.T) {
	want, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(root, OutputDir, name))
		if err != nil || string(got) != string(b) {
			t.Errorf("%s/%s is out of date: run go generate ./internal/abischema/ (or make docs) and commit it", OutputDir, name)
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, OutputDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := want[e.Name()]; !ok {
			t.Errorf("%s/%s is not generated: remove it", OutputDir, e.Name())
		}
	}
}

// TestMessagesConform encodes each message as the Go side does, with
// every field set and with none, and checks the JSON against its schema:
// every member the Go encoder writes is described, with its JSON type,
// the required ones are always there, and every described member exists.
func TestMessagesConform(t *testing.T) {
	files, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range messages {
		var s *Schema
		if err := json.Unmarshal(files[m.file], &s); err != nil {
			t.Fatalf("%s: %v", m.file, err)
		}
		full, empty := reflect.New(m.typ), reflect.New(m.typ)
		fill(full.Elem())
		if r, ok := empty.Interface().(*wire.Request); ok {
			r.Op = wire.OpInfo // the one member always set
		}
		for name, v := range map[string]any{"full": full.Interface(), "empty": empty.Interface()} {
			t.Run(m.file+"/"+name, func(t *testing.T) {
				raw, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				var doc any
				json.Unmarshal(raw, &doc)
				seen := map[string]bool{}
				for _, e := range check(s, s, doc, "", seen) {
					t.Error(e)
				}
				if name == "full" {
					for _, p := range properties(s) {
						if !seen[p] {
							t.Errorf("the schema describes %s, which the Go encoder never writes", p)
						}
					}
				}
			})
		}
	}
}

// TestSchemaFailsOnDrift: the checker does catch a member the schema
// lacks and a member of the wrong type.
func TestSchemaFailsOnDrift(t *testing.T) {
	files, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	var s *Schema
	json.Unmarshal(files["response.schema.json"], &s)
	for _, tt := range []struct{ doc, want string }{
		{`{"identity":{"subject":"x","nickname":"y"}}`, "identity.nickname is not in the schema"},
		{`{"info":{"version":"1"}}`, "info.version is a string"},
		{`{"error":{"message":"m"}}`, "error.kind is required"},
		{`{"error":{"kind":"oops"}}`, "error.kind is \"oops\""},
	} {
		var doc any
		json.Unmarshal([]byte(tt.doc), &doc)
		errs := check(s, s, doc, "", map[string]bool{})
		if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, tt.want) }) {
			t.Errorf("%s: got %q, want %q", tt.doc, errs, tt.want)
		}
	}
}

// fill sets every field of v, recursively, to a non-zero value; op and
// kind get a value of their enum.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i))
		}
		switch x := v.Addr().Interface().(type) {
		case *wire.Request:
			x.Op = wire.OpLogin
		case *wire.Error:
			x.Kind = wire.KindFailed
		}
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(1)
	case reflect.Slice:
		if v.Type() == rawMessage {
			v.SetBytes([]byte(`{"a":[1,"b",null]}`))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e)
		v.SetMapIndex(reflect.ValueOf("k"), e)
	}
}

// check validates doc against s (the subset of JSON Schema Generate
// writes), recording the members it met in seen.
func check(rootS, s *Schema, doc any, at string, seen map[string]bool) []string {
	if s.Ref != "" {
		return check(rootS, rootS.Defs[strings.TrimPrefix(s.Ref, "#/$defs/")], doc, at, seen)
	}
	if s.Type == nil {
		return nil // any JSON value
	}
	var errs []string
	if !slices.Contains(typeNames(s.Type), jsonType(doc)) {
		return []string{fmt.Sprintf("%s is a %s, the schema says %v", at, jsonType(doc), s.Type)}
	}
	if s.Enum != nil && !slices.Contains(s.Enum, fmt.Sprint(doc)) {
		errs = append(errs, fmt.Sprintf("%s is %q, not one of %v", at, doc, s.Enum))
	}
	switch d := doc.(type) {
	case map[string]any:
		if s.Properties == nil && s.Additional != nil {
			for k, v := range d {
				errs = append(errs, check(rootS, s.Additional, v, at+"."+k, seen)...)
			}
			return errs
		}
		for _, r := range s.Required {
			if _, ok := d[r]; !ok {
				errs = append(errs, fmt.Sprintf("%s.%s is required", at, r))
			}
		}
		for k, v := range d {
			i := -1
			if s.Properties != nil {
				i = slices.Index(s.Properties.Names, k)
			}
			if i < 0 {
				errs = append(errs, fmt.Sprintf("%s.%s is not in the schema", at, k))
				continue
			}
			seen[strings.TrimPrefix(at+"."+k, ".")] = true
			errs = append(errs, check(rootS, s.Properties.Schemas[i], v, strings.TrimPrefix(at+"."+k, "."), seen)...)
		}
	case []any:
		if s.Items != nil {
			for i, v := range d {
				errs = append(errs, check(rootS, s.Items, v, fmt.Sprintf("%s[%d]", at, i), seen)...)
			}
		}
	}
	return errs
}

// properties lists the members s describes, as paths ("identity.name"),
// through $refs (each definition once per path).
func properties(s *Schema) []string {
	var out []string
	var walk func(n *Schema, at string, depth int)
	walk = func(n *Schema, at string, depth int) {
		if depth > 8 {
			return
		}
		if n.Ref != "" {
			n = s.Defs[strings.TrimPrefix(n.Ref, "#/$defs/")]
		}
		if n.Properties == nil {
			return
		}
		for i, name := range n.Properties.Names {
			p := strings.TrimPrefix(at+"."+name, ".")
			out = append(out, p)
			walk(n.Properties.Schemas[i], p, depth+1)
		}
	}
	walk(s, "", 0)
	return out
}

func typeNames(t any) []string {
	switch t := t.(type) {
	case string:
		return []string{t}
	case []any:
		var s []string
		for _, x := range t {
			s = append(s, fmt.Sprint(x))
		}
		return s
	}
	return nil
}

func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if v == float64(int64(v)) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "?"
}
