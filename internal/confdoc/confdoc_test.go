package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/identity"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store/badger"
)

// root is the repository's root, seen from this package's directory.
const root = "../.."

// TestUpToDate fails when someone changed a configuration type, a doc
// comment or the template without regenerating the reference.
func TestUpToDate(t *testing.T) {
	want, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, OutputPath))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s is out of date: run go generate ./broker/config/ (or make docs) and commit it\n%s",
			OutputPath, firstDiff(string(got), string(want)))
	}
}

// firstDiff shows the first line that differs.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n  file:      %q\n  generated: %q", i+1, a, b)
		}
	}
	return ""
}

var (
	headingRE = regexp.MustCompile("^#{2,3} `([^`]+)`$")
	rowRE     = regexp.MustCompile("^\\| `([a-z0-9_]+)` \\|")
)

// TestEveryField reads docs/configuration.md as a reader would, section
// heading by section heading, and checks that every field of the
// configuration types (walked here by reflection, apart from the
// generator's walk) has a row under the heading of its struct.
func TestEveryField(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root, OutputPath))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{} // "section\x00field"
	section := ""
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "## ") {
			section = "" // a heading without a path (Top level, Example) ends the section
		}
		if m := headingRE.FindStringSubmatch(line); m != nil {
			section = m[1]
		} else if line == "## Top level" {
			section = "."
		}
		if m := rowRE.FindStringSubmatch(line); m != nil && section != "" {
			rows[section+"\x00"+m[1]] = true
		}
	}
	var fields []string
	var walk func(path string, t reflect.Type)
	walk = func(path string, t reflect.Type) {
		for _, sf := range reflect.VisibleFields(t) {
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			fields = append(fields, path+"\x00"+name)
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			sub := join(path, name)
			if path == "." {
				sub = name
			}
			switch {
			case ft.Kind() == reflect.Struct:
				walk(sub, ft)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(sub+"[]", ft.Elem())
			case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
				walk(sub+".<name>", ft.Elem())
			}
		}
	}
	walk(".", reflect.TypeFor[config.Config]())
	if len(fields) < 150 {
		t.Fatalf("walked only %d fields: the walk is broken", len(fields))
	}
	for _, f := range fields {
		if !rows[f] {
			sec, name, _ := strings.Cut(f, "\x00")
			t.Errorf("%s has no row for field %s", OutputPath, join(strings.TrimPrefix(sec, "."), name))
		}
	}
}

// TestMissingComment: a field without a doc comment stops the generator,
// so a new field cannot reach the reference undescribed.
func TestMissingComment(t *testing.T) {
	comments, err := Comments(root, commentDirs)
	if err != nil {
		t.Fatal(err)
	}
	delete(comments, "config.Client.Consent")
	_, err = Sections(comments)
	if err == nil || !strings.Contains(err.Error(), "clients[].consent") {
		t.Fatalf("Sections without Client.Consent's comment: %v, want an error naming clients[].consent", err)
	}
}

// TestOtherDefaults checks the defaults the generator cannot compute
// against the values the code applies, where the code exports them.
func TestOtherDefaults(t *testing.T) {
	lim := identity.DefaultLimits
	postgres := config.Config{Storage: config.Storage{Type: config.StoragePostgres}}
	for path, want := range map[string]string{
		"http.write_timeout":                       "`" + formatDuration((&config.Config{}).HTTPWriteTimeout()) + "`",
		"ops.sync_interval":                        "`" + formatDuration(postgres.SyncEvery()) + "` on postgres, `" + formatDuration((&config.Config{}).SyncEvery()) + "` on badger",
		"storage.min_free_space":                   "`" + config.Size(badger.DefaultMinFreeSpace).String() + "`",
		"connectors[].limits.max_claim_length":     fmt.Sprintf("`%d`", lim.MaxClaimLength),
		"connectors[].limits.max_groups":           fmt.Sprintf("`%d`", lim.MaxGroups),
		"connectors[].limits.max_attributes":       fmt.Sprintf("`%d`", lim.MaxAttributes),
		"connectors[].limits.max_attribute_values": fmt.Sprintf("`%d`", lim.MaxAttributeValues),
		"connectors[].limits.max_size":             fmt.Sprintf("`%d` (%d KiB)", lim.MaxSize, lim.MaxSize>>10),
	} {
		if got := otherDefaults[path]; got != want {
			t.Errorf("otherDefaults[%q] = %q, the code says %q", path, got, want)
		}
	}
}

// TestFormat: durations as the file writes them.
func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{time.Minute, "`1m`"},
		{500 * time.Millisecond, "`500ms`"},
		{90 * time.Second, "`1m30s`"},
		{720 * time.Hour, "`720h` (30 days)"},
		{36 * time.Hour, "`36h`"},
	} {
		if got := format(reflect.ValueOf(config.Duration(tc.d))); got != tc.want {
			t.Errorf("format(%v) = %s, want %s", tc.d, got, tc.want)
		}
	}
}

// TestTemplateErrors: a section placed twice, or a marker naming no
// section, is an error rather than a silently odd page.
func TestTemplateErrors(t *testing.T) {
	tmpl, err := os.ReadFile(filepath.Join(root, TemplatePath))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, add, want string
	}{
		{"twice", "<!-- fields: log -->\n", `section "log" placed twice`},
		{"unknown", "<!-- fields: nosuch -->\n", `no section "nosuch"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, p := range commentDirs {
				copyDir(t, filepath.Join(root, p), filepath.Join(dir, p))
			}
			copyDir(t, filepath.Join(root, "examples"), filepath.Join(dir, "examples"))
			write(t, filepath.Join(dir, TemplatePath), string(tmpl)+tc.add)
			if _, err := Generate(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Generate: %v, want %q", err, tc.want)
			}
		})
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(from, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	files2, _ := filepath.Glob(filepath.Join(from, "*.yaml"))
	for _, f := range append(files, files2...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(to, filepath.Base(f)), string(b))
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
