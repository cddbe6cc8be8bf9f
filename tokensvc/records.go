package tokensvc

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors of the Store contract. The broker's store returns these
// (its own ErrNotFound and ErrConflict are the same values), so it satisfies
// Store without an adapter.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: version conflict")
	// ErrAlreadyExists: a create found a live record with the same key.
	ErrAlreadyExists = errors.New("store: already exists")
)

// Store is what the token service keeps: signing keys, refresh families
// and denied access-token ids. Updates are compare-and-swap on Version.
type Store interface {
	// GetKeys returns KeySet{} (Version 0) when none is stored.
	GetKeys(ctx context.Context) (KeySet, error)
	// UpdateKeys is a compare-and-swap; Version 0 creates the set.
	UpdateKeys(ctx context.Context, k KeySet) error

	// CreateRefreshFamily stores a new family and, unless t.Hash is empty,
	// its first refresh token; ErrAlreadyExists, storing nothing, if a live
	// family has f.ID (Issue relies on it to refuse a session that was
	// ended before it existed).
	CreateRefreshFamily(ctx context.Context, f RefreshFamily, t RefreshToken) error
	GetRefreshFamily(ctx context.Context, id string) (RefreshFamily, error)
	GetRefreshToken(ctx context.Context, hash string) (RefreshToken, error)
	// GetRefreshTokenFamily reads the token whose hash is hash and its
	// family at one point in time (one read, where a refresh would
	// otherwise wait for the commits in flight twice). ErrNotFound with
	// a zero token when the token is not live; ErrNotFound with the
	// token and a zero family when its family is not.
	GetRefreshTokenFamily(ctx context.Context, hash string) (RefreshToken, RefreshFamily, error)
	// RotateRefresh stores f (compare-and-swap) and the new token t at once.
	RotateRefresh(ctx context.Context, f RefreshFamily, t RefreshToken) error
	UpdateRefreshFamily(ctx context.Context, f RefreshFamily) error

	DenyAccessToken(ctx context.Context, jti string, expiry time.Time) error
	AccessTokenDenied(ctx context.Context, jti string) (bool, error)

	CreateOpaqueToken(ctx context.Context, t OpaqueToken) error
	GetOpaqueToken(ctx context.Context, hash string) (OpaqueToken, error)
	DeleteOpaqueToken(ctx context.Context, hash string) error
}

// OpaqueToken is an opaque access token, stored under the hash of the token
// so that a leak of the store leaks no usable token.
type OpaqueToken struct {
	Hash     string    `json:"hash"`
	Subject  string    `json:"subject"`
	ClientID string    `json:"client_id"`
	Scopes   []string  `json:"scopes,omitempty"`
	FamilyID string    `json:"family_id,omitempty"`
	Username string    `json:"username,omitempty"`
	Groups   []string  `json:"groups,omitempty"`
	AMR      []string  `json:"amr,omitempty"`
	AuthTime time.Time `json:"auth_time,omitzero"`
	// Audience are the audiences besides the client (Grant.Audience).
	Audience []string `json:"audience,omitempty"`
	// Resources replace the client as audience (Grant.Resources).
	Resources []string  `json:"resources,omitempty"`
	IssuedAt  time.Time `json:"issued_at"`
	Expiry    time.Time `json:"expiry"`
	// Act is the actor of a token issued by token exchange (RFC 8693).
	Act *Actor `json:"act,omitempty"`
	// JKT is the DPoP key the token is bound to (RFC 9449 §6.2).
	JKT string `json:"jkt,omitempty"`
}

// SigningKey is one key of the signing key set; PrivateJWK is a JWK (JSON).
type SigningKey struct {
	ID         string    `json:"id"`
	Alg        string    `json:"alg"`
	PrivateJWK []byte    `json:"private_jwk"`
	CreatedAt  time.Time `json:"created_at"`
	// ActiveFrom is when it starts signing; until then it is published as
	// the next key so that caches of every relying party already hold it.
	ActiveFrom time.Time `json:"active_from"`
	// RetiredAt is when a newer key took over (zero while active or next);
	// the key stays published until every token it signed has expired.
	RetiredAt time.Time `json:"retired_at,omitzero"`
}

// KeySet is every signing key, stored as one record so that a rotation is
// one compare-and-swap and every replica agrees on the active key.
type KeySet struct {
	Keys    []SigningKey `json:"keys"`
	Version int64        `json:"version"`
}

// RefreshFamily is one login's session: every token issued from one
// authorization belongs to it, and revoking it ends them all. With
// offline_access it holds a chain of refresh tokens; only the token whose
// hash is Current may be exchanged, and presenting an older one is a replay.
// Current is empty when the login got no refresh token.
//
// A family with Revoked set and no UserID, ClientID or tokens is a
// tombstone: RevokeFamily ended a session that did not exist yet (its id
// was handed out with an authorization code), so that Issue refuses it.
type RefreshFamily struct {
	ID          string   `json:"id"`
	UserID      string   `json:"user_id"`
	ClientID    string   `json:"client_id"`
	ConnectorID string   `json:"connector_id"`
	Scopes      []string `json:"scopes"`
	// Resources are the resource indicators (RFC 8707) the login allowed;
	// each refresh may ask for tokens for some of them.
	Resources []string  `json:"resources,omitempty"`
	AuthTime  time.Time `json:"auth_time"`
	AMR       []string  `json:"amr,omitempty"`
	Current   string    `json:"current"`            // hash of the live token
	Previous  string    `json:"previous,omitempty"` // hash of the token it replaced
	RotatedAt time.Time `json:"rotated_at"`         // last use: the idle TTL counts from it
	// PreviousRetiredAt is when Previous was rotated away: its reuse grace
	// (Policy.RefreshReuseGrace) runs from then, and a reuse in the grace
	// leaves it as it is, so the window never restarts. Zero in families
	// stored before it existed, where RotatedAt stands in.
	PreviousRetiredAt time.Time `json:"previous_retired_at,omitzero"`
	// GraceUsed: Previous has had its one reuse in the grace; presenting it
	// again is a replay.
	GraceUsed bool `json:"grace_used,omitempty"`
	// JKT binds the family's refresh tokens to a DPoP key (RFC 9449 §5):
	// a refresh must prove it. Empty: not bound.
	JKT       string    `json:"jkt,omitempty"`
	Revoked   bool      `json:"revoked,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Expiry    time.Time `json:"expiry"` // absolute end of the family
	Version   int64     `json:"version"`

	// presented is what Redeem accepted, so that Rotate, on losing a race,
	// can decide again for that presentation. Unexported, so no store keeps
	// it (encoding/json skips it) and no caller can forge it.
	presented presentation
}

// presentation is one presentation of a refresh token: the token's hash,
// the policy it was judged by and when it was presented. Rotate judges it
// by these, not by the Grant it is given, so that a caller passing Rotate
// another policy than Redeem's cannot turn an accepted reuse into a replay.
type presentation struct {
	hash   string
	policy Policy
	at     time.Time
}

// previousRetiredAt is when the grace of Previous started.
func (f RefreshFamily) previousRetiredAt() time.Time {
	if f.PreviousRetiredAt.IsZero() {
		return f.RotatedAt
	}
	return f.PreviousRetiredAt
}

// RefreshToken maps one issued token's hash to its family. Every token a
// family had stays until the family expires, so a replay is recognised.
type RefreshToken struct {
	Hash     string    `json:"hash"`
	FamilyID string    `json:"family_id"`
	Expiry   time.Time `json:"expiry"`
}
