package broker

import (
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
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

// product is the name pages and authenticator apps show.
func (b *Broker) product() string {
	if b.opts.Theme.ProductName != "" {
		return strings.ReplaceAll(b.opts.Theme.ProductName, ":", " ")
	}
	return "Portico"
}

// text returns the catalogue's text for id, or the theme's replacement.
func (b *Broker) text(id string) string {
	if s, ok := b.opts.Theme.Messages[id]; ok {
		return s
	}
	if m, ok := english[id]; ok {
		return m.Text
	}
	return id
}

func (b *Broker) title(id string) string {
	if s, ok := b.opts.Theme.Messages[id+".title"]; ok {
		return s
	}
	return english[id].Title
}

// msg is a message's text with args filled in.
func (b *Broker) msg(_ *gin.Context, id string, args ...any) string {
	if len(args) == 0 {
		return b.text(id)
	}
	return fmt.Sprintf(b.text(id), args...)
}

// page shows the error page of message id.
func (b *Broker) page(c *gin.Context, status int, id string, args ...any) {
	b.render(c, status, "error", map[string]any{"Title": b.title(id), "Message": b.msg(c, id, args...)})
	c.Abort()
}

// unavailable logs a failure of the server's and shows the page that
// says to try later; the person never sees why.
func (b *Broker) unavailable(c *gin.Context, what string, err error) {
	b.log.ErrorContext(c.Request.Context(), what, "err", err)
	b.page(c, http.StatusServiceUnavailable, msgUnavailable)
}

// csrfOK checks a login page's form token, answering when it is wrong.
func (b *Broker) csrfOK(c *gin.Context, req store.AuthRequest) bool {
	if !core.ConstantEqual(c.PostForm("csrf"), req.CSRFToken) {
		b.page(c, http.StatusForbidden, msgLoginCSRF)
		return false
	}
	return true
}

// Brute-force protection (broker/throttle). Without a limiter every
// attempt is allowed.

// throttleCheck reserves an attempt for keys, or answers 429 with
// Retry-After and the page that says how long to wait.
func (b *Broker) throttleCheck(c *gin.Context, keys ...throttle.Key) bool {
	if b.opts.Throttle == nil {
		return true
	}
	d, err := b.opts.Throttle.Check(c.Request.Context(), keys...)
	if err != nil {
		b.unavailable(c, "throttle: check", err)
		return false
	}
	if !d.Allowed {
		c.Header("Retry-After", d.RetryAfterHeader())
		b.page(c, http.StatusTooManyRequests, msgThrottled, humanDuration(d.RetryAfter.Seconds()))
		return false
	}
	return true
}

func (b *Broker) throttleFail(c *gin.Context, keys ...throttle.Key) {
	if b.opts.Throttle != nil {
		if err := b.opts.Throttle.Fail(c.Request.Context(), keys...); err != nil {
			b.log.Error("throttle: record failure", "err", err)
		}
	}
}

func (b *Broker) throttleSucceed(c *gin.Context, account throttle.Key, others ...throttle.Key) {
	if b.opts.Throttle != nil {
		if err := b.opts.Throttle.Succeed(c.Request.Context(), account, others...); err != nil {
			b.log.Error("throttle: record success", "err", err)
		}
	}
}

func (b *Broker) throttleRelease(c *gin.Context, keys ...throttle.Key) {
	if b.opts.Throttle != nil {
		if err := b.opts.Throttle.Release(c.Request.Context(), keys...); err != nil {
			b.log.Error("throttle: release", "err", err)
		}
	}
}

// humanDuration says a number of seconds in words.
func humanDuration(sec float64) string {
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
func (b *Broker) themeStyle() template.CSS {
	var s strings.Builder
	if col := b.opts.Theme.Color; col != "" && safeCSSValue(col) {
		fmt.Fprintf(&s, "button,.button{background:%s}a{color:%s}", col, col)
	}
	s.WriteString(b.opts.Theme.CSS)
	return template.CSS(s.String())
}

// safeCSSValue: a colour cannot close the rule it is put in.
func safeCSSValue(v string) bool { return !strings.ContainsAny(v, ";{}<>\\\"'") }
