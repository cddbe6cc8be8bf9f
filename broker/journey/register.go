package journey

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/ui"
	"github.com/portico-idp/portico/tokensvc"
)

// Self-registration, off unless a local connector turns it on: a person
// gives an address and a name; a link is mailed to the address, and its
// form, where the mailbox's owner chooses the password, makes the account
// (its address verified). Nothing exists before the link is used, so a
// registration in someone else's name gives nobody an account, and a
// login tells nothing about which addresses registered. An address that
// already has an account gets the same page, and its owner a note with a
// reset link instead.

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
	lang, peer := j.ui.Lang(c), c.ClientIP()
	j.background("registration", func(ctx context.Context) { j.register(ctx, lang, cn, email, name, peer) })
	j.notice(c, http.StatusOK, "ui.check_mail_title", j.ui.T(c, "ui.register_sent", email, j.ui.Duration(c, j.self.cfg.VerifyTTL.Seconds())),
		j.loginPageURL(cn, c.PostForm("req")), j.ui.T(c, "ui.back_to_login"))
}

// pending is a registration waiting for its link: what the form said
// that the link does not carry.
type pending struct {
	Name      string `json:"name,omitempty"`
	Connector string `json:"connector"`
}

// pendingKind is the store record of a pending registration, by link id.
const pendingKind = "registration"

// register mails the address a link to finish the account; an address
// that has an account already gets a note with a reset link instead.
func (j *Server) register(ctx context.Context, lang, cn, email, name, peer string) {
	old, err := j.store.GetLocalAccountByLogin(ctx, email)
	switch {
	case err == nil && strings.EqualFold(old.Email, email):
		if _, err := j.mailLinkAs(ctx, lang, purposeReset, "exists", old); err != nil {
			j.log.Error("register: mail the owner", "err", err)
		}
		return
	case err == nil: // another account's username: no account can have it
		j.log.Warn("register: the address is another account's username", "account", old.ID)
		return
	case !errors.Is(err, store.ErrNotFound):
		j.log.Error("register: read account", "err", err)
		return
	}
	a := store.LocalAccount{ID: tokensvc.NewID(), Email: email}
	act, err := j.mailLinkRecord(ctx, lang, purposeRegister, "register", a, func(act tokensvc.Action) (store.Record, error) {
		v, err := json.Marshal(pending{Name: name, Connector: cn})
		return store.Record{Kind: pendingKind, Key: act.ID, Value: v, Expiry: act.Expiry}, err
	})
	if err != nil {
		j.log.Error("register: mail link", "err", err)
		return
	}
	if act.ID != "" {
		j.audit.Record(ctx, store.AuditEvent{Type: audit.RegisterRequest, Actor: "anonymous", ConnectorID: cn,
			Details: map[string]string{"account": a.ID, "peer": peer}})
	}
}

// handleRegisterLink shows the form of a registration link: choose the
// password (the mailbox's owner does, not whoever typed the address).
func (j *Server) handleRegisterLink(c *gin.Context) {
	if _, _, ok := j.checkRegisterLink(c); ok {
		j.passwordForm(c, http.StatusOK, "register", "")
	}
}

// checkRegisterLink checks a registration link: valid, unspent, and its
// address still has no account.
func (j *Server) checkRegisterLink(c *gin.Context) (tokensvc.Action, pending, bool) {
	act, ok := j.parseLink(c, purposeRegister)
	if !ok {
		return act, pending{}, false
	}
	ctx := c.Request.Context()
	var p pending
	rec, err := j.store.GetRecord(ctx, pendingKind, act.ID)
	if err == nil {
		err = json.Unmarshal(rec.Value, &p)
	}
	if errors.Is(err, store.ErrNotFound) {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLinkInvalid)
		return act, p, false
	} else if err != nil {
		j.ui.Unavailable(c, "register: read pending", err)
		return act, p, false
	}
	a := store.LocalAccount{ID: act.Subject, Email: act.Email}
	if !core.ConstantEqual(binding(purposeRegister, a), act.Binding) {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLinkInvalid)
		return act, p, false
	}
	if _, err := j.store.GetLocalAccountByLogin(ctx, act.Email); err == nil {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLinkInvalid) // made meanwhile, by any way
		return act, p, false
	} else if !errors.Is(err, store.ErrNotFound) {
		j.ui.Unavailable(c, "register: read account", err)
		return act, p, false
	}
	return act, p, true
}

func (j *Server) handleRegisterLinkSubmit(c *gin.Context) {
	if !j.selfCSRFOK(c) {
		return
	}
	act, p, ok := j.checkRegisterLink(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	a := store.LocalAccount{ID: act.Subject, Username: act.Email, Email: act.Email, EmailVerified: true, Name: p.Name,
		CreatedAt: j.opts.Now().UTC()}
	pw, msg := j.newPassword(c, a)
	if msg != "" {
		j.passwordForm(c, http.StatusBadRequest, "register", msg)
		return
	}
	var err error
	if a.PasswordHash, err = j.hash(pw); err != nil {
		j.ui.Unavailable(c, "register: hash password", err)
		return
	}
	if !j.spendLink(c, act) {
		return
	}
	if err := j.store.CreateLocalAccount(ctx, a); errors.Is(err, store.ErrAlreadyExists) {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLinkInvalid)
		return
	} else if err != nil {
		j.ui.Unavailable(c, "register: create account", err)
		return
	}
	_ = j.store.DeleteRecord(ctx, pendingKind, act.ID)
	j.audit.Request(c, store.AuditEvent{Type: audit.AccountRegister, Actor: "account:" + a.ID, ConnectorID: p.Connector,
		Details: map[string]string{"account": a.ID}})
	j.notice(c, http.StatusOK, "ui.register_done_title", j.ui.T(c, "ui.register_done"), j.path("/account"), j.ui.T(c, "ui.login"))
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

// isControl: control and formatting characters (a right-to-left override
// would make a name lie), as passkey names refuse them.
func isControl(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }
