// Package configschema describes a connector's configuration as JSON
// Schema (draft 2020-12), from the Go type its JSON config decodes into,
// so that tools — Portico's admin console, an editor — can show a form
// for any connector type and check a config before the connector sees it.
//
// It reads the type by reflection: a field's JSON name is its property,
// `omitempty`/`omitzero` fields are optional and the others required,
// and a type whose name ends in Duration is a duration string ("30s").
// It needs nothing of the connector but its config type.
package configschema

import (
	"encoding"
	"reflect"
	"strings"
)

// Schema is a JSON Schema; it marshals to JSON as is.
type Schema map[string]any

// For returns the schema of v's type, a struct or a pointer to one.
func For(v any) Schema {
	s := of(reflect.TypeOf(v), map[reflect.Type]bool{})
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	return s
}

var textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()

func of(t reflect.Type, seen map[reflect.Type]bool) Schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if strings.HasSuffix(t.Name(), "Duration") {
		return Schema{"type": "string", "format": "duration"}
	}
	if t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
		return Schema{"type": "string"}
	}
	switch t.Kind() {
	case reflect.String:
		return Schema{"type": "string"}
	case reflect.Bool:
		return Schema{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return Schema{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return Schema{"type": "number"}
	case reflect.Slice, reflect.Array:
		return Schema{"type": "array", "items": of(t.Elem(), seen)}
	case reflect.Map:
		return Schema{"type": "object", "additionalProperties": of(t.Elem(), seen)}
	case reflect.Struct:
		if seen[t] { // a recursive type: any object
			return Schema{"type": "object"}
		}
		seen[t] = true
		defer delete(seen, t)
		props, order := Schema{}, []string{}
		var required []string
		fields(t, seen, props, &order, &required)
		s := Schema{"type": "object", "properties": props, "additionalProperties": false, "x-order": order}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	case reflect.Interface:
		return Schema{}
	}
	return Schema{}
}

// fields adds t's exported fields, embedded structs' flattened as
// encoding/json does.
func fields(t reflect.Type, seen map[reflect.Type]bool, props Schema, order, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			fields(f.Type, seen, props, order, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = of(f.Type, seen)
		*order = append(*order, name)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
}
