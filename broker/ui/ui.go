package ui

import (
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"golang.org/x/text/language"
)

// Theme is how the pages look: the product's name and logo, a colour, a
// style sheet of the operator's, templates that replace Portico's, and
// wording that replaces the catalogue's (docs/login.md).
type Theme struct {
	ProductName string // in titles and authenticator apps; "Portico" when empty
	LogoURL     string // shown above each page's heading
	Color       string // the buttons' and links' colour, a CSS colour
	CSS         string // appended to the pages' style sheet
	// Templates, if set, are parsed after Portico's: a file that defines
	// "password" replaces the password page, and so on.
	Templates fs.FS
	// Messages replace catalogue entries by id (messages.go), in every
	// language; Translations replace them in one language (by tag), over
	// Messages.
	Messages     map[string]string
	Translations map[string]map[string]string
	// Language is the pages' language when neither the login's
	// ui_locales nor the browser's Accept-Language names an offered one
	// ("en" when empty); Languages are those offered (all Portico ships
	// when empty).
	Language  string
	Languages []string
}

// Pages renders Portico's pages in the operator's theme.
type Pages struct {
	theme   Theme
	tpl     map[string]*template.Template // by language
	langs   []string                      // offered; the default first
	matcher language.Matcher
	log     *slog.Logger
	issuer  string
}

// New parses Portico's templates and the theme's; issuer is the
// authorization responses' iss (RFC 9207).
func New(th Theme, issuer string, log *slog.Logger) (*Pages, error) {
	p := &Pages{theme: th, log: log, issuer: issuer, tpl: map[string]*template.Template{}}
	if err := p.languages(th); err != nil {
		return nil, err
	}
	for _, l := range p.langs {
		tpl, err := parsePages(th, func(id string) string { return p.textIn(l, id) })
		if err != nil {
			return nil, err
		}
		p.tpl[l] = tpl
	}
	return p, nil
}

// parsePages parses Portico's templates, then the theme's over them.
func parsePages(th Theme, t func(string) string) (*template.Template, error) {
	tpl := template.New("pages").Funcs(template.FuncMap{"t": t})
	tpl, err := tpl.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("broker: parse templates: %w", err)
	}
	if th.Templates != nil {
		if tpl, err = tpl.ParseFS(th.Templates, "*.html"); err != nil {
			return nil, fmt.Errorf("broker: parse theme templates: %w", err)
		}
	}
	return tpl, nil
}

// Product is the name pages and authenticator apps show.
func (p *Pages) Product() string {
	if p.theme.ProductName != "" {
		return strings.ReplaceAll(p.theme.ProductName, ":", " ")
	}
	return "Portico"
}

// Text returns the catalogue's text for id in the default language, or
// the theme's replacement: for what is not shown to one person (the
// console's wording, mail to an address whose reader is unknown).
func (p *Pages) Text(id string) string { return p.textIn(p.langs[0], id) }

// T is message id in the request's language (Lang), with args filled in.
func (p *Pages) T(c *gin.Context, id string, args ...any) string {
	return p.MsgIn(p.Lang(c), id, args...)
}

// MsgIn is message id in language lang with args filled in.
func (p *Pages) MsgIn(lang, id string, args ...any) string {
	if len(args) == 0 {
		return p.textIn(lang, id)
	}
	return fmt.Sprintf(p.textIn(lang, id), args...)
}

func (p *Pages) textIn(lang, id string) string {
	if s, ok := p.theme.Translations[lang][id]; ok {
		return s
	}
	if s, ok := p.theme.Messages[id]; ok {
		return s
	}
	if m, ok := catalogues[lang][id]; ok {
		return m.Text
	}
	return id
}

func (p *Pages) titleIn(lang, id string) string {
	if s, ok := p.theme.Translations[lang][id+".title"]; ok {
		return s
	}
	if s, ok := p.theme.Messages[id+".title"]; ok {
		return s
	}
	return catalogues[lang][id].Title
}

// Page shows the error page of message id.
func (p *Pages) Page(c *gin.Context, status int, id string, args ...any) {
	l := p.Lang(c)
	p.Render(c, status, "error", map[string]any{"Title": p.titleIn(l, id), "Message": p.MsgIn(l, id, args...)})
	c.Abort()
}

// Unavailable logs a failure of the server's and shows the page that
// says to try later; the person never sees why.
func (p *Pages) Unavailable(c *gin.Context, what string, err error) {
	p.log.ErrorContext(c.Request.Context(), what, "err", err)
	p.Page(c, http.StatusServiceUnavailable, MsgUnavailable)
}

// Duration says a number of seconds in words, in the request's language.
func (p *Pages) Duration(c *gin.Context, sec float64) string {
	return p.durationIn(p.Lang(c), sec)
}

func (p *Pages) durationIn(lang string, sec float64) string {
	n := int(sec + 0.999)
	switch {
	case n < 2:
		return p.textIn(lang, "ui.one_second")
	case n < 120:
		return p.MsgIn(lang, "ui.seconds", n)
	case n < 120*60:
		return p.MsgIn(lang, "ui.minutes", (n+59)/60)
	case n < 48*3600:
		return p.MsgIn(lang, "ui.hours", (n+3599)/3600)
	}
	return p.MsgIn(lang, "ui.days", (n+86399)/86400)
}

// themeStyle is the theme's additions to the pages' style sheet.
func (p *Pages) themeStyle() template.CSS {
	var s strings.Builder
	if col := p.theme.Color; col != "" && safeCSSValue(col) {
		fmt.Fprintf(&s, "button,.button{background:%s}a{color:%s}", col, col)
	}
	s.WriteString(p.theme.CSS)
	return template.CSS(s.String())
}

// safeCSSValue: a colour cannot close the rule it is put in.
func safeCSSValue(v string) bool { return !strings.ContainsAny(v, ";{}<>\\\"'") }
