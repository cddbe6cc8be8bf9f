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
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Config is the token service's configuration; zero durations take the
// defaults noted.
type Config struct {
	Issuer     string
	SigningAlg string // RS256 (default), ES256 or EdDSA
	// ExtraAlgs are further algorithms some client wants its id_tokens
	// signed with (id_token_signed_response_alg); each gets its own keys.
	ExtraAlgs []string

	AccessTokenTTL     time.Duration // 10m
	IDTokenTTL         time.Duration // 10m
	RefreshIdleTTL     time.Duration // 30 days: unused this long, a family ends
	RefreshAbsoluteTTL time.Duration // 90 days: a family ends this long after login
	KeyRotation        time.Duration // 30 days between signing keys
	// MaxTokenTTL is the longest access or id token lifetime any client
	// policy sets, so retired keys stay published long enough.
	MaxTokenTTL time.Duration
	// PendingSessionTTL (10m) is how long RevokeFamily remembers a session
	// that ended before its tokens existed (a tombstone), so that the
	// authorization code naming it cannot start it. It must outlive every
	// authorization code: set it to at least the broker's code lifetime.
	PendingSessionTTL time.Duration

	Logger *slog.Logger
	Now    func() time.Time // for tests; time.Now if nil
}

// Service mints and checks tokens. It is safe for concurrent use.
type Service struct {
	cfg        Config
	store      Store
	keys       keyring
	verified   verifiedCache
	log        *slog.Logger
	longestTTL atomic.Int64 // longest signed-token lifetime of any policy
	hook       atomic.Pointer[func(context.Context, Event)]
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
	def(&cfg.PendingSessionTTL, 10*time.Minute)
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
	s.longestTTL.Store(int64(max(cfg.AccessTokenTTL, cfg.IDTokenTTL, cfg.MaxTokenTTL)))
	for _, a := range append([]string{cfg.SigningAlg}, cfg.ExtraAlgs...) {
		if !slices.Contains(SupportedAlgs, a) {
			return nil, fmt.Errorf("tokensvc: unsupported signing algorithm %q (want one of %s)", a, strings.Join(SupportedAlgs, ", "))
		}
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
// published at least this long. Per-client lifetimes may exceed the
// defaults, so it is the longest lifetime any policy was given.
func (s *Service) maxSignedTTL() time.Duration {
	return time.Duration(s.longestTTL.Load()) + time.Minute
}

// algs are the algorithms that need keys, the default first.
func (s *Service) algs() []string {
	out := []string{s.cfg.SigningAlg}
	for _, a := range s.cfg.ExtraAlgs {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// Algorithms returns the algorithms the service signs with, the default
// first: each has an active key in the JWKS (New and Maintain create it),
// so discovery can advertise exactly these.
func (s *Service) Algorithms() []string { return s.algs() }

// Formats of access tokens.
const (
	FormatJWT    = "jwt"
	FormatOpaque = "opaque"
)

// Policy is one client's token settings. Zero fields take the service's
// defaults.
type Policy struct {
	Format             string // FormatJWT (default) or FormatOpaque
	AccessTokenTTL     time.Duration
	IDTokenTTL         time.Duration
	RefreshIdleTTL     time.Duration
	RefreshAbsoluteTTL time.Duration
	// RefreshReuseGrace lets a client that lost a refresh response retry
	// with the token it presented. Within this long of the rotation that
	// retired it, the immediately previous refresh token is accepted at
	// most once: that reuse rotates from it, the token the lost response
	// carried stops working, and the window keeps its start (a reuse
	// neither extends nor reopens it). Any other presentation of a
	// retired token, including the previous one a second time or after
	// the window, is a replay that revokes the family. 0, the default,
	// accepts no reuse at all.
	RefreshReuseGrace time.Duration
	IDTokenAlg        string // "" is the service's SigningAlg
}

// policy fills p's zero fields with the service's defaults.
func (s *Service) policy(p Policy) Policy {
	if p.Format == "" {
		p.Format = FormatJWT
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&p.AccessTokenTTL, s.cfg.AccessTokenTTL)
	def(&p.IDTokenTTL, s.cfg.IDTokenTTL)
	def(&p.RefreshIdleTTL, s.cfg.RefreshIdleTTL)
	def(&p.RefreshAbsoluteTTL, s.cfg.RefreshAbsoluteTTL)
	if p.IDTokenAlg == "" {
		p.IDTokenAlg = s.cfg.SigningAlg
	}
	for l := int64(max(p.AccessTokenTTL, p.IDTokenTTL)); ; {
		cur := s.longestTTL.Load()
		if l <= cur || s.longestTTL.CompareAndSwap(cur, l) {
			break
		}
	}
	return p
}

// CheckPolicy reports whether the service can honour p.
func (s *Service) CheckPolicy(p Policy) error {
	if p.Format != "" && p.Format != FormatJWT && p.Format != FormatOpaque {
		return fmt.Errorf("tokensvc: unknown token format %q", p.Format)
	}
	if p.IDTokenAlg != "" && !slices.Contains(s.algs(), p.IDTokenAlg) {
		return fmt.Errorf("tokensvc: no keys for id_token algorithm %q", p.IDTokenAlg)
	}
	return nil
}

// Issuer returns the issuer URL tokens carry.
func (s *Service) Issuer() string { return s.cfg.Issuer }

// AccessTTL is the default lifetime of access tokens.
func (s *Service) AccessTTL() time.Duration { return s.cfg.AccessTokenTTL }
