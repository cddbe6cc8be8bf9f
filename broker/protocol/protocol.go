// Package protocol is Portico's OAuth 2.0 and OpenID Connect endpoints:
// the authorization endpoint's validation, the token endpoint and its
// grants (code, refresh, client credentials, device code, token
// exchange), client authentication (secrets, private_key_jwt,
// client_secret_jwt), pushed authorization requests and signed request
// objects, introspection, revocation, userinfo, discovery and keys,
// dynamic client registration, resource indicators and back-channel
// logout.
//
// Errors a client causes are answered per RFC 6749 (§4.1.2.1 at the
// authorization endpoint, §5.2 at the token endpoint), never with a 500.
//
// It may import the broker's shared packages (core, audit, identity, ui,
// device, store) but no other subject. The login itself is the journey's:
// a validated authorization request is handed to Journey.Begin, and the
// journey comes back through IssueCode for the code that ends it. The
// root package wires the two.
package protocol

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/identity"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
	"github.com/portico-idp/portico/broker/ui"
	"github.com/portico-idp/portico/tokensvc"
	"github.com/portico-idp/portico/tokensvc/dpop"
)

// Options configure the protocol endpoints.
type Options struct {
	Issuer string
	Now    func() time.Time
	// AuthRequestTTL bounds a login (15m), AuthCodeTTL a code (1m).
	AuthRequestTTL, AuthCodeTTL time.Duration
	// Scopes are the custom scopes, each with the claims it releases.
	Scopes map[string][]string
	// Admins are the clients and the role that may hold the admin scope.
	Admins core.AdminPolicy
	// Registration is dynamic client registration (register.go); off
	// when nil.
	Registration *RegistrationOptions
	// ClientThrottle, if set, slows down failed client authentication
	// (token, introspection, revocation, registration management) per
	// client id and per address; TokenRate limits the token endpoint per
	// client.
	ClientThrottle *throttle.Limiter
	TokenRate      interface {
		Allow(ctx context.Context, k throttle.Key) (throttle.Decision, error)
	}
	// ClientKeys tunes fetching private_key_jwt clients' jwks_uri
	// (clientkeys.go).
	ClientKeys ClientKeysOptions
	// ExchangeIssuers are the external issuers trusted for token exchange
	// (exchange.go).
	ExchangeIssuers []config.ExchangeIssuer
	// DeviceCodeTTL and DevicePollInterval tune the device grant (10m, 5s).
	DeviceCodeTTL, DevicePollInterval time.Duration
	// AddressRate bounds what one address may start per second; nil is
	// no bound.
	AddressRate *core.AddrLimiter
	// RequirePushedRequests refuses every authorization request not
	// pushed to /par first (RFC 9126 §5; par.go), whatever the client,
	// but for PushExempt: the admin console's built-in client, whose
	// requests Portico itself makes (broker/admin/console).
	RequirePushedRequests bool
	PushExempt            string
	// DPoP checks DPoP proofs (dpop.go); nil takes the defaults, with a
	// replay cache in memory (one process).
	DPoP *dpop.Verifier
}

// ProfileFAPI2 is the client profile of the FAPI 2.0 Security Profile
// (fapi.go).
const ProfileFAPI2 = config.ProfileFAPI2

// Journey is what the protocol needs of the login journey.
type Journey interface {
	// Begin takes a validated authorization request through the login.
	Begin(c *gin.Context, req store.AuthRequest)
}

// Deps are the services the endpoints use, which the broker owns.
type Deps struct {
	Store    Store
	Tokens   *tokensvc.Service
	Log      *slog.Logger
	Audit    *audit.Trail
	Identity *identity.Service
	Pages    *ui.Pages
	Conns    *core.Connectors
	Journey  Journey
}

// Server serves the protocol endpoints.
type Server struct {
	opts        Options
	issuer      *url.URL
	secure      bool // the issuer is https
	store       Store
	tokens      *tokensvc.Service
	log         *slog.Logger
	audit       *audit.Trail
	ident       *identity.Service
	ui          *ui.Pages
	conns       *core.Connectors
	journey     Journey
	admins      core.AdminPolicy
	addrs       *core.AddrLimiter
	discovery   []byte
	clientKeys  *clientKeys      // private_key_jwt clients' jwks_uri (clientkeys.go)
	exchange    *exchangeIssuers // token exchange's external issuers
	backchannel *backchannel     // back-channel logout deliveries (backchannel.go)
	dpop        *dpop.Verifier   // DPoP proofs (dpop.go)
	res         *core.ResourceAuth
}

// New returns the endpoints; the issuer must be an absolute URL (the
// broker checked it). Close stops its background work.
func New(opts Options, d Deps) (*Server, error) {
	iss, _ := url.Parse(opts.Issuer)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &Server{opts: opts, issuer: iss, secure: iss.Scheme == "https",
		store: d.Store, tokens: d.Tokens, log: d.Log, audit: d.Audit, ident: d.Identity, ui: d.Pages,
		conns: d.Conns, journey: d.Journey, admins: opts.Admins, addrs: opts.AddressRate,
		clientKeys: newClientKeys(opts.ClientKeys, opts.Now),
		exchange:   newExchangeIssuers(opts.ExchangeIssuers, exchangeHTTPClient()),
	}
	b.dpop = opts.DPoP
	if b.dpop == nil {
		b.dpop = &dpop.Verifier{Replay: dpop.NewMemoryReplay(0, 0, opts.Now), Now: opts.Now}
	}
	b.res = &core.ResourceAuth{Tokens: d.Tokens, DPoP: b.dpop, Issuer: iss, Realm: "portico"}
	var err error
	if b.discovery, err = b.discoveryDocument(); err != nil {
		return nil, err
	}
	b.backchannel = newBackchannel(b)
	return b, nil
}

// Close stops back-channel logout deliveries: queued ones get a few
// seconds, then are cancelled.
func (p *Server) Close() { p.backchannel.close() }

// SessionEnded queues the back-channel logout notifications of a token
// session that ended.
func (p *Server) SessionEnded(ctx context.Context, e tokensvc.Event) {
	p.backchannel.sessionEnded(ctx, e)
}

// Routes adds the endpoints to r; limit bounds the requests one address
// may start (the authorization endpoint's).
func (p *Server) Routes(r *gin.Engine, limit gin.HandlerFunc) {
	r.GET(p.path("/.well-known/openid-configuration"), p.handleDiscovery)
	r.GET(p.path("/keys"), p.handleKeys)
	r.GET(p.path("/authorize"), limit, p.handleAuthorize)
	r.POST(p.path("/authorize"), limit, p.handleAuthorize)
	r.POST(p.path("/par"), audit.WithPeer, p.handlePAR)
	r.POST(p.path("/token"), audit.WithPeer, p.handleToken)
	r.POST(p.path("/revoke"), audit.WithPeer, p.handleRevoke)
	r.POST(p.path("/introspect"), p.handleIntrospect)
	r.GET(p.path("/userinfo"), p.handleUserinfo)
	r.POST(p.path("/userinfo"), p.handleUserinfo)
	r.POST(p.path("/device/authorize"), audit.WithPeer, p.handleDeviceAuthorize)
	if p.opts.Registration != nil {
		p.registrationRoutes(r)
	}
}

// RefuseBody answers a refused request body in RFC 6749 §5.2's error
// object (the token, revocation and introspection endpoints, userinfo,
// discovery).
func (p *Server) RefuseBody(c *gin.Context, status int, desc string) {
	p.writeTokenError(c, &tokenError{status: status, code: "invalid_request", desc: desc})
}

// RefuseRegistrationBody answers a refused registration body (RFC 7591
// §3.2.2).
func (p *Server) RefuseRegistrationBody(c *gin.Context, status int, desc string) {
	p.writeRegError(c, &regError{status: status, code: "invalid_client_metadata", desc: desc})
}

// Body limits of the endpoints.
const (
	MaxFormBytes         = maxFormBytes
	MaxRegistrationBytes = maxRegistrationBytes
	MaxPushedBytes       = maxPushedBytes
)

// path returns the issuer's path prefix joined with p, so Portico can live
// under a path (https://example.com/portico).
func (p *Server) path(rel string) string { return strings.TrimSuffix(p.issuer.Path, "/") + rel }

// url returns the absolute URL of the endpoint at p.
func (p *Server) url(rel string) string { return strings.TrimSuffix(p.opts.Issuer, "/") + rel }
