// Package tokensvc is the only code in Portico that mints, parses, rotates
// and revokes tokens, and the only owner of signing keys.
//
// The broker tells it who logged in, for which client, with which scopes
// and how (a Grant); it returns tokens. Resource-facing endpoints ask it
// whether a token is alive. Keeping all of this in one package keeps the
// security rules (expiry, revocation, replay) in one place to read and test.
//
// ID tokens and access tokens are JWTs signed with go-jose; access tokens
// follow RFC 9068. Refresh tokens are opaque random strings stored only as
// hashes, rotated on every use; presenting a retired one revokes its family.
package tokensvc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Config is the token service's configuration; zero durations take the
// defaults noted.
type Config struct {
	Issuer     string
	SigningAlg string // RS256 (default), ES256 or EdDSA

	AccessTokenTTL     time.Duration // 10m
	IDTokenTTL         time.Duration // 10m
	RefreshIdleTTL     time.Duration // 30 days: unused this long, a family ends
	RefreshAbsoluteTTL time.Duration // 90 days: a family ends this long after login
	KeyRotation        time.Duration // 30 days between signing keys

	Logger *slog.Logger
	Now    func() time.Time // for tests; time.Now if nil
}

// Service mints and checks tokens. It is safe for concurrent use.
type Service struct {
	cfg   Config
	store Store
	keys  keyring
	log   *slog.Logger
}

// New returns a Service on st, creating signing keys on first start.
func New(ctx context.Context, st Store, cfg Config) (*Service, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("tokensvc: issuer is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.AccessTokenTTL, 10*time.Minute)
	def(&cfg.IDTokenTTL, 10*time.Minute)
	def(&cfg.RefreshIdleTTL, 30*24*time.Hour)
	def(&cfg.RefreshAbsoluteTTL, 90*24*time.Hour)
	def(&cfg.KeyRotation, 30*24*time.Hour)
	if cfg.SigningAlg == "" {
		cfg.SigningAlg = RS256
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, store: st, log: cfg.Logger}
	if !slices.Contains(SupportedAlgs, cfg.SigningAlg) {
		return nil, fmt.Errorf("tokensvc: unsupported signing algorithm %q (want one of %s)", cfg.SigningAlg, strings.Join(SupportedAlgs, ", "))
	}
	if err := s.syncKeys(ctx, false); err != nil {
		return nil, err
	}
	return s, nil
}

// Run keeps the signing keys current (scheduled rotation, keys rotated by
// another replica) until ctx ends.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Maintain(ctx); err != nil {
				s.log.Error("signing key maintenance failed", "err", err)
			}
		}
	}
}

// Maintain does one round of key maintenance: a rotation that is due, or
// loading keys another replica changed. Run calls it on a timer.
func (s *Service) Maintain(ctx context.Context) error { return s.syncKeys(ctx, false) }

func (s *Service) now() time.Time { return s.cfg.Now() }

// maxSignedTTL is how long a signed token can live: a retired key stays
// published at least this long.
func (s *Service) maxSignedTTL() time.Duration {
	return max(s.cfg.AccessTokenTTL, s.cfg.IDTokenTTL) + time.Minute
}

// Issuer returns the issuer URL tokens carry.
func (s *Service) Issuer() string { return s.cfg.Issuer }

// Claims are the facts about a user that tokens may carry. The broker
// decides which the granted scopes allow; empty fields are left out.
type Claims struct {
	Email             string
	EmailVerified     *bool
	Name              string
	PreferredUsername string
	Groups            []string
}

// Grant is what the broker asks tokens for.
type Grant struct {
	Subject     string // user id; the client id for client_credentials
	ClientID    string
	Scopes      []string
	ConnectorID string
	Nonce       string
	AuthTime    time.Time // zero for client_credentials
	AMR         []string
	Claims      Claims

	IDToken bool // issue an id_token (the openid scope was granted)
	Refresh bool // start a refresh family (offline_access was granted)

	// Ids chosen ahead by the caller (NewID), so it can record them before
	// the tokens exist: a replayed code revokes what was issued from it.
	FamilyID  string
	AccessJTI string
}

// NewID returns a fresh token or family id.
func NewID() string { return randomID() }

// Tokens is what Issue and Rotate return.
type Tokens struct {
	AccessToken  string
	IDToken      string
	RefreshToken string
	ExpiresIn    time.Duration
	Scopes       []string
	AccessJTI    string
	FamilyID     string
}

// accessClaims are RFC 9068's claims.
type accessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	JTI      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	AMR      []string `json:"amr,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	Family   string   `json:"sid,omitempty"` // the refresh family, to end it with the session
}

type idClaims struct {
	Issuer            string   `json:"iss"`
	Subject           string   `json:"sub"`
	Audience          string   `json:"aud"`
	AuthorizedParty   string   `json:"azp"`
	Expiry            int64    `json:"exp"`
	IssuedAt          int64    `json:"iat"`
	AuthTime          int64    `json:"auth_time,omitempty"`
	Nonce             string   `json:"nonce,omitempty"`
	AccessTokenHash   string   `json:"at_hash,omitempty"`
	AMR               []string `json:"amr,omitempty"`
	Email             string   `json:"email,omitempty"`
	EmailVerified     *bool    `json:"email_verified,omitempty"`
	Name              string   `json:"name,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Groups            []string `json:"groups,omitempty"`
}

// Issue mints the tokens for a fresh grant: an access token, and an id_token
// and refresh token when g asks for them.
func (s *Service) Issue(ctx context.Context, g Grant) (Tokens, error) {
	familyID := ""
	var refresh string
	now := s.now()
	if g.Refresh {
		tok, hash := newRefreshToken()
		familyID = g.FamilyID
		if familyID == "" {
			familyID = randomID()
		}
		f := RefreshFamily{
			ID: familyID, UserID: g.Subject, ClientID: g.ClientID, ConnectorID: g.ConnectorID,
			Scopes: g.Scopes, AuthTime: g.AuthTime, AMR: g.AMR, Current: hash,
			RotatedAt: now, CreatedAt: now, Expiry: now.Add(s.cfg.RefreshAbsoluteTTL),
		}
		if err := s.store.CreateRefreshFamily(ctx, f, RefreshToken{Hash: hash, FamilyID: familyID, Expiry: f.Expiry}); err != nil {
			return Tokens{}, fmt.Errorf("tokensvc: store refresh family: %w", err)
		}
		refresh = tok
	}
	t, err := s.sign(g, familyID, now)
	if err != nil {
		return Tokens{}, err
	}
	t.RefreshToken = refresh
	return t, nil
}

// sign mints the access token and, if asked, the id_token.
func (s *Service) sign(g Grant, familyID string, now time.Time) (Tokens, error) {
	key, err := s.keys.active(now)
	if err != nil {
		return Tokens{}, err
	}
	exp := now.Add(s.cfg.AccessTokenTTL)
	ac := accessClaims{
		Issuer: s.cfg.Issuer, Subject: g.Subject, Audience: []string{g.ClientID},
		Expiry: exp.Unix(), IssuedAt: now.Unix(), JTI: g.AccessJTI, ClientID: g.ClientID,
		Scope: strings.Join(g.Scopes, " "), AMR: g.AMR, Groups: g.Claims.Groups, Family: familyID,
	}
	if ac.JTI == "" {
		ac.JTI = randomID()
	}
	if !g.AuthTime.IsZero() {
		ac.AuthTime = g.AuthTime.Unix()
	}
	at, err := signJSON(key.at, ac)
	if err != nil {
		return Tokens{}, err
	}
	t := Tokens{AccessToken: at, ExpiresIn: s.cfg.AccessTokenTTL, Scopes: g.Scopes, AccessJTI: ac.JTI, FamilyID: familyID}
	if g.IDToken {
		ic := idClaims{
			Issuer: s.cfg.Issuer, Subject: g.Subject, Audience: g.ClientID, AuthorizedParty: g.ClientID,
			Expiry: now.Add(s.cfg.IDTokenTTL).Unix(), IssuedAt: now.Unix(), Nonce: g.Nonce,
			AccessTokenHash: halfHash(key.alg, at), AMR: g.AMR,
			Email: g.Claims.Email, EmailVerified: g.Claims.EmailVerified, Name: g.Claims.Name,
			PreferredUsername: g.Claims.PreferredUsername, Groups: g.Claims.Groups,
		}
		if !g.AuthTime.IsZero() {
			ic.AuthTime = g.AuthTime.Unix()
		}
		if t.IDToken, err = signJSON(key.jose, ic); err != nil {
			return Tokens{}, err
		}
	}
	return t, nil
}

func signJSON(sg jose.Signer, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("tokensvc: marshal claims: %w", err)
	}
	jws, err := sg.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("tokensvc: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// halfHash is the at_hash of OIDC Core §3.1.3.6: the left half of the hash
// the signing algorithm uses (SHA-512 for EdDSA with Ed25519).
func halfHash(alg, token string) string {
	var h hash.Hash
	if alg == EdDSA {
		h = sha512.New()
	} else {
		h = sha256.New()
	}
	h.Write([]byte(token))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// randomID returns 128 random bits, base64url.
func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Token prefixes make leaked Portico tokens findable by secret scanners.
const refreshPrefix = "prt_"

func newRefreshToken() (token, hash string) {
	var b [32]byte
	rand.Read(b[:])
	token = refreshPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, hashToken(token)
}

// hashToken is how opaque tokens are stored: they carry 256 random bits, so
// a fast hash is as safe as a slow one and costs microseconds.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// AccessTTL is the lifetime of access tokens.
func (s *Service) AccessTTL() time.Duration { return s.cfg.AccessTokenTTL }
