package journey

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/ui"
	"github.com/portico-idp/portico/tokensvc"
)

// Self-registration, off unless a local connector turns it on: a person
// gives an address, a name and a password; the account is made with the
// address unverified and a link is mailed to it; the login waits for
// the link. An address that already has an account gets the same page,
// and its owner a note instead of a second account: the page tells no one
// which addresses have accounts.

// Bounds of the registration form.
const (
	maxEmailLen = 254 // RFC 5321's path limit
	maxNameLen  = 256
)

func (j *Server) registerPath(cn string) string {
	return j.path("/login/" + url.PathEscape(cn) + "/register")
}

func registerOn(ls LocalService) bool { return ls.Register }

func (j *Server) handleRegister(c *gin.Context) {
	if cn, _, ok := j.offered(c, registerOn); ok {
		j.registerPage(c, http.StatusOK, cn, "", "")
	}
}

func (j *Server) registerPage(c *gin.Context, status int, cn, field, msg string) {
	ls, _ := j.local(cn)
	req := formValue(c, "req")
	j.ui.Render(c, status, "register", map[string]any{
		"Title": j.ui.T(c, "ui.register_title"), "Action": j.registerPath(cn), "CSRF": j.selfCSRF(c), "Req": req,
		"Email": c.PostForm("email"), "Name": c.PostForm("name"), "Terms": ls.TermsURL,
		"Error": msg, "Field": field, "Back": j.loginPageURL(cn, req),
	})
}

func (j *Server) handleRegisterSubmit(c *gin.Context) {
	cn, ls, ok := j.offered(c, registerOn)
	if !ok || !j.selfCSRFOK(c) || !j.addressAllowed(c, "register") {
		return
	}
	email := strings.TrimSpace(c.PostForm("email"))
	name := strings.TrimSpace(c.PostForm("name"))
	addr, err := mail.ParseAddress(email)
	switch {
	case err != nil || len(email) > maxEmailLen || addr.Address != email || addr.Name != "":
		j.registerPage(c, http.StatusBadRequest, cn, "email", j.ui.T(c, ui.MsgEmailInvalid))
		return
	case !domainAllowed(email, ls.AllowedDomains):
		j.registerPage(c, http.StatusBadRequest, cn, "email", j.ui.T(c, ui.MsgEmailDomain))
		return
	case len(name) > maxNameLen || strings.ContainsFunc(name, isControl):
		j.registerPage(c, http.StatusBadRequest, cn, "name", j.ui.T(c, ui.MsgNameInvalid))
		return
	case ls.TermsURL != "" && c.PostForm("terms") != "yes":
		j.registerPage(c, http.StatusBadRequest, cn, "terms", j.ui.T(c, ui.MsgTermsRequired))
		return
	}
	a := store.LocalAccount{ID: tokensvc.NewID(), Username: email, Email: email, Name: name, CreatedAt: j.opts.Now()}
	pw, msg := j.newPassword(c, a)
	if msg != "" {
		j.registerPage(c, http.StatusBadRequest, cn, "password", msg)
		return
	}
	if a.PasswordHash, err = j.hash(pw); err != nil {
		j.ui.Unavailable(c, "register: hash password", err)
		return
	}
	lang, peer := j.ui.Lang(c), c.ClientIP()
	j.background("registration", func(ctx context.Context) { j.register(ctx, lang, cn, a, peer) })
	j.notice(c, http.StatusOK, "ui.check_mail_title", j.ui.T(c, "ui.register_sent", email, j.ui.Duration(c, j.self.cfg.VerifyTTL.Seconds())),
		j.loginPageURL(cn, c.PostForm("req")), j.ui.T(c, "ui.back_to_login"))
}

// register makes the account and mails its verify link; for an address
// that has an account already, it mails that account's owner a note.
func (j *Server) register(ctx context.Context, lang, cn string, a store.LocalAccount, peer string) {
	err := j.store.CreateLocalAccount(ctx, a)
	if errors.Is(err, store.ErrAlreadyExists) {
		if old, err := j.store.GetLocalAccountByLogin(ctx, a.Email); err == nil {
			if _, err := j.mailLinkAs(ctx, lang, purposeReset, "exists", old); err != nil {
				j.log.Error("register: mail the owner", "err", err)
			}
		}
		return
	} else if err != nil {
		j.log.Error("register: create account", "err", err)
		return
	}
	j.audit.Record(ctx, store.AuditEvent{Type: audit.AccountRegister, Actor: "account:" + a.ID, ConnectorID: cn,
		Details: map[string]string{"account": a.ID, "peer": peer}})
	if _, err := j.mailLink(ctx, lang, purposeVerify, a); err != nil {
		j.log.Error("register: mail link", "err", err)
	}
}

// domainAllowed: the address's domain is one of allowed (case folded),
// or allowed is empty.
func domainAllowed(email string, allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	at := strings.LastIndexByte(email, '@')
	d := strings.ToLower(email[at+1:])
	return slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, d) })
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }
