package ui

import (
	"cmp"
	"embed"

	"github.com/gin-gonic/gin"
)

//go:embed templates/*.html
var templateFS embed.FS

// ScriptPageCSP is the policy of the pages that need script (the passkey
// pages, broker/journey): the broker's own script files, and fetch to the
// broker, but still no inline script.
const ScriptPageCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"

// pageHeaders keep login pages out of frames (clickjacking) and caches, and
// allow no script at all.
func pageHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

func (p *Pages) Render(c *gin.Context, status int, name string, data map[string]any) {
	p.RenderWith(c, status, name, data, true)
}

// RenderWith renders a page; csp false keeps a Content-Security-Policy the
// handler set itself.
func (p *Pages) RenderWith(c *gin.Context, status int, name string, data map[string]any, csp bool) {
	h := c.Writer.Header()
	own := h.Get("Content-Security-Policy")
	pageHeaders(c)
	if !csp {
		h.Set("Content-Security-Policy", own)
	}
	c.Status(status)
	if data == nil {
		data = map[string]any{}
	}
	th := p.theme
	lang := p.Lang(c)
	h.Set("Content-Language", lang)
	data["Product"], data["Logo"], data["Style"], data["Lang"] = cmp.Or(th.ProductName, "Portico"), th.LogoURL, p.themeStyle(), lang
	if err := p.tpl[lang].ExecuteTemplate(c.Writer, name, data); err != nil {
		p.log.Error("render page", "page", name, "err", err)
	}
}
