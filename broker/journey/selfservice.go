package journey

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
	"github.com/portico-idp/portico/broker/ui"
	"github.com/portico-idp/portico/tokensvc"
)

// Self-service of local accounts: the links Portico mails (verify an
// address, reset a password, accept an invitation) and self-registration.
//
// A link is a tokensvc action token (tokensvc/action.go): signed, for one
// purpose, bound to the account's password hash and address (a change by
// any way kills it), spent in the store on use so it works once across
// replicas, and expiring. Opening a link (GET) only shows a form; the
// change happens on its POST, so that a mail scanner that fetches links
// spends nothing. A form that fails its own checks (passwords that
// differ, one the policy refuses) does not spend the link either.
//
// Answers never say whether an account exists: "Forgot password?" and
// registration show one page whatever was typed, and the work that
// depends on the account (a store lookup, a signature, a mail queued)
// runs after the answer, off the request (background), so its time does
// not tell either.

// Link purposes, the tokensvc.Action purposes.
const (
	purposeVerify = "verify"
	purposeReset  = "reset"
	purposeInvite = "invite"
	// purposeRegister: the link of a registration (register.go), for an
	// account that does not exist yet.
	purposeRegister = "register"
)

// actionUsedKind is the store record of a spent link's id.
const actionUsedKind = "action-used"

// Email is a message the journey asks the Mailer to send.
type Email struct {
	To, Kind, Subject, Text, HTML string
}

// Mailer queues an email for delivery (broker/mail's outbox): Send
// returns once the message is stored, not when it is delivered.
type Mailer interface {
	Send(ctx context.Context, m Email) error
}

// SelfService configures the self-service of local accounts.
type SelfService struct {
	// Local are the settings of each local connector, by connector id.
	Local map[string]LocalService
	// ResetTTL, VerifyTTL, InviteTTL: how long a mailed link works
	// (30 minutes, 24 hours and 7 days when zero).
	ResetTTL, VerifyTTL, InviteTTL time.Duration
	// AddressRate bounds the forms (forgot password, registration) one
	// client address may send; AccountRate the links mailed to one
	// account. Zero: 10 per hour and 5 per hour.
	AddressRate, AccountRate throttle.Rate
}

// LocalService is what a local connector's accounts may do themselves.
type LocalService struct {
	// RequireVerifiedEmail refuses a login until the account's address is
	// verified (and mails a link when it refuses one).
	RequireVerifiedEmail bool
	// Reset offers "Forgot password?" on the login form;
	// ResetSecondFactor makes a person who has a second factor give it
	// too (reset_mfa.go).
	Reset             bool
	ResetSecondFactor bool
	// Register offers "Create an account"; AllowedDomains, if any, are
	// the address domains it takes; TermsURL, if set, must be accepted.
	Register       bool
	AllowedDomains []string
	TermsURL       string
}

// Defaults of SelfService.
const (
	DefaultResetTTL  = 30 * time.Minute
	DefaultVerifyTTL = 24 * time.Hour
	DefaultInviteTTL = 7 * 24 * time.Hour
)

// selfService is the journey's self-service state.
type selfService struct {
	cfg      SelfService
	addrRate *throttle.StoreRate
	acctRate *throttle.StoreRate
	// jobs bounds the background work (lookups, mails) the forms start:
	// past it, a form's work is dropped (logged), never queued unbounded.
	jobs chan struct{}
	wg   sync.WaitGroup
}

const maxBackgroundJobs = 8

func newSelfService(cfg SelfService, recs throttle.Records, now func() time.Time) (*selfService, error) {
	if cfg.ResetTTL <= 0 {
		cfg.ResetTTL = DefaultResetTTL
	}
	if cfg.VerifyTTL <= 0 {
		cfg.VerifyTTL = DefaultVerifyTTL
	}
	if cfg.InviteTTL <= 0 {
		cfg.InviteTTL = DefaultInviteTTL
	}
	if cfg.AddressRate.Limit <= 0 {
		cfg.AddressRate = throttle.Rate{Limit: 10, Per: time.Hour}
	}
	if cfg.AccountRate.Limit <= 0 {
		cfg.AccountRate = throttle.Rate{Limit: 5, Per: time.Hour}
	}
	s := &selfService{cfg: cfg, jobs: make(chan struct{}, maxBackgroundJobs)}
	var err error
	if s.addrRate, err = throttle.NewRate(recs, cfg.AddressRate, now); err != nil {
		return nil, fmt.Errorf("journey: self-service address rate: %w", err)
	}
	if s.acctRate, err = throttle.NewRate(recs, cfg.AccountRate, now); err != nil {
		return nil, fmt.Errorf("journey: self-service account rate: %w", err)
	}
	return s, nil
}

// local returns the self-service settings of connector id, and whether
// it is a local connector with any.
func (j *Server) local(id string) (LocalService, bool) {
	ls, ok := j.self.cfg.Local[id]
	return ls, ok && j.mailer != nil
}

// background runs f off the request, bounded, with a context that
// outlives the request by at most a minute.
func (j *Server) background(what string, f func(ctx context.Context)) {
	select {
	case j.self.jobs <- struct{}{}:
	default:
		j.log.Warn("self-service: too busy, dropped", "what", what)
		return
	}
	j.self.wg.Add(1)
	go func() {
		defer func() { <-j.self.jobs; j.self.wg.Done() }()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		f(ctx)
	}()
}

// WaitBackground waits for the work forms started (tests, shutdown).
func (j *Server) WaitBackground() { j.self.wg.Wait() }

// addressAllowed takes one of the client address's form budget, or
// answers 429.
func (j *Server) addressAllowed(c *gin.Context, form string) bool {
	ip := throttle.IP(c.ClientIP())
	d, err := j.self.addrRate.Allow(c.Request.Context(), throttle.Key{Scope: "selfservice", ID: form + ":" + ip.ID})
	if err != nil {
		j.ui.Unavailable(c, "self-service: address rate", err)
		return false
	}
	return j.allowed(c, d)
}

// binding is the account state a link of purpose may act on.
func binding(purpose string, a store.LocalAccount) string {
	return core.HashString("action:" + purpose + "\x00" + a.PasswordHash + "\x00" + strings.ToLower(a.Email))
}

// ttl is how long a link of purpose works.
func (s *selfService) ttl(purpose string) time.Duration {
	switch purpose {
	case purposeReset:
		return s.cfg.ResetTTL
	case purposeInvite:
		return s.cfg.InviteTTL
	}
	// verify, register: a check of the address
	return s.cfg.VerifyTTL
}

// linkPaths are the pages the links open.
var linkPaths = map[string]string{purposeVerify: "/verify", purposeReset: "/reset", purposeInvite: "/invite", purposeRegister: "/join"}

// mailLink mails account a link of purpose, in lang, unless the account
// had its share of links this hour (then it is dropped, logged: the
// person asked too often, or someone asks for them). It returns when the
// expiry of the link it sent, or zero.
func (j *Server) mailLink(ctx context.Context, lang, purpose string, a store.LocalAccount) (time.Time, error) {
	return j.mailLinkAs(ctx, lang, purpose, purpose, a)
}

// mailLinkAs is mailLink with the email of kind (ui.MailKinds).
func (j *Server) mailLinkAs(ctx context.Context, lang, purpose, kind string, a store.LocalAccount) (time.Time, error) {
	act, err := j.mailLinkRecord(ctx, lang, purpose, kind, a, nil)
	return act.Expiry, err
}

// mailLinkRecord is mailLinkAs that first stores the record rec makes of
// the link (nil: none), and returns the link's Action (zero when the
// account had its share of links).
func (j *Server) mailLinkRecord(ctx context.Context, lang, purpose, kind string, a store.LocalAccount, rec func(tokensvc.Action) (store.Record, error)) (tokensvc.Action, error) {
	if a.Email == "" {
		return tokensvc.Action{}, errors.New("the account has no email address")
	}
	// Each purpose has its own share, so that asking for resets cannot
	// silence an invitation; an account yet to be made counts by address.
	who := a.ID
	if purpose == purposeRegister {
		who = "address:" + strings.ToLower(a.Email)
	}
	d, err := j.self.acctRate.Allow(ctx, throttle.Key{Scope: "selfservice-mail", ID: purpose + ":" + who})
	if err != nil {
		return tokensvc.Action{}, err
	}
	if !d.Allowed {
		j.log.Warn("self-service: link not mailed: too many for the account", "purpose", purpose, "account", a.ID)
		return tokensvc.Action{}, nil
	}
	ttl := j.self.ttl(purpose)
	tok, act, err := j.tokens.MintAction(tokensvc.Action{Purpose: purpose, Subject: a.ID, Email: a.Email, Binding: binding(purpose, a)}, ttl)
	if err != nil {
		return act, err
	}
	if rec != nil {
		r, err := rec(act)
		if err == nil {
			err = j.store.PutRecord(ctx, r)
		}
		if err != nil {
			return tokensvc.Action{}, err
		}
	}
	// The link's pages speak the mail's language, whatever the browser
	// that opens it asks for.
	link := j.url(linkPaths[purpose]) + "?token=" + url.QueryEscape(tok) + "&ui_locales=" + url.QueryEscape(lang)
	// Only an administrator's invitation greets by name: any other name
	// was typed by whoever asked, who may not be the address's owner.
	name := ""
	if purpose == purposeInvite {
		name = a.Name
	}
	m, err := j.ui.Mail(lang, kind, name, link, ttl.Seconds())
	if err != nil {
		return tokensvc.Action{}, err
	}
	if err := j.mailer.Send(ctx, Email{To: a.Email, Kind: kind, Subject: m.Subject, Text: m.Text, HTML: m.HTML}); err != nil {
		return tokensvc.Action{}, err
	}
	j.audit.Record(ctx, store.AuditEvent{Type: audit.LinkMailed, Actor: "system", Details: map[string]string{"purpose": purpose, "account": a.ID}})
	return act, nil
}

// checkLink reads the posted or queried link of purpose and the account
// it names, and answers the page that says it is dead if it is: bad,
// expired, spent, or the account changed since.
func (j *Server) checkLink(c *gin.Context, purpose string) (store.LocalAccount, tokensvc.Action, bool) {
	ctx := c.Request.Context()
	act, ok := j.parseLink(c, purpose)
	if !ok {
		return store.LocalAccount{}, act, false
	}
	a, err := j.store.GetLocalAccount(ctx, act.Subject)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		j.ui.Unavailable(c, "self-service: read account", err)
		return a, act, false
	}
	if err != nil || !core.ConstantEqual(binding(purpose, a), act.Binding) {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLinkInvalid)
		return a, act, false
	}
	return a, act, true
}

// parseLink reads the posted or queried link of purpose: signed by
// Portico for purpose, unexpired, unspent; else it answers the page that
// says so.
func (j *Server) parseLink(c *gin.Context, purpose string) (tokensvc.Action, bool) {
	act, err := j.tokens.ParseAction(formValue(c, "token"), purpose)
	if err == nil && !j.opts.Now().Before(act.Expiry) { // the journey's clock too
		err = tokensvc.ErrActionExpired
	}
	if errors.Is(err, tokensvc.ErrActionExpired) {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLinkExpired)
		return act, false
	} else if err != nil {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLinkInvalid)
		return act, false
	}
	if _, err := j.store.GetRecord(c.Request.Context(), actionUsedKind, act.ID); err == nil {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLinkInvalid)
		return act, false
	} else if !errors.Is(err, store.ErrNotFound) {
		j.ui.Unavailable(c, "self-service: read link", err)
		return act, false
	}
	return act, true
}

// spendLink marks the link used, once: a second use, here or on another
// replica, finds the record and fails.
func (j *Server) spendLink(c *gin.Context, act tokensvc.Action) bool {
	err := j.store.PutRecord(c.Request.Context(), store.Record{Kind: actionUsedKind, Key: act.ID, Value: []byte("1"),
		Expiry: act.Expiry.Add(time.Minute)})
	if errors.Is(err, store.ErrAlreadyExists) {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLinkInvalid)
		return false
	} else if err != nil {
		j.ui.Unavailable(c, "self-service: spend link", err)
		return false
	}
	return true
}

// localUserIDs are the Portico users the account logs in as, through
// any local connector.
func (j *Server) localUserIDs(ctx context.Context, accountID string) ([]string, error) {
	var ids []string
	for cn := range j.self.cfg.Local {
		id, err := j.store.GetIdentity(ctx, cn, accountID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		ids = append(ids, id.UserID)
	}
	return ids, nil
}

// newPassword checks the two passwords of a form: the same, and under
// the policy. It returns the message to show, or "".
func (j *Server) newPassword(c *gin.Context, a store.LocalAccount) (string, string) {
	pw, again := c.PostForm("password"), c.PostForm("password2")
	if pw != again {
		return "", j.ui.T(c, ui.MsgPasswordMismatch)
	}
	if pw == "" {
		return "", j.ui.T(c, ui.MsgPasswordEmpty)
	}
	if j.opts.PasswordPolicy != nil {
		inputs := []string{a.Username, a.Email, a.Name}
		if err := j.opts.PasswordPolicy.Check(pw, inputs...); err != nil {
			return "", j.policyMessage(c, err)
		}
	}
	return pw, ""
}

// policyMessage says why the policy refused a password, in the page's
// language: by the violation's code when it has one.
func (j *Server) policyMessage(c *gin.Context, err error) string {
	var coded interface{ PolicyCode() (string, []any) }
	if errors.As(err, &coded) {
		code, args := coded.PolicyCode()
		if id := "password." + code; j.ui.T(c, id) != id {
			return j.ui.T(c, id, args...)
		}
	}
	return j.ui.T(c, ui.MsgPasswordRefused)
}

// hash hashes a new password.
func (j *Server) hash(pw string) (string, error) {
	if j.opts.HashPassword == nil {
		return "", errors.New("no password hasher")
	}
	return j.opts.HashPassword(pw)
}

// selfCSRF is the form token of the self-service forms that belong to no
// login: derived from the browser's binding cookie, as the device form's.
func (j *Server) selfCSRF(c *gin.Context) string {
	return core.HashString("selfservice-csrf:" + j.browserID(c))
}

func (j *Server) selfCSRFOK(c *gin.Context) bool {
	v, err := c.Cookie(browserCookie)
	if err != nil || !core.ConstantEqual(c.PostForm("csrf"), core.HashString("selfservice-csrf:"+v)) {
		j.ui.Page(c, http.StatusForbidden, ui.MsgFormCSRF)
		return false
	}
	return true
}

// formValue is a page's parameter: from the query of a GET, the form of
// a POST.
func formValue(c *gin.Context, name string) string {
	if c.Request.Method == http.MethodPost {
		return c.PostForm(name)
	}
	return c.Query(name)
}

// offered is the local connector of the page's path, with the settings
// that turn its page on (want), after the login's languages; it answers
// 404 when the connector does not offer it.
func (j *Server) offered(c *gin.Context, want func(LocalService) bool) (string, LocalService, bool) {
	j.loginLocales(c)
	cn := c.Param("connector")
	ls, ok := j.local(cn)
	if !ok || !want(ls) {
		j.ui.Page(c, http.StatusNotFound, ui.MsgNotFound)
		return cn, ls, false
	}
	return cn, ls, true
}

// loginLocales makes the page use the languages of the login it came
// from (req, in the query or the form), if there is one: "Forgot
// password?" and registration start from a login form.
func (j *Server) loginLocales(c *gin.Context) {
	id := formValue(c, "req")
	if id == "" || len(id) > 64 {
		return
	}
	if r, err := j.store.GetAuthRequest(c.Request.Context(), id); err == nil {
		j.ui.UseLocales(c, r.UILocales)
	}
}

// langPath is path with the page's language, for a form's action: the
// pages a link opens keep the link's language through their POST.
func (j *Server) langPath(c *gin.Context, path string) string {
	return j.path(path) + "?ui_locales=" + url.QueryEscape(j.ui.Lang(c))
}

// notice shows a page with a heading, a sentence and maybe a link.
func (j *Server) notice(c *gin.Context, status int, titleID, text, link, linkText string) {
	j.ui.Render(c, status, "notice", map[string]any{"Title": j.ui.T(c, titleID), "Message": text, "Link": link, "LinkText": linkText})
}
