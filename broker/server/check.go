package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/connectors/github"
	"github.com/portico-idp/portico/connectors/ldap"
	"github.com/portico-idp/portico/connectors/oidc"
	"github.com/portico-idp/portico/connectors/saml"
	"github.com/portico-idp/portico/plugins/process"
	"github.com/portico-idp/portico/plugins/wasm"
)

// Checking connectors before anything starts (issue 19): Open runs
// CheckConnectors before it opens the store, and `portico config check`
// runs it too, so a wrong type or a connector's bad config is reported
// before a store file exists, with the field's full path.

// connectorSchema is how one connector type's config block is checked
// without building the connector: its Go type (for unknown fields and
// suggestions) and its parser, which validates but connects nowhere.
type connectorSchema struct {
	typ   reflect.Type
	parse func([]byte) error
}

func parseOnly[T any](f func([]byte) (T, error)) func([]byte) error {
	return func(raw []byte) error { _, err := f(raw); return err }
}

// schemas covers every factory (a test keeps the two alike).
var schemas = map[string]connectorSchema{
	"local":     {reflect.TypeFor[config.LocalConfig](), parseOnly(config.ParseLocalConfig)},
	"ldap":      {reflect.TypeFor[ldap.Config](), parseOnly(ldap.ParseConfig)},
	"saml":      {reflect.TypeFor[saml.Config](), parseOnly(saml.ParseConfig)},
	"oidc":      {reflect.TypeFor[oidc.Config](), parseOnly(oidc.ParseConfig)},
	"google":    {reflect.TypeFor[oidc.GoogleConfig](), parseOnly(oidc.ParseGoogleConfig)},
	"microsoft": {reflect.TypeFor[oidc.MicrosoftConfig](), parseOnly(oidc.ParseMicrosoftConfig)},
	"github":    {reflect.TypeFor[github.Config](), parseOnly(github.ParseConfig)},
	"plugin":    {reflect.TypeFor[process.Config](), parseOnly(process.ParseConfig)},
	"wasm":      {reflect.TypeFor[wasm.Config](), parseOnly(wasm.ParseConfig)},
}

// ConnectorTypes are the connector types Portico builds, sorted.
func ConnectorTypes() []string {
	out := make([]string, 0, len(factories))
	for t := range factories {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// CheckConnectors checks every configured connector's type and config
// block as its factory would, without starting it, and returns every
// problem, each a *config.FieldError with the full path
// ("connectors[2].config.user_search.base_dn").
func CheckConnectors(cfg *config.Config) error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, &config.FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	types := ConnectorTypes()
	for i, c := range cfg.Connectors {
		at := fmt.Sprintf("connectors[%d]", i)
		s, ok := schemas[c.Type]
		if !ok || factories[c.Type] == nil {
			if c.Type == "" {
				continue // Validate says it is required
			}
			msg := fmt.Sprintf("unknown connector type %q (supported: %s)", printable(c.Type), strings.Join(types, ", "))
			if sug := config.Suggest(c.Type, types); sug != "" {
				msg = fmt.Sprintf("unknown connector type %q (did you mean %s?)", printable(c.Type), sug)
			}
			add(at+".type", "%s", msg)
			continue
		}
		before := len(errs)
		if s.typ != nil && c.Config != nil {
			checkFields(add, at+".config", c.Config, s.typ)
		}
		if len(errs) > before {
			continue // the parser would stop at the first unknown field
		}
		raw, err := json.Marshal(c.Config)
		if err != nil {
			add(at+".config", "cannot be read as JSON")
			continue
		}
		if err := s.parse(raw); err != nil {
			for _, line := range splitErrors(err) {
				path, msg := at+".config", line
				if m := connectorErrRE.FindStringSubmatch(line); m != nil {
					path, msg = at+".config"+m[1], m[2]
				}
				add(path, "%s", msg)
			}
		}
	}
	return errors.Join(errs...)
}

// connectorErrRE matches a connector parser's error: "ldap: config.x.y: msg"
// or "ldap: config: msg".
var connectorErrRE = regexp.MustCompile(`^[a-z]+: config((?:\.[^:]+)?): (.*)$`)

// splitErrors splits a parser's joined errors (lines, or "; " in the
// plugin's) into one message each.
func splitErrors(err error) []string {
	s := regexp.MustCompile(`; ([a-z]+: config)`).ReplaceAllString(err.Error(), "\n$1")
	return strings.Split(s, "\n")
}

// checkFields reports the keys of the config block v that its Go type t
// does not have, recursively, with the closest known name.
func checkFields(add func(path, format string, args ...any), path string, v any, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice:
		if list, ok := v.([]any); ok && t != reflect.TypeFor[json.RawMessage]() {
			for i, item := range list {
				checkFields(add, fmt.Sprintf("%s[%d]", path, i), item, t.Elem())
			}
		}
	case reflect.Struct:
		if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
			return // its own JSON form
		}
		m, ok := v.(map[string]any)
		if !ok {
			return // the parser reports the wrong type
		}
		fields := map[string]reflect.Type{}
		var names []string
		collectFields(t, fields, &names)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, known := fields[k]
			if !known { // encoding/json matches names regardless of case
				for _, n := range names {
					if strings.EqualFold(n, k) {
						ft, known = fields[n], true
					}
				}
			}
			kp := path + "." + k
			switch {
			case !known && config.Suggest(k, names) != "":
				add(kp, "unknown field (did you mean %s?)", config.Suggest(k, names))
			case !known:
				add(kp, "unknown field")
			default:
				checkFields(add, kp, m[k], ft)
			}
		}
	}
}

// collectFields lists t's JSON field names, embedded structs' included.
func collectFields(t reflect.Type, fields map[string]reflect.Type, names *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collectFields(ft, fields, names)
			}
			continue
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
		*names = append(*names, name)
	}
}

// printable bounds and cleans a value from the file for an error message.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
