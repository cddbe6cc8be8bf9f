package ui

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
	"github.com/portico-idp/portico/broker/core"
)

// ModeFormPost is the OAuth 2.0 Form Post Response Mode: the authorization
// response goes to the redirect URI as a form the browser posts, so the
// code stays out of the URL (browser history, Referer, proxy logs).
const ModeFormPost = "form_post"

// autopostScript submits the page's form at once. It is the only script
// the auto-posting pages run, allowed by its hash: no nonce to leak, and
// nothing else inline can run even if markup were injected.
const autopostScript = `document.getElementById("autopost").submit()`

var autopostCSP = func() string {
	sum := sha256.Sum256([]byte(autopostScript))
	return "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
}()

// Respond sends an authorization response (a code or an error, v) to a
// redirect URI already checked against the client's list, in the response
// mode the request asked for.
func (p *Pages) Respond(c *gin.Context, redirectURI, mode string, v url.Values) {
	if mode != ModeFormPost {
		c.Redirect(http.StatusSeeOther, core.WithQuery(redirectURI, v))
		return
	}
	fields := make(map[string]string, len(v))
	for k := range v {
		fields[k] = v.Get(k)
	}
	p.AutoPost(c, redirectURI, fields)
}

// AutoPost renders a form that the browser posts to action at once, or on
// a click where script does not run.
func (p *Pages) AutoPost(c *gin.Context, action string, fields map[string]string) {
	c.Header("Content-Security-Policy", autopostCSP)
	p.RenderWith(c, http.StatusOK, "autopost", map[string]any{
		"Title": p.Text("ui.continue"), "Action": action, "Fields": fields, "Script": template.JS(autopostScript),
	}, false)
}

// RedirectError sends an authorization error to a redirect URI already
// checked against the client's registered list, in the response mode.
func (p *Pages) RedirectError(c *gin.Context, redirectURI, state, mode, code, desc string) {
	v := url.Values{"error": {code}, "iss": {p.issuer}}
	if desc != "" {
		v.Set("error_description", core.Description(desc))
	}
	if state != "" {
		v.Set("state", state)
	}
	p.Respond(c, redirectURI, mode, v)
}
