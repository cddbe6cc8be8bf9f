// Package config reads Portico's YAML configuration file.
//
// Parse decodes strictly: an unknown field, a value of the wrong type or a
// malformed duration is an error that names the field's path, such as
// "config: clients[1].redirect_uri: unknown field (did you mean
// redirect_uris?)". It then fills in defaults and runs Validate, which
// reports every problem at once, each prefixed with its path. Error
// messages never quote the value of a client secret, secret hash or password
// hash.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/portico-idp/portico/broker/mapping"
)

// Config is the whole configuration file.
type Config struct {
	// Field comments here and in the other files of this package are the
	// descriptions in docs/configuration.md (internal/confdoc writes it),
	// so they are written for operators, in Markdown.

	// Issuer is the OpenID Connect issuer URL, e.g.
	// `https://id.example.com`. Absolute `https` URL with a host, or
	// `http` for a loopback host; no user info, query or fragment, no
	// trailing slash, no spaces or non-ASCII characters, a port from 1 to
	// 65535 if any, and a plain path (no percent-encoding, no `.` or `..`
	// segments). `portico serve --issuer` overrides it, with the same rules.
	Issuer string `yaml:"issuer"`
	// Listen is the address of the HTTP server, `host:port`; the port
	// must be a number from 1 to 65535, the host may be empty (`:5556`).
	Listen string `yaml:"listen"`
	// Storage is the storage backend.
	Storage Storage `yaml:"storage"`
	// Connectors are the identity sources people log in with.
	Connectors []Connector `yaml:"connectors"`
	// Clients are the OAuth clients (relying parties).
	Clients []Client `yaml:"clients"`
	// Users are accounts seeded into the local connector.
	Users []User `yaml:"users"`
	// Tokens sets the signing algorithm and lifetimes, and whether
	// authorization requests must be pushed.
	Tokens Tokens `yaml:"tokens"`
	// Log configures logging.
	Log Log `yaml:"log"`
	// Scopes are custom scopes, by name, each releasing custom claims
	// that connectors' `claim_mapping` rules set; clients ask for them
	// when allowed by their `extra_scopes`
	// ([identity.md](identity.md#claims-and-scopes)).
	Scopes map[string]Scope `yaml:"scopes"`
	// Linking is the account-linking policy for every connector.
	Linking Linking `yaml:"linking"`
	// Audit configures the audit trail kept in the store.
	Audit Audit `yaml:"audit"`
	// Admin configures the admin API ([admin-api.md](admin-api.md)).
	Admin Admin `yaml:"admin"`
	// Registration is dynamic client registration (RFC 7591, RFC 7592;
	// [registration.md](registration.md)). Off unless enabled.
	Registration Registration `yaml:"registration"`
	// Login configures single sign-on, second factors, consent and
	// brute-force protection (login.go; [login.md](login.md)).
	Login Login `yaml:"login"`
	// PasswordPolicy is the rule for local accounts' passwords
	// (password.go; [passwords.md](passwords.md)).
	PasswordPolicy PasswordPolicy `yaml:"password_policy"`
	// Ops configures `/metrics`, `/healthz`, `/readyz`, tracing and
	// replica sync (ops.go; [deployment.md](deployment.md)).
	Ops Ops `yaml:"ops"`
	// HTTP configures the HTTP server's write timeout (http.go).
	HTTP HTTP `yaml:"http"`
	// TokenExchange lists the external issuers trusted for token exchange
	// (RFC 8693; exchange.go).
	TokenExchange TokenExchange `yaml:"token_exchange"`
	// SCIM is SCIM 2.0 provisioning (scim.go; [scim.md](scim.md)).
	SCIM SCIM `yaml:"scim"`
	// SelfService sets how long the links mailed to local accounts work
	// (selfservice.go; [self-service.md](self-service.md)).
	SelfService SelfService `yaml:"self_service"`
	// ConnectorSigning sets the publisher keys of every `plugin` and
	// `wasm` connector (signing.go).
	ConnectorSigning ConnectorSigning `yaml:"connector_signing"`
	// Mail is how Portico sends email (mail.go; [mail.md](mail.md)). Off
	// unless `mail.smtp.host` is set.
	Mail Mail `yaml:"mail"`

	// Declarative, `true`, makes the file the truth for its clients,
	// users (local accounts), connectors and SCIM provisioners
	// ([Declarative mode](#declarative-mode)): at start those an earlier
	// start took from the file and the file no longer has are removed
	// from the store (logged and audited), the users' and connectors'
	// stored state is reset to the file's, and the admin API refuses to
	// change them (409 `managed_by_file`). `false`, the default, merges
	// the file into the store at each start: what the file dropped or the
	// admin API changed stays.
	Declarative bool `yaml:"declarative"`
}

// Registration configures the /register endpoint. It is never open: a
// registrant presents one of the initial access tokens as a Bearer token.
type Registration struct {
	// Enabled serves `/register` and `/register/{client_id}`.
	Enabled bool `yaml:"enabled"`
	// InitialAccessTokens are the tokens a registrant presents, in clear
	// (better from the environment or initial_access_token_files).
	InitialAccessTokens []string `yaml:"initial_access_tokens"`
	// InitialAccessTokenHashes are initial access tokens as hashes:
	// `sha256:` and the unpadded base64url SHA-256, the form of a client
	// `secret_hash`.
	InitialAccessTokenHashes []string `yaml:"initial_access_token_hashes"`
	// DefaultGrantTypes are given to a client that registers without
	// grant_types (default: authorization_code, as RFC 7591 says).
	DefaultGrantTypes []string `yaml:"default_grant_types"`
	// AllowPrivateURIs lets registered clients' jwks_uri and
	// backchannel_logout_uri reach loopback, private and link-local
	// addresses, which Portico otherwise refuses to connect to for them.
	AllowPrivateURIs bool `yaml:"allow_private_uris"`
	// InitialAccessTokenFiles are files each holding one initial access
	// token in clear (a mounted secret), read at start and added to
	// `initial_access_tokens` ([Secrets in files](#secrets-in-files)).
	InitialAccessTokenFiles []string `yaml:"initial_access_token_files"`
}

// Admin configures the admin API under /admin/v1 and the console at
// /admin/.
type Admin struct {
	// Role is the user role (users' roles, set through the API or the
	// CLI) that a person's admin token must carry for the API to accept
	// it ([admin-api.md](admin-api.md#authentication)).
	Role string `yaml:"role"`
	// Console is the web console at /admin/ ([console.md](console.md)).
	Console Console `yaml:"console"`
}

// Console configures the admin console. It logs administrators in
// through Portico's own code flow as the built-in client
// `portico-console`, and does what it does through the admin API.
type Console struct {
	// Disabled turns the console off: /admin/ is not served and the
	// built-in client `portico-console` is not created.
	Disabled bool `yaml:"disabled"`
	// FreshLogin is how recent the administrator's login must be for an
	// action that changes security (signing keys, clients, second
	// factors, a local account's password, deleting a user or an
	// account); an older one logs in again first. The console enforces
	// it; the admin API takes the console's token as any admin token.
	FreshLogin Duration `yaml:"fresh_login"`
}

// ConsoleClient is the id of the console's built-in client.
const ConsoleClient = "portico-console"

// DefaultConsoleFreshLogin is Console.FreshLogin unless set.
const DefaultConsoleFreshLogin = 10 * time.Minute

// AdminScope is the scope a client_credentials token needs for the admin
// API; only clients with admin: true may have it in their scopes.
const AdminScope = "admin"

// DefaultAdminRole is Admin.Role unless set.
const DefaultAdminRole = "admin"

// Scope is a custom scope.
type Scope struct {
	// Claims are the custom claims the scope releases; each must be set by
	// some connector's `claim_mapping`.
	Claims []string `yaml:"claims"`
}

// Linking says when a login through a connector joins an existing user
// instead of making a new one. Off unless set.
type Linking struct {
	// VerifiedEmail links a first login to the one existing user with the
	// same verified email through another connector that takes part; a
	// connector's `link.verified_email` overrides it. See
	// [identity.md](identity.md#account-linking).
	VerifiedEmail bool `yaml:"verified_email"`
	// Explicit lets a logged-in person link an account of a connector
	// that takes part to their user, by logging in with it from the
	// account page (`/account`); a connector's `link.explicit` overrides
	// it. See [identity.md](identity.md#explicit-linking).
	Explicit bool `yaml:"explicit"`
}

// ConnectorLink is a connector's own linking policy; unset fields take
// the top-level linking's.
type ConnectorLink struct {
	// VerifiedEmail says whether this connector takes part in linking by
	// verified email; unset takes the top-level `linking.verified_email`.
	VerifiedEmail *bool `yaml:"verified_email"`
	// Explicit says whether this connector's accounts may be linked from
	// the account page; unset takes the top-level `linking.explicit`.
	Explicit *bool `yaml:"explicit"`
}

// Audit configures the audit trail kept in the store. Every event is
// logged whatever this says.
type Audit struct {
	// Retention is how long audit events are kept in the store.
	Retention Duration `yaml:"retention"`
	// Exclude are event types logged but not stored: `token.issue`, say,
	// when machine clients fetch tokens by the thousand. Each must be a
	// known type (AuditTypes, listed in
	// [identity.md](identity.md#audit-trail)).
	Exclude []string `yaml:"exclude"`
}

// AuditTypes are the audit event types, as the broker records them
// (broker/audit.go; a broker test keeps the two lists alike).
var AuditTypes = []string{
	"login.success", "login.failure", "user.create", "identity.link", "identity.link_skipped", "identity.link_refused", "mfa.enrol", "mfa.recovery_used",
	"mfa.recovery_regenerate", "mfa.passkey_rename", "mfa.passkey_remove", "user.password_change", "user.sessions_end", "consent.grant", "consent.revoke",
	"device.approve", "device.deny",
	"account.register_requested", "account.register", "account.email_verified", "account.reset_requested", "account.password_reset", // self-service
	"account.invitation_accepted", "account.link_mailed",
	"token.issue", "token.refresh", "token.revoke", "token.exchange",
	"security.refresh_replay", "security.code_replay", "security.assertion_replay", "security.passkey_sign_count",
	"admin.client_create", "admin.client_update", "admin.account_create",
	"logout.backchannel_delivered", "logout.backchannel_failed", // back-channel logout
	"scim.user_create", "scim.user_update", "scim.user_deactivate", "scim.user_delete", // SCIM (broker/scim)
	"scim.group_create", "scim.group_update", "scim.group_delete", "scim.auth_failure",
}

// Storage selects and configures the storage backend.
type Storage struct {
	// Type is the storage backend: `badger` (embedded; one process per
	// directory) or `postgres` (shared by any number of replicas; see
	// [deployment.md](deployment.md#moving-from-badger-to-postgresql)).
	Type string `yaml:"type"`
	// Dir is the directory the badger backend keeps its files in. With
	// `postgres` it is optional and holds only `connector-master.key`,
	// the key that seals second-factor secrets and connectors' upstream
	// tokens: give every replica the same file (or set `login.mfa.key`);
	// without it a new key is made at each start.
	Dir string `yaml:"dir"`
	// SyncWrites syncs every write to disk before it completes (`badger`
	// only).
	SyncWrites *bool `yaml:"sync_writes"`
	// DSN is `postgres` only, and required for it: the connection
	// string, as a URL
	// (`postgres://portico@db.example.com:5432/portico?sslmode=verify-full`)
	// or in `key=value` form, with libpq's and pgx's parameters
	// (`pool_max_conns`, ...). Left empty, it is read from the
	// environment variable `PORTICO_STORAGE_DSN`, so that the password
	// need not be in the file. Error messages never quote it.
	DSN string `yaml:"dsn"`
	// Schema is `postgres` only: the schema that holds Portico's tables,
	// created if missing; at most 63 bytes. Several Portico installations
	// can share a database in schemas of their own.
	Schema string `yaml:"schema"`
	// MinFreeSpace is `badger` only: the free space to keep on the
	// filesystem of `dir` (zero takes badger.DefaultMinFreeSpace). Below
	// it writes answer 503 (`temporarily_unavailable`), `/readyz` fails
	// and `portico serve` does not start, because Badger writes through
	// mmap and would crash on a full disk; service resumes by itself when
	// there is room. A whole number of bytes or a number with a unit:
	// `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024), `KB`, `MB`, `GB`, `TB`
	// (powers of 1000). The default is what Badger may write by itself
	// once Portico stops writing, and some slack: see
	// [deployment.md](deployment.md#a-full-disk). Raise it if other
	// processes write to the same filesystem.
	MinFreeSpace Size `yaml:"min_free_space"`
	// DSNFile is a file holding `dsn` (a mounted secret), read at start;
	// not with `dsn` ([Secrets in files](#secrets-in-files)).
	DSNFile string `yaml:"dsn_file"`
}

// EnvStorageDSN is read for Storage.DSN when the file leaves it empty.
const EnvStorageDSN = "PORTICO_STORAGE_DSN"

// Connector is one upstream identity source. Config is the type-specific
// part, left undecoded for the connector.
type Connector struct {
	// ID is the connector's unique id; it appears in URLs, so it must
	// match `^[a-z0-9][a-z0-9_-]{0,62}$`.
	ID string `yaml:"id"`
	// Type is the connector type: `local` (accounts kept by Portico,
	// seeded from `users`; its `config` is
	// [self-service](self-service.md): `password_reset`,
	// `reset_second_factor`, `require_verified_email`, `registration`), [`ldap`](connectors/ldap.md),
	// [`saml`](connectors/saml.md), [`oidc`, `google`,
	// `microsoft`](connectors/oidc.md), [`github`](connectors/github.md),
	// [`plugin`](plugins.md) (a connector in its own binary),
	// [`wasm`](wasm-abi.md) (a sandboxed WASM module).
	Type string `yaml:"type"`
	// Name is the display name on the login page.
	Name string `yaml:"name"`
	// Icon is the URL of an image shown beside the name on the login page.
	Icon string `yaml:"icon"`
	// Isolation is where the connector runs: empty (the default) in the
	// broker's process, or `process` in a child `portico` process over
	// the plugin protocol, so its crash or leak cannot take the broker
	// down ([plugins.md](plugins.md)). Not for `plugin`, which always
	// runs in its own process.
	Isolation string `yaml:"isolation"`
	// Config holds the type-specific settings, passed to the connector as
	// JSON; each type's page lists its fields. The type and the block are
	// checked before the store is opened: an unknown type or field, or a
	// wrong value, stops the server with the field's full path and a
	// suggestion, e.g. `config:
	// connectors[2].config.user_search.basedn: unknown field (did you
	// mean base_dn?)`. Secrets may come from files: `bind_password_file`
	// (ldap), `client_secret_file` (oidc, google, microsoft, github).
	Config map[string]any `yaml:"config"`
	// ClaimMapping are rules that turn what the connector says into
	// claims, before the user is created or updated
	// ([identity.md](identity.md#claim-mapping)); errors name the rule,
	// e.g. `connectors[1].claim_mapping[2].regex`.
	ClaimMapping []mapping.Rule `yaml:"claim_mapping"`
	// Groups filters and prefixes the connector's groups.
	Groups mapping.Groups `yaml:"groups"`
	// Link is this connector's own linking policy; unset fields take the
	// top-level `linking`'s.
	Link ConnectorLink `yaml:"link"`
	// Limits bound what the connector may say about a person; a login or
	// refresh whose identity breaks them is refused
	// ([identity.md](identity.md#identity-limits)).
	Limits ConnectorLimits `yaml:"limits"`
}

// ConnectorLimits are a connector's identity limits. Zero (or unset)
// takes the broker's default, documented in docs/configuration.md.
type ConnectorLimits struct {
	// MaxClaimLength bounds the bytes of each string: subject, username,
	// preferred_username, email, name, each group, each attribute name
	// and value. The subject and the email are held to at most 1024
	// whatever this says. At most `65536`; must not exceed `max_size`
	// when both are set.
	MaxClaimLength int `yaml:"max_claim_length"`
	// MaxGroups bounds the groups. At most `100000`.
	MaxGroups int `yaml:"max_groups"`
	// MaxAttributes bounds the attributes (SAML and LDAP
	// `extra_attributes`, LDAP's `dn`, ...). At most `10000`.
	MaxAttributes int `yaml:"max_attributes"`
	// MaxAttributeValues bounds the values of each attribute. At most
	// `100000`.
	MaxAttributeValues int `yaml:"max_attribute_values"`
	// MaxSize bounds the bytes of the whole identity as JSON, the
	// connector's own data (a sealed upstream refresh token) included.
	// Bounds the ID token: at most 4/3 × (`max_size` + 2 KiB) + 1 KiB,
	// 180,000 bytes with the default. At most `16777216` (16 MiB).
	MaxSize int `yaml:"max_size"`
}

// LinksByVerifiedEmail reports whether the connector takes part in
// linking by verified email, under the top-level policy l.
func (c Connector) LinksByVerifiedEmail(l Linking) bool {
	if c.Link.VerifiedEmail != nil {
		return *c.Link.VerifiedEmail
	}
	return l.VerifiedEmail
}

// LinksExplicitly reports whether the connector's accounts may be linked
// from the account page, under the top-level policy l.
func (c Connector) LinksExplicitly(l Linking) bool {
	if c.Link.Explicit != nil {
		return *c.Link.Explicit
	}
	return l.Explicit
}

// IsolationProcess is the Connector.Isolation that runs a connector in a
// child process.
const IsolationProcess = "process"

// Client is an OAuth client (relying party).
type Client struct {
	// ID is the unique client id (`client_id`): 1–128 of
	// `A-Z a-z 0-9 . _ ~ -`, starting with a letter or digit
	// (`^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$`), so it needs no escaping in
	// URLs; the admin API and dynamic registration apply the same rule.
	ID string `yaml:"id"`
	// Name is the display name.
	Name string `yaml:"name"`
	// Secret is the client secret in clear. No control characters, no
	// leading or trailing spaces.
	Secret string `yaml:"secret"`
	// SecretHash is the hash of the client secret, instead of `secret`.
	// Same character rules; its format is not checked by the loader.
	SecretHash string `yaml:"secret_hash"`
	// Public marks a public client (single-page or native app), which has
	// no secret. A confidential client (`public: false`) has exactly one
	// of `secret` and `secret_hash` (none with
	// `token_endpoint_auth_method: private_key_jwt`); a public one has
	// neither.
	Public bool `yaml:"public"`
	// RedirectURIs are the allowed redirect URIs. Each is an absolute URL
	// without a fragment, not repeated: `https` with a host; `http` only
	// for a loopback host; any other scheme (`com.example.app:/callback`)
	// only for a public client, except `javascript`, `data`, `vbscript`,
	// `file`, `blob`, `about` and `view-source`, which are never allowed.
	// Never user info (`user:pw@`), a backslash, a `*` in the host, a
	// port outside 1–65535 (or a colon with no port), or a character RFC
	// 3986 does not allow unencoded (a space, a control, non-ASCII: an
	// internationalised host is written in punycode). At least one is
	// required when `grant_types` includes `authorization_code`. An
	// authorization request must use one exactly, except that an `http`
	// URI to `127.0.0.1` or `[::1]` matches with any port (RFC 8252 §7.3;
	// `localhost` does not, see
	// [The authorization request](login.md#the-authorization-request)).
	// The same rules apply to clients of the admin API and of dynamic
	// registration.
	RedirectURIs []string `yaml:"redirect_uris"`
	// GrantTypes are the grants the client may use: `authorization_code`,
	// `refresh_token`, `client_credentials`,
	// `urn:ietf:params:oauth:grant-type:device_code` (the
	// [device authorization grant](tokens.md#device-authorization-grant)),
	// `urn:ietf:params:oauth:grant-type:token-exchange` (with
	// `token_exchange`), each at most once. `refresh_token` requires
	// `authorization_code` or the device grant; a public client cannot
	// have `client_credentials` or token exchange.
	GrantTypes []string `yaml:"grant_types"`
	// Scopes are the scopes the client may request with
	// `client_credentials`. Each is an RFC 6749 scope token (printable
	// ASCII without space, `"` or `\`), not repeated.
	Scopes []string `yaml:"scopes"`
	// ExtraScopes are the custom scopes (defined under top-level
	// `scopes`) the client may ask for at `/authorize`, besides the
	// standard `openid profile email groups roles offline_access`. Each
	// must be defined, and not repeated.
	ExtraScopes []string `yaml:"extra_scopes"`
	// PostLogoutRedirectURIs are where RP-initiated logout (`/logout`)
	// may send the browser afterwards; exact match, same URL rules as
	// `redirect_uris`.
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`

	// Token settings for this client; unset ones take the tokens section's.

	// TokenFormat is the format of access tokens for this client: `jwt`
	// (RFC 9068, verifiable from the JWKS) or `opaque` (`pat_` + 256
	// random bits, stored only as a hash, checked by introspection).
	TokenFormat string `yaml:"token_format"`
	// AccessTokenTTL is this client's access token lifetime, at most
	// `24h`. The admin API applies the same bound.
	AccessTokenTTL Duration `yaml:"access_token_ttl"`
	// IDTokenTTL is this client's ID token lifetime, at most `24h`.
	IDTokenTTL Duration `yaml:"id_token_ttl"`
	// RefreshIdleTTL is this client's refresh idle lifetime, at most
	// `8760h` (a year), and not beyond the absolute one.
	RefreshIdleTTL Duration `yaml:"refresh_idle_ttl"`
	// RefreshAbsoluteTTL is this client's refresh absolute lifetime, at
	// most `8760h` (a year).
	RefreshAbsoluteTTL Duration `yaml:"refresh_absolute_ttl"`
	// RefreshReuseGrace is how long after the refresh that retired it the
	// previous refresh token is accepted once more, at most once (a
	// client that lost the answer retries); the reuse does not restart
	// the window. At most `1m`. Any other use of a used refresh token
	// revokes the whole login, as with `0`. See
	// [tokens](tokens.md#refresh-rotation-and-replay).
	RefreshReuseGrace Duration `yaml:"refresh_reuse_grace"`
	// IDTokenSignedResponseAlg is the algorithm of this client's ID
	// tokens: `RS256`, `ES256` or `EdDSA`. Portico keeps and rotates keys
	// for every algorithm in use. Access tokens always use
	// `tokens.signing_alg`.
	IDTokenSignedResponseAlg string `yaml:"id_token_signed_response_alg"`
	// Introspection is what the client may introspect (RFC 7662 §4):
	// `own` — tokens whose audience includes the client (others answer
	// `{"active": false}`); `any` — every token, for a resource server
	// checking tokens issued to other clients; `none` — the endpoint is
	// refused. A public client never can. Before this release the field
	// was a boolean; see [Changes](#changes).
	Introspection string `yaml:"introspection"`
	// Admin trusts the client for administration: it may be granted the
	// `admin` scope, whose tokens carry the admin API's audience
	// ([admin-api.md](admin-api.md#authentication)). Requires `admin` in
	// `scopes` (without it, `admin` in `scopes` is an error) and the
	// `client_credentials` (a machine), `authorization_code` (people,
	// e.g. a console's public client with PKCE) or device (people,
	// `portico login`) grant; refused with `consent: true`.
	Admin bool `yaml:"admin"`
	// Consent marks a third-party client: the person allows the scopes it
	// asks for on a consent page, once per set of scopes, until they
	// revoke it ([login.md](login.md)).
	Consent bool `yaml:"consent"`

	// Resources are the resource indicators (RFC 8707) the client may ask
	// access tokens for with `resource` at `/authorize` and `/token`:
	// absolute URIs with a host and no fragment, at most 512 bytes, at
	// most 20, not repeated. A token asked for resources has them as its
	// audience instead of the client. See
	// [tokens](tokens.md#resource-indicators-rfc-8707). The admin API
	// sets them too.
	Resources []string `yaml:"resources"`
	// ResourceURIs are the resource indicators that name this client as a
	// resource server: its introspection (`own`) answers for tokens whose
	// audience has one of them. Same URI rules; each names one client
	// only, never the admin API's audience. Configuration file only (the
	// admin API shows them, read-only).
	ResourceURIs []string `yaml:"resource_uris"`
	// TokenEndpointAuthMethod is how the client authenticates at
	// `/token`, `/introspect` and `/revoke` (clientauth.go;
	// [tokens.md](tokens.md#client-authentication-with-jwts)):
	// `client_secret_basic` or `client_secret_post` (either is accepted
	// from such a client), `client_secret_jwt` (an HS256/384/512
	// assertion keyed with `secret`, which must then be given in clear,
	// at least 32 bytes; HS384 and HS512 need 48 and 64),
	// `private_key_jwt` (an assertion signed with a key of `jwks` or
	// `jwks_uri`; no `secret`), or `none` (public clients only). A client
	// set to a JWT method cannot send its secret instead, nor a secret
	// client an assertion.
	TokenEndpointAuthMethod string `yaml:"token_endpoint_auth_method"`
	// JWKS is, for `private_key_jwt` only, the client's public keys as an
	// inline JWK Set (`{keys: [...]}`): at most 20 keys, 64 KiB; each
	// public, `use` empty or `sig`, RSA of at least 2048 bits, EC on
	// P-256 or P-384, or Ed25519; an `alg`, if given, must fit the key.
	// Not with `jwks_uri`.
	JWKS map[string]any `yaml:"jwks"`
	// JWKSURI is, for `private_key_jwt` only, where the client publishes
	// its JWK Set; `https`, or `http` on a loopback host. Fetched when
	// first needed, with a 5 s timeout, at most 64 KiB and 20 keys, no
	// redirects; kept for its `Cache-Control: max-age` (1 min to 24 h;
	// 1 h without one); fetched again when an assertion names an unknown
	// `kid`, at most once a minute. Not with `jwks`.
	JWKSURI string `yaml:"jwks_uri"`
	// TokenExchange is what the client may exchange by token exchange
	// (RFC 8693, exchange.go; [tokens](tokens.md#token-exchange));
	// required with, and only with, the grant type
	// `urn:ietf:params:oauth:grant-type:token-exchange` in `grant_types`;
	// not for a public client. It must allow something: `issuers` or
	// `delegation`.
	TokenExchange *ClientExchange `yaml:"token_exchange"`

	// BackchannelLogoutURI is where Portico POSTs a logout token when a
	// session of this client ends (OpenID Connect Back-Channel Logout
	// 1.0; [back-channel logout](tokens.md#back-channel-logout)). An
	// absolute `https` URL (`http` only for a loopback host), at most
	// 2048 characters, with the `redirect_uris` rules otherwise; a query
	// is allowed. The admin API and dynamic registration apply the same
	// rule.
	BackchannelLogoutURI string `yaml:"backchannel_logout_uri"`
	// BackchannelLogoutSessionRequired says the client needs `sid` in
	// logout tokens (Portico always sends it). Requires
	// `backchannel_logout_uri`.
	BackchannelLogoutSessionRequired bool `yaml:"backchannel_logout_session_required"`

	// RequirePushedAuthorizationRequests refuses the client's
	// authorization requests unless pushed to `/par` first (RFC 9126;
	// [tokens](tokens.md#pushed-and-signed-authorization-requests)): a
	// plain `/authorize` gets `invalid_request`.
	// `tokens.require_pushed_authorization_requests` sets it for every
	// client.
	RequirePushedAuthorizationRequests bool `yaml:"require_pushed_authorization_requests"`
	// RequireSignedRequestObject refuses the client's authorization
	// requests unless they come in a request object it signed (RFC 9101
	// `request`, at `/authorize` or pushed to `/par`). Request objects
	// are verified with the client's `jwks` or `jwks_uri`, so this needs
	// `token_endpoint_auth_method: private_key_jwt`.
	RequireSignedRequestObject bool `yaml:"require_signed_request_object"`
	// DPoPBoundAccessTokens refuses the client's token requests without a
	// DPoP proof (RFC 9449 §5.2; [DPoP](tokens.md#dpop-sender-constrained-tokens)),
	// so every access token it gets is bound to its key. Without it a
	// request with a proof still gets bound tokens.
	DPoPBoundAccessTokens bool `yaml:"dpop_bound_access_tokens"`
	// Profile turns on a set of rules together. `fapi2` is the FAPI 2.0
	// Security Profile ([FAPI 2.0](tokens.md#the-fapi2-client-profile)):
	// a confidential `private_key_jwt` client with the
	// `authorization_code` grant (and no device or token exchange
	// grant), on a server whose `tokens.signing_alg` is ES256 or EdDSA;
	// pushed requests with `redirect_uri`, PKCE S256, DPoP-bound tokens,
	// codes of at most 60 seconds, the issuer as a string in its
	// assertions' `aud`, and PS256, ES256 or EdDSA for its client assertions,
	// request objects and DPoP proofs.
	Profile string `yaml:"profile"`

	// SecretFile is a file holding `secret` (a mounted secret), read at
	// start; not with `secret`
	// ([Secrets in files](#secrets-in-files)).
	SecretFile string `yaml:"secret_file"`
}

// User is an account seeded into the local connector.
type User struct {
	// Username is the login name; unique (exact comparison); 1–256
	// bytes, without control characters or leading or trailing spaces.
	Username string `yaml:"username"`
	// Email is the email address, a plain `user@domain` address; unique,
	// compared case-insensitively.
	Email string `yaml:"email"`
	// Name is the display name.
	Name string `yaml:"name"`
	// EmailVerified says whether the email address counts as verified.
	EmailVerified *bool `yaml:"email_verified"`
	// Groups are group names: each 1–256 bytes, without control
	// characters or leading or trailing spaces, none twice, at most 1000
	// (the admin API's rule for roles and local groups too).
	Groups []string `yaml:"groups"`
	// PasswordHash is a password hash in one of the
	// [formats below](#password-hashes): argon2id as `portico
	// hash-password` prints it (`$argon2id$v=19$m=...`), or a bcrypt,
	// PBKDF2 or scrypt hash brought from another system, replaced by
	// argon2id at the user's next login. For an argon2id string the
	// loader checks only the `$argon2id$` prefix and the local connector
	// parses the rest at login, refusing parameters beyond its bounds
	// before any work; any other format is parsed, and its cost checked,
	// when the file loads. Errors never quote the hash.
	PasswordHash string `yaml:"password_hash"`
	// PasswordHashFile is a file holding `password_hash`, read at start;
	// not with it ([Secrets in files](#secrets-in-files)).
	PasswordHashFile string `yaml:"password_hash_file"`
}

// Tokens sets the signing algorithm and the lifetimes of what Portico issues.
type Tokens struct {
	// SigningAlg is the algorithm of the signing keys: `RS256`, `ES256`
	// or `EdDSA`. With ES256 or EdDSA an RS256 key is kept too, for the
	// clients that ask for RS256 ID tokens (OpenID Connect Core §15.1).
	SigningAlg string `yaml:"signing_alg"`
	// AccessTokenTTL is the lifetime of access tokens.
	AccessTokenTTL Duration `yaml:"access_token_ttl"`
	// IDTokenTTL is the lifetime of ID tokens.
	IDTokenTTL Duration `yaml:"id_token_ttl"`
	// RefreshIdleTTL: a refresh token unused for this long expires. Must
	// not exceed `refresh_absolute_ttl`.
	RefreshIdleTTL Duration `yaml:"refresh_idle_ttl"`
	// RefreshAbsoluteTTL: a login's refresh tokens expire this long after
	// the login, used or not.
	RefreshAbsoluteTTL Duration `yaml:"refresh_absolute_ttl"`
	// AuthCodeTTL is the lifetime of authorization codes.
	AuthCodeTTL Duration `yaml:"auth_code_ttl"`
	// AuthRequestTTL is how long a person has to log in after the
	// client's authorization request.
	AuthRequestTTL Duration `yaml:"auth_request_ttl"`
	// KeyRotation is how often the signing key is replaced. The next key
	// is published in the JWKS one period before it starts signing; a
	// replaced key stays published until every token it signed has
	// expired.
	KeyRotation Duration `yaml:"key_rotation"`
	// DeviceCodeTTL is how long a device code and its user code live
	// ([device grant](tokens.md#device-authorization-grant), RFC 8628):
	// the person must approve within it.
	DeviceCodeTTL Duration `yaml:"device_code_ttl"`
	// DevicePollInterval is the polling interval a device is given; whole
	// seconds, shorter than `device_code_ttl`. A device that polls sooner
	// gets `slow_down` and 5 seconds more.
	DevicePollInterval Duration `yaml:"device_poll_interval"`
	// RequirePushedAuthorizationRequests refuses every authorization
	// request that was not pushed to `/par` first (RFC 9126), for every
	// client, as a client's own `require_pushed_authorization_requests`
	// does for it; discovery says so. Portico's own admin console, whose
	// requests Portico makes, is exempt.
	RequirePushedAuthorizationRequests bool `yaml:"require_pushed_authorization_requests"`
	// DPoP tunes DPoP proofs (RFC 9449;
	// [DPoP](tokens.md#dpop-sender-constrained-tokens)).
	DPoP DPoP `yaml:"dpop"`
}

// DPoP tunes the checking of DPoP proofs.
type DPoP struct {
	// ProofLifetime is how far in the past a proof's `iat` may be (ahead
	// of the server's time: at most 5 seconds); a proof's `jti` is
	// remembered that long (across replicas on PostgreSQL). At most 5m.
	ProofLifetime Duration `yaml:"proof_lifetime"`
	// RequireNonce makes every proof carry a nonce the server handed out
	// in a `DPoP-Nonce` header (RFC 9449 §8, §9), at the token endpoint,
	// `/par` and Portico's protected endpoints: a proof without one gets
	// `use_dpop_nonce` and a nonce to retry with. It bounds how long a
	// proof made ahead of time is good, whatever the client's clock.
	RequireNonce bool `yaml:"require_nonce"`
	// NonceLifetime: a nonce is good for one to two of these.
	NonceLifetime Duration `yaml:"nonce_lifetime"`
}

// Log configures logging.
type Log struct {
	// Level is `debug`, `info`, `warn` or `error`.
	Level string `yaml:"level"`
	// Format is `text` or `json`.
	Format string `yaml:"format"`
}

// What a client may introspect (Client.Introspection).
const (
	IntrospectOwn  = "own"
	IntrospectAny  = "any"
	IntrospectNone = "none"
)

// Grant types a client may use.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	// GrantDeviceCode is the device authorization grant (RFC 8628).
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// Storage types.
const (
	StorageBadger   = "badger"
	StoragePostgres = "postgres"
)

// Defaults filled in by ApplyDefaults.
const (
	DefaultListen             = "127.0.0.1:5556"
	DefaultStorageType        = StorageBadger
	DefaultSigningAlg         = "RS256"
	DefaultAccessTokenTTL     = 10 * time.Minute
	DefaultIDTokenTTL         = 10 * time.Minute
	DefaultRefreshIdleTTL     = 30 * 24 * time.Hour
	DefaultRefreshAbsoluteTTL = 90 * 24 * time.Hour
	DefaultAuthCodeTTL        = time.Minute
	DefaultDPoPProofLifetime  = time.Minute
	DefaultDPoPNonceLifetime  = time.Minute
	DefaultAuthRequestTTL     = 15 * time.Minute
	DefaultKeyRotation        = 30 * 24 * time.Hour
	DefaultDeviceCodeTTL      = 10 * time.Minute
	DefaultDevicePollInterval = 5 * time.Second
	DefaultAuditRetention     = 90 * 24 * time.Hour
	DefaultLogLevel           = "info"
	DefaultLogFormat          = "text"
)

// Size is a number of bytes, written in the file as a whole number of
// bytes (104857600) or with a unit: "100MiB", "1GiB" (powers of 1024),
// "100MB", "1GB" (powers of 1000), a space between them allowed.
type Size uint64

// sizeUnits are the units a Size may be written in, by lower-cased name.
var sizeUnits = map[string]uint64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseSize reads a Size as the file writes it.
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	unit, ok := sizeUnits[strings.ToLower(strings.TrimSpace(s[i:]))]
	if i == 0 || !ok {
		return 0, fmt.Errorf("invalid size %q (write it like \"100MiB\" or \"1GiB\")", s)
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil || n > math.MaxUint64/unit {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(n * unit), nil
}

// String writes s in the largest binary unit that divides it.
func (s Size) String() string {
	for _, u := range []struct {
		name string
		n    uint64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if s != 0 && uint64(s)%u.n == 0 {
			return strconv.FormatUint(uint64(s)/u.n, 10) + u.name
		}
	}
	return strconv.FormatUint(uint64(s), 10)
}

// UnmarshalYAML reads a whole number or a string with a unit.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Duration is a time.Duration written in the file as a Go duration string
// ("90s", "15m", "720h").
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d like time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with time.ParseDuration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q", b)
	}
	*d = Duration(v)
	return nil
}

// FieldError is one problem with one field. Parse and Validate return these,
// joined with errors.Join when there are several.
type FieldError struct {
	// Path locates the field: "issuer", "clients[1].redirect_uris[0]";
	// empty for the file as a whole.
	Path    string
	Message string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return "config: " + e.Message
	}
	return "config: " + e.Path + ": " + e.Message
}

// Load reads and parses the file at path; see Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data)
}

// Parse decodes data strictly, applies defaults and validates the result.
// A decoding problem (YAML syntax, unknown field, wrong type, bad
// duration) stops before validation; otherwise every validation problem is
// reported.
func Parse(data []byte) (*Config, error) {
	root, err := readDocument(data)
	if err != nil {
		return nil, err
	}
	return fromNode(root)
}

// readDocument parses data into a node tree and returns the content of its
// one document, or nil when the file holds none (empty, or comments only).
func readDocument(data []byte) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 panics on a few malformed inputs ("internal error: ...");
		// a broken file deserves an error, not a crash.
		if r := recover(); r != nil {
			root, err = nil, &FieldError{Message: "not valid YAML"}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err == io.EOF {
			return root, nil
		} else if err != nil {
			return nil, yamlError(err, data)
		}
		if len(doc.Content) != 1 || emptyDocument(doc.Content[0]) {
			continue
		}
		if root != nil {
			return nil, &FieldError{Message: "the file holds more than one YAML document"}
		}
		root = doc.Content[0]
	}
}

// emptyDocument reports whether n is what the parser makes of a document
// with nothing in it, such as after a trailing "---".
func emptyDocument(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Value == "" &&
		n.Style == 0 && n.Anchor == ""
}

// fromNode shape-checks root (nil for an empty file), decodes it, applies
// defaults and validates. The shape check runs first because yaml.v3
// decodes leniently (1 into a string, null list items dropped) and its
// errors quote values.
func fromNode(root *yaml.Node) (*Config, error) { return fromNodeWith(root, nil) }

// fromNodeWith is fromNode with set (if not nil) applied after decoding.
func fromNodeWith(root *yaml.Node, set func(*Config)) (*Config, error) {
	cfg, err := fromNodeAll(root, set)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// fromNodeAll is fromNodeWith returning the decoded configuration with its
// validation errors, for `portico config check` (check.go).
func fromNodeAll(root *yaml.Node, set func(*Config)) (*Config, error) {
	var cfg Config
	if root != nil {
		if isNull(root) { // the whole file is "~" or "null"
			return nil, &FieldError{Message: "expected a mapping, got null"}
		}
		envErrs := expandEnv(root) // env.go
		sc := newShapeChecker()
		sc.check("", root, reflect.TypeFor[Config]())
		if errs := append(envErrs, sc.errs...); len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		// Unknown fields, duplicate keys, wrong types and bad durations
		// were all reported above, by path, so a plain (not KnownFields)
		// decode is enough here.
		if err := decodeNode(root, &cfg); err != nil {
			return nil, err
		}
	}
	if set != nil {
		set(&cfg)
	}
	fileErrs := cfg.readSecretFiles() // secretfiles.go
	cfg.ApplyDefaults()
	errs := fileErrs
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err.(interface{ Unwrap() []error }).Unwrap()...)
	}
	if len(errs) > 0 {
		return &cfg, errors.Join(errs...)
	}
	return &cfg, nil
}

func decodeNode(root *yaml.Node, cfg *Config) (err error) {
	defer func() {
		if r := recover(); r != nil { // as in readDocument
			err = &FieldError{Message: "the file could not be decoded"}
		}
	}()
	if err := root.Decode(cfg); err != nil {
		return decodeError(err)
	}
	return nil
}

// yamlError reports a go.yaml.in/yaml/v3 parse error ("yaml: line N:
// problem"). The problems are fixed text, except an unknown alias, which
// names it: "secret: *abc" is an alias, and its name the rest of a secret.
func yamlError(err error, data []byte) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.HasPrefix(msg, "unknown anchor") {
		msg = "an alias (*name) refers to an unknown anchor; quote a value that starts with * or &"
	} else if len(data) <= maxPositioned {
		msg = withPosition(msg, data) // yamlpos.go
	}
	return &FieldError{Message: msg}
}

// maxPositioned bounds the files a second parser reads to find a syntax
// error's column.
const maxPositioned = 4 << 20

var lineRE = regexp.MustCompile(`^line [0-9]+$`)

// decodeError reports an error from decoding the checked tree, which should
// not happen. yaml.v3's decode errors quote the value (the start of a
// secret, say), so only their line numbers are kept.
func decodeError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make([]error, 0, len(te.Errors))
		for _, e := range te.Errors {
			line, _, _ := strings.Cut(e, ":")
			if !lineRE.MatchString(line) {
				errs = append(errs, &FieldError{Message: "a value does not fit its field"})
				continue
			}
			errs = append(errs, &FieldError{Message: line + ": the value does not fit its field"})
		}
		return errors.Join(errs...)
	}
	if err.Error() == "yaml: document contains excessive aliasing" {
		return &FieldError{Message: "the file expands too many aliases"}
	}
	return &FieldError{Message: "the file could not be decoded"}
}

// ApplyDefaults fills in every unset field that has a default. Parse calls
// it; call it yourself on a Config built in code before Validate.
func (c *Config) ApplyDefaults() {
	c.Login.applyDefaults()
	c.PasswordPolicy.applyDefaults() // password.go
	c.TokenExchange.applyDefaults()
	c.applySCIMDefaults()
	c.applyConnectorSigning() // signing.go
	c.Mail.applyDefaults()    // mail.go
	if c.Admin.Console.FreshLogin == 0 {
		c.Admin.Console.FreshLogin = Duration(DefaultConsoleFreshLogin)
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Storage.Type == "" {
		c.Storage.Type = DefaultStorageType
	}
	if c.Storage.Type == StoragePostgres && c.Storage.DSN == "" {
		// A default from the environment: the DSN usually holds a
		// password, which the file (often in a repository) should not.
		c.Storage.DSN = os.Getenv(EnvStorageDSN)
	}
	if c.Storage.SyncWrites == nil {
		c.Storage.SyncWrites = ptr(true)
	}
	t := &c.Tokens
	if t.SigningAlg == "" {
		t.SigningAlg = DefaultSigningAlg
	}
	for _, d := range []struct {
		f   *Duration
		def time.Duration
	}{
		{&t.AccessTokenTTL, DefaultAccessTokenTTL},
		{&t.IDTokenTTL, DefaultIDTokenTTL},
		{&t.RefreshIdleTTL, DefaultRefreshIdleTTL},
		{&t.RefreshAbsoluteTTL, DefaultRefreshAbsoluteTTL},
		{&t.AuthCodeTTL, DefaultAuthCodeTTL},
		{&t.AuthRequestTTL, DefaultAuthRequestTTL},
		{&t.KeyRotation, DefaultKeyRotation},
		{&t.DeviceCodeTTL, DefaultDeviceCodeTTL},
		{&t.DevicePollInterval, DefaultDevicePollInterval},
		{&t.DPoP.ProofLifetime, DefaultDPoPProofLifetime},
		{&t.DPoP.NonceLifetime, DefaultDPoPNonceLifetime},
		{&c.Audit.Retention, DefaultAuditRetention},
	} {
		if *d.f == 0 {
			*d.f = Duration(d.def)
		}
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Admin.Role == "" {
		c.Admin.Role = DefaultAdminRole
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
	for i := range c.Clients {
		if len(c.Clients[i].GrantTypes) == 0 {
			c.Clients[i].GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
		}
	}
	if len(c.Registration.DefaultGrantTypes) == 0 {
		c.Registration.DefaultGrantTypes = []string{GrantAuthorizationCode}
	}
	for i := range c.Users {
		if c.Users[i].EmailVerified == nil {
			c.Users[i].EmailVerified = ptr(true)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// SyncWritesEnabled reports Storage.SyncWrites, true when unset.
func (s Storage) SyncWritesEnabled() bool { return s.SyncWrites == nil || *s.SyncWrites }
