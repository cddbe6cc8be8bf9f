package broker

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/portico-idp/portico/broker/protocol"

	"github.com/portico-idp/portico/broker/admin"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"
)

// Request bodies are bounded here, in one place, before any handler (or
// gin's form parsing, which would keep up to 32 MiB of a multipart body
// in memory) sees them: every route has a body class, a size limit and
// the media types it takes. A body too large is answered 413, a body of
// another type 415, each in the route's own error format, and nothing of
// it is kept. New refuses to start when a route has no class, so an
// endpoint cannot be added without deciding what it accepts.

// A bodyClass is what one kind of endpoint accepts.
type bodyClass struct {
	name  string
	limit int64    // bytes
	types []string // media types a body may have
	// ignore: the endpoint reads no body. One within the limit, of any
	// type, is read and dropped, as net/http itself would: some clients
	// send {} with a DELETE.
	ignore bool
}

const (
	formType = "application/x-www-form-urlencoded"
	jsonType = "application/json"
	// maxPageFormBytes bounds what the pages post: a few ids and tokens.
	maxPageFormBytes = 64 << 10
	// maxPasskeyFormBytes bounds a posted passkey answer: its credential
	// may be 64 KiB (parseAttestation), which form encoding can swell.
	maxPasskeyFormBytes = 256 << 10
	// maxCallbackBytes bounds what an upstream posts to a callback: a
	// SAML response with many groups, signed and encrypted.
	maxCallbackBytes = 1 << 20
	// drainBytes is how much of a refused body is read and thrown away,
	// a little at a time, before answering: a client that sends all of
	// its body before reading (most simple ones) otherwise gets a reset
	// connection instead of the answer. Reading costs no memory; beyond
	// this the connection is closed after the answer.
	drainBytes = 32 << 20
)

var (
	noBody       = bodyClass{name: "none", limit: 64 << 10, ignore: true}
	pageForm     = bodyClass{name: "page form", limit: maxPageFormBytes, types: []string{formType}}
	passkeyForm  = bodyClass{name: "passkey answer", limit: maxPasskeyFormBytes, types: []string{formType}}
	callbackForm = bodyClass{name: "callback", limit: maxCallbackBytes, types: []string{formType}}
	clientForm   = bodyClass{name: "client form", limit: protocol.MaxFormBytes, types: []string{formType}}
	pushedForm   = bodyClass{name: "pushed request", limit: protocol.MaxPushedBytes, types: []string{formType}}
	registration = bodyClass{name: "registration", limit: protocol.MaxRegistrationBytes, types: []string{jsonType}}
	adminJSON    = bodyClass{name: "admin JSON", limit: admin.MaxBody, types: []string{jsonType}}
)

// bodyRule is a route's class and how the route answers a refusal.
type bodyRule struct {
	class  bodyClass
	refuse func(c *gin.Context, status int, desc string)
}

// bodyRules are the routes' classes, by method and gin path below the
// issuer's path; the admin API's are by method (bodyRuleFor).
func (b *Broker) bodyRules() map[string]bodyRule {
	page := func(cl bodyClass) bodyRule { return bodyRule{cl, b.refusePage} }
	oauth := func(cl bodyClass) bodyRule { return bodyRule{cl, b.refuseOAuth} }
	passkeyJSON := bodyRule{pageForm, b.refusePasskeyJSON}
	reg := func(cl bodyClass) bodyRule { return bodyRule{cl, b.refuseRegistration} }
	return map[string]bodyRule{
		"GET /.well-known/openid-configuration": oauth(noBody),
		"GET /keys":                             oauth(noBody),
		"GET /authorize":                        page(noBody),
		"POST /authorize":                       page(pageForm),
		"GET /login":                            page(noBody),
		"GET /login/:connector":                 page(noBody),
		"POST /login/:connector":                page(pageForm),
		"GET /metadata/:connector":              page(noBody),
		"GET /callback/:connector":              page(noBody),
		"POST /callback/:connector":             page(callbackForm),
		"POST /token":                           oauth(clientForm),
		"POST /par":                             oauth(pushedForm), // RFC 9126
		"POST /revoke":                          oauth(clientForm),
		"POST /introspect":                      oauth(clientForm),
		"GET /logout":                           page(noBody),
		"POST /logout":                          page(pageForm),
		"GET /mfa":                              page(noBody),
		"POST /mfa":                             page(pageForm),
		"POST /mfa/enrol":                       page(pageForm),
		"GET /mfa/recovery":                     page(noBody),
		"POST /mfa/continue":                    page(pageForm),
		"GET /consent":                          page(noBody),
		"POST /consent":                         page(pageForm),
		"POST /account/consents/:client/revoke": page(pageForm),
		"GET /account":                          page(noBody),
		"POST /account/link/:connector":         page(pageForm),
		// The account page's own changes (journey/account_*.go).
		"POST /account/passkey/rename":   page(pageForm),
		"POST /account/passkey/remove":   page(pageForm),
		"POST /account/recovery":         page(pageForm),
		"POST /account/recovery/done":    page(pageForm),
		"GET /account/password":          page(noBody),
		"POST /account/password":         page(pageForm),
		"POST /account/apps/:client/end": page(pageForm),
		"POST /account/sessions/end":     page(pageForm),
		// RFC 6750 §2.2 allows the access token in a form body.
		"GET /userinfo":  oauth(noBody),
		"POST /userinfo": oauth(clientForm),
		// Device authorization grant (RFC 8628): the device's request,
		// then the person's pages.
		"POST /device/authorize": oauth(clientForm),
		// Self-service of local accounts (journey selfservice.go).
		"GET /login/:connector/forgot":    page(noBody),
		"POST /login/:connector/forgot":   page(pageForm),
		"GET /login/:connector/register":  page(noBody),
		"POST /login/:connector/register": page(pageForm),
		"GET /reset":                      page(noBody),
		"POST /reset":                     page(pageForm),
		"GET /verify":                     page(noBody),
		"POST /verify":                    page(pageForm),
		"GET /join":                       page(noBody),
		"POST /join":                      page(pageForm),
		"GET /invite":                     page(noBody),
		"POST /invite":                    page(pageForm),
		"GET /device":                     page(noBody),
		"POST /device":                    page(pageForm),
		"GET /device/approve":             page(noBody),
		"POST /device/approve":            page(pageForm),
		// Dynamic client registration (RFC 7591, 7592).
		"POST /register":           reg(registration),
		"GET /register/:client_id": reg(noBody),
		"PUT /register/:client_id": reg(registration),
		// RFC 7592 §2.3: a delete has no body.
		"DELETE /register/:client_id": reg(noBody),
		// Passkeys: the pages post forms; begin answers the page's script
		// in JSON; finish takes the authenticator's answer.
		"GET /static/webauthn.js":           page(noBody),
		"POST /mfa/passkey/register":        page(pageForm),
		"POST /mfa/passkey/register/begin":  passkeyJSON,
		"POST /mfa/passkey/register/finish": page(passkeyForm),
		"POST /mfa/passkey":                 page(pageForm),
		"POST /mfa/passkey/begin":           passkeyJSON,
		"POST /mfa/passkey/finish":          page(passkeyForm),
		"POST /passkey/login":               page(pageForm),
		"POST /passkey/login/begin":         passkeyJSON,
		"POST /passkey/login/finish":        page(passkeyForm),
		"POST /account/passkeys":            page(pageForm),
		"POST /account/passkeys/begin":      passkeyJSON,
		"POST /account/passkeys/finish":     page(passkeyForm),
		"POST /account/passkeys/done":       page(pageForm),
	}
}

// bodyRuleFor returns the rule of a route (method and gin's full path), or
// false for a route that has none.
func (b *Broker) bodyRuleFor(rules map[string]bodyRule, method, fullPath string) (bodyRule, bool) {
	rel, ok := strings.CutPrefix(fullPath, b.path(""))
	if !ok {
		return bodyRule{}, false
	}
	if strings.HasPrefix(rel, "/admin/v1/") {
		// The admin API reads a JSON body wherever it takes one.
		switch method {
		case http.MethodGet, http.MethodDelete:
			return bodyRule{noBody, refuseAdmin}, true
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			return bodyRule{adminJSON, refuseAdmin}, true
		}
		return bodyRule{}, false
	}
	if strings.HasPrefix(rel, scimPath+"/") { // SCIM (scim_wire.go)
		return scimBodyRule(method)
	}
	if strings.HasPrefix(rel, "/admin/") { // the console's pages and forms
		switch method {
		case http.MethodGet:
			return bodyRule{noBody, b.refusePage}, true
		case http.MethodPost:
			return bodyRule{pageForm, b.refusePage}, true
		}
		return bodyRule{}, false
	}
	r, ok := rules[method+" "+rel]
	return r, ok
}

// bodyLimits maps each route of r to its rule, or fails naming the first
// route without one.
func (b *Broker) bodyLimits(r *gin.Engine) (map[string]bodyRule, error) {
	m, rules := map[string]bodyRule{}, b.bodyRules()
	for _, rt := range r.Routes() {
		rule, ok := b.bodyRuleFor(rules, rt.Method, rt.Path)
		if !ok {
			return nil, fmt.Errorf("broker: route %s %s has no body class (body.go)", rt.Method, rt.Path)
		}
		m[rt.Method+" "+rt.Path] = rule
	}
	return m, nil
}

// limitBody enforces the route's body class. A body within it is passed on:
// as it is when its length was declared (the server reads no further), or
// read into memory, at most the limit, when sent in chunks.
func (b *Broker) limitBody(c *gin.Context) {
	rule, ok := b.bodies[c.Request.Method+" "+c.FullPath()]
	r := c.Request
	if !ok || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		// No route (404, 405: nothing reads the body) or no body.
		c.Next()
		return
	}
	cl := rule.class
	switch {
	case cl.ignore:
		b.dropBody(c, rule)
		return
	case !acceptsType(cl.types, r.Header.Get("Content-Type")):
		b.refuseBody(c, rule, http.StatusUnsupportedMediaType, "the request body must be "+cl.types[0], 0)
		return
	case r.ContentLength > cl.limit:
		b.refuseBody(c, rule, http.StatusRequestEntityTooLarge, tooLarge(cl), 0)
		return
	case r.ContentLength < 0:
		buf, err := io.ReadAll(io.LimitReader(r.Body, cl.limit+1))
		if err != nil {
			// The client went away or stalled past the read timeout.
			c.Header("Connection", "close")
			rule.refuse(c, http.StatusBadRequest, "the request body could not be read")
			c.Abort()
			return
		}
		if int64(len(buf)) > cl.limit {
			b.refuseBody(c, rule, http.StatusRequestEntityTooLarge, tooLarge(cl), int64(len(buf)))
			return
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(buf)), int64(len(buf))
	}
	c.Next()
}

// dropBody reads and drops the body of a route that reads none, or
// refuses it when it is over the class's limit.
func (b *Broker) dropBody(c *gin.Context, rule bodyRule) {
	const desc = "this endpoint takes no request body"
	r := c.Request
	if r.ContentLength > rule.class.limit {
		b.refuseBody(c, rule, http.StatusRequestEntityTooLarge, desc, 0)
		return
	}
	n, err := io.CopyN(io.Discard, r.Body, rule.class.limit+1)
	switch {
	case n > rule.class.limit:
		b.refuseBody(c, rule, http.StatusRequestEntityTooLarge, desc, n)
		return
	case err != io.EOF:
		c.Header("Connection", "close")
		rule.refuse(c, http.StatusBadRequest, "the request body could not be read")
		c.Abort()
		return
	}
	r.Body, r.ContentLength = http.NoBody, 0
	c.Next()
}

func tooLarge(cl bodyClass) string {
	return fmt.Sprintf("the request body is larger than %d bytes", cl.limit)
}

// acceptsType reports whether a Content-Type header names one of types.
func acceptsType(types []string, header string) bool {
	mt, _, err := mime.ParseMediaType(header)
	if err != nil {
		return false
	}
	for _, t := range types {
		if strings.EqualFold(mt, t) {
			return true
		}
	}
	return false
}

// refuseBody answers a refused body with status, after reading what is
// left of it (read bytes were already), up to drainBytes, so that the
// client hears the answer. A body that is longer, or that the client
// waits to be asked for (Expect: 100-continue), is not read: the
// connection closes after the answer.
func (b *Broker) refuseBody(c *gin.Context, rule bodyRule, status int, desc string, read int64) {
	r := c.Request
	switch {
	case strings.EqualFold(r.Header.Get("Expect"), "100-continue"), r.ContentLength > drainBytes:
		c.Header("Connection", "close")
	default:
		// Answer first, then read and drop the rest: a client that stops
		// sending (or sends slowly) has its answer at once, and one that
		// sends everything before reading still gets to read it.
		rc := http.NewResponseController(c.Writer)
		if rc.EnableFullDuplex() == nil {
			// Rendered aside, so that it goes out with its length and the
			// client can read all of it while the drain goes on.
			real := c.Writer
			buf := &bufferedWriter{ResponseWriter: real}
			c.Writer = buf
			rule.refuse(c, status, desc)
			c.Writer = real
			c.Abort()
			if buf.status == 0 {
				buf.status = status
			}
			real.Header().Set("Content-Length", strconv.Itoa(buf.body.Len()))
			real.WriteHeader(buf.status)
			real.Write(buf.body.Bytes())
			if rc.Flush() == nil {
				// io.Discard reads through a small pooled buffer. What is
				// left unread past the cap makes the server close.
				io.CopyN(io.Discard, r.Body, drainBytes-read+1)
			}
			return
		}
		if _, err := io.CopyN(io.Discard, r.Body, drainBytes-read+1); err != io.EOF {
			c.Header("Connection", "close")
		}
	}
	rule.refuse(c, status, desc)
	c.Abort()
}

// bufferedWriter keeps what a handler writes, so that it can be sent
// with a Content-Length; headers go to the real writer.
type bufferedWriter struct {
	gin.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *bufferedWriter) WriteHeader(code int) { w.status = code }
func (w *bufferedWriter) WriteHeaderNow()      {}
func (w *bufferedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}
func (w *bufferedWriter) WriteString(s string) (int, error) { return w.Write([]byte(s)) }
func (w *bufferedWriter) Status() int                       { return w.status }
func (w *bufferedWriter) Written() bool                     { return w.status != 0 }
func (w *bufferedWriter) Size() int                         { return w.body.Len() }

// The error formats of the routes.

func (b *Broker) refusePage(c *gin.Context, status int, _ string) {
	id := ui.MsgBodyType
	if status != http.StatusUnsupportedMediaType {
		id = ui.MsgBodyTooLarge
	}
	b.ui.Page(c, status, id)
}

// refuseOAuth is RFC 6749 §5.2's error object (the token, revocation and
// introspection endpoints, userinfo, discovery).
func (b *Broker) refuseOAuth(c *gin.Context, status int, desc string) {
	b.protocol.RefuseBody(c, status, desc)
}

func (b *Broker) refuseRegistration(c *gin.Context, status int, desc string) {
	b.protocol.RefuseRegistrationBody(c, status, desc)
}

func (b *Broker) refusePasskeyJSON(c *gin.Context, status int, _ string) {
	id := ui.MsgBodyType
	if status != http.StatusUnsupportedMediaType {
		id = ui.MsgBodyTooLarge
	}
	b.journey.PasskeyJSONError(c, status, "invalid_request", id)
}

func refuseAdmin(c *gin.Context, status int, desc string) {
	admin.WriteError(c, status, "invalid_request", desc)
}
