package oidc

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
)

// Refresh asks the upstream about the person again with the refresh token
// kept (sealed) in the identity's ConnectorData: the upstream refuses it
// (a 4xx other than 429, see upstream.Unavailable) when the person is
// gone, disabled or has revoked the grant, or the token expired, and that
// is sdk.ErrUserGone. A new id_token is verified (without
// a nonce) and re-mapped, so changed groups and names follow; it must be
// about the same subject. A rotated refresh token is sealed into the
// returned ConnectorData.
func (c *Connector) Refresh(ctx context.Context, s sdk.Scopes, id sdk.Identity) (sdk.Identity, error) {
	// One upstream refresh per person at a time: with rotating refresh
	// tokens, two concurrent refreshes would present the same token, and
	// the upstream would take the second for a replay.
	h := fnv.New32a()
	h.Write([]byte(id.Subject))
	lock := &c.refreshLocks[h.Sum32()%uint32(len(c.refreshLocks))]
	lock.Lock()
	defer lock.Unlock()

	if len(id.ConnectorData) == 0 {
		return sdk.Identity{}, fmt.Errorf("%s: no upstream refresh token for this identity (the upstream issued none at login)", c.cfg.kind)
	}
	stored, err := c.sealer.Open(id.ConnectorData, id.Subject)
	if err != nil {
		return sdk.Identity{}, fmt.Errorf("%s: %w", c.cfg.kind, err)
	}
	if stored.Refresh == "" {
		return sdk.Identity{}, fmt.Errorf("%s: no upstream refresh token for this identity", c.cfg.kind)
	}
	rt := c.rotated.latest(stored.Refresh)
	d, err := c.provider(ctx)
	if err != nil {
		return sdk.Identity{}, err
	}
	ctx = upstream.WithClient(ctx, c.client)
	tok, err := c.oauth2Config(d, "", s).TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	if err != nil {
		// Any refusal ends the session, not only invalid_grant: Dex, for
		// one, answers a claimed or expired refresh token with
		// invalid_request, and a session the upstream has ended must not
		// live on as an endless "try later".
		return sdk.Identity{}, c.tokenError("refresh", err, sdk.ErrUserGone)
	}
	if tok.RefreshToken != "" && tok.RefreshToken != rt {
		c.rotated.remember(rt, tok.RefreshToken)
		rt = tok.RefreshToken
	}

	fresh := id
	if _, hasIDToken := tok.Extra("id_token").(string); hasIDToken || c.cfg.GetUserInfo {
		var cl claims
		if hasIDToken {
			cl, err = c.verifiedClaims(ctx, d, tok, "")
		} else {
			cl, err = c.userInfo(ctx, d, tok.AccessToken)
		}
		if err != nil {
			return sdk.Identity{}, err
		}
		if fresh, err = mapIdentity(cl, &c.cfg); err != nil {
			if errors.Is(err, sdk.ErrInvalidCredentials) {
				// Out of allowed_groups or the hosted domain now.
				return sdk.Identity{}, fmt.Errorf("%s: %w: %v", c.cfg.kind, sdk.ErrUserGone, err)
			}
			return sdk.Identity{}, err
		}
		if fresh.Subject != id.Subject {
			return sdk.Identity{}, fmt.Errorf("%s: %w: the upstream's refreshed token is about another subject", c.cfg.kind, sdk.ErrUserGone)
		}
		c.addTenant(&fresh, cl)
	}
	if fresh.ConnectorData, err = c.sealer.Seal(upstream.Tokens{Refresh: rt}, id.Subject); err != nil {
		return sdk.Identity{}, fmt.Errorf("%s: seal refresh token: %w", c.cfg.kind, err)
	}
	return fresh, nil
}

// rotations remembers, for a while, which refresh token replaced which.
// The broker keeps one ConnectorData per identity, and two refreshes that
// race there may store the older token last; following the chain here
// keeps a rotated-away token from ever going back to the upstream, which
// would take it for a stolen one and end the person's session there.
type rotations struct {
	mu   sync.Mutex
	next map[[32]byte]rotation
}

type rotation struct {
	to string
	at time.Time
}

const (
	rotationTTL  = 24 * time.Hour
	maxRotations = 100_000
)

func (r *rotations) remember(from, to string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.next == nil || len(r.next) >= maxRotations {
		r.prune(now)
	}
	if len(r.next) >= maxRotations {
		r.next = nil // still full of live entries: start again rather than grow
	}
	if r.next == nil {
		r.next = map[[32]byte]rotation{}
	}
	r.next[sha256.Sum256([]byte(from))] = rotation{to: to, at: now}
}

func (r *rotations) prune(now time.Time) {
	for k, v := range r.next {
		if now.Sub(v.at) > rotationTTL {
			delete(r.next, k)
		}
	}
}

// latest follows rt's replacements to the newest token known.
func (r *rotations) latest(rt string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for range 100 { // a chain is short; the bound only guards against a cycle
		n, ok := r.next[sha256.Sum256([]byte(rt))]
		if !ok || now.Sub(n.at) > rotationTTL {
			return rt
		}
		rt = n.to
	}
	return rt
}
