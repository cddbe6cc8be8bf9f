package journey

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/ui"
	"github.com/portico-idp/portico/sdk"
)

// Email verification and invitations. A verify link marks the local
// account's address verified (email_verified in the tokens of its next
// login or refresh). An invitation is an account an administrator made
// with no password; its link lets the person choose one.

func (j *Server) handleVerify(c *gin.Context) {
	a, _, ok := j.checkLink(c, purposeVerify)
	if !ok {
		return
	}
	j.ui.Render(c, http.StatusOK, "verify", map[string]any{
		"Title": j.ui.T(c, "ui.verify_title"), "Intro": j.ui.T(c, "ui.verify_intro", a.Email),
		"Action": j.langPath(c, "/verify"), "Token": c.Query("token"), "CSRF": j.selfCSRF(c),
	})
}

func (j *Server) handleVerifySubmit(c *gin.Context) {
	if !j.selfCSRFOK(c) {
		return
	}
	a, act, ok := j.checkLink(c, purposeVerify)
	if !ok || !j.spendLink(c, act) {
		return
	}
	ctx := c.Request.Context()
	a.EmailVerified = true
	if err := j.store.UpdateLocalAccount(ctx, a); errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLinkInvalid)
		return
	} else if err != nil {
		j.ui.Unavailable(c, "verify: update account", err)
		return
	}
	users, err := j.localUserIDs(ctx, a.ID)
	if err != nil {
		j.log.Error("verify: find users", "err", err)
	}
	for _, id := range users {
		j.markVerified(ctx, id, a.Email)
	}
	e := store.AuditEvent{Type: audit.AccountVerify, Actor: "account:" + a.ID, Details: map[string]string{"account": a.ID}}
	if len(users) > 0 {
		e.UserID = users[0]
	}
	j.audit.Request(c, e)
	j.notice(c, http.StatusOK, "ui.verify_done_title", j.ui.T(c, "ui.verify_done", a.Email), j.path("/account"), j.ui.T(c, "ui.login"))
}

// markVerified sets the user's email_verified now, for tokens refreshed
// before the next login; a conflict is left to that login.
func (j *Server) markVerified(ctx context.Context, userID, email string) {
	u, err := j.store.GetUser(ctx, userID)
	if err != nil || !strings.EqualFold(u.Email, email) || u.EmailVerified {
		return
	}
	u.EmailVerified = true
	if err := j.store.UpdateUser(ctx, u); err != nil {
		j.log.Warn("verify: update user", "err", err)
	}
}

// refuseUnverified refuses a login of connector cn whose address is not
// verified, when the connector asks for verified ones, and mails a link
// (at most the account's share an hour). It reports whether it refused.
func (j *Server) refuseUnverified(c *gin.Context, cn *core.Connector, req store.AuthRequest, id sdk.Identity) bool {
	ls, ok := j.local(cn.ID)
	if !ok || !ls.RequireVerifiedEmail || id.EmailVerified {
		return false
	}
	j.auditLoginFailure(c, cn.ID, req.ClientID, "", "email_unverified")
	lang, sub := j.ui.Lang(c), id.Subject
	j.background("verify link", func(ctx context.Context) {
		a, err := j.store.GetLocalAccount(ctx, sub)
		if err != nil || a.EmailVerified {
			return
		}
		if _, err := j.mailLink(ctx, lang, purposeVerify, a); err != nil {
			j.log.Error("verify: mail link", "err", err)
		}
	})
	j.ui.Page(c, http.StatusForbidden, ui.MsgVerifyFirst)
	return true
}

// SendInvitation mails the invitation link of local account id, which
// has no password yet, in the default language; it returns when the
// link expires. The admin API calls it.
func (j *Server) SendInvitation(ctx context.Context, id string) (time.Time, error) {
	if j.mailer == nil {
		return time.Time{}, ErrNoMail
	}
	a, err := j.store.GetLocalAccount(ctx, id)
	if err != nil {
		return time.Time{}, err
	}
	if a.PasswordHash != "" {
		return time.Time{}, ErrHasPassword
	}
	exp, err := j.mailLink(ctx, j.ui.Offered()[0], purposeInvite, a)
	if err == nil && exp.IsZero() {
		return exp, ErrTooManyMails
	}
	return exp, err
}

// Errors of SendInvitation.
var (
	ErrNoMail             = errors.New("journey: no mail server is configured")
	ErrHasPassword        = errors.New("journey: the account already has a password")
	ErrTooManyMails error = tooManyMails{}
)

// tooManyMails: the account had its share of links this hour.
type tooManyMails struct{}

func (tooManyMails) Error() string      { return "journey: the account was sent too many links this hour" }
func (tooManyMails) TooManyMails() bool { return true }

func (j *Server) handleInvite(c *gin.Context) {
	if _, _, ok := j.checkLink(c, purposeInvite); !ok {
		return
	}
	j.passwordForm(c, http.StatusOK, "invite", "")
}

func (j *Server) handleInviteSubmit(c *gin.Context) {
	if !j.selfCSRFOK(c) {
		return
	}
	a, act, ok := j.checkLink(c, purposeInvite)
	if !ok {
		return
	}
	j.setPassword(c, a, act, "invite", func(a *store.LocalAccount) {
		a.EmailVerified = a.EmailVerified || strings.EqualFold(a.Email, act.Email)
	})
}
