package broker

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
	"github.com/portico-idp/portico/broker/core"
)

// modeFormPost is the OAuth 2.0 Form Post Response Mode: the authorization
// response goes to the redirect URI as a form the browser posts, so the
// code stays out of the URL (browser history, Referer, proxy logs).
const modeFormPost = "form_post"

// autopostScript submits the page's form at once. It is the only script
// the auto-posting pages run, allowed by its hash: no nonce to leak, and
// nothing else inline can run even if markup were injected.
const autopostScript = `document.getElementById("autopost").submit()`

var autopostCSP = func() string {
	sum := sha256.Sum256([]byte(autopostScript))
	return "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
}()

// respond sends an authorization response (a code or an error, v) to a
// redirect URI already checked against the client's list, in the response
// mode the request asked for.
func (b *Broker) respond(c *gin.Context, redirectURI, mode string, v url.Values) {
	if mode != modeFormPost {
		c.Redirect(http.StatusSeeOther, core.WithQuery(redirectURI, v))
		return
	}
	fields := make(map[string]string, len(v))
	for k := range v {
		fields[k] = v.Get(k)
	}
	b.autoPost(c, redirectURI, fields)
}

// autoPost renders a form that the browser posts to action at once, or on
// a click where script does not run.
func (b *Broker) autoPost(c *gin.Context, action string, fields map[string]string) {
	c.Header("Content-Security-Policy", autopostCSP)
	b.renderWith(c, http.StatusOK, "autopost", map[string]any{
		"Title": b.text("ui.continue"), "Action": action, "Fields": fields, "Script": template.JS(autopostScript),
	}, false)
}
