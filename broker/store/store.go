// Package store defines what the broker keeps across restarts, as one
// interface with one conformance suite (storetest) that every backend runs.
//
// Updates are compare-and-swap on a Version field, never callbacks run inside
// a transaction: a caller reads, decides, then asks the store to write only if
// nothing changed meanwhile. Nothing of the caller's runs while the backend
// holds a lock, so no caller can re-enter the store from inside a transaction
// and deadlock it (the failure Dex's refresh grant had, dexidp/dex#5017).
//
// Short-lived records (authorization requests, codes, refresh tokens, denied
// token ids) carry an Expiry; a backend must stop returning them after it and
// may delete them then.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/portico-idp/portico/tokensvc"
)

// Errors every backend returns, wrapped or not; test with errors.Is.
var (
	// ErrNotFound, ErrAlreadyExists and ErrConflict are the token
	// service's values, so the store satisfies tokensvc.Store as it is.
	ErrNotFound      = tokensvc.ErrNotFound
	ErrAlreadyExists = tokensvc.ErrAlreadyExists
	// ErrConflict: a compare-and-swap found a Version other than the one
	// read; the caller lost a race and must read again or give up.
	ErrConflict = tokensvc.ErrConflict
	// ErrUnavailable: the store cannot take the operation now but may
	// later (Badger's filesystem below its free-space floor, PostgreSQL
	// out of disk or other resources). It says nothing about the request:
	// callers answer "try again later" (HTTP 503), never a verdict, and
	// the readiness probe reports the store as failing meanwhile.
	ErrUnavailable = errors.New("store: unavailable")
)

// User is the canonical Portico user. Its ID is the `sub` claim: random,
// never derived from an upstream name or email, so it survives their change.
// The profile (Username to Attributes) follows the identity last used to
// log in, after its connector's claim mapping; LocalGroups and Roles are
// Portico's own, assigned by an administrator, and no login changes them.
type User struct {
	ID            string   `json:"id"`
	Username      string   `json:"username,omitempty"`
	Email         string   `json:"email,omitempty"`
	EmailVerified bool     `json:"email_verified,omitempty"`
	Name          string   `json:"name,omitempty"`
	Groups        []string `json:"groups,omitempty"` // upstream groups, mapped
	// Attributes are the custom claims the claim mapping made, which the
	// configured scopes release.
	Attributes  map[string][]string `json:"attributes,omitempty"`
	LocalGroups []string            `json:"local_groups,omitempty"` // added to Groups in tokens
	Roles       []string            `json:"roles,omitempty"`        // the roles claim
	Disabled    bool                `json:"disabled,omitempty"`
	CreatedAt   time.Time           `json:"created_at"`
	LastLogin   time.Time           `json:"last_login,omitzero"`
	Version     int64               `json:"version"`
	// ProvisionedGroups are the groups of SCIM (broker/scim) the user is
	// a member of, kept apart from LocalGroups: only its provisioner
	// changes them. Added to Groups in tokens, like LocalGroups.
	ProvisionedGroups []string `json:"provisioned_groups,omitempty"`
}

// Identity links an upstream account (connector, subject) to a User.
type Identity struct {
	ConnectorID   string              `json:"connector_id"`
	Subject       string              `json:"subject"`
	UserID        string              `json:"user_id"`
	Username      string              `json:"username,omitempty"`
	Email         string              `json:"email,omitempty"`
	EmailVerified bool                `json:"email_verified,omitempty"`
	Name          string              `json:"name,omitempty"`
	Groups        []string            `json:"groups,omitempty"`
	Attributes    map[string][]string `json:"attributes,omitempty"`
	ConnectorData []byte              `json:"connector_data,omitempty"`
	// VerifiedEmail is the email, after claim mapping, that the connector
	// verified; empty when it did not. Account linking looks it up.
	VerifiedEmail string    `json:"verified_email,omitempty"`
	LastSeen      time.Time `json:"last_seen"`
	Version       int64     `json:"version"`
}

// LocalAccount is an account of the local connector: the only passwords
// Portico itself keeps. Username and Email are unique, Email case-insensitively.
type LocalAccount struct {
	ID            string    `json:"id"` // the connector's stable subject
	Username      string    `json:"username"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified,omitempty"`
	Name          string    `json:"name,omitempty"`
	Groups        []string  `json:"groups,omitempty"`
	PasswordHash  string    `json:"password_hash"` // PHC string, argon2id
	CreatedAt     time.Time `json:"created_at"`
	Version       int64     `json:"version"`
}

// Client is an OAuth client (a relying party).
type Client struct {
	ID           string   `json:"id"`
	Name         string   `json:"name,omitempty"`
	SecretHash   string   `json:"secret_hash,omitempty"` // see broker's client auth
	Public       bool     `json:"public,omitempty"`
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	GrantTypes   []string `json:"grant_types,omitempty"`
	Scopes       []string `json:"scopes,omitempty"` // allowed for client_credentials
	// ExtraScopes are the custom scopes (configured claims) the client
	// may ask for at /authorize, besides the standard ones.
	ExtraScopes []string `json:"extra_scopes,omitempty"`

	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	// NoIntrospection forbids the client the introspection endpoint.
	NoIntrospection bool `json:"no_introspection,omitempty"`
	// IntrospectAny lets the client introspect tokens of any audience (a
	// resource server); otherwise it sees only tokens issued for it.
	IntrospectAny bool `json:"introspect_any,omitempty"`
	// Consent: a third-party client, for which the person allows scopes.
	Consent bool `json:"consent,omitempty"`
	// Token settings; zero values take the server's defaults.
	TokenFormat        string        `json:"token_format,omitempty"`
	AccessTokenTTL     time.Duration `json:"access_token_ttl,omitempty"`
	IDTokenTTL         time.Duration `json:"id_token_ttl,omitempty"`
	RefreshIdleTTL     time.Duration `json:"refresh_idle_ttl,omitempty"`
	RefreshAbsoluteTTL time.Duration `json:"refresh_absolute_ttl,omitempty"`
	RefreshReuseGrace  time.Duration `json:"refresh_reuse_grace,omitempty"`
	IDTokenAlg         string        `json:"id_token_alg,omitempty"`

	// Registration is set only on clients created by dynamic registration
	// (RFC 7591): only those can be read, updated and deleted through it.
	Registration *ClientRegistration `json:"registration,omitempty"`

	// Resource indicators (RFC 8707). Resources are those the client may
	// ask tokens for; ResourceURIs are those that name the client itself
	// as a resource server, whose tokens its introspection answers for.
	Resources    []string `json:"resources,omitempty"`
	ResourceURIs []string `json:"resource_uris,omitempty"`

	// JWT client authentication (RFC 7523, broker/clientjwt.go).
	// AuthMethod is the token_endpoint_auth_method; empty takes the old
	// rule (client_secret_basic or _post, none for a public client).
	// JWKS (a JWK Set, compact JSON) or JWKSURI hold a private_key_jwt
	// client's public keys. JWTSecret is a client_secret_jwt client's
	// secret in clear: HMAC needs it, its hash cannot verify.
	AuthMethod string          `json:"auth_method,omitempty"`
	JWKS       json.RawMessage `json:"jwks,omitempty"`
	JWKSURI    string          `json:"jwks_uri,omitempty"`
	JWTSecret  string          `json:"jwt_secret,omitempty"`
	// TokenExchange is what the client may exchange (RFC 8693,
	// exchange.go); nil: nothing.
	TokenExchange *ClientExchange `json:"token_exchange,omitempty"`

	// OpenID Connect Back-Channel Logout 1.0: where Portico POSTs a
	// logout token when a session of this client ends, and whether the
	// client needs the sid claim in it (Portico always sends sid).
	BackchannelLogoutURI             string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool   `json:"backchannel_logout_session_required,omitempty"`

	// RequirePushedAuthorizationRequests: the client's authorization
	// requests must come through /par (RFC 9126 §6);
	// RequireSignedRequestObject: in a signed request object (RFC 9101
	// §10.5), by value or pushed.
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests,omitempty"`
	RequireSignedRequestObject         bool `json:"require_signed_request_object,omitempty"`
	// DPoPBoundAccessTokens: the client's token requests must carry a
	// DPoP proof, so each of its access tokens is bound to a key
	// (RFC 9449 §5.2).
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty"`
	// Profile is a set of rules the client's requests must follow
	// together: "" (none) or "fapi2" (FAPI 2.0 Security Profile).
	Profile string `json:"profile,omitempty"`

	// CreatedAt is when the client was created (those who create one set
	// it: the admin API, registration, the configuration); updates keep
	// it. A session that began before it began with another
	// client of the same id, since deleted: its tokens are refused.
	CreatedAt time.Time `json:"created_at,omitzero"`

	Version int64 `json:"version"`
}

// ClientRegistration is what dynamic registration keeps about a client.
type ClientRegistration struct {
	// AccessTokenHash is the hash of the registration access token
	// (RFC 7592), in the form of a client secret hash.
	AccessTokenHash string    `json:"access_token_hash"`
	IssuedAt        time.Time `json:"issued_at"`
	// AuthMethod is the token_endpoint_auth_method registered, echoed back.
	AuthMethod string `json:"auth_method"`
}

// NewerThan reports whether c was created after t, something of its id was
// issued at: then it was issued to another client of that id, since
// deleted, and is worth nothing to c. Compared in whole seconds, as access
// tokens are dated (iat); a client is never created within the second its
// namesake was deleted in (the broker waits), so nothing of the old one
// passes. A zero t (a record from before it was dated) is not refused.
func (c Client) NewerThan(t time.Time) bool {
	return !t.IsZero() && t.Before(c.CreatedAt.Truncate(time.Second))
}

// Policy is the client's token settings as the token service takes them.
func (c Client) Policy() tokensvc.Policy {
	return tokensvc.Policy{
		Format: c.TokenFormat, AccessTokenTTL: c.AccessTokenTTL, IDTokenTTL: c.IDTokenTTL,
		RefreshIdleTTL: c.RefreshIdleTTL, RefreshAbsoluteTTL: c.RefreshAbsoluteTTL,
		RefreshReuseGrace: c.RefreshReuseGrace, IDTokenAlg: c.IDTokenAlg,
	}
}

// AuthRequest is an /authorize request waiting for the person to log in.
type AuthRequest struct {
	ID          string `json:"id"`
	ClientID    string `json:"client_id"`
	RedirectURI string `json:"redirect_uri"`
	// RedirectURIOmitted: the request named no redirect_uri (the client
	// has one), so the code's exchange need not either (RFC 6749 §4.1.3).
	RedirectURIOmitted  bool     `json:"redirect_uri_omitted,omitempty"`
	Scopes              []string `json:"scopes"`
	State               string   `json:"state,omitempty"`
	Nonce               string   `json:"nonce,omitempty"`
	CodeChallenge       string   `json:"code_challenge,omitempty"`
	CodeChallengeMethod string   `json:"code_challenge_method,omitempty"`
	// ResponseMode is how the code goes back: "" (query) or "form_post".
	ResponseMode string `json:"response_mode,omitempty"`
	// Resources are the resource indicators asked for (RFC 8707).
	Resources   []string `json:"resources,omitempty"`
	CSRFToken   string   `json:"csrf_token"`
	BrowserHash string   `json:"browser_hash"` // hash of the cookie that binds it to one browser
	// ConnectorID and ConnectorData: the redirect connector the login went
	// to, and what it asked to get back at its callback (sdk.Redirect.Data).
	ConnectorID   string `json:"connector_id,omitempty"`
	ConnectorData []byte `json:"connector_data,omitempty"`
	// The request's OpenID parameters that steer the login: prompt values,
	// max_age in seconds (0 for none: max_age=0 is kept as prompt=login)
	// and acr_values.
	Prompt    []string `json:"prompt,omitempty"`
	MaxAge    int64    `json:"max_age,omitempty"`
	ACRValues []string `json:"acr_values,omitempty"`
	// UILocales is the request's ui_locales: the languages its pages
	// should use, in order of preference (bounded by protocol).
	UILocales string `json:"ui_locales,omitempty"`
	// HintSubject is the sub of the request's id_token_hint: a single
	// sign-on session of another user does not answer the request.
	HintSubject string `json:"hint_subject,omitempty"`
	// LinkUserID makes the login link the identity it finds to this user
	// (the account page's "link another account") instead of logging in
	// to a client.
	LinkUserID string `json:"link_user_id,omitempty"`
	// Step is the page the login waits at after its first factor ("/mfa",
	// "/consent"): only that page may take it on. NoSession: a login that
	// must not start the browser's single sign-on session (IdP-initiated:
	// nothing binds it to this browser).
	Step      string `json:"step,omitempty"`
	NoSession bool   `json:"no_session,omitempty"`
	// The login so far: the user the first factor found, when, and how.
	UserID   string    `json:"user_id,omitempty"`
	AuthTime time.Time `json:"auth_time,omitzero"`
	AMR      []string  `json:"amr,omitempty"`
	Expiry   time.Time `json:"expiry"`
	Version  int64     `json:"version"`

	// Device authorization (RFC 8628, broker/device.go): the key of the
	// device record this login answers, and the user code the person
	// entered, shown again on the page where they approve.
	DeviceKey      string `json:"device_key,omitempty"`
	DeviceUserCode string `json:"device_user_code,omitempty"`

	// DPoPJKT binds the request's code to a DPoP key (RFC 9449 §10): the
	// dpop_jkt parameter, or the key of the proof sent to /par.
	DPoPJKT string `json:"dpop_jkt,omitempty"`
}

// AuthCode is an issued authorization code, kept after use (Used) until it
// expires so that a replay can be detected and its tokens revoked.
type AuthCode struct {
	ID                  string    `json:"id"` // hash of the code
	ClientID            string    `json:"client_id"`
	RedirectURI         string    `json:"redirect_uri"`
	RedirectURIOmitted  bool      `json:"redirect_uri_omitted,omitempty"` // as AuthRequest's
	UserID              string    `json:"user_id"`
	ConnectorID         string    `json:"connector_id"`
	Scopes              []string  `json:"scopes"`
	Nonce               string    `json:"nonce,omitempty"`
	CodeChallenge       string    `json:"code_challenge,omitempty"`
	CodeChallengeMethod string    `json:"code_challenge_method,omitempty"`
	AuthTime            time.Time `json:"auth_time"`
	AMR                 []string  `json:"amr,omitempty"`
	Resources           []string  `json:"resources,omitempty"` // RFC 8707, as authorized
	Used                bool      `json:"used,omitempty"`
	FamilyID            string    `json:"family_id,omitempty"`   // refresh family issued from it
	AccessJTIs          []string  `json:"access_jtis,omitempty"` // access tokens issued from it
	DPoPJKT             string    `json:"dpop_jkt,omitempty"`    // RFC 9449 §10: redeemed only with this key
	// IssuedAt: a code older than its client was issued to another client
	// of its id, since deleted (zero in codes stored before it existed).
	IssuedAt time.Time `json:"issued_at,omitzero"`
	Expiry   time.Time `json:"expiry"`
	Version  int64     `json:"version"`
}

// AuditEvent records who did what, when: a login, a token issued, refreshed
// or revoked, an administrator's change, a security event. It never holds
// a secret (password, token, code). It is kept until Expiry (the
// retention), then may be deleted like any expired record.
type AuditEvent struct {
	ID          string    `json:"id"`   // unique; random
	Time        time.Time `json:"time"` // when it happened
	Type        string    `json:"type"` // such as "login.success", "token.revoke"
	Actor       string    `json:"actor,omitempty"`
	UserID      string    `json:"user_id,omitempty"`
	ClientID    string    `json:"client_id,omitempty"`
	ConnectorID string    `json:"connector_id,omitempty"`
	IP          string    `json:"ip,omitempty"`
	// Details are further facts, such as the reason of a failure.
	Details map[string]string `json:"details,omitempty"`
	Expiry  time.Time         `json:"expiry"`
}

// Record is a small record the store keeps without reading it: browser
// sessions, second factors, consents, throttle counters, connectors changed
// at runtime. The broker encodes Value (JSON); the store only keys it,
// expires it and compares its Version, so a new kind of state needs no new
// method in every backend.
type Record struct {
	Kind  string `json:"kind"`
	Key   string `json:"key"`
	Value []byte `json:"value"`
	// Expiry is when the record goes; zero keeps it until deleted.
	Expiry  time.Time `json:"expiry,omitzero"`
	Version int64     `json:"version"`
}

// Token records belong to the token service; the store keeps them.
type (
	RefreshFamily = tokensvc.RefreshFamily
	RefreshToken  = tokensvc.RefreshToken
	SigningKey    = tokensvc.SigningKey
	KeySet        = tokensvc.KeySet
	OpaqueToken   = tokensvc.OpaqueToken
)

// Store is everything the broker persists. Create* fail with ErrAlreadyExists
// when the key is taken; Get* with ErrNotFound; Update* with ErrConflict when
// the stored Version differs from the argument's. On success an Update
// stores Version+1. Get* of an expired record is ErrNotFound.
type Store interface {
	// CreateUser stores a new user and the identities that link to it, in
	// one transaction.
	CreateUser(ctx context.Context, u User, ids ...Identity) error
	GetUser(ctx context.Context, id string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	UpdateUser(ctx context.Context, u User) error
	// DeleteUser removes the user and its identities.
	DeleteUser(ctx context.Context, id string) error

	GetIdentity(ctx context.Context, connectorID, subject string) (Identity, error)
	// CreateIdentity links one more identity to an existing user.
	CreateIdentity(ctx context.Context, id Identity) error
	UpdateIdentity(ctx context.Context, id Identity) error
	// DeleteIdentity unlinks one identity from its user; the user stays.
	DeleteIdentity(ctx context.Context, connectorID, subject string) error
	ListIdentities(ctx context.Context, userID string) ([]Identity, error)
	// GetUserIdentities is GetUser and ListIdentities at one point in
	// time, in one read (issue 24: each refresh reads both).
	GetUserIdentities(ctx context.Context, id string) (User, []Identity, error)
	// ListIdentitiesByVerifiedEmail returns the identities whose
	// VerifiedEmail is email, compared case-insensitively.
	ListIdentitiesByVerifiedEmail(ctx context.Context, email string) ([]Identity, error)

	CreateLocalAccount(ctx context.Context, a LocalAccount) error
	GetLocalAccount(ctx context.Context, id string) (LocalAccount, error)
	// GetLocalAccountByLogin finds an account by username (exact) or by
	// email (case-insensitive).
	GetLocalAccountByLogin(ctx context.Context, login string) (LocalAccount, error)
	ListLocalAccounts(ctx context.Context) ([]LocalAccount, error)
	UpdateLocalAccount(ctx context.Context, a LocalAccount) error
	DeleteLocalAccount(ctx context.Context, id string) error

	CreateClient(ctx context.Context, c Client) error
	GetClient(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context) ([]Client, error)
	UpdateClient(ctx context.Context, c Client) error
	DeleteClient(ctx context.Context, id string) error

	CreateAuthRequest(ctx context.Context, r AuthRequest) error
	GetAuthRequest(ctx context.Context, id string) (AuthRequest, error)
	UpdateAuthRequest(ctx context.Context, r AuthRequest) error
	DeleteAuthRequest(ctx context.Context, id string) error

	CreateAuthCode(ctx context.Context, c AuthCode) error
	GetAuthCode(ctx context.Context, id string) (AuthCode, error)
	UpdateAuthCode(ctx context.Context, c AuthCode) error

	// CreateRefreshFamily stores a new family and its first token; a token
	// with an empty Hash is not stored (a session without refresh token).
	CreateRefreshFamily(ctx context.Context, f RefreshFamily, t RefreshToken) error
	GetRefreshFamily(ctx context.Context, id string) (RefreshFamily, error)
	GetRefreshToken(ctx context.Context, hash string) (RefreshToken, error)
	// GetRefreshTokenFamily: tokensvc.Store's (one read for both). With
	// a ReadAhead in ctx it reads, in the same read, the family's user
	// and identities and the local accounts whose ids are the identities'
	// subjects, for the ctx's next GetUserIdentities and GetLocalAccount
	// (readahead.go).
	GetRefreshTokenFamily(ctx context.Context, hash string) (RefreshToken, RefreshFamily, error)
	// RotateRefresh stores f (compare-and-swap on its Version) and the new
	// token t in one transaction: of two racing rotations exactly one wins.
	RotateRefresh(ctx context.Context, f RefreshFamily, t RefreshToken) error
	// UpdateRefreshFamily is a compare-and-swap of f alone (revocation).
	UpdateRefreshFamily(ctx context.Context, f RefreshFamily) error
	ListRefreshFamilies(ctx context.Context, userID string) ([]RefreshFamily, error)

	// DenyAccessToken records a revoked access token id until it would
	// have expired; AccessTokenDenied reports whether jti is recorded.
	DenyAccessToken(ctx context.Context, jti string, expiry time.Time) error
	AccessTokenDenied(ctx context.Context, jti string) (bool, error)

	// Opaque access tokens, by the hash of the token.
	CreateOpaqueToken(ctx context.Context, t OpaqueToken) error
	GetOpaqueToken(ctx context.Context, hash string) (OpaqueToken, error)
	DeleteOpaqueToken(ctx context.Context, hash string) error

	// CreateAuditEvents stores events in one transaction. An event with the
	// ID and Time of a stored one is ErrAlreadyExists, and then none is
	// stored.
	CreateAuditEvents(ctx context.Context, events ...AuditEvent) error
	// ListAuditEvents returns the live events whose Time is since or later,
	// oldest first (ties in ID order), at most limit of them when limit is
	// positive.
	ListAuditEvents(ctx context.Context, since time.Time, limit int) ([]AuditEvent, error)

	// GetRecord returns the live record of kind at key.
	GetRecord(ctx context.Context, kind, key string) (Record, error)
	// PutRecord is a compare-and-swap that stores r with Version+1: with
	// Version 0 it creates (ErrAlreadyExists if a live record is there),
	// otherwise the stored Version must be r's (ErrConflict) and the record
	// must exist (ErrNotFound).
	PutRecord(ctx context.Context, r Record) error
	// GetRecords returns the live records of kind at keys, read at one
	// point in time (one read transaction: a hot path's several lookups
	// wait for the commits in flight once), in the order of keys; a key
	// without a live record is left out.
	GetRecords(ctx context.Context, kind string, keys ...string) ([]Record, error)
	// DeleteRecord removes the record; ErrNotFound if there is none.
	DeleteRecord(ctx context.Context, kind, key string) error
	// ListRecords returns the live records of kind whose key starts with
	// prefix ("" for all).
	ListRecords(ctx context.Context, kind, prefix string) ([]Record, error)

	// GetKeys returns KeySet{} (Version 0) when none is stored.
	GetKeys(ctx context.Context) (KeySet, error)
	// UpdateKeys is a compare-and-swap; Version 0 creates the set.
	UpdateKeys(ctx context.Context, k KeySet) error

	Close() error
}

// Watcher is a store that several processes share and that tells one of
// them when another changed what replicas keep in memory: the signing keys,
// the clients and the records of kind "connector"
// (admin.ConnectorRecordKind). The
// postgres backend is one; badger, a single process, is not.
type Watcher interface {
	// Watch returns a channel that receives after such a change by any
	// process, and whenever the watch (re)starts, since changes made
	// while it was not watching are unknown: the receiver reloads both.
	// Sends coalesce; the watch ends with ctx or the store's Close.
	Watch(ctx context.Context) <-chan struct{}
}

// The broker's store is the token service's store.
var _ tokensvc.Store = Store(nil)
