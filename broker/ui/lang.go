package ui

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"golang.org/x/text/language"
)

// Languages: every page is rendered in one language of the catalogue,
// chosen per request from the login's ui_locales (OpenID Connect Core
// §3.1.2.1), then the browser's Accept-Language, then the theme's
// default. A page never mixes languages: a catalogue that lacks an id
// is a bug TestCatalogueComplete catches, not a fallback to English.

// catalogues are the languages Portico ships, by BCP 47 tag.
var catalogues = map[string]map[string]message{
	"en": english,
	"de": german,
}

// Languages are the tags of the languages Portico ships, sorted.
func Languages() []string { return slices.Sorted(maps.Keys(catalogues)) }

// langKey is where a request's chosen language is kept in its gin context.
const langKey = "portico.ui.lang"

// maxLocales bounds the tags read from ui_locales or Accept-Language,
// which a client or browser controls.
const maxLocales = 16

// languages sets up the offered languages: the theme's default first
// (the matcher's fallback), then the others.
func (p *Pages) languages(th Theme) error {
	def := th.Language
	if def == "" {
		def = "en"
	}
	offered := th.Languages
	if len(offered) == 0 {
		offered = Languages()
	}
	if !slices.Contains(offered, def) {
		return fmt.Errorf("ui: default language %q is not among the offered %v", def, offered)
	}
	p.langs = []string{def}
	for _, l := range offered {
		if _, ok := catalogues[l]; !ok {
			return fmt.Errorf("ui: no catalogue for language %q (Portico ships %v)", l, Languages())
		}
		if l != def && !slices.Contains(p.langs, l) {
			p.langs = append(p.langs, l)
		}
	}
	tags := make([]language.Tag, len(p.langs))
	for i, l := range p.langs {
		tags[i] = language.MustParse(l)
	}
	p.matcher = language.NewMatcher(tags)
	return nil
}

// match returns the offered language that best fits tags, in order of
// preference, and whether any fits at all.
func (p *Pages) match(tags []language.Tag) (string, bool) {
	if len(tags) == 0 {
		return "", false
	}
	if len(tags) > maxLocales {
		tags = tags[:maxLocales]
	}
	_, i, conf := p.matcher.Match(tags...)
	if conf == language.No {
		return "", false
	}
	return p.langs[i], true
}

// parseLocales reads a space-separated list of BCP 47 tags (ui_locales),
// skipping those that do not parse.
func parseLocales(s string) []language.Tag {
	var tags []language.Tag
	for _, f := range strings.Fields(s) {
		if len(tags) == maxLocales {
			break
		}
		if t, err := language.Parse(f); err == nil {
			tags = append(tags, t)
		}
	}
	return tags
}

// UseLocales makes the request's pages use the first of locales (the
// login's ui_locales) that Portico offers; it changes nothing when none
// is offered, so Accept-Language still decides.
func (p *Pages) UseLocales(c *gin.Context, locales string) {
	if l, ok := p.match(parseLocales(locales)); ok {
		c.Set(langKey, l)
	}
}

// Lang is the language of the request's pages: UseLocales's choice, else
// a ui_locales query parameter (the authorization request's own pages),
// else the best Accept-Language match, else the default.
func (p *Pages) Lang(c *gin.Context) string {
	if v, ok := c.Get(langKey); ok {
		return v.(string)
	}
	l := p.langs[0]
	if c.Request != nil {
		if m, ok := p.match(parseLocales(c.Query("ui_locales"))); ok {
			l = m
		} else if m, ok := p.match(acceptLanguage(c.GetHeader("Accept-Language"))); ok {
			l = m
		}
	}
	c.Set(langKey, l)
	return l
}

// acceptLanguage reads an Accept-Language header (RFC 9110 §12.5.4),
// best first. A range that does not parse is skipped, not the header:
// "de, x-bogus;q=0.1" still asks for German.
func acceptLanguage(h string) []language.Tag {
	if h == "" || len(h) > 1024 {
		return nil
	}
	type ranked struct {
		tag language.Tag
		q   float64
	}
	var rs []ranked
	for part := range strings.SplitSeq(h, ",") {
		if len(rs) == maxLocales {
			break
		}
		tags, q, err := language.ParseAcceptLanguage(strings.TrimSpace(part))
		if err != nil || len(tags) != 1 || q[0] <= 0 {
			continue
		}
		rs = append(rs, ranked{tags[0], float64(q[0])})
	}
	slices.SortStableFunc(rs, func(a, b ranked) int { return cmp.Compare(b.q, a.q) })
	out := make([]language.Tag, len(rs))
	for i, r := range rs {
		out[i] = r.tag
	}
	return out
}

// Offered are the languages the pages are offered in, the default first.
func (p *Pages) Offered() []string { return slices.Clone(p.langs) }
