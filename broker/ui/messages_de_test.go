package ui

import (
	"regexp"
	"slices"
	"testing"
)

// verbRe matches a printf verb, explicit argument indexes (%[2]s) included,
// so that a translation that drops, adds, swaps or re-indexes one fails.
var verbRe = regexp.MustCompile(`%[-+# 0]*(\[[0-9]+\])?([0-9]+|\*)?(\.[0-9]+)?[a-zA-Z%]`)

func TestGermanCatalogue(t *testing.T) {
	for _, c := range []struct {
		name   string
		en, de map[string]message
	}{
		{"pages", pageMessages, germanPages},
		{"console", consoleMessages, germanConsole},
	} {
		t.Run(c.name, func(t *testing.T) {
			for id, en := range c.en {
				de, ok := c.de[id]
				if !ok {
					t.Errorf("%q: no German entry", id)
					continue
				}
				checkTranslation(t, id, "title", en.Title, de.Title)
				checkTranslation(t, id, "text", en.Text, de.Text)
			}
			for id := range c.de {
				if _, ok := c.en[id]; !ok {
					t.Errorf("%q: German entry with no English one", id)
				}
			}
		})
	}
}

// checkTranslation requires a German string exactly where English has one,
// with English's printf verbs in English's order.
func checkTranslation(t *testing.T, id, field, en, de string) {
	t.Helper()
	if (en == "") != (de == "") {
		t.Errorf("%q: %s is %q in English but %q in German", id, field, en, de)
	}
	if ev, dv := verbRe.FindAllString(en, -1), verbRe.FindAllString(de, -1); !slices.Equal(ev, dv) {
		t.Errorf("%q: %s verbs are %q in English but %q in German", id, field, ev, dv)
	}
}

func TestVerbRe(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"Wait %s, then", []string{"%s"}},
		{"%[2]s of user %[1]s", []string{"%[2]s", "%[1]s"}},
		{"%d%% %-5.2f %q %v", []string{"%d", "%%", "%-5.2f", "%q", "%v"}},
		{"no verbs, [::1]", nil},
	} {
		if got := verbRe.FindAllString(c.in, -1); !slices.Equal(got, c.want) {
			t.Errorf("verbs of %q = %q, want %q", c.in, got, c.want)
		}
	}
}
