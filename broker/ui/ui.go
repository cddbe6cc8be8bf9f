package ui

import (
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
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
	// Messages replace catalogue entries by id (messages.go).
	Messages map[string]string
}

// Pages renders Portico's pages in the operator's theme.
type Pages struct {
	theme  Theme
	tpl    *template.Template
	log    *slog.Logger
	issuer string
}

// New parses Portico's templates and the theme's; issuer is the
// authorization responses' iss (RFC 9207).
func New(th Theme, issuer string, log *slog.Logger) (*Pages, error) {
	p := &Pages{theme: th, log: log, issuer: issuer}
	var err error
	if p.tpl, err = parsePages(th, p.Text); err != nil {
		return nil, err
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

// Text returns the catalogue's text for id, or the theme's replacement.
func (p *Pages) Text(id string) string {
	if s, ok := p.theme.Messages[id]; ok {
		return s
	}
	if m, ok := english[id]; ok {
		return m.Text
	}
	return id
}

func (p *Pages) title(id string) string {
	if s, ok := p.theme.Messages[id+".title"]; ok {
		return s
	}
	return english[id].Title
}

// Msg is a message's text with args filled in.
func (p *Pages) Msg(id string, args ...any) string {
	if len(args) == 0 {
		return p.Text(id)
	}
	return fmt.Sprintf(p.Text(id), args...)
}

// Page shows the error page of message id.
func (p *Pages) Page(c *gin.Context, status int, id string, args ...any) {
	p.Render(c, status, "error", map[string]any{"Title": p.title(id), "Message": p.Msg(id, args...)})
	c.Abort()
}

// Unavailable logs a failure of the server's and shows the page that
// says to try later; the person never sees why.
func (p *Pages) Unavailable(c *gin.Context, what string, err error) {
	p.log.ErrorContext(c.Request.Context(), what, "err", err)
	p.Page(c, http.StatusServiceUnavailable, MsgUnavailable)
}

// HumanDuration says a number of seconds in words.
func HumanDuration(sec float64) string {
	n := int(sec + 0.999)
	switch {
	case n < 2:
		return "1 second"
	case n < 120:
		return fmt.Sprintf("%d seconds", n)
	}
	return fmt.Sprintf("%d minutes", (n+59)/60)
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
