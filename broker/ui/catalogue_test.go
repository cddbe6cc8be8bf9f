package ui

import (
	"regexp"
	"slices"
	"testing"

	"github.com/portico-idp/portico/broker/config"
)

// verbRe matches a printf verb, explicit argument indexes (%[2]s) included,
// so that a translation that drops, adds, swaps or re-indexes one fails.
var verbRe = regexp.MustCompile(`%[-+# 0]*(\[[0-9]+\])?([0-9]+|\*)?(\.[0-9]+)?[a-zA-Z%]`)

// TestCatalogueComplete fails when any shipped language lacks an id of
// English's, has one English lacks, or changes a message's printf verbs:
// a page never falls back to another language.
func TestCatalogueComplete(t *testing.T) {
	for lang, cat := range catalogues {
		if lang == "en" {
			continue
		}
		t.Run(lang, func(t *testing.T) {
			for id, en := range english {
				tr, ok := cat[id]
				if !ok {
					t.Errorf("%q: no %s entry", id, lang)
					continue
				}
				checkTranslation(t, id, "title", en.Title, tr.Title)
				checkTranslation(t, id, "text", en.Text, tr.Text)
			}
			for id := range cat {
				if _, ok := english[id]; !ok {
					t.Errorf("%q: %s entry with no English one", id, lang)
				}
			}
		})
	}
}

// checkTranslation requires a translated string exactly where English has one,
// with English's printf verbs in English's order.
func checkTranslation(t *testing.T, id, field, en, de string) {
	t.Helper()
	if (en == "") != (de == "") {
		t.Errorf("%q: %s is %q in English but %q in the translation", id, field, en, de)
	}
	if ev, dv := verbRe.FindAllString(en, -1), verbRe.FindAllString(de, -1); !slices.Equal(ev, dv) {
		t.Errorf("%q: %s verbs are %q in English but %q in the translation", id, field, ev, dv)
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

// TestShippedLanguages keeps the configuration's list (which validates
// login.theme.language) the catalogue's.
func TestShippedLanguages(t *testing.T) {
	if got := Languages(); !slices.Equal(got, config.ShippedLanguages) {
		t.Errorf("catalogue languages %v, config.ShippedLanguages %v", got, config.ShippedLanguages)
	}
}
