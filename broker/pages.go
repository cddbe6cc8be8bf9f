package broker

import (
	"cmp"
	"embed"

	"github.com/gin-gonic/gin"
)

//go:embed templates/*.html
var templateFS embed.FS

// scriptPageCSP is the policy of the pages that need script (the passkey
// pages, webauthn.go): the broker's own script files, and fetch to the
// broker, but still no inline script.
const scriptPageCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"

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

func (b *Broker) render(c *gin.Context, status int, name string, data map[string]any) {
	b.renderWith(c, status, name, data, true)
}

// renderWith renders a page; csp false keeps a Content-Security-Policy the
// handler set itself.
func (b *Broker) renderWith(c *gin.Context, status int, name string, data map[string]any, csp bool) {
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
	th := b.opts.Theme
	data["Product"], data["Logo"], data["Style"] = cmp.Or(th.ProductName, "Portico"), th.LogoURL, b.themeStyle()
	if err := b.pages.ExecuteTemplate(c.Writer, name, data); err != nil {
		b.log.Error("render page", "page", name, "err", err)
	}
}
