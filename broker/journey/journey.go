// Package journey is the login journey: the pages a person sees between
// an application's authorization request and its code — the connector
// picker, password form and upstream callbacks, second factors (TOTP,
// recovery codes, passkeys), consent, the single sign-on session, the
// account page, the device grant's pages and logout — with the throttles
// that guard them.
//
// It may import the broker's shared packages (core, audit, identity, ui,
// device, store) but no other subject. The protocol validates an
// authorization request and hands it to Begin; the journey ends a login
// by asking the protocol for a code (Codes). The root package wires the
// two.
package journey

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/identity"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
	"github.com/portico-idp/portico/broker/ui"
	"github.com/portico-idp/portico/tokensvc"
)

// Options configure the journey.
type Options struct {
	Issuer string
	Now    func() time.Time
	// AuthRequestTTL bounds a login (15m).
	AuthRequestTTL time.Duration
	// LinkExplicit are the connectors whose accounts a logged-in person
	// may link to their user from the account page.
	LinkExplicit []string
	// SessionIdle and SessionAbsolute end a browser's single sign-on
	// session (sso.go); SessionAbsolute 0 turns single sign-on off.
	SessionIdle, SessionAbsolute time.Duration
	// MFA names the logins that must add a second factor; MFAKey seals
	// second-factor secrets at rest (32 bytes; without it no one can
	// enrol).
	MFA    MFAPolicy
	MFAKey []byte
	// Passkeys turns WebAuthn on (webauthn.go): as a second factor and,
	// with Passwordless, as the whole login. The issuer's host must then
	// be a domain name, the relying party id.
	Passkeys PasskeyOptions
	// Throttle, if set, slows down guessing at the login forms, the
	// second factor and the device code form.
	Throttle *throttle.Limiter
	// AddressRate bounds what one address may start per second (passkey
	// ceremonies, device codes); nil is no bound.
	AddressRate *core.AddrLimiter
	// SelfService is what local accounts do themselves: mailed links,
	// registration (selfservice.go); it needs Deps.Mailer.
	SelfService SelfService
	// HashPassword hashes a password set through the self-service pages.
	HashPassword func(password string) (string, error)
	// FreshLogin is how recent a login must be for the account page to
	// add or remove a way in (passkeys, recovery codes, the password);
	// 0 is 10m.
	FreshLogin time.Duration
	// PasswordPolicy checks a new password on the account page; nil
	// accepts any non-empty one.
	PasswordPolicy PasswordPolicy
}

// PasswordPolicy decides whether pw may be a password; userInputs are the
// person's names and address, which a policy may refuse inside it.
type PasswordPolicy interface {
	Check(pw string, userInputs ...string) error
}

// UserSessions ends a user's token sessions (the admin API's code path),
// but those named in keep, and counts them.
type UserSessions interface {
	RevokeUserSessions(ctx context.Context, userID string, keep ...string) (int, error)
}

// Codes is what the journey needs of the protocol.
type Codes interface {
	// IssueCode stores a single-use code for the login req has made and
	// returns it; familyID names the token session its exchange starts.
	IssueCode(ctx context.Context, req store.AuthRequest, familyID string) (string, error)
}

// Deps are the services the journey uses, which the broker owns.
type Deps struct {
	Store    Store
	Tokens   *tokensvc.Service
	Log      *slog.Logger
	Audit    *audit.Trail
	Identity *identity.Service
	Pages    *ui.Pages
	Conns    *core.Connectors
	Codes    Codes
	// Mailer queues mail; nil turns every mailed link off.
	Mailer Mailer
	// Sessions ends token sessions when the account page ends the
	// person's other sessions (a password change, "End other sessions").
	Sessions UserSessions
}

// Server serves the journey's pages.
type Server struct {
	opts         Options
	issuer       *url.URL
	secure       bool // cookies get Secure: the issuer is https
	store        Store
	tokens       *tokensvc.Service
	log          *slog.Logger
	audit        *audit.Trail
	ident        *identity.Service
	ui           *ui.Pages
	conns        *core.Connectors
	codes        Codes
	sessions     UserSessions
	addrs        *core.AddrLimiter
	linkExplicit map[string]bool
	webauthn     *webauthn.WebAuthn // nil unless passkeys are on
	mailer       Mailer
	self         *selfService
}

// New returns the journey; the issuer must be an absolute URL (the broker
// checked it).
func New(opts Options, d Deps) (*Server, error) {
	iss, _ := url.Parse(opts.Issuer)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FreshLogin <= 0 {
		opts.FreshLogin = defaultFreshLogin
	}
	if opts.SessionAbsolute > 0 && (opts.SessionIdle <= 0 || opts.SessionIdle > opts.SessionAbsolute) {
		opts.SessionIdle = opts.SessionAbsolute
	}
	b := &Server{opts: opts, issuer: iss, secure: iss.Scheme == "https",
		store: d.Store, tokens: d.Tokens, log: d.Log, audit: d.Audit, ident: d.Identity, ui: d.Pages,
		conns: d.Conns, codes: d.Codes, sessions: d.Sessions, addrs: opts.AddressRate, linkExplicit: map[string]bool{}, mailer: d.Mailer}
	var err error
	if b.self, err = newSelfService(opts.SelfService, d.Store, opts.Now); err != nil {
		return nil, err
	}
	for _, id := range opts.LinkExplicit {
		b.linkExplicit[id] = true
	}
	if opts.Passkeys.Enabled {
		if b.webauthn, err = newWebAuthn(iss, d.Pages.Product()); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Routes adds the pages to r; limit bounds the requests one address may
// start (device codes entered, passkey ceremonies).
func (j *Server) Routes(r *gin.Engine, limit gin.HandlerFunc) {
	r.GET(j.path("/login"), j.handleLoginPicker)
	r.GET(j.path("/login/:connector"), j.handleLoginForm)
	r.POST(j.path("/login/:connector"), j.handleLoginSubmit)
	r.GET(j.path("/metadata/:connector"), j.handleMetadata)
	r.GET(j.path("/callback/:connector"), j.handleCallback)
	r.POST(j.path("/callback/:connector"), j.handleCallback)
	r.GET(j.path("/logout"), audit.WithPeer, j.handleLogout)
	r.POST(j.path("/logout"), audit.WithPeer, j.handleLogout)
	r.GET(j.path("/mfa"), j.handleMFA)
	r.POST(j.path("/mfa"), j.handleMFAVerify)
	r.POST(j.path("/mfa/enrol"), j.handleMFAEnrol)
	r.GET(j.path(recoveryStep), j.handleMFARecovery)
	r.POST(j.path("/mfa/continue"), j.handleMFAContinue)
	r.GET(j.path("/consent"), j.handleConsent)
	r.POST(j.path("/consent"), j.handleConsentSubmit)
	r.POST(j.path("/account/consents/:client/revoke"), j.handleConsentRevoke)
	r.GET(j.path("/account"), j.handleAccount)
	r.POST(j.path("/account/link/:connector"), j.handleAccountLink)
	j.accountRoutes(r) // account_*.go
	// Device authorization grant (RFC 8628): the person's pages.
	r.GET(j.path("/device"), j.handleDevice)
	r.POST(j.path("/device"), limit, j.handleDeviceSubmit)
	r.GET(j.path(deviceApproveStep), j.handleDeviceApprove)
	r.POST(j.path(deviceApproveStep), j.handleDeviceApproveSubmit)
	// Self-service of local accounts (selfservice.go).
	r.GET(j.path("/login/:connector/forgot"), j.handleForgot)
	r.POST(j.path("/login/:connector/forgot"), limit, j.handleForgotSubmit)
	r.GET(j.path("/login/:connector/register"), j.handleRegister)
	r.POST(j.path("/login/:connector/register"), limit, j.handleRegisterSubmit)
	r.GET(j.path("/reset"), j.handleReset)
	r.POST(j.path("/reset"), limit, j.handleResetSubmit)
	r.GET(j.path("/verify"), j.handleVerify)
	r.POST(j.path("/verify"), limit, j.handleVerifySubmit)
	// Not /register: dynamic client registration's (RFC 7591).
	r.GET(j.path("/join"), j.handleRegisterLink)
	r.POST(j.path("/join"), limit, j.handleRegisterLinkSubmit)
	r.GET(j.path("/invite"), j.handleInvite)
	r.POST(j.path("/invite"), limit, j.handleInviteSubmit)
	if j.webauthnOn() {
		j.passkeyRoutes(r)
	}
}

// PasskeyJSONError answers a passkey ceremony's script with the error of
// message id.
func (j *Server) PasskeyJSONError(c *gin.Context, status int, code, msgID string) {
	j.passkeyJSONError(c, status, code, msgID)
}

// path returns the issuer's path prefix joined with p, so Portico can live
// under a path (https://example.com/portico).
func (j *Server) path(rel string) string { return strings.TrimSuffix(j.issuer.Path, "/") + rel }

// url returns the absolute URL of the endpoint at p.
func (j *Server) url(rel string) string { return strings.TrimSuffix(j.opts.Issuer, "/") + rel }
