// Package logline turns what a connector hands the broker for its log
// into bounded slog records. Both runtimes use it, so a connector's lines
// have the same shape whether it runs as a process plugin (hclog JSON on
// its stderr) or as a WASM module (slog JSON through the log host
// function): the connector's level and message, its attributes in a group
// of their own. A connector is not trusted to be well behaved: a record
// is bounded in size and attribute count, and control characters are
// replaced, so it can neither flood nor forge the broker's log.
package logline

import (
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"unicode/utf8"
)

// Bounds on one record.
const (
	MaxMessage  = 4 << 10 // message bytes
	MaxAttrs    = 32      // attributes; more are counted in more_attributes
	MaxAttrText = 1 << 10 // bytes of one attribute's value
	maxName     = 64      // bytes of one attribute's name
)

// Object decodes line as a JSON object; ok is false for anything else.
func Object(line []byte) (m map[string]any, ok bool) {
	if len(line) == 0 || line[0] != '{' {
		return nil, false
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, false
	}
	return m, true
}

// Attrs turns the members of m, but those skip names, into attributes:
// sorted by name, at most MaxAttrs, names without a leading "@", strings
// cut at MaxAttrText, nested objects and arrays as their JSON text (so
// one attribute stays one bounded string).
func Attrs(m map[string]any, skip func(name string) bool) []slog.Attr {
	keys := make([]string, 0, len(m))
	for k := range m {
		if !skip(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var attrs []slog.Attr
	for i, k := range keys {
		if i == MaxAttrs {
			attrs = append(attrs, slog.Int("more_attributes", len(keys)-MaxAttrs))
			break
		}
		attrs = append(attrs, slog.Any(Printable(strings.TrimPrefix(k, "@"), maxName), bound(m[k])))
	}
	return attrs
}

func bound(v any) any {
	switch v := v.(type) {
	case string:
		return Printable(v, MaxAttrText)
	case map[string]any, []any:
		b, _ := json.Marshal(v)
		return Printable(string(b), MaxAttrText)
	}
	return v // bool, float64, nil
}

// Printable cuts s to about max bytes on a rune boundary and replaces
// control characters and invalid UTF-8, so a connector cannot forge log
// lines in a text log.
func Printable(s string, max int) string {
	var b strings.Builder
	for i, r := range s {
		if i >= max {
			b.WriteString("...")
			break
		}
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
