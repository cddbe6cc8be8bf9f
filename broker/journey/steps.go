package journey

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// The login journey after /authorize: the first factor (a connector, or the
// browser's single sign-on session), then what the request and policy
// still ask for, then the code. Each step records its progress in the
// authorization request (UserID, AuthTime, AMR), so a page in between
// (a second factor, consent) resumes it from there.

// ssoServes reports whether the browser's session s may answer req without
// asking the person to log in again.
func (j *Server) ssoServes(s *sso, req store.AuthRequest) bool {
	// select_account: the person picks the account by logging in.
	if s == nil || slices.Contains(req.Prompt, "login") || slices.Contains(req.Prompt, "select_account") ||
		(req.HintSubject != "" && req.HintSubject != s.UserID) {
		return false
	}
	return req.MaxAge == 0 || !j.opts.Now().After(s.AuthTime.Add(time.Duration(req.MaxAge)*time.Second))
}

// continueLogin takes a request whose first factor is done through the
// steps that remain, then ends it with a code for the client. s is the
// single sign-on session the login came from, nil after an interactive
// login (which starts a new one). stored says whether req is in the store
// (an IdP-initiated login's is not).
func (j *Server) continueLogin(c *gin.Context, req store.AuthRequest, stored bool, s *sso) {
	ctx := c.Request.Context()
	unavailable := func(what string, err error) {
		j.log.Error("login: "+what, "err", err)
		if req.ClientID != "" {
			// The request's client and redirect URI were checked at
			// /authorize: tell the application (RFC 6749 §4.1.2.1), which
			// a silent prompt=none request needs.
			j.ui.RedirectError(c, req.RedirectURI, req.State, req.ResponseMode, "temporarily_unavailable", "the server cannot complete the login now")
			return
		}
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
	}
	// OpenID Connect Core §3.1.2.1: the user the request's id_token_hint
	// names logs in, or the client is told so.
	if req.HintSubject != "" && req.UserID != req.HintSubject {
		if stored {
			_ = j.store.DeleteAuthRequest(ctx, req.ID) // spent; it expires anyway
		}
		j.ui.RedirectError(c, req.RedirectURI, req.State, req.ResponseMode, "login_required",
			"the user who logged in is not the one id_token_hint names")
		return
	}
	// The steps a login may still need, each a page that comes back here.
	need, err := j.mfaNeeded(ctx, req)
	if err != nil {
		unavailable("second factor policy", err)
		return
	}
	step := ""
	switch {
	case need:
		step = "/mfa"
	case req.DeviceKey != "":
		// A device's login always ends at its approval page (device.go).
		step = deviceApproveStep
	case req.ClientID != "":
		if step, err = j.consentStep(ctx, req); err != nil {
			unavailable("consent", err)
			return
		}
	}
	if step != "" {
		if slices.Contains(req.Prompt, "none") {
			code := "interaction_required"
			if step == "/consent" {
				code = "consent_required"
			}
			j.ui.RedirectError(c, req.RedirectURI, req.State, req.ResponseMode, code, "the login needs the user")
			return
		}
		j.toStep(c, req, stored, step)
		return
	}
	if stored {
		// Spent before the code exists, so that of two submits racing with
		// the same request only one gets a code.
		switch err := j.store.DeleteAuthRequest(ctx, req.ID); {
		case errors.Is(err, store.ErrNotFound):
			j.ui.Page(c, http.StatusBadRequest, ui.MsgLoginUsed)
			return
		case err != nil:
			unavailable("spend auth request", err)
			return
		}
	}
	if req.ClientID == "" { // a login to the account page, not to a client
		if s == nil && !req.NoSession {
			if err := j.startSSO(c, req.UserID, req.ConnectorID, req.AuthTime, req.AMR, ""); err != nil {
				unavailable("start session", err)
				return
			}
		}
		c.Redirect(http.StatusSeeOther, req.RedirectURI)
		return
	}
	// The token session is named now, so the browser session can list it
	// before any token exists.
	family := tokensvc.NewID()
	switch {
	case req.NoSession: // nothing binds this login to the browser
	case s == nil:
		err = j.startSSO(c, req.UserID, req.ConnectorID, req.AuthTime, req.AMR, family)
	default:
		err = j.useSSO(ctx, s, family)
	}
	if err != nil {
		unavailable("session", err)
		return
	}
	code, err := j.codes.IssueCode(ctx, req, family)
	if err != nil {
		unavailable("issue code", err)
		return
	}
	how := "password"
	if s != nil {
		how = "sso"
	}
	j.log.Info("login succeeded", "connector", req.ConnectorID, "client_id", req.ClientID, "user", req.UserID, "via", how)
	d := map[string]string{}
	if len(req.AMR) > 0 {
		d["amr"] = strings.Join(req.AMR, " ")
	}
	if s != nil {
		d["sso"] = "true"
	}
	j.audit.Request(c, store.AuditEvent{Type: audit.LoginSuccess, Actor: audit.User(req.UserID), UserID: req.UserID,
		ClientID: req.ClientID, ConnectorID: req.ConnectorID, Details: d})
	v := url.Values{"code": {code}, "iss": {j.opts.Issuer}}
	if req.State != "" {
		v.Set("state", req.State)
	}
	j.ui.Respond(c, req.RedirectURI, req.ResponseMode, v)
}

// toStep keeps the login's progress in its request and sends the browser
// to the page of the next step.
func (j *Server) toStep(c *gin.Context, req store.AuthRequest, stored bool, step string) {
	ctx := c.Request.Context()
	req.Step = step
	var err error
	if stored {
		err = j.store.UpdateAuthRequest(ctx, req)
	} else {
		// From the browser's session or an IdP-initiated login: a new
		// request, bound to this browser like any other.
		req.ID, req.CSRFToken = tokensvc.NewID(), tokensvc.NewID()
		req.BrowserHash = core.HashString(j.browserID(c))
		req.Expiry = j.opts.Now().Add(j.opts.AuthRequestTTL)
		err = j.store.CreateAuthRequest(ctx, req)
	}
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLoginUsed)
		return
	} else if err != nil {
		j.ui.Unavailable(c, "login: record progress", err)
		return
	}
	c.Redirect(http.StatusSeeOther, j.path(step)+"?req="+url.QueryEscape(req.ID))
}

// resume answers a request for a page the login has moved past — Back, a
// reload, or the form of a page the browser kept in memory and showed
// again on Back — with the page of the step it waits at, instead of
// calling a live login expired. A form posted there is not acted on: the
// browser is only sent, with a GET, to a page that checks the request
// again. It reports whether it answered.
func (j *Server) resume(c *gin.Context, req store.AuthRequest) bool {
	if req.UserID == "" || req.Step == "" {
		return false
	}
	c.Redirect(http.StatusSeeOther, j.path(req.Step)+"?req="+url.QueryEscape(req.ID))
	return true
}

// Begin takes an authorization request the protocol has validated
// through the login: the browser's single sign-on session when it may
// answer, else the login page. Errors go to the client's redirect URI,
// which the protocol has checked.
func (j *Server) Begin(c *gin.Context, req store.AuthRequest) {
	ctx := c.Request.Context()
	j.ui.UseLocales(c, req.UILocales)
	fail := func(code, desc string) {
		j.ui.RedirectError(c, req.RedirectURI, req.State, req.ResponseMode, code, desc)
	}
	req.CSRFToken, req.BrowserHash = tokensvc.NewID(), core.HashString(j.browserID(c))
	s, err := j.currentSSO(c)
	if err != nil {
		j.log.Error("authorize: read session", "err", err)
		fail("temporarily_unavailable", "the server could not read the session")
		return
	}
	if j.ssoServes(s, req) {
		req.UserID, req.ConnectorID, req.AuthTime, req.AMR = s.UserID, s.ConnectorID, s.AuthTime, s.AMR
		j.continueLogin(c, req, false, s)
		return
	}
	if slices.Contains(req.Prompt, "none") {
		fail("login_required", "the user must log in")
		return
	}
	if err := j.store.CreateAuthRequest(ctx, req); err != nil {
		j.log.Error("authorize: store request", "err", err)
		fail("temporarily_unavailable", "the server could not store the request")
		return
	}
	next := j.path("/login") + "?req=" + url.QueryEscape(req.ID)
	if set := j.conns.Load(); len(set.List) == 1 {
		next = j.path("/login/"+url.PathEscape(set.List[0].ID)) + "?req=" + url.QueryEscape(req.ID)
	}
	c.Redirect(http.StatusSeeOther, next)
}

// browserCookie binds a pending login to the browser that started it, so
// a login form cannot be completed from another browser (login CSRF).
const browserCookie = "portico_browser"

// browserID returns the browser's binding cookie, setting one if absent.
func (j *Server) browserID(c *gin.Context) string {
	if v, err := c.Cookie(browserCookie); err == nil && len(v) >= 22 && len(v) <= 64 {
		return v
	}
	v := tokensvc.NewID()
	http.SetCookie(c.Writer, &http.Cookie{
		Name: browserCookie, Value: v, Path: j.path("/"), HttpOnly: true,
		Secure: j.secure, SameSite: http.SameSiteLaxMode,
	})
	return v
}
