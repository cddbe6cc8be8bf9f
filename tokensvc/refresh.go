package tokensvc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
)

// refreshTokenLen is the length of every refresh token Portico issues.
const refreshTokenLen = len(refreshPrefix) + 43

// Redeem checks a refresh token presented by clientID and returns its family,
// to be re-checked by the caller and passed to Rotate. A token that was
// already rotated away is a replay: the whole family is revoked and a
// security event logged, unless p's reuse grace covers it.
func (s *Service) Redeem(ctx context.Context, clientID, token string, p Policy) (RefreshFamily, error) {
	p = s.policy(p)
	f, hash, err := s.family(ctx, token)
	if err != nil {
		return RefreshFamily{}, err
	}
	now := s.now()
	switch {
	case f.ClientID != clientID:
		return RefreshFamily{}, fmt.Errorf("%w: refresh token was issued to another client", ErrInvalidGrant)
	case f.Revoked:
		return RefreshFamily{}, fmt.Errorf("%w: refresh token revoked", ErrInvalidGrant)
	case !now.Before(f.Expiry) || now.Sub(f.RotatedAt) >= p.RefreshIdleTTL:
		return RefreshFamily{}, fmt.Errorf("%w: refresh token expired", ErrInvalidGrant)
	}
	if subtle.ConstantTimeCompare([]byte(hash), []byte(f.Current)) == 1 {
		return f, nil
	}
	if p.RefreshReuseGrace > 0 && f.Previous != "" && now.Sub(f.RotatedAt) <= p.RefreshReuseGrace &&
		subtle.ConstantTimeCompare([]byte(hash), []byte(f.Previous)) == 1 {
		// A retry of a rotation whose answer the client lost: rotate again
		// from the previous token, retiring the one it never received.
		f.Current = f.Previous
		f.Previous = ""
		return f, nil
	}
	s.log.Warn("security: refresh token replayed; family revoked",
		"event", "refresh_replay", "family", f.ID, "client_id", f.ClientID, "user", f.UserID)
	s.emit(ctx, Event{Type: EventRefreshReplay, ClientID: f.ClientID, UserID: f.UserID, FamilyID: f.ID})
	if err := s.RevokeFamily(ctx, f.ID); err != nil {
		return RefreshFamily{}, err
	}
	return RefreshFamily{}, fmt.Errorf("%w: refresh token already used", ErrInvalidGrant)
}

// family finds the family of a refresh token and the token's hash.
func (s *Service) family(ctx context.Context, token string) (RefreshFamily, string, error) {
	if len(token) != refreshTokenLen || !strings.HasPrefix(token, refreshPrefix) {
		return RefreshFamily{}, "", fmt.Errorf("%w: malformed refresh token", ErrInvalidGrant)
	}
	hash := hashToken(token)
	t, err := s.store.GetRefreshToken(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return RefreshFamily{}, "", fmt.Errorf("%w: unknown refresh token", ErrInvalidGrant)
	} else if err != nil {
		return RefreshFamily{}, "", fmt.Errorf("tokensvc: read refresh token: %w", err)
	}
	f, err := s.store.GetRefreshFamily(ctx, t.FamilyID)
	if errors.Is(err, ErrNotFound) {
		return RefreshFamily{}, "", fmt.Errorf("%w: refresh token expired", ErrInvalidGrant)
	} else if err != nil {
		return RefreshFamily{}, "", fmt.Errorf("tokensvc: read refresh family: %w", err)
	}
	return f, hash, nil
}

// Rotate retires the token Redeem accepted for f and issues new tokens for
// g. Of two rotations of one token, exactly one succeeds; the other gets
// ErrInvalidGrant.
func (s *Service) Rotate(ctx context.Context, f RefreshFamily, g Grant) (Tokens, error) {
	g.Policy = s.policy(g.Policy)
	token, hash := newRefreshToken()
	now := s.now()
	next := f
	next.Previous, next.Current, next.RotatedAt = f.Current, hash, now
	next.Scopes = g.Scopes
	err := s.store.RotateRefresh(ctx, next, RefreshToken{Hash: hash, FamilyID: f.ID, Expiry: f.Expiry})
	if errors.Is(err, ErrConflict) {
		return Tokens{}, fmt.Errorf("%w: refresh token already used", ErrInvalidGrant)
	} else if err != nil {
		return Tokens{}, fmt.Errorf("tokensvc: rotate refresh token: %w", err)
	}
	g.Subject, g.ClientID, g.AuthTime, g.AMR, g.ConnectorID = f.UserID, f.ClientID, f.AuthTime, f.AMR, f.ConnectorID
	g.FamilyID, g.AccessJTI = f.ID, ""
	t, err := s.mint(ctx, g, now)
	if err != nil {
		return Tokens{}, err
	}
	t.RefreshToken = token
	return t, nil
}

// RevokeFamily ends a session: none of its tokens works again.
func (s *Service) RevokeFamily(ctx context.Context, familyID string) error {
	for range 10 {
		f, err := s.store.GetRefreshFamily(ctx, familyID)
		if errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
			return fmt.Errorf("tokensvc: read refresh family: %w", err)
		}
		if f.Revoked {
			return nil
		}
		f.Revoked = true
		switch err := s.store.UpdateRefreshFamily(ctx, f); {
		case err == nil:
			s.emit(ctx, Event{Type: EventRevoked, ClientID: f.ClientID, UserID: f.UserID, FamilyID: f.ID})
			return nil
		case errors.Is(err, ErrConflict):
			continue
		default:
			return fmt.Errorf("tokensvc: revoke refresh family: %w", err)
		}
	}
	return fmt.Errorf("tokensvc: revoke refresh family %s: too many concurrent updates", familyID)
}
