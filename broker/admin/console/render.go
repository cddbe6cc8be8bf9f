package console

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
)

// csp: no script at all, the console's own style sheet, forms that post
// only to Portico, and no framing.
const csp = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func noStore(g *gin.Context) {
	g.Header("Cache-Control", "no-store")
}

func (c *Console) headers(g *gin.Context) {
	h := g.Writer.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

// page is a console page: a session's GET, rendered by h.
func (c *Console) page(h func(*gin.Context, *sess)) gin.HandlerFunc { return c.session(h) }

// render renders template name in the console's layout.
func (c *Console) render(g *gin.Context, s *sess, status int, name, title string, data map[string]any) {
	c.headers(g)
	if data == nil {
		data = map[string]any{}
	}
	lang := c.language(g)
	data["Title"], data["Product"], data["Page"], data["Lang"] = title, c.prod, name, lang
	g.Header("Content-Language", lang)
	if s != nil {
		data["CSRF"], data["Session"] = s.csrf, true
	}
	// The note after an action: set by the action itself in a cookie
	// this browser alone sends (a link cannot fake it), read once, and
	// only one of the catalogue's.
	if f, err := g.Cookie(doneCookie); err == nil {
		c.setCookie(g, doneCookie, "", -1, http.SameSiteStrictMode)
		if id := "console.done." + f; len(f) < 64 && c.t(g, id) != id {
			data["Done"] = c.t(g, id)
		}
	}
	g.Status(status)
	if err := c.tpl[lang].ExecuteTemplate(g.Writer, name, data); err != nil {
		c.log.ErrorContext(g.Request.Context(), "console: render", "page", name, "err", err)
	}
}

// message shows a page with one message (a login that failed, a session
// that ended) and a link to log in.
func (c *Console) message(g *gin.Context, status int, id, detail string) {
	c.render(g, nil, status, "message", c.t(g, id+".title"), map[string]any{"Message": c.t(g, id), "Detail": detail})
}

// fail logs a failure of the server's and says to try later.
func (c *Console) fail(g *gin.Context, what string, err error) {
	c.log.ErrorContext(g.Request.Context(), "console: "+what, "err", err)
	c.message(g, http.StatusServiceUnavailable, "console.unavailable", "")
}

// doneCookie carries the note after an action to the page it redirects to.
const doneCookie = "portico_console_done"

// done redirects to the page at to, which then says the note
// console.done.<key>.
func (c *Console) done(g *gin.Context, to, key string) {
	c.setCookie(g, doneCookie, key, 60, http.SameSiteStrictMode)
	g.Redirect(http.StatusSeeOther, to)
}

// apiFailed shows the admin API's refusal on the page it came from. A
// token the API no longer takes (its sessions ended, the user disabled)
// ends the console session too, with a way to log in again.
func (c *Console) apiFailed(g *gin.Context, s *sess, status int, e apiError) {
	if status == http.StatusUnauthorized && s != nil {
		if err := c.store.DeleteRecord(g.Request.Context(), sessionKind, core.HashString(s.token)); err != nil && !errors.Is(err, store.ErrNotFound) {
			c.log.WarnContext(g.Request.Context(), "console: end session", "err", err)
		}
		c.setCookie(g, sessionCookie, "", -1, http.SameSiteStrictMode)
		c.message(g, status, "console.sessionEnded", "")
		return
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		c.render(g, s, status, "message", c.t(g, "console.forbidden.title"), map[string]any{
			"Message": c.t(g, "console.forbidden"), "Detail": e.String()})
		return
	}
	c.render(g, s, status, "message", c.t(g, "console.refused.title"), map[string]any{
		"Message": c.t(g, "console.refused"), "Detail": e.String()})
}
