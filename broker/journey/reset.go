package journey

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/ui"
	"github.com/portico-idp/portico/tokensvc"
)

// Password reset: "Forgot password?" on a local connector's login form
// asks for a name or address and always answers the same page; a link
// goes, off the request, to the account's address if there is one; the
// link's form sets a new password under the policy and ends every session
// of the account (anyone who logged in with the old one is out).

// maxLoginLen bounds a typed login name (local accounts' names are at
// most 256 bytes; an address at most 254).
const maxLoginLen = 256

func (j *Server) forgotPath(cn string) string {
	return j.path("/login/" + url.PathEscape(cn) + "/forgot")
}

// loginPageURL is the login form to go back to: of the pending login req
// if there is one.
func (j *Server) loginPageURL(cn, req string) string {
	if req == "" {
		return j.path("/account")
	}
	return j.path("/login/"+url.PathEscape(cn)) + "?req=" + url.QueryEscape(req)
}

func resetOn(ls LocalService) bool { return ls.Reset }

func (j *Server) handleForgot(c *gin.Context) {
	if cn, _, ok := j.offered(c, resetOn); ok {
		j.forgotPage(c, http.StatusOK, cn, "")
	}
}

func (j *Server) forgotPage(c *gin.Context, status int, cn, msg string) {
	req := formValue(c, "req")
	j.ui.Render(c, status, "forgot", map[string]any{
		"Title": j.ui.T(c, "ui.forgot_title"), "Action": j.forgotPath(cn), "CSRF": j.selfCSRF(c),
		"Req": req, "Error": msg, "Back": j.loginPageURL(cn, req),
	})
}

func (j *Server) handleForgotSubmit(c *gin.Context) {
	cn, _, ok := j.offered(c, resetOn)
	if !ok || !j.selfCSRFOK(c) {
		return
	}
	login := strings.TrimSpace(c.PostForm("login"))
	if login == "" || len(login) > maxLoginLen {
		j.forgotPage(c, http.StatusBadRequest, cn, j.ui.T(c, ui.MsgLoginNameInvalid))
		return
	}
	if !j.addressAllowed(c, "forgot") {
		return
	}
	lang, peer := j.ui.Lang(c), c.ClientIP()
	j.background("reset link", func(ctx context.Context) { j.mailReset(ctx, lang, cn, login, peer) })
	req := c.PostForm("req")
	j.notice(c, http.StatusOK, "ui.check_mail_title", j.ui.T(c, "ui.forgot_sent", j.ui.Duration(c, j.self.cfg.ResetTTL.Seconds())),
		j.loginPageURL(cn, req), j.ui.T(c, "ui.back_to_login"))
}

// mailReset mails the reset link of the account login names, if any.
func (j *Server) mailReset(ctx context.Context, lang, cn, login, peer string) {
	a, err := j.store.GetLocalAccountByLogin(ctx, login)
	if errors.Is(err, store.ErrNotFound) {
		return
	} else if err != nil {
		j.log.Error("reset: read account", "err", err)
		return
	}
	if a.Email == "" || j.disabled(ctx, a.ID) {
		return
	}
	if _, err := j.mailLink(ctx, lang, purposeReset, a); err != nil {
		j.log.Error("reset: mail link", "err", err)
		return
	}
	j.audit.Record(ctx, store.AuditEvent{Type: audit.ResetRequest, Actor: "anonymous", ConnectorID: cn,
		Details: map[string]string{"account": a.ID, "peer": peer}})
}

func (j *Server) handleReset(c *gin.Context) {
	if _, _, u, ok := j.resetLink(c); ok {
		j.passwordFormWith(c, http.StatusOK, "reset", "", "", u != "")
	}
}

// resetLink checks a reset link and finds the user whose second factor
// it needs, if any (reset_mfa.go).
func (j *Server) resetLink(c *gin.Context) (store.LocalAccount, tokensvc.Action, string, bool) {
	a, act, ok := j.checkLink(c, purposeReset)
	if !ok {
		return a, act, "", false
	}
	u, err := j.resetFactorUser(c.Request.Context(), a)
	if err != nil {
		j.ui.Unavailable(c, "reset: second factors", err)
		return a, act, "", false
	}
	return a, act, u, true
}

// passwordForm shows the form of a link that sets a password (reset,
// invitation).
func (j *Server) passwordForm(c *gin.Context, status int, page, msg string) {
	j.passwordFormWith(c, status, page, msg, "password", c.PostForm("code") != "")
}

// passwordFormWith is passwordForm with the field msg is about, and
// whether the form asks for a second factor's code.
func (j *Server) passwordFormWith(c *gin.Context, status int, page, msg, field string, factor bool) {
	tok := formValue(c, "token")
	j.ui.Render(c, status, "setpassword", map[string]any{
		"Title": j.ui.T(c, "ui."+page+"_title"), "Intro": j.ui.T(c, "ui."+page+"_intro"), "Action": j.langPath(c, linkPaths[page]),
		"Token": tok, "CSRF": j.selfCSRF(c), "Error": msg, "Field": field, "Factor": factor,
	})
}

func (j *Server) handleResetSubmit(c *gin.Context) {
	if !j.selfCSRFOK(c) {
		return
	}
	a, act, u, ok := j.resetLink(c)
	if !ok {
		return
	}
	if u != "" {
		// The password's own checks first: a typo costs no code.
		if _, msg := j.newPassword(c, a); msg != "" {
			j.passwordFormWith(c, http.StatusBadRequest, "reset", msg, "password", true)
			return
		}
		if !j.checkResetFactor(c, u) {
			return
		}
	}
	j.setPassword(c, a, act, "reset", func(a *store.LocalAccount) {
		// The link came to this address: it is the person's.
		a.EmailVerified = a.EmailVerified || strings.EqualFold(a.Email, act.Email)
	})
}

// setPassword takes a link's form: a new password under the policy
// replaces the account's (compare-and-swap), the link is spent, and every
// session of the account's users ends.
func (j *Server) setPassword(c *gin.Context, a store.LocalAccount, act tokensvc.Action, page string, also func(*store.LocalAccount)) {
	ctx := c.Request.Context()
	pw, msg := j.newPassword(c, a)
	if msg != "" {
		j.passwordForm(c, http.StatusBadRequest, page, msg)
		return
	}
	h, err := j.hash(pw)
	if err != nil {
		j.ui.Unavailable(c, "self-service: hash password", err)
		return
	}
	if !j.spendLink(c, act) {
		return
	}
	a.PasswordHash = h
	also(&a)
	if err := j.store.UpdateLocalAccount(ctx, a); errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		// The account changed since the link was checked.
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLinkInvalid)
		return
	} else if err != nil {
		j.ui.Unavailable(c, "self-service: update account", err)
		return
	}
	users, err := j.localUserIDs(ctx, a.ID)
	if err != nil {
		j.log.Error("self-service: find users", "err", err)
	}
	ended := 0
	for _, u := range users {
		n, err := j.EndUserSessions(ctx, u)
		if err != nil {
			j.log.Error("self-service: end sessions", "err", err)
		}
		ended += n
	}
	typ := audit.PasswordReset
	if page == "invite" {
		typ = audit.InvitationAccepted
	}
	e := store.AuditEvent{Type: typ, Actor: "account:" + a.ID, Details: map[string]string{"account": a.ID}}
	if len(users) > 0 {
		e.UserID = users[0]
	}
	j.audit.Request(c, e)
	j.notice(c, http.StatusOK, "ui."+page+"_done_title", j.ui.T(c, "ui."+page+"_done"), j.path("/account"), j.ui.T(c, "ui.login"))
}

// disabled reports whether a user the account logs in as is disabled: a
// reset would set a password nobody may use, and mail for nothing.
func (j *Server) disabled(ctx context.Context, accountID string) bool {
	users, err := j.localUserIDs(ctx, accountID)
	if err != nil {
		return false
	}
	for _, id := range users {
		if u, err := j.store.GetUser(ctx, id); err == nil && u.Disabled {
			return true
		}
	}
	return false
}
