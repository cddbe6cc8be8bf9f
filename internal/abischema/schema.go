package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/portico-idp/portico/sdk/wasm/abi"
	"github.com/portico-idp/portico/sdk/wire"
)

// OutputDir is where the schemas go, relative to the repository's root.
const OutputDir = "docs/wasm-abi"

// messages are the top-level messages, by file name.
var messages = []struct {
	file, title string
	typ         reflect.Type
}{
	{"request.schema.json", "Portico ABI: the broker's request to portico_call", reflect.TypeFor[wire.Request]()},
	{"response.schema.json", "Portico ABI: a module's answer from portico_call", reflect.TypeFor[wire.Response]()},
	{"http-request.schema.json", "Portico ABI: the http_request host function's argument", reflect.TypeFor[abi.HTTPRequest]()},
	{"http-response.schema.json", "Portico ABI: the http_request host function's pending result", reflect.TypeFor[abi.HTTPResponse]()},
}

// sdkModule is the sdk's module path; its packages' sources are under
// sdk/ in the repository.
const sdkModule = "github.com/portico-idp/portico/sdk"

// Schema is a JSON Schema (draft 2020-12), members in a stable order.
type Schema struct {
	Schema          string             `json:"$schema,omitempty"`
	Title           string             `json:"title,omitempty"`
	Description     string             `json:"description,omitempty"`
	Ref             string             `json:"$ref,omitempty"`
	Type            any                `json:"type,omitempty"` // a name, or a list of names
	ContentEncoding string             `json:"contentEncoding,omitempty"`
	Enum            []string           `json:"enum,omitempty"`
	Properties      *Properties        `json:"properties,omitempty"`
	Required        []string           `json:"required,omitempty"`
	Items           *Schema            `json:"items,omitempty"`
	Additional      *Schema            `json:"additionalProperties,omitempty"`
	Defs            map[string]*Schema `json:"$defs,omitempty"` // encoding/json sorts the names
}

// Properties are an object's members in the Go fields' order.
type Properties struct {
	Names   []string
	Schemas []*Schema
}

func (p *Properties) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, n := range p.Names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(n)
		v, err := marshal(p.Schemas[i])
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping (descriptions hold < and &).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Generate returns the schema files, by name.
func Generate(root string) (map[string][]byte, error) {
	c, err := readComments(root)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, m := range messages {
		g := &gen{comments: c, defs: map[string]*Schema{}}
		s, err := g.object(m.typ)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.typ, err)
		}
		s.Schema = "https://json-schema.org/draft/2020-12/schema"
		s.Title = m.title
		if len(g.defs) > 0 {
			s.Defs = g.defs
		}
		raw, err := marshal(s)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		if err := json.Indent(&b, raw, "", "  "); err != nil {
			return nil, err
		}
		b.WriteByte('\n')
		out[m.file] = b.Bytes()
	}
	return out, nil
}

type gen struct {
	comments *comments
	defs     map[string]*Schema
}

// object is the schema of struct type t.
func (g *gen) object(t reflect.Type) (*Schema, error) {
	s := &Schema{Type: "object", Description: g.comments.types[key(t)], Properties: &Properties{}}
	for f := range t.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			return nil, fmt.Errorf("field %s has no json name", f.Name)
		}
		omit := hasOpt(opts, "omitempty") || hasOpt(opts, "omitzero")
		fs, err := g.value(f.Type, !omit)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		if d := g.comments.fields[key(t)+"."+f.Name]; d != "" {
			if fs.Ref != "" { // a $ref with siblings keeps them in 2020-12
				fs = &Schema{Ref: fs.Ref, Description: d}
			} else {
				fs.Description = d
			}
		}
		if e := g.comments.enums[key(t)+"."+f.Name]; e != nil {
			fs.Enum = e
		}
		s.Properties.Names = append(s.Properties.Names, name)
		s.Properties.Schemas = append(s.Properties.Schemas, fs)
		if !omit {
			s.Required = append(s.Required, name)
		}
	}
	return s, nil
}

var rawMessage = reflect.TypeFor[json.RawMessage]()

// value is the schema of a member of Go type t; always tells whether Go
// writes it even when empty, where a nil slice or map becomes null.
func (g *gen) value(t reflect.Type, always bool) (*Schema, error) {
	nullable := func(typ string) any {
		if always {
			return []string{typ, "null"}
		}
		return typ
	}
	if t == rawMessage {
		return &Schema{}, nil // any JSON value
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.value(t.Elem(), false)
	case reflect.String:
		return &Schema{Type: "string"}, nil
	case reflect.Bool:
		return &Schema{Type: "boolean"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &Schema{Type: "integer"}, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return &Schema{Type: nullable("string"), ContentEncoding: "base64"}, nil
		}
		items, err := g.value(t.Elem(), false)
		if err != nil {
			return nil, err
		}
		return &Schema{Type: nullable("array"), Items: items}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key %s: only string keys are JSON", t.Key())
		}
		v, err := g.value(t.Elem(), false)
		if err != nil {
			return nil, err
		}
		return &Schema{Type: nullable("object"), Additional: v}, nil
	case reflect.Struct:
		if _, ok := g.defs[t.Name()]; !ok {
			g.defs[t.Name()] = nil // recursion guard
			s, err := g.object(t)
			if err != nil {
				return nil, err
			}
			g.defs[t.Name()] = s
		}
		return &Schema{Ref: "#/$defs/" + t.Name()}, nil
	}
	return nil, fmt.Errorf("type %s has no JSON Schema here", t)
}

func hasOpt(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

func key(t reflect.Type) string { return t.PkgPath() + "." + t.Name() }

// comments are what the source says of the types: their doc comments,
// their fields' (a doc comment, or else a line comment), and the values a
// string field takes (sdk/wire's Op* constants for Request.Op, Kind* for
// Error.Kind).
type comments struct {
	types, fields map[string]string
	enums         map[string][]string
}

func readComments(root string) (*comments, error) {
	c := &comments{types: map[string]string{}, fields: map[string]string{}, enums: map[string][]string{}}
	pkgs, seen := map[string]bool{}, map[reflect.Type]bool{}
	for _, m := range messages {
		collect(m.typ, pkgs, seen)
	}
	for pkg := range pkgs {
		rel, ok := strings.CutPrefix(pkg, sdkModule)
		if !ok {
			return nil, fmt.Errorf("package %s is not in the sdk module", pkg)
		}
		if err := c.read(pkg, filepath.Join(root, "sdk", filepath.FromSlash(rel))); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// collect adds the packages of t's struct types, through their fields.
func collect(t reflect.Type, pkgs map[string]bool, seen map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return
	}
	seen[t] = true
	pkgs[t.PkgPath()] = true
	for f := range t.Fields() {
		collect(f.Type, pkgs, seen)
	}
}

func (c *comments) read(pkg, dir string) error {
	fset := token.NewFileSet()
	files, err := parser.ParseDir(fset, dir, nil, parser.ParseComments)
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, p := range files {
		if strings.HasSuffix(p.Name, "_test") {
			continue
		}
		for _, f := range p.Files {
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok {
					continue
				}
				for _, spec := range gd.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						c.typeSpec(pkg, gd, s)
					case *ast.ValueSpec:
						c.constSpec(pkg, gd, s)
					}
				}
			}
		}
	}
	return nil
}

func (c *comments) typeSpec(pkg string, gd *ast.GenDecl, s *ast.TypeSpec) {
	k := pkg + "." + s.Name.Name
	if d := text(s.Doc); d != "" {
		c.types[k] = d
	} else if len(gd.Specs) == 1 {
		c.types[k] = text(gd.Doc)
	}
	st, ok := s.Type.(*ast.StructType)
	if !ok {
		return
	}
	last := "" // a doc comment naming several fields describes each
	for _, f := range st.Fields.List {
		d := text(f.Doc)
		if d != "" {
			last = d
		} else if d = text(f.Comment); d == "" && len(f.Names) > 0 && strings.Contains(last, f.Names[0].Name) {
			d = last
		}
		for _, n := range f.Names {
			c.fields[k+"."+n.Name] = d
		}
	}
}

// enumOf says which field the constants named with a prefix are the
// values of.
var enumOf = map[string]string{
	"Op":   reflect.TypeFor[wire.Request]().Name() + ".Op",
	"Kind": reflect.TypeFor[wire.Error]().Name() + ".Kind",
}

func (c *comments) constSpec(pkg string, gd *ast.GenDecl, s *ast.ValueSpec) {
	if gd.Tok != token.CONST || pkg != reflect.TypeFor[wire.Request]().PkgPath() {
		return
	}
	for i, n := range s.Names {
		for prefix, field := range enumOf {
			if !strings.HasPrefix(n.Name, prefix) || i >= len(s.Values) {
				continue
			}
			lit, ok := s.Values[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				continue
			}
			v, err := strconv.Unquote(lit.Value)
			if err == nil {
				k := pkg + "." + field
				c.enums[k] = append(c.enums[k], v)
				sort.Strings(c.enums[k])
			}
		}
	}
}

// text is a comment as one paragraph of plain text.
func text(g *ast.CommentGroup) string {
	if g == nil {
		return ""
	}
	return strings.Join(strings.Fields(g.Text()), " ")
}

// UnmarshalJSON reads what MarshalJSON writes, for the tests.
func (p *Properties) UnmarshalJSON(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if _, err := d.Token(); err != nil { // {
		return err
	}
	for d.More() {
		k, err := d.Token()
		if err != nil {
			return err
		}
		var s *Schema
		if err := d.Decode(&s); err != nil {
			return err
		}
		p.Names = append(p.Names, k.(string))
		p.Schemas = append(p.Schemas, s)
	}
	return nil
}
