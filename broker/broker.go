// Package broker assembles Portico's HTTP face from its subjects:
// broker/protocol (the OAuth 2.0 and OpenID Connect endpoints),
// broker/journey (the login pages, second factors, consent, single
// sign-on and the account page), broker/admin (the admin API) and
// broker/scim (provisioning).
//
// It holds no behaviour of a subject. It builds the shared services
// (the connector set, the audit trail, the pages, identity), gives each
// subject what it declares it needs, wires the seams between them (a
// validated authorization request goes to the journey; the journey asks
// the protocol for the code), and runs the middleware every request
// passes: request ids, recovery, the access log, tracing, the per-address
// rate, and the body limits of every route (body.go).
// docs/architecture.md draws the packages and the rules between them.
package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/admin/console"

	"github.com/portico-idp/portico/broker/journey"
	"github.com/portico-idp/portico/broker/protocol"

	"github.com/portico-idp/portico/broker/admin"

	"github.com/portico-idp/portico/broker/identity"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/trace"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/mapping"
	"github.com/portico-idp/portico/broker/password"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
	"github.com/portico-idp/portico/tokensvc"
	"github.com/portico-idp/portico/tokensvc/dpop"
)

// Connector is a configured connector (core.Connector).
type Connector = core.Connector

// Options configure a Broker.
type Options struct {
	Issuer     string
	Store      store.Store
	Tokens     *tokensvc.Service
	Connectors []core.Connector
	Logger     *slog.Logger

	AuthRequestTTL time.Duration // 15m
	AuthCodeTTL    time.Duration // 1m
	Now            func() time.Time
	// RequirePushedRequests refuses authorization requests not pushed to
	// /par first, for every client (broker/protocol).
	RequirePushedRequests bool
	// DPoP checks DPoP proofs (RFC 9449) at the token endpoint and the
	// protected endpoints; nil: the defaults, replay cache in memory.
	DPoP *dpop.Verifier

	// Identity normalization and claims (docs/identity.md).
	//
	// Mappings are the claim mapping of each connector, by id; a connector
	// without one keeps what it says. LinkByEmail are the connectors that
	// take part in linking by verified email. Scopes are the custom scopes,
	// each with the claims it releases.
	Mappings    map[string]*mapping.Mapper
	LinkByEmail []string
	// LinkExplicit are the connectors whose accounts a logged-in person
	// may link to their user from the account page.
	LinkExplicit []string
	Scopes       map[string][]string
	// identity.Limits bound what each connector, by id, may say about a
	// person (broker/identity); a connector without an entry, or a
	// zero field, takes identity.DefaultLimits.
	IdentityLimits map[string]identity.Limits
	// AuditRetention is how long audit events are kept (90 days);
	// AuditExclude are event types logged but not stored.
	AuditRetention time.Duration
	AuditExclude   []string
	// Registration is dynamic client registration (broker/protocol); off
	// when nil.
	Registration *protocol.RegistrationOptions

	// Admin API (docs/admin-api.md). AdminClients are the clients the
	// configuration marks admin: only their client_credentials tokens with
	// the admin scope are accepted. AdminRole is the user role that grants
	// the API to a user's token ("admin" when empty).
	AdminClients []string
	AdminRole    string
	// BuildConnector builds a connector for the admin API's hot add and
	// replace; without it those answer 501.
	BuildConnector admin.ConnectorBuilder
	// SessionIdle and SessionAbsolute end a browser's single sign-on
	// session (broker/journey); SessionAbsolute 0 turns single sign-on off.
	SessionIdle, SessionAbsolute time.Duration
	// Theme is the pages' look and wording (broker/ui).
	Theme ui.Theme
	// MFA names the logins that must add a second factor; MFAKey seals
	// second-factor secrets at rest (32 bytes; without it no one can
	// enrol).
	MFA    journey.MFAPolicy
	MFAKey []byte
	// Passkeys turns WebAuthn on (broker/journey): as a second factor and,
	// with Passwordless, as the whole login. The issuer's host must then
	// be a domain name, the relying party id.
	Passkeys journey.PasskeyOptions
	// AccountFreshLogin is how recent a login must be for the account
	// page to change second factors or the password (0: 10m);
	// PasswordPolicy checks every password set through Portico (the
	// journey's pages and the admin API); nil is broker/password's safe
	// default.
	AccountFreshLogin time.Duration
	PasswordPolicy    journey.PasswordPolicy
	// AuthorizeRate bounds the authorization requests (and passkey
	// ceremonies) one address may start per second, with a burst of five
	// seconds' worth; 0 is no bound (addrlimit.go).
	AuthorizeRate int
	// Throttle, if set, slows down guessing at the login forms and the
	// second factor; TokenRate limits the token endpoint per client.
	// ClientThrottle, if set, slows down failed client authentication
	// (token, introspection, revocation, registration management) per
	// client id and per address, with scopes ScopeClient and
	// ScopeClientIP.
	Throttle       *throttle.Limiter
	ClientThrottle *throttle.Limiter
	// Syncer, if set, is the store whose reads may see writes before they
	// are durable: every answer waits until what its request read is
	// (durable.go).
	Syncer    store.Syncer
	TokenRate interface {
		Allow(ctx context.Context, k throttle.Key) (throttle.Decision, error)
	}
	// Middleware runs before every handler (metrics); OnAudit sees every
	// audit event as it is recorded (metrics counts logins and tokens).
	Middleware []gin.HandlerFunc
	OnAudit    func(store.AuditEvent)
	// ObserveConnector sees every call to a connector: login, callback,
	// refresh, how long it took and how it ended.
	ObserveConnector func(runtime, connector, op string, d time.Duration, err error)
	// Tracer, if set, records OpenTelemetry spans (trace.go).
	Tracer trace.Tracer
	// TrustedProxies are the addresses (CIDRs or IPs) whose
	// X-Forwarded-For names the client: the load balancers in front.
	// Empty trusts no one, so the client is the TCP peer; a header anyone
	// can write must not choose the address brute-force limits count.
	TrustedProxies []string
	// HashPassword hashes a local account's password set through the
	// admin API (the local connector's PHC hash).
	HashPassword func(password string) (string, error)
	// SelfService is what local accounts do themselves (mailed links,
	// registration); Mailer queues the mail, nil for none.
	SelfService journey.SelfService
	Mailer      journey.Mailer
	// WriteTimeout is that of the HTTP server serving the broker (zero:
	// none). The broker moves it later for a request that waits for a
	// connector (broker/core).
	WriteTimeout time.Duration

	// ClientKeys tunes fetching private_key_jwt clients' jwks_uri
	// (broker/protocol).
	ClientKeys protocol.ClientKeysOptions
	// ExchangeIssuers are the external issuers trusted for token exchange
	// (broker/protocol).
	ExchangeIssuers []config.ExchangeIssuer

	// Device authorization grant (RFC 8628, broker/protocol): how long a
	// device code lives (10m) and the polling interval it starts with
	// (5s).
	DeviceCodeTTL, DevicePollInterval time.Duration

	// ConnectorSchemas are the connector types the admin API can build,
	// each with its configuration's JSON Schema (GET
	// /admin/v1/connector-types).
	ConnectorSchemas map[string]json.RawMessage

	// ConsoleClient, if set, serves the admin console at /admin/
	// (broker/admin/console), logging administrators in as this client;
	// ConsoleFreshLogin is how recent their login must be for an action
	// that changes security (10m).
	ConsoleClient     string
	ConsoleFreshLogin time.Duration

	// FileManaged, set with declarative: true, are the entries the file
	// manages: read-only through the admin API (broker/admin).
	FileManaged *admin.FileManaged
}

// Broker serves Portico's HTTP endpoints.
type Broker struct {
	opts    Options
	issuer  *url.URL
	store   store.Store
	tokens  *tokensvc.Service
	log     *slog.Logger
	handler http.Handler
	bodies  map[string]bodyRule // by method and route: what each accepts (body.go)
	addrs   *core.AddrLimiter   // nil: no rate per address

	// The shared services, and the subjects built on them.
	conns    *core.Connectors // swapped by the admin API; read once per request
	audit    *audit.Trail
	ui       *ui.Pages
	ident    *identity.Service
	protocol *protocol.Server
	journey  *journey.Server
	admin    *admin.API
	console  *console.Console // nil when off
}

// New returns a Broker. The store and token service belong to the caller;
// Close the Broker before closing the store.
func New(opts Options) (*Broker, error) {
	for _, p := range opts.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			return nil, fmt.Errorf("broker: trusted proxy %q is not an IP address or CIDR", p)
		}
	}
	iss, err := url.Parse(opts.Issuer)
	if err != nil || iss.Scheme == "" || iss.Host == "" {
		return nil, fmt.Errorf("broker: issuer %q is not an absolute URL", opts.Issuer)
	}
	if opts.Store == nil || opts.Tokens == nil {
		return nil, errors.New("broker: store and token service are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Logger = slog.New(requestIDHandler{opts.Logger.Handler()})
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AuthRequestTTL <= 0 {
		opts.AuthRequestTTL = 15 * time.Minute
	}
	if opts.AuthCodeTTL <= 0 {
		opts.AuthCodeTTL = time.Minute
	}
	seen := map[string]bool{}
	for _, c := range opts.Connectors {
		if seen[c.ID] {
			return nil, fmt.Errorf("broker: connector id %q used twice", c.ID)
		}
		seen[c.ID] = true
	}
	b := &Broker{
		opts: opts, issuer: iss, store: opts.Store, tokens: opts.Tokens, log: opts.Logger,
		addrs: core.NewAddrLimiter(opts.AuthorizeRate, opts.Now),
		// Handlers read the connectors once per request from this
		// snapshot, which the admin API replaces whole.
		conns: core.NewConnectors(opts.Connectors),
	}
	b.conns.Observe, b.conns.Tracer = opts.ObserveConnector, opts.Tracer
	if b.ui, err = ui.New(opts.Theme, opts.Issuer, b.log); err != nil {
		return nil, err
	}
	// The audit trail's writer runs from here on: every failure below
	// stops it.
	b.audit = audit.New(b.store, b.log, opts.AuditRetention, opts.AuditExclude, opts.Now, opts.OnAudit)
	if err := b.assemble(); err != nil {
		b.audit.Close()
		return nil, err
	}
	b.tokens.SetEventHook(b.tokenEvent)
	return b, nil
}

// assemble builds the subjects over the shared services and wires the
// seams between them: the protocol hands a validated authorization
// request to the journey, which asks the protocol for the code that ends
// the login; the admin API ends a user's browser sessions through the
// journey and checks clients' token exchange settings through the
// protocol.
func (b *Broker) assemble() error {
	opts := b.opts
	if opts.PasswordPolicy == nil {
		opts.PasswordPolicy = password.Policy{} // safe by default, for every place a password is set
	}
	b.ident = identity.New(identity.Options{Now: opts.Now, Mappings: opts.Mappings, LinkByEmail: opts.LinkByEmail,
		Scopes: opts.Scopes, Limits: opts.IdentityLimits}, b.store, b.log, b.audit, b.conns)
	admins := core.AdminPolicy{Clients: opts.AdminClients, Role: opts.AdminRole}
	var err error
	b.journey, err = journey.New(journey.Options{Issuer: opts.Issuer, Now: opts.Now, AuthRequestTTL: opts.AuthRequestTTL,
		LinkExplicit: opts.LinkExplicit, SessionIdle: opts.SessionIdle, SessionAbsolute: opts.SessionAbsolute,
		MFA: opts.MFA, MFAKey: opts.MFAKey, Passkeys: opts.Passkeys, Throttle: opts.Throttle, AddressRate: b.addrs,
		SelfService: opts.SelfService, PasswordPolicy: opts.PasswordPolicy, HashPassword: opts.HashPassword,
		FreshLogin: opts.AccountFreshLogin},
		journey.Deps{Store: b.store, Tokens: b.tokens, Log: b.log, Audit: b.audit, Identity: b.ident, Pages: b.ui,
			Conns: b.conns, Codes: codeIssuer{b}, Mailer: opts.Mailer, Sessions: userSessions{b}})
	if err != nil {
		return err
	}
	if opts.DPoP == nil { // one replay cache for every endpoint
		opts.DPoP = &dpop.Verifier{Replay: dpop.NewMemoryReplay(0, 0, opts.Now), Now: opts.Now}
	}
	b.protocol, err = protocol.New(protocol.Options{Issuer: opts.Issuer, Now: opts.Now,
		AuthRequestTTL: opts.AuthRequestTTL, AuthCodeTTL: opts.AuthCodeTTL, Scopes: opts.Scopes, Admins: admins,
		Registration: opts.Registration, ClientThrottle: opts.ClientThrottle, TokenRate: opts.TokenRate,
		ClientKeys: opts.ClientKeys, ExchangeIssuers: opts.ExchangeIssuers,
		DeviceCodeTTL: opts.DeviceCodeTTL, DevicePollInterval: opts.DevicePollInterval, AddressRate: b.addrs,
		RequirePushedRequests: opts.RequirePushedRequests, PushExempt: opts.ConsoleClient, DPoP: opts.DPoP},
		protocol.Deps{Store: b.store, Tokens: b.tokens, Log: b.log, Audit: b.audit, Identity: b.ident, Pages: b.ui,
			Conns: b.conns, Journey: b.journey})
	if err != nil {
		return err
	}
	b.admin = admin.New(admin.Options{Issuer: opts.Issuer, Now: opts.Now, Admins: admins, Scopes: opts.Scopes,
		BuildConnector: opts.BuildConnector, HashPassword: opts.HashPassword, Passwords: opts.PasswordPolicy, FileManaged: opts.FileManaged,
		Invitations:     invitations(opts.Mailer, b.journey),
		ReservedClients: reserved(opts.ConsoleClient), ConnectorSchemas: opts.ConnectorSchemas, DPoP: opts.DPoP},
		b.store, b.tokens, b.log, b.audit, b.conns, b.journey, b.protocol, provisioners{b.store})
	if opts.ConsoleClient != "" {
		b.console, err = console.New(console.Options{Issuer: opts.Issuer, ClientID: opts.ConsoleClient,
			FreshLogin: opts.ConsoleFreshLogin, Now: opts.Now},
			console.Deps{Broker: b, Store: b.store, Log: b.log, Product: b.ui.Product(),
				Text: func(lang, id string) string { return b.ui.MsgIn(lang, id) }, Lang: b.ui.Lang, Languages: b.ui.Offered()})
		if err != nil {
			b.protocol.Close()
			return err
		}
	}
	if b.handler, err = b.routes(); err != nil {
		b.protocol.Close()
		return err
	}
	return nil
}

// codeIssuer is the protocol's side of the journey (journey.Codes): the
// protocol is built after the journey, which needs it only once serving.
type codeIssuer struct{ b *Broker }

func (c codeIssuer) IssueCode(ctx context.Context, req store.AuthRequest, familyID string) (string, error) {
	return c.b.protocol.IssueCode(ctx, req, familyID)
}

// userSessions is the journey's way to end a user's token sessions: the
// admin API's code path, so that the account page and an administrator
// end sessions alike. The admin API is built after the journey, hence
// the late lookup.
type userSessions struct{ b *Broker }

func (u userSessions) RevokeUserSessions(ctx context.Context, userID string, keep ...string) (int, error) {
	return u.b.admin.RevokeUserSessions(ctx, userID, keep...)
}

// Close stops back-channel logout deliveries (queued ones get a few
// seconds, then are cancelled), then the background audit writer once it
// has stored what is queued. Requests still served afterwards are audited
// in the log only.
func (b *Broker) Close() error {
	b.protocol.Close()         // first: back-channel outcomes are audited
	b.journey.WaitBackground() // self-service work the forms started
	b.audit.Close()
	return nil
}

// ServeHTTP serves every Portico endpoint.
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Taken here, before gin wraps w: a handler that waits for a
	// connector moves the connection's write deadline (broker/core).
	b.handler.ServeHTTP(w, core.WithDeadline(w, r, b.opts.WriteTimeout))
}

// path returns the issuer's path prefix joined with p, so Portico can live
// under a path (https://example.com/portico).
func (b *Broker) path(p string) string { return strings.TrimSuffix(b.issuer.Path, "/") + p }

// url returns the absolute URL of the endpoint at p.
func (b *Broker) url(p string) string { return strings.TrimSuffix(b.opts.Issuer, "/") + p }

func (b *Broker) routes() (http.Handler, error) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	// Checked by New before: cannot fail here.
	r.SetTrustedProxies(b.opts.TrustedProxies)
	r.HandleMethodNotAllowed = true
	// The operator's middleware (metrics) runs first, so that it sees
	// the 500 a recovered panic becomes.
	r.Use(b.opts.Middleware...)
	if b.opts.Tracer != nil {
		r.Use(b.traceRequest)
	}
	// Bodies are bounded before anything reads them (body.go).
	r.Use(b.requestID, b.recoverer, b.accessLog, b.durable, b.limitBody)
	b.protocol.Routes(r, b.limitAddress)
	b.journey.Routes(r, b.limitAddress)
	b.admin.Routes(r.Group(b.path("/admin/v1")))
	if b.console != nil {
		b.console.Routes(r, b.limitAddress)
	}
	b.scimRoutes(r) // SCIM 2.0 provisioning (scim_wire.go)
	r.NoRoute(b.admin.NoRoute, b.scimNoRoute, func(c *gin.Context) {
		b.ui.Page(c, http.StatusNotFound, ui.MsgNotFound)
	})
	r.NoMethod(b.admin.NoMethod, b.scimNoMethod, func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, gin.H{"error": "invalid_request", "error_description": "method not allowed"})
	})
	var err error
	if b.bodies, err = b.bodyLimits(r); err != nil {
		return nil, err
	}
	return b.strictAPIPaths(r), nil // JSON 404s, not redirects, for API paths (scim_wire.go)
}

// recoverer turns a panic into a bare 500 and logs it without the request's
// query or body, which may hold codes, tokens or passwords.
func (b *Broker) recoverer(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			b.log.Error("panic serving request", "method", c.Request.Method, "path", c.Request.URL.Path, "panic", fmt.Sprint(v))
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "server_error"})
		}
	}()
	c.Next()
}

// accessLog logs each request's path, never its query (codes, tokens).
func (b *Broker) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	b.log.DebugContext(c.Request.Context(), "request", "method", c.Request.Method, "path", c.Request.URL.Path,
		"status", c.Writer.Status(), "duration", time.Since(start))
}

// tokenEvent turns the token service's events into audit events, and a
// session's end into back-channel logout notifications.
func (b *Broker) tokenEvent(ctx context.Context, e tokensvc.Event) {
	b.audit.Record(ctx, audit.FromToken(ctx, e))
	if e.Ended { // back-channel logout (broker/protocol)
		b.protocol.SessionEnded(ctx, e)
	}
}

// Connectors returns the connectors users can log in with now (a copy).
func (b *Broker) Connectors() []Connector { return b.admin.Connectors() }

// AdminHandler serves the admin API under /admin/v1 to a caller the process
// trusts already, without a token: the CLI working on a store it opened
// itself, whose access to the data is its authority. Every change is
// audited with actor as who made it, as the served API audits its callers.
func (b *Broker) AdminHandler(actor string) http.Handler { return b.admin.Handler(actor) }

// SyncConnectors applies the connector changes made through the admin API
// (by this replica or another) that are not in force yet.
func (b *Broker) SyncConnectors(ctx context.Context) error { return b.admin.SyncConnectors(ctx) }

// reserved lists the clients Portico keeps itself: the console's, if on.
func reserved(console string) []string {
	if console == "" {
		return nil
	}
	return []string{console}
}

// invitations is the journey's SendInvitation for the admin API, or nil
// without mail.
func invitations(m journey.Mailer, j *journey.Server) admin.Invitations {
	if m == nil {
		return nil
	}
	return j
}
