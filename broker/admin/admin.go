// Package admin is the admin API (docs/admin-api.md): JSON under
// /admin/v1 to manage users, local accounts, clients, connectors, keys,
// SCIM provisioners and the audit trail, authenticated by Portico's own
// access tokens, with its OpenAPI document. The admin console joins it.
//
// It may import the broker's shared packages (core, audit, identity, ui,
// store) but no other subject: what it needs of the login journey (end a
// user's browser sessions, forget their second factors) and of the
// protocol (which token exchange settings are valid) and of SCIM (its
// provisioners) it declares as the small interfaces Browsers, Clients and
// Provisioners, which the root package wires.
package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/password"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
	"github.com/portico-idp/portico/tokensvc/dpop"
)

// Options configure the admin API.
type Options struct {
	Issuer string
	Now    func() time.Time
	// Admins are the clients and the role that may use the API.
	Admins core.AdminPolicy
	// Scopes are the custom scopes a client may be given.
	Scopes map[string][]string
	// BuildConnector builds a connector for hot add and replace; without
	// it those answer 501.
	BuildConnector ConnectorBuilder
	// HashPassword hashes a local account's password (the local
	// connector's PHC hash).
	HashPassword func(password string) (string, error)
	// Passwords is the password policy every password set through the
	// API must meet; nil is broker/password's default policy.
	Passwords PasswordPolicy
	// FileManaged, set with declarative: true, are the entries the file
	// manages: read-only through the API (managed.go).
	FileManaged *FileManaged
	// ConnectorSchemas are the connector types the API can build, each
	// with its configuration's JSON Schema.
	ConnectorSchemas map[string]json.RawMessage
	// ReservedClients are clients Portico keeps itself (the console's),
	// which the API neither creates, changes nor deletes.
	ReservedClients []string
	// Invitations mails invitations to local accounts; nil when no mail
	// server is configured.
	Invitations Invitations
	// DPoP checks the proofs of DPoP-bound tokens (RFC 9449 §7).
	DPoP *dpop.Verifier
}

// PasswordPolicy checks a password before it is set: nil, or an error
// that says why not (a *password.Violation names the rule broken).
// inputs are the account's username and email address.
type PasswordPolicy interface {
	Check(pw string, inputs ...string) error
}

// Browsers is what the API needs of the login journey.
type Browsers interface {
	// EndUserSessions ends every single sign-on session of the user, and
	// the token sessions they started; it returns how many ended.
	EndUserSessions(ctx context.Context, userID string) (int, error)
	// ResetMFA forgets the user's second factors.
	ResetMFA(ctx context.Context, userID string) error
}

// Invitations is what the API needs of the login journey to invite a
// person to a local account.
type Invitations interface {
	// SendInvitation mails account id, which has no password, a link to
	// choose one, and returns when the link expires.
	SendInvitation(ctx context.Context, id string) (time.Time, error)
}

// Clients is what the API needs of the protocol to check a client.
type Clients interface {
	// CheckExchange checks a client's token exchange settings.
	CheckExchange(c store.Client) error
}

// API serves the admin API.
type API struct {
	opts     Options
	issuer   *url.URL
	store    Store
	tokens   *tokensvc.Service
	res      *core.ResourceAuth // the API's tokens: Bearer or DPoP
	log      *slog.Logger
	audit    *audit.Trail
	conns    *core.Connectors
	admins   core.AdminPolicy
	browsers Browsers
	clients  Clients
	// provisioners are SCIM's (broker/scim), through the root.
	provisioners Provisioners
}

// New returns the API. The issuer must be an absolute URL (the broker
// checked it).
func New(opts Options, st Store, tokens *tokensvc.Service, log *slog.Logger, trail *audit.Trail,
	conns *core.Connectors, browsers Browsers, clients Clients, provisioners Provisioners) *API {
	iss, _ := url.Parse(opts.Issuer)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Passwords == nil {
		opts.Passwords = password.Policy{} // safe by default
	}
	if opts.DPoP == nil {
		opts.DPoP = &dpop.Verifier{Replay: dpop.NewMemoryReplay(0, 0, opts.Now), Now: opts.Now}
	}
	return &API{opts: opts, issuer: iss, store: st, tokens: tokens, log: log, audit: trail, conns: conns,
		admins: opts.Admins, browsers: browsers, clients: clients, provisioners: provisioners,
		res: &core.ResourceAuth{Tokens: tokens, DPoP: opts.DPoP, Issuer: iss, Realm: "portico"}}
}

// Routes serves the API under g, to callers with an admin token.
func (api *API) Routes(g *gin.RouterGroup) { api.routes(g, api.adminAuth) }

// MaxBody bounds a request body of the API.
const MaxBody = adminMaxBody

// WriteError answers with the API's error object.
func WriteError(c *gin.Context, status int, code, desc string) { adminError(c, status, code, desc) }

// NotFoundJSON is the body of the API's 404, for paths the router
// answers before the API sees them.
const NotFoundJSON = `{"error":"not_found","error_description":"` + notFoundDesc + `"}`

const notFoundDesc = "the admin API has no such endpoint (see /admin/v1/openapi.json)"

func (api *API) path(p string) string { return strings.TrimSuffix(api.issuer.Path, "/") + p }
