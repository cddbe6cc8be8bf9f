package journey

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
	"github.com/portico-idp/portico/broker/ui"
	"github.com/portico-idp/portico/sdk"
)

// Changing the password of a local account from the account page. The
// connector checks the current password and stores the new hash
// (compare-and-swap) under its own bound on concurrent hashing, so the
// page is no cheaper way to make the server hash than the login form;
// guesses at the current password count against the account's login
// throttle. Once changed, every other session of the person ends: whoever
// knew the old password and logged in with it is out.

// passwordChanger is a password connector whose passwords the broker
// keeps (the local connector). ChangePassword fails with
// sdk.ErrInvalidCredentials when current is wrong, and with an error
// wrapping sdk.ErrUnavailable when it could not try (busy, the store).
type passwordChanger interface {
	ChangePassword(ctx context.Context, subject, current, next string) error
}

// localAccount is the user's identity at a connector that can change its
// password, or nil.
type localAccount struct {
	cn      *core.Connector
	changer passwordChanger
	ident   store.Identity
}

func (j *Server) localAccount(ctx context.Context, userID string) (*localAccount, error) {
	ids, err := j.store.ListIdentities(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	set := j.conns.Load()
	for _, id := range ids {
		if cn := set.ByID[id.ConnectorID]; cn != nil {
			if pc, ok := cn.Impl.(passwordChanger); ok {
				return &localAccount{cn: cn, changer: pc, ident: id}, nil
			}
		}
	}
	return nil, nil
}

// changePasswordPage renders the form; msg is an error to show.
func (j *Server) changePasswordPage(c *gin.Context, status int, msg string) {
	j.ui.Render(c, status, "account_password", map[string]any{
		"Title": j.ui.T(c, "ui.change_password"), "Action": j.path("/account/password"), "CSRF": accountCSRF(c),
		"Back": j.path("/account"), "Error": msg,
	})
}

func (j *Server) handlePasswordPage(c *gin.Context) {
	s, err := j.currentSSO(c)
	if err != nil {
		j.ui.Unavailable(c, "account: read session", err)
		return
	}
	ok := s != nil
	if ok {
		if ok, err = j.recentEnough(c.Request.Context(), s); err != nil {
			j.ui.Unavailable(c, "account: load second factors", err)
			return
		}
	}
	if !ok { // log in (again) first, then come back
		j.accountLogin(c, "", "")
		return
	}
	la, err := j.localAccount(c.Request.Context(), s.UserID)
	if err != nil {
		j.ui.Unavailable(c, "account: password", err)
		return
	}
	if la == nil {
		j.ui.Page(c, http.StatusNotFound, ui.MsgNoLocalPassword)
		return
	}
	j.changePasswordPage(c, http.StatusOK, "")
}

func (j *Server) handlePasswordChange(c *gin.Context) {
	s, ok := j.accountAction(c, true)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	la, err := j.localAccount(ctx, s.UserID)
	if err != nil {
		j.ui.Unavailable(c, "account: password", err)
		return
	}
	if la == nil {
		j.ui.Page(c, http.StatusNotFound, ui.MsgNoLocalPassword)
		return
	}
	cur, next, again := c.PostForm("current"), c.PostForm("new"), c.PostForm("confirm")
	switch {
	case cur == "" || len(cur) > maxPassword:
		j.changePasswordPage(c, http.StatusBadRequest, j.ui.T(c, ui.MsgPasswordCurrent))
		return
	case next == "":
		j.changePasswordPage(c, http.StatusBadRequest, j.ui.T(c, ui.MsgPasswordEmpty))
		return
	case len(next) > maxPassword:
		j.changePasswordPage(c, http.StatusBadRequest, j.ui.T(c, ui.MsgPasswordTooLong, strconv.Itoa(maxPassword)))
		return
	case next != again:
		j.changePasswordPage(c, http.StatusBadRequest, j.ui.T(c, ui.MsgPasswordMismatch))
		return
	}
	if p := j.opts.PasswordPolicy; p != nil {
		u, err := j.store.GetUser(ctx, s.UserID)
		if err != nil {
			j.ui.Unavailable(c, "account: read user", err)
			return
		}
		if err := p.Check(next, u.Username, u.Email, u.Name, la.ident.Username, la.ident.Email); err != nil {
			j.changePasswordPage(c, http.StatusBadRequest, j.policyMessage(c, err))
			return
		}
	}
	// The login form's account key: guesses here and there share a budget.
	key := throttle.Key{Scope: throttle.ScopeLogin, ID: "acct:" + la.cn.ID + "/" + la.ident.Subject}
	if !j.throttleCheck(c, key) {
		return
	}
	cctx, done := j.conns.Call(ctx, la.cn, "change_password")
	err = la.changer.ChangePassword(cctx, la.ident.Subject, cur, next)
	done(err)
	switch {
	case errors.Is(err, sdk.ErrInvalidCredentials):
		j.throttleFail(c, key)
		j.audit.Request(c, store.AuditEvent{Type: audit.PasswordChange, Actor: audit.User(s.UserID), UserID: s.UserID,
			ConnectorID: la.cn.ID, Details: map[string]string{"result": "refused", "reason": "invalid_credentials"}})
		j.changePasswordPage(c, http.StatusUnauthorized, j.ui.T(c, ui.MsgPasswordCurrent))
		return
	case err != nil:
		j.throttleRelease(c, key)
		j.log.Error("account: change password", "connector", la.cn.ID, "err", err)
		j.changePasswordPage(c, http.StatusServiceUnavailable, j.ui.T(c, ui.MsgStoreDown))
		return
	}
	j.throttleSucceed(c, key)
	browsers, tokens, err := j.endOtherSessions(ctx, s)
	if err != nil {
		// The password is changed; say so, and that the sessions may not
		// all have ended, rather than pretend nothing happened.
		j.log.Error("account: end other sessions after a password change", "err", err)
	}
	j.audit.Request(c, store.AuditEvent{Type: audit.PasswordChange, Actor: audit.User(s.UserID), UserID: s.UserID,
		ConnectorID: la.cn.ID, Details: map[string]string{"result": "changed",
			"browsers_ended": strconv.Itoa(browsers), "sessions_ended": strconv.Itoa(tokens)}})
	if err != nil {
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgPasswordSessionsLeft)
		return
	}
	c.Redirect(http.StatusSeeOther, j.path("/account")+"?done=password")
}
