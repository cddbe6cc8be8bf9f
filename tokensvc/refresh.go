package tokensvc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"
)

// refreshTokenLen is the length of every refresh token Portico issues.
const refreshTokenLen = len(refreshPrefix) + 43

// maxRotateAttempts bounds Rotate's read-decide-swap loop. Every lost
// compare-and-swap means another request changed the family; a burst of
// one token changes it at most three times (a rotation, a grace rotation,
// the revocation of the replay), so running out means something else is
// hammering one session.
const maxRotateAttempts = 10

// redemption is what presenting a refresh token does to its family.
type redemption int

const (
	rotateCurrent redemption = iota + 1 // the live token: rotate from it
	rotateGrace                         // the previous one, inside its unspent grace: rotate from it once
	replay                              // anything else: revoke the family
)

// redeem decides what presenting the token whose hash is hash, by clientID,
// does to f at now. An error (another client's, revoked, expired) leaves f
// alone.
func redeem(f RefreshFamily, clientID, hash string, p Policy, now time.Time) (redemption, error) {
	switch {
	case f.ClientID != clientID:
		return 0, fmt.Errorf("%w: refresh token was issued to another client", ErrInvalidGrant)
	case f.Revoked:
		return 0, fmt.Errorf("%w: refresh token revoked", ErrInvalidGrant)
	case !now.Before(f.Expiry) || now.Sub(f.RotatedAt) >= p.RefreshIdleTTL:
		return 0, fmt.Errorf("%w: refresh token expired", ErrInvalidGrant)
	}
	if subtle.ConstantTimeCompare([]byte(hash), []byte(f.Current)) == 1 {
		return rotateCurrent, nil
	}
	if p.RefreshReuseGrace > 0 && f.Previous != "" && !f.GraceUsed &&
		now.Sub(f.previousRetiredAt()) <= p.RefreshReuseGrace &&
		subtle.ConstantTimeCompare([]byte(hash), []byte(f.Previous)) == 1 {
		return rotateGrace, nil
	}
	return replay, nil
}

// Redeem checks a refresh token presented by clientID and returns its family,
// to be re-checked by the caller and passed to Rotate. A token that was
// already rotated away is a replay: the whole family is revoked and a
// security event logged, unless p's reuse grace covers it (see
// Policy.RefreshReuseGrace).
func (s *Service) Redeem(ctx context.Context, clientID, token string, p Policy) (RefreshFamily, error) {
	p = s.policy(p)
	f, hash, err := s.family(ctx, token)
	if err != nil {
		return RefreshFamily{}, err
	}
	now := s.now()
	r, err := redeem(f, clientID, hash, p, now)
	if err != nil {
		return RefreshFamily{}, err
	}
	if r == replay {
		return RefreshFamily{}, s.replay(ctx, f)
	}
	f.presented = presentation{hash: hash, policy: p, at: now}
	return f, nil
}

// replay ends f, whose retired token was presented, and says so.
func (s *Service) replay(ctx context.Context, f RefreshFamily) error {
	s.log.Warn("security: refresh token replayed; family revoked",
		"event", "refresh_replay", "family", f.ID, "client_id", f.ClientID, "user", f.UserID)
	s.emit(ctx, Event{Type: EventRefreshReplay, ClientID: f.ClientID, UserID: f.UserID, FamilyID: f.ID})
	if err := s.RevokeFamily(ctx, f.ID); err != nil {
		return err
	}
	return fmt.Errorf("%w: refresh token already used", ErrInvalidGrant)
}

// family finds the family of a refresh token and the token's hash.
func (s *Service) family(ctx context.Context, token string) (RefreshFamily, string, error) {
	if len(token) != refreshTokenLen || !strings.HasPrefix(token, refreshPrefix) {
		return RefreshFamily{}, "", fmt.Errorf("%w: malformed refresh token", ErrInvalidGrant)
	}
	hash := hashToken(token)
	t, f, err := s.store.GetRefreshTokenFamily(ctx, hash)
	switch {
	case errors.Is(err, ErrNotFound) && t.FamilyID == "":
		return RefreshFamily{}, "", fmt.Errorf("%w: unknown refresh token", ErrInvalidGrant)
	case errors.Is(err, ErrNotFound):
		return RefreshFamily{}, "", fmt.Errorf("%w: refresh token expired", ErrInvalidGrant)
	case err != nil:
		return RefreshFamily{}, "", fmt.Errorf("tokensvc: read refresh token: %w", err)
	}
	return f, hash, nil
}

// Rotate retires the token Redeem accepted for f and issues new tokens for
// g, whose Scopes are those of this response only: the family keeps the
// scopes of its login, so a refresh that narrowed them does not narrow the
// next (RFC 6749 §6).
//
// A rotation is a compare-and-swap on the family. One that loses it reads
// the family again and decides again for the same presentation (its token,
// and the policy and time Redeem judged it by): still the live token →
// rotate; the previous one inside its unspent grace → rotate from it;
// otherwise a replay, which revokes the family. So a burst of one token
// gets exactly what Policy.RefreshReuseGrace allows, however its requests
// interleave.
func (s *Service) Rotate(ctx context.Context, f RefreshFamily, g Grant) (Tokens, error) {
	g.Policy = s.policy(g.Policy)
	token, hash := newRefreshToken()
	now := s.now()
	pr := f.presented
	if pr.hash == "" { // not from Redeem: the family's live token, now
		pr = presentation{hash: f.Current, policy: g.Policy, at: now}
	}
	cur := f
	for attempt := 0; ; attempt++ {
		if attempt == maxRotateAttempts {
			return Tokens{}, fmt.Errorf("tokensvc: rotate refresh family %s: too many concurrent updates", f.ID)
		}
		if attempt > 0 {
			var err error
			if cur, err = s.store.GetRefreshFamily(ctx, f.ID); errors.Is(err, ErrNotFound) {
				return Tokens{}, fmt.Errorf("%w: refresh token expired", ErrInvalidGrant)
			} else if err != nil {
				return Tokens{}, fmt.Errorf("tokensvc: read refresh family: %w", err)
			}
		}
		r, err := redeem(cur, f.ClientID, pr.hash, pr.policy, pr.at)
		if err != nil {
			return Tokens{}, err
		}
		// A rotation that raced this one may have bound the family to a
		// key (RFC 9449 §5): it is judged again, as the caller judged the
		// family Redeem read.
		if cur.JKT != "" && cur.JKT != g.JKT {
			return Tokens{}, fmt.Errorf("%w: the refresh token is bound to another DPoP key", ErrInvalidGrant)
		}
		next := cur
		switch r {
		case replay:
			return Tokens{}, s.replay(ctx, cur)
		case rotateCurrent:
			// The retired token's grace starts now, unspent.
			next.Previous, next.PreviousRetiredAt, next.GraceUsed = cur.Current, now, false
		case rotateGrace:
			// A retry of a rotation whose answer the client lost. The token
			// that answer carried (Current) is dropped: nothing accepts it
			// any more. Previous stays, its window where it started, its one
			// reuse now spent.
			next.PreviousRetiredAt, next.GraceUsed = cur.previousRetiredAt(), true
		}
		next.Current, next.RotatedAt = hash, now
		if g.BindRefresh && next.JKT == "" {
			// A public client's first refresh with a proof binds the
			// chain from here on (RFC 9449 §5).
			next.JKT = g.JKT
		}
		err = s.store.RotateRefresh(ctx, next, RefreshToken{Hash: hash, FamilyID: f.ID, Expiry: f.Expiry})
		if errors.Is(err, ErrConflict) {
			continue
		} else if errors.Is(err, ErrNotFound) {
			return Tokens{}, fmt.Errorf("%w: refresh token expired", ErrInvalidGrant)
		} else if err != nil {
			return Tokens{}, fmt.Errorf("tokensvc: rotate refresh token: %w", err)
		}
		break
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
//
// A session id is handed out with an authorization code before the family
// exists (Issue creates it when the code is redeemed). Ending such a
// session stores a tombstone: a revoked family with no user, client or
// tokens, living Config.PendingSessionTTL, so that the code's Issue fails
// instead of starting a session that was already ended. A tombstone emits
// no event: nothing had been issued in it.
func (s *Service) RevokeFamily(ctx context.Context, familyID string) error {
	if familyID == "" {
		return nil // names no session: nothing to end, no tombstone to lay
	}
	for range 10 {
		f, err := s.store.GetRefreshFamily(ctx, familyID)
		if errors.Is(err, ErrNotFound) {
			now := s.now()
			tomb := RefreshFamily{ID: familyID, Revoked: true, RotatedAt: now, CreatedAt: now, Expiry: now.Add(s.cfg.PendingSessionTTL)}
			switch err := s.store.CreateRefreshFamily(ctx, tomb, RefreshToken{FamilyID: familyID}); {
			case err == nil:
				return nil
			case errors.Is(err, ErrAlreadyExists):
				continue // Issue created it meanwhile: revoke that
			default:
				return fmt.Errorf("tokensvc: end pending session: %w", err)
			}
		} else if err != nil {
			return fmt.Errorf("tokensvc: read refresh family: %w", err)
		}
		if f.Revoked {
			return nil
		}
		f.Revoked = true
		switch err := s.store.UpdateRefreshFamily(ctx, f); {
		case err == nil:
			s.emit(ctx, Event{Type: EventRevoked, ClientID: f.ClientID, UserID: f.UserID, FamilyID: f.ID, Ended: true})
			return nil
		case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
			continue // changed, or expired, meanwhile: look again
		default:
			return fmt.Errorf("tokensvc: revoke refresh family: %w", err)
		}
	}
	return fmt.Errorf("tokensvc: revoke refresh family %s: too many concurrent updates", familyID)
}
