package tokensvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

var (
	// ErrInvalidToken: a token is malformed, forged, expired or revoked.
	// Callers answer invalid_token without saying which.
	ErrInvalidToken = errors.New("invalid token")
	// ErrInvalidGrant: a refresh token cannot be exchanged (RFC 6749 §5.2).
	ErrInvalidGrant = errors.New("invalid grant")
)

// maxTokenLen bounds what is parsed at all; Portico's tokens are far shorter.
const maxTokenLen = 8 << 10

var signatureAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// Access is a verified access token's content.
type Access struct {
	Subject   string
	ClientID  string
	Scopes    []string
	Audience  []string
	JTI       string
	FamilyID  string
	Groups    []string
	AuthTime  time.Time
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// leeway tolerates clock differences between replicas for iat.
const leeway = time.Minute

// VerifyAccess checks an access token Portico issued: signature by a
// published key, type at+jwt, issuer, expiry, and that it was not revoked.
// Every failure is ErrInvalidToken; a store failure is returned as is.
func (s *Service) VerifyAccess(ctx context.Context, token string) (Access, error) {
	c, err := s.parseAccess(token)
	if err != nil {
		return Access{}, err
	}
	denied, err := s.store.AccessTokenDenied(ctx, c.JTI)
	if err != nil {
		return Access{}, fmt.Errorf("tokensvc: check revocation: %w", err)
	}
	if denied {
		return Access{}, fmt.Errorf("%w: revoked", ErrInvalidToken)
	}
	a := Access{
		Subject: c.Subject, ClientID: c.ClientID, Audience: c.Audience, JTI: c.JTI, FamilyID: c.Family,
		Groups: c.Groups, IssuedAt: time.Unix(c.IssuedAt, 0), ExpiresAt: time.Unix(c.Expiry, 0),
	}
	if c.Scope != "" {
		a.Scopes = strings.Fields(c.Scope)
	}
	if c.AuthTime != 0 {
		a.AuthTime = time.Unix(c.AuthTime, 0)
	}
	return a, nil
}

// parseAccess does every check that needs no store.
func (s *Service) parseAccess(token string) (accessClaims, error) {
	var c accessClaims
	if len(token) > maxTokenLen || strings.Count(token, ".") != 2 {
		return c, fmt.Errorf("%w: not a JWS", ErrInvalidToken)
	}
	jws, err := jose.ParseSigned(token, signatureAlgs)
	if err != nil {
		return c, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if len(jws.Signatures) != 1 {
		return c, fmt.Errorf("%w: want one signature", ErrInvalidToken)
	}
	h := jws.Signatures[0].Header
	// RFC 9068 §4: the typ header keeps an id_token from passing as an
	// access token.
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return c, fmt.Errorf("%w: typ %q", ErrInvalidToken, typ)
	}
	key := s.keys.byID(h.KeyID)
	if key == nil || key.alg != h.Algorithm {
		return c, fmt.Errorf("%w: unknown key", ErrInvalidToken)
	}
	payload, err := jws.Verify(key.public)
	if err != nil {
		return c, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	now := s.now()
	switch {
	case c.Issuer != s.cfg.Issuer:
		return c, fmt.Errorf("%w: issuer", ErrInvalidToken)
	case c.JTI == "" || c.Subject == "" || c.ClientID == "":
		return c, fmt.Errorf("%w: missing claims", ErrInvalidToken)
	case now.Unix() >= c.Expiry:
		return c, fmt.Errorf("%w: expired", ErrInvalidToken)
	case time.Unix(c.IssuedAt, 0).After(now.Add(leeway)):
		return c, fmt.Errorf("%w: issued in the future", ErrInvalidToken)
	}
	return c, nil
}

// RevokeAccess denies the access token with id jti until it would expire.
func (s *Service) RevokeAccess(ctx context.Context, jti string, expiry time.Time) error {
	if err := s.store.DenyAccessToken(ctx, jti, expiry); err != nil {
		return fmt.Errorf("tokensvc: revoke access token: %w", err)
	}
	return nil
}
