package tokensvc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Revoke ends token on behalf of clientID (RFC 7009 §2.1). A refresh token
// ends its whole session; an opaque access token is deleted; a JWT access
// token's jti is denied until it would have expired. A token that is
// unknown, invalid, or another client's is left alone and is not an error:
// the answer must not tell a caller which tokens exist. The hint only
// orders the checks; each token's form says what it is.
func (s *Service) Revoke(ctx context.Context, clientID, token, hint string) error {
	kinds := []string{"refresh_token", "access_token"}
	if hint == "access_token" {
		kinds[0], kinds[1] = kinds[1], kinds[0]
	}
	for _, k := range kinds {
		var err error
		if k == "refresh_token" {
			err = s.revokeRefresh(ctx, clientID, token)
		} else {
			err = s.revokeAccess(ctx, clientID, token)
		}
		if !errors.Is(err, errNotThisKind) {
			return err
		}
	}
	return nil
}

var errNotThisKind = errors.New("not this kind of token")

func (s *Service) revokeRefresh(ctx context.Context, clientID, token string) error {
	if !strings.HasPrefix(token, refreshPrefix) {
		return errNotThisKind
	}
	f, _, err := s.family(ctx, token)
	if errors.Is(err, ErrInvalidGrant) || (err == nil && f.ClientID != clientID) {
		return nil
	} else if err != nil {
		return err
	}
	return s.RevokeFamily(ctx, f.ID)
}

func (s *Service) revokeAccess(ctx context.Context, clientID, token string) error {
	if strings.HasPrefix(token, opaquePrefix) {
		a, err := s.lookupOpaque(ctx, token)
		if errors.Is(err, ErrInvalidToken) || (err == nil && a.ClientID != clientID) {
			return nil
		} else if err != nil {
			return err
		}
		if err := s.store.DeleteOpaqueToken(ctx, hashToken(token)); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("tokensvc: revoke opaque token: %w", err)
		}
		s.emit(ctx, Event{Type: EventRevoked, ClientID: a.ClientID, UserID: a.Subject, FamilyID: a.Session})
		return nil
	}
	if strings.Count(token, ".") != 2 {
		return errNotThisKind
	}
	c, err := s.parseAccess(token)
	if err != nil || c.ClientID != clientID {
		return nil
	}
	if err := s.RevokeAccess(ctx, c.JTI, time.Unix(c.Expiry, 0)); err != nil {
		return err
	}
	s.emit(ctx, Event{Type: EventRevoked, ClientID: c.ClientID, UserID: c.Subject, FamilyID: c.Session})
	return nil
}

// RevokeAccess denies the JWT access token with id jti until it would expire.
func (s *Service) RevokeAccess(ctx context.Context, jti string, expiry time.Time) error {
	if err := s.store.DenyAccessToken(ctx, jti, expiry); err != nil {
		return fmt.Errorf("tokensvc: revoke access token: %w", err)
	}
	return nil
}

// Introspection is an RFC 7662 answer; Active false says nothing else.
type Introspection struct {
	Active    bool
	TokenType string // "Bearer", "DPoP" (bound) or "refresh_token"
	Access    Access
}

// Introspect reports whether token is alive, for clientID (RFC 7662). Access
// tokens are answered for any client allowed to introspect (resource
// servers); refresh tokens only for the client they were issued to.
func (s *Service) Introspect(ctx context.Context, clientID, token string, p Policy) (Introspection, error) {
	if strings.HasPrefix(token, refreshPrefix) {
		p = s.policy(p)
		f, hash, err := s.family(ctx, token)
		if errors.Is(err, ErrInvalidGrant) {
			return Introspection{}, nil
		} else if err != nil {
			return Introspection{}, err
		}
		now := s.now()
		idleEnd := f.RotatedAt.Add(p.RefreshIdleTTL)
		if f.ClientID != clientID || f.Revoked || f.Current != hash || !now.Before(f.Expiry) || !now.Before(idleEnd) {
			return Introspection{}, nil
		}
		exp := f.Expiry
		if idleEnd.Before(exp) {
			exp = idleEnd
		}
		return Introspection{Active: true, TokenType: "refresh_token", Access: Access{
			Subject: f.UserID, ClientID: f.ClientID, Scopes: f.Scopes, Session: f.ID,
			AuthTime: f.AuthTime, IssuedAt: f.RotatedAt, ExpiresAt: exp, JKT: f.JKT,
		}}, nil
	}
	a, err := s.VerifyAccess(ctx, token)
	if errors.Is(err, ErrInvalidToken) {
		return Introspection{}, nil
	} else if err != nil {
		return Introspection{}, err
	}
	typ := "Bearer"
	if a.JKT != "" {
		typ = "DPoP"
	}
	return Introspection{Active: true, TokenType: typ, Access: a}, nil
}
