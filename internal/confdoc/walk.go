package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/config"
)

// A Section is the table of one struct: the top level (path ""), or a
// nested one such as "clients[]" or "login.throttle".
type Section struct {
	Path   string
	Fields []Field
}

// A Field is one row: a field of the struct with a yaml tag.
type Field struct {
	Name    string // the YAML name
	Type    string // as the reader writes it: string, duration, list of strings, ...
	Default string // Markdown, "" for none
	Doc     string // the doc comment, as Markdown
	Section string // the path of its own section, when it is a struct
}

var (
	durationType = reflect.TypeFor[config.Duration]()
	sizeType     = reflect.TypeFor[config.Size]()
)

// Sections walks config.Config and returns every section, parents first.
func Sections(comments map[string]string) ([]Section, error) {
	w := walker{comments: comments, defaults: computedDefaults()}
	w.walk("", reflect.TypeFor[config.Config]())
	if len(w.errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(w.errs, "\n"))
	}
	for p := range otherDefaults {
		if _, ok := w.paths[p]; !ok {
			return nil, fmt.Errorf("otherDefaults names %s, which is not a field", p)
		}
	}
	return w.sections, nil
}

type walker struct {
	comments map[string]string
	defaults map[string]string
	sections []Section
	paths    map[string]bool
	errs     []string
}

// join makes the path of a field of the struct at path.
func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func (w *walker) walk(path string, t reflect.Type) {
	if w.paths == nil {
		w.paths = map[string]bool{}
	}
	i := len(w.sections)
	w.sections = append(w.sections, Section{Path: path})
	var nested []func()
	for _, sf := range reflect.VisibleFields(t) {
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		fp := join(path, name)
		w.paths[fp] = true
		key := t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:] + "." + t.Name() + "." + sf.Name
		doc, ok := w.comments[key]
		if !ok || doc == "" {
			w.errs = append(w.errs, fmt.Sprintf("%s (%s) has no doc comment", fp, key))
		}
		f := Field{Name: name, Doc: describe(doc, sf.Name, name)}
		f.Type, f.Section = w.typeOf(fp, sf.Type, &nested)
		f.Default = w.defaultOf(fp, sf.Type, f.Section)
		w.sections[i].Fields = append(w.sections[i].Fields, f)
	}
	for _, n := range nested {
		n()
	}
}

// typeOf names t for the reader and, when it is (a list or map of) a
// struct, queues that struct's section.
func (w *walker) typeOf(fp string, t reflect.Type, nested *[]func()) (name, section string) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return "duration", ""
	case t == sizeType:
		return "size", ""
	}
	queue := func(p string, st reflect.Type) string {
		*nested = append(*nested, func() { w.walk(p, st) })
		return p
	}
	switch t.Kind() {
	case reflect.String:
		return "string", ""
	case reflect.Bool:
		return "boolean", ""
	case reflect.Int, reflect.Int64, reflect.Uint64:
		return "integer", ""
	case reflect.Float64:
		return "number", ""
	case reflect.Struct:
		return "mapping", queue(fp, t)
	case reflect.Slice:
		e := t.Elem()
		if e.Kind() == reflect.Struct {
			return "list", queue(fp+"[]", e)
		}
		n, _ := w.typeOf(fp+"[]", e, nested)
		return "list of " + plural(n), ""
	case reflect.Map:
		e := t.Elem()
		if e.Kind() == reflect.Struct {
			return "mapping", queue(fp+".<name>", e)
		}
		if e.Kind() == reflect.Interface {
			return "mapping", ""
		}
		n, _ := w.typeOf(fp+".<name>", e, nested)
		return "mapping of " + plural(n), ""
	}
	w.errs = append(w.errs, fmt.Sprintf("%s: no name for type %s", fp, t))
	return t.String(), ""
}

func plural(n string) string {
	if strings.HasPrefix(n, "list of ") {
		return "lists of " + strings.TrimPrefix(n, "list of ")
	}
	return n + "s"
}

// defaultOf is the Markdown for the default of the field at fp.
func (w *walker) defaultOf(fp string, t reflect.Type, section string) string {
	computed, hasComputed := w.defaults[fp]
	other, hasOther := otherDefaults[fp]
	switch {
	case hasComputed && hasOther:
		w.errs = append(w.errs, fmt.Sprintf("%s: otherDefaults says %q but ApplyDefaults sets %s", fp, other, computed))
	case hasComputed:
		return computed
	case hasOther:
		return other
	case section != "" && t.Kind() == reflect.Struct:
		return "see below"
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "`false`"
	case reflect.Int, reflect.Float64, reflect.Uint64, reflect.Int64:
		return "`0`"
	}
	return "empty"
}

// anchor is GitHub's anchor for a heading's text.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// describe turns a doc comment into a table cell: the Go name it starts
// with becomes the YAML name, and lines are joined.
func describe(doc, goName, yamlName string) string {
	doc = strings.Join(strings.Fields(doc), " ")
	for _, p := range []string{goName + " is ", goName + " are ", goName + ": "} {
		if rest, ok := strings.CutPrefix(doc, p); ok && rest != "" {
			return escape(strings.ToUpper(rest[:1]) + rest[1:])
		}
	}
	if rest, ok := strings.CutPrefix(doc, goName); ok && rest != "" && strings.ContainsRune(" ,", rune(rest[0])) {
		doc = "`" + yamlName + "`" + rest
	}
	return escape(doc)
}

// escape keeps a cell's text inside its cell.
func escape(doc string) string {
	return strings.ReplaceAll(doc, "|", `\|`)
}

// Comments reads the doc comments of struct fields in the packages under
// root's dirs, keyed "package.Type.Field". A field without a doc comment
// of its own takes its trailing line comment.
func Comments(root string, dirs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, d := range dirs {
		files, err := filepath.Glob(filepath.Join(root, d, "*.go"))
		if err != nil {
			return nil, err
		}
		fset := token.NewFileSet()
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			src, err := os.ReadFile(name)
			if err != nil {
				return nil, err
			}
			f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
			if err != nil {
				return nil, err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				ts, ok := n.(*ast.TypeSpec)
				if !ok {
					return true
				}
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					return false
				}
				for _, fl := range st.Fields.List {
					text := fl.Doc.Text()
					if text == "" {
						text = fl.Comment.Text()
					}
					for _, n := range fl.Names {
						out[f.Name.Name+"."+ts.Name.Name+"."+n.Name] = strings.TrimSpace(text)
					}
				}
				return false
			})
		}
	}
	return out, nil
}

// computedDefaults runs ApplyDefaults on a configuration with one element
// in each list and returns, by path, every field it set.
func computedDefaults() map[string]string {
	var c config.Config
	c.Clients = make([]config.Client, 1)
	c.Users = make([]config.User, 1)
	c.Connectors = make([]config.Connector, 1)
	c.SCIM.Provisioners = make([]config.SCIMProvisioner, 1)
	c.TokenExchange.Issuers = make([]config.ExchangeIssuer, 1)
	c.ApplyDefaults()
	out := map[string]string{}
	collect("", reflect.ValueOf(c), out)
	return out
}

func collect(path string, v reflect.Value, out map[string]string) {
	t := v.Type()
	for _, sf := range reflect.VisibleFields(t) {
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		fv := v.FieldByIndex(sf.Index)
		fp := join(path, name)
		ft := sf.Type
		switch {
		case ft.Kind() == reflect.Struct && ft != durationType:
			collect(fp, fv, out)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			if fv.Len() > 0 {
				collect(fp+"[]", fv.Index(0), out)
			}
		case !fv.IsZero():
			out[fp] = format(fv)
		}
	}
}

// format writes a default as the file would.
func format(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	switch {
	case v.Type() == durationType:
		return "`" + formatDuration(time.Duration(v.Int())) + "`" + days(time.Duration(v.Int()))
	case v.Kind() == reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return "`[" + strings.Join(parts, ", ") + "]`"
	}
	return "`" + fmt.Sprint(v.Interface()) + "`"
}

// formatDuration writes 720h rather than 720h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func days(d time.Duration) string {
	if d >= 48*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf(" (%d days)", d/(24*time.Hour))
	}
	return ""
}
