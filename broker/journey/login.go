package journey

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
	"github.com/portico-idp/portico/sdk"
)

// loadRequest returns the pending authorization request named in the page's
// req parameter, checked to belong to this browser.
func (j *Server) loadRequest(c *gin.Context, id string) (store.AuthRequest, bool) {
	req, err := j.store.GetAuthRequest(c.Request.Context(), id)
	if errors.Is(err, store.ErrNotFound) || id == "" {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLoginExpired)
		return req, false
	} else if err != nil {
		j.log.Error("login: read auth request", "err", err)
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return req, false
	}
	j.ui.UseLocales(c, req.UILocales)
	cookie, _ := c.Cookie(browserCookie)
	if subtle.ConstantTimeCompare([]byte(core.HashString(cookie)), []byte(req.BrowserHash)) != 1 {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgOtherBrowser)
		return req, false
	}
	return req, true
}

// firstFactorRequest is loadRequest for the pages of a first factor: a
// request whose first factor is done waits at its next step, and going
// back to a login page must not let it change user or connector there.
// Opened again (Back, a reload), such a page shows that step instead.
func (j *Server) firstFactorRequest(c *gin.Context, id string) (store.AuthRequest, bool) {
	req, ok := j.loadRequest(c, id)
	if ok && req.UserID != "" {
		if !j.resume(c, req) {
			j.ui.Page(c, http.StatusBadRequest, ui.MsgLoginUsed)
		}
		return req, false
	}
	return req, ok
}

func (j *Server) handleLoginPicker(c *gin.Context) {
	req, ok := j.firstFactorRequest(c, c.Query("req"))
	if !ok {
		return
	}
	type item struct{ Name, URL, Icon string }
	var items []item
	for _, cn := range j.conns.Load().List {
		items = append(items, item{cn.Name, j.path("/login/"+url.PathEscape(cn.ID)) + "?req=" + url.QueryEscape(req.ID), cn.Icon})
	}
	data := map[string]any{"Title": j.ui.T(c, "ui.login"), "Connectors": items}
	j.nameApp(c, req, data)
	if j.passwordlessOn() && req.LinkUserID == "" { // a link needs the connector's own login
		data["Passkey"] = j.path("/passkey/login") + "?req=" + url.QueryEscape(req.ID)
	}
	j.ui.Render(c, http.StatusOK, "picker", data)
}

func (j *Server) handleLoginForm(c *gin.Context) {
	req, ok := j.firstFactorRequest(c, c.Query("req"))
	if !ok {
		return
	}
	if cn := j.conns.Load().ByID[c.Param("connector")]; cn != nil {
		if cc, ok := cn.Impl.(sdk.CallbackConnector); ok {
			j.beginRedirectLogin(c, cn, cc, req)
			return
		}
	}
	cn, pc := j.passwordConnector(c)
	if pc == nil {
		return
	}
	j.passwordPage(c, http.StatusOK, cn, req, "", "", false)
}

func (j *Server) passwordConnector(c *gin.Context) (*core.Connector, sdk.PasswordConnector) {
	cn := j.conns.Load().ByID[c.Param("connector")]
	if cn == nil {
		j.ui.Page(c, http.StatusNotFound, ui.MsgNoConnector)
		return nil, nil
	}
	pc, ok := cn.Impl.(sdk.PasswordConnector)
	if !ok {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgNoPassword)
		return nil, nil
	}
	return cn, pc
}

// passwordPage shows the password form; msg is an error, and invalid says
// it is about what was typed (the fields are marked so).
func (j *Server) passwordPage(c *gin.Context, status int, cn *core.Connector, req store.AuthRequest, username, msg string, invalid bool) {
	ls, _ := j.local(cn.ID)
	data := map[string]any{
		"Title": j.ui.T(c, "ui.login"), "Connector": cn.Name, "Action": j.path("/login/" + url.PathEscape(cn.ID)),
		"Req": req.ID, "CSRF": req.CSRFToken, "Username": username, "Error": msg, "Invalid": invalid,
		"Back": j.path("/login") + "?req=" + url.QueryEscape(req.ID), "ShowBack": len(j.conns.Load().List) > 1,
		// With one connector the picker is skipped: its passkey button
		// comes here.
		"Passkey": map[bool]string{true: j.path("/passkey/login") + "?req=" + url.QueryEscape(req.ID)}[j.passwordlessOn() && req.LinkUserID == "" && len(j.conns.Load().List) == 1],
		// Self-service (selfservice.go), not while linking an account.
		"Forgot":   map[bool]string{true: j.forgotPath(cn.ID) + "?req=" + url.QueryEscape(req.ID)}[ls.Reset && req.LinkUserID == ""],
		"Register": map[bool]string{true: j.registerPath(cn.ID) + "?req=" + url.QueryEscape(req.ID)}[ls.Register && req.LinkUserID == ""],
	}
	j.nameApp(c, req, data)
	j.ui.Render(c, status, "password", data)
}

// nameApp adds to a login page's data the application the login is for
// ("Log in to Payroll"), and whether it registered itself: its name is
// its own choice, so the page says so, as consent does.
func (j *Server) nameApp(c *gin.Context, req store.AuthRequest, data map[string]any) {
	if req.ClientID == "" { // the account page's own login
		return
	}
	cl, err := j.store.GetClient(c.Request.Context(), req.ClientID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			j.log.WarnContext(c.Request.Context(), "login: read client for its name", "err", err)
		}
		return // the page works without the name
	}
	data["App"] = j.ui.T(c, "ui.login_to", firstNonEmpty(cl.Name, cl.ID))
	data["ThirdParty"] = cl.Registration != nil
}

// accountResolver is a password connector that can say which account a
// login name denotes before checking a password (the local connector), so
// that throttles count per account, not per name typed.
type accountResolver interface {
	AccountKey(ctx context.Context, login string) (key string, ok bool, err error)
}

// handleLoginSubmit checks a posted password form and, on success, sends
// the browser back to the client with an authorization code.
func (j *Server) handleLoginSubmit(c *gin.Context) {
	ctx := c.Request.Context()
	req, ok := j.firstFactorRequest(c, c.PostForm("req"))
	if !ok {
		return
	}
	if subtle.ConstantTimeCompare([]byte(c.PostForm("csrf")), []byte(req.CSRFToken)) != 1 {
		j.ui.Page(c, http.StatusForbidden, ui.MsgLoginCSRF)
		return
	}
	cn, pc := j.passwordConnector(c)
	if pc == nil {
		return
	}
	// Surrounding spaces are never part of a login name (a paste, an
	// autocompleted "alice "); inside a name, and in the password, every
	// character counts.
	username := strings.TrimSpace(c.PostForm("username"))
	// Keyed by the name typed, by the account it denotes, and by the
	// source address. The name, case and spaces folded as directories
	// compare names (RFC 4518), is counted whether or not an account has
	// it, so an unknown name is throttled like a known one and a 429 tells
	// nothing about which names exist. A connector that can say which
	// account a name denotes (accountResolver) also has every name of one
	// account — username, email — share one budget: a lock earned as
	// "dave" holds for "dave@example.com".
	name := strings.Join(strings.Fields(username), " ")
	keys, ip := []throttle.Key{throttle.Login(cn.ID + "/" + name)}, throttle.IP(c.ClientIP())
	if r, ok := pc.(accountResolver); ok && j.opts.Throttle != nil {
		key, found, err := r.AccountKey(ctx, name)
		if err != nil {
			j.ui.Unavailable(c, "login: resolve account", err)
			return
		}
		if found {
			// Not a Login key: an id is not lower-cased, and "acct:" cannot
			// start a connector id, so no typed name collides with it.
			keys = append(keys, throttle.Key{Scope: throttle.ScopeLogin, ID: "acct:" + cn.ID + "/" + key})
		}
	}
	if j.opts.Throttle != nil {
		// The account's attempt is reserved, so that a burst of guesses
		// at once cannot all be verified; the address's is only looked
		// at, and its failures counted after: many honest people behind
		// one NAT log in at the same moment, and reserving for them would
		// turn them away.
		d, err := j.opts.Throttle.Peek(ctx, ip)
		if err == nil && d.Allowed {
			d, err = j.opts.Throttle.Check(ctx, keys...)
		}
		if err != nil {
			j.ui.Unavailable(c, "login: throttle", err)
			return
		}
		if !d.Allowed {
			j.auditLoginFailure(c, cn.ID, req.ClientID, "", "throttled")
			c.Header("Retry-After", d.RetryAfterHeader())
			j.passwordPage(c, http.StatusTooManyRequests, cn, req, username, j.ui.T(c, ui.MsgThrottled, j.ui.Duration(c, d.RetryAfter.Seconds())), false)
			return
		}
	}
	cctx, done := j.conns.Call(ctx, cn, "login")
	id, err := pc.Login(cctx, sdk.ParseScopes(req.Scopes), username, c.PostForm("password"))
	done(err)
	switch {
	case j.passwordState(c, cn, req.ClientID, keys, ip, err): // expired, must change, locked (login_password_state.go)
		return
	case errors.Is(err, sdk.ErrInvalidCredentials):
		j.throttleFail(c, append(keys, ip)...)
		j.log.Info("login failed", "connector", cn.ID, "client_id", req.ClientID)
		j.auditLoginFailure(c, cn.ID, req.ClientID, "", "invalid_credentials")
		j.passwordPage(c, http.StatusUnauthorized, cn, req, username, j.ui.T(c, ui.MsgBadLogin), true)
		return
	case err != nil:
		j.throttleRelease(c, keys...)
		j.log.Error("login: connector error", "connector", cn.ID, "err", err)
		j.auditLoginFailure(c, cn.ID, req.ClientID, "", "unavailable")
		j.passwordPage(c, http.StatusServiceUnavailable, cn, req, username, j.ui.T(c, ui.MsgStoreDown), false)
		return
	}
	for _, k := range keys { // the person proved every name's account
		j.throttleSucceed(c, k)
	}
	if j.refuseUnverified(c, cn, req, id) { // verify.go
		return
	}
	j.finishLogin(c, cn, req, true, id, []string{"pwd"})
}

// finishLogin is the end of a first factor: it links the identity to a
// Portico user (or, for a link request, to the logged-in user) and goes on
// with the rest of the login. Unsolicited logins (IdP-initiated) pass an
// unstored request: stored false.
func (j *Server) finishLogin(c *gin.Context, cn *core.Connector, req store.AuthRequest, stored bool, id sdk.Identity, amr []string) {
	a, err := j.ident.Admit(cn.ID, id) // every first factor's identity enters here
	if err != nil {
		j.refuseIdentity(c, cn, req, stored, err)
		return
	}
	if req.LinkUserID != "" {
		j.finishLink(c, cn, req, a)
		return
	}
	user, err := j.ident.Resolve(c.Request.Context(), cn.ID, a, true)
	if errors.Is(err, core.ErrUserDisabled) {
		j.auditLoginFailure(c, cn.ID, req.ClientID, user.ID, "user_disabled")
		j.ui.Page(c, http.StatusForbidden, ui.MsgDisabled)
		return
	} else if err != nil {
		j.log.Error("login: resolve user", "connector", cn.ID, "err", err)
		j.auditLoginFailure(c, cn.ID, req.ClientID, "", "server_error")
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	req.UserID, req.ConnectorID, req.AMR = user.ID, cn.ID, amr
	req.AuthTime = j.opts.Now().Truncate(time.Second)
	j.continueLogin(c, req, stored, nil)
}

// auditLoginFailure records a login that did not succeed, and why, by a
// fixed reason: never what the person typed, which may be a password.
func (j *Server) auditLoginFailure(c *gin.Context, connectorID, clientID, userID, reason string) {
	j.audit.Request(c, store.AuditEvent{Type: audit.LoginFailure, Actor: audit.User(userID), UserID: userID,
		ClientID: clientID, ConnectorID: connectorID, Details: map[string]string{"reason": reason}})
}
