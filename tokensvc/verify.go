package tokensvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

var (
	// ErrInvalidToken: a token is malformed, forged, expired or revoked.
	// Callers answer invalid_token without saying which.
	ErrInvalidToken = errors.New("invalid token")
	// ErrInvalidGrant: a refresh token cannot be exchanged, or a session
	// cannot start because it was ended first (RFC 6749 §5.2).
	ErrInvalidGrant = errors.New("invalid grant")
)

// maxTokenLen bounds what is parsed at all. Portico's tokens are usually
// a few KB, but one for an identity near the broker's limits (1,000
// groups, long attribute values) reaches 180,000 bytes, and must still
// verify where Portico accepts it.
const maxTokenLen = 256 << 10

var signatureAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// Access is a verified access token's content.
type Access struct {
	Format    string // FormatJWT or FormatOpaque
	Subject   string
	Username  string
	ClientID  string
	Scopes    []string
	Audience  []string
	JTI       string // JWTs only
	Session   string // the session (refresh family) it belongs to, if any
	Groups    []string
	AuthTime  time.Time
	IssuedAt  time.Time
	ExpiresAt time.Time
	Act       *Actor // RFC 8693 §4.1, for a token issued by exchange
	// JKT is the DPoP key the token is bound to (cnf.jkt); a request
	// using it must prove that key (RFC 9449 §7).
	JKT string
}

// leeway tolerates clock differences between replicas for iat.
const leeway = time.Minute

// VerifyAccess checks an access token Portico issued, of either format:
// signature by a published key and type at+jwt (JWT) or a stored record
// (opaque); issuer, expiry; not revoked, nor its session. Every failure is
// ErrInvalidToken; a store failure is returned as is.
func (s *Service) VerifyAccess(ctx context.Context, token string) (Access, error) {
	var a Access
	if strings.HasPrefix(token, opaquePrefix) {
		var err error
		if a, err = s.lookupOpaque(ctx, token); err != nil {
			return Access{}, err
		}
	} else {
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
		a = Access{
			Format: FormatJWT, Subject: c.Subject, Username: c.Username, ClientID: c.ClientID, Audience: c.Audience,
			JTI: c.JTI, Session: c.Session, Groups: c.Groups, Act: c.Act,
			IssuedAt: time.Unix(c.IssuedAt, 0), ExpiresAt: time.Unix(c.Expiry, 0),
		}
		if c.Scope != "" {
			a.Scopes = strings.Fields(c.Scope)
		}
		if c.AuthTime != 0 {
			a.AuthTime = time.Unix(c.AuthTime, 0)
		}
		if c.Cnf != nil {
			a.JKT = c.Cnf.JKT
		}
	}
	if a.Session != "" {
		if err := s.sessionAlive(ctx, a.Session); err != nil {
			return Access{}, err
		}
	}
	return a, nil
}

// SessionAlive reports whether the session (refresh family) familyID is
// still on: nil if so, an error wrapping ErrInvalidToken if it was revoked
// (logout, a replay, a tombstone: ended before its tokens existed) or is
// gone, another error if the store could not say. It looks at revocation
// only, as VerifyAccess does for the tokens naming the session; their own
// expiry is the caller's to check.
func (s *Service) SessionAlive(ctx context.Context, familyID string) error {
	return s.sessionAlive(ctx, familyID)
}

// sessionAlive fails with ErrInvalidToken when the session was revoked or
// is gone; a token outlives its session only if something is wrong.
func (s *Service) sessionAlive(ctx context.Context, id string) error {
	f, err := s.store.GetRefreshFamily(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("%w: session ended", ErrInvalidToken)
	case err != nil:
		return fmt.Errorf("tokensvc: read session: %w", err)
	case f.Revoked:
		return fmt.Errorf("%w: session revoked", ErrInvalidToken)
	}
	return nil
}

func (s *Service) lookupOpaque(ctx context.Context, token string) (Access, error) {
	if len(token) != opaqueLen {
		return Access{}, fmt.Errorf("%w: malformed opaque token", ErrInvalidToken)
	}
	t, err := s.store.GetOpaqueToken(ctx, hashToken(token))
	if errors.Is(err, ErrNotFound) {
		return Access{}, fmt.Errorf("%w: unknown opaque token", ErrInvalidToken)
	} else if err != nil {
		return Access{}, fmt.Errorf("tokensvc: read opaque token: %w", err)
	}
	if !s.now().Before(t.Expiry) {
		return Access{}, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	return Access{
		Format: FormatOpaque, Subject: t.Subject, Username: t.Username, ClientID: t.ClientID,
		Scopes: t.Scopes, Audience: audience(t.ClientID, t.Resources, t.Audience), Session: t.FamilyID, Groups: t.Groups,
		AuthTime: t.AuthTime, IssuedAt: t.IssuedAt, ExpiresAt: t.Expiry, Act: t.Act, JKT: t.JKT,
	}, nil
}

// parseAccess does every check of a JWT access token that needs no store.
func (s *Service) parseAccess(token string) (accessClaims, error) {
	var c accessClaims
	if len(token) > maxTokenLen || strings.Count(token, ".") != 2 {
		return c, fmt.Errorf("%w: not a JWS", ErrInvalidToken)
	}
	gen := s.keys.generation()
	if c, ok := s.verified.get(token, gen); ok {
		return c, s.checkTimes(c)
	}
	c, err := s.verifyAccessJWS(token)
	if err != nil {
		return c, err
	}
	s.verified.put(token, c, gen)
	return c, nil
}

// verifyAccessJWS checks a JWT access token's signature and claims.
func (s *Service) verifyAccessJWS(token string) (accessClaims, error) {
	var c accessClaims
	// Portico issues only the compact form; the JSON form is refused.
	jws, err := jose.ParseSignedCompact(token, signatureAlgs)
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
	switch {
	case c.Issuer != s.cfg.Issuer:
		return c, fmt.Errorf("%w: issuer", ErrInvalidToken)
	case c.JTI == "" || c.Subject == "" || c.ClientID == "":
		return c, fmt.Errorf("%w: missing claims", ErrInvalidToken)
	}
	return c, s.checkTimes(c)
}

// checkTimes checks expiry and issue time, on every use of a token.
func (s *Service) checkTimes(c accessClaims) error {
	now := s.now()
	switch {
	case now.Unix() >= c.Expiry:
		return fmt.Errorf("%w: expired", ErrInvalidToken)
	case time.Unix(c.IssuedAt, 0).After(now.Add(leeway)):
		return fmt.Errorf("%w: issued in the future", ErrInvalidToken)
	}
	return nil
}

// verifiedMax bounds the verified-token cache; when full it is emptied
// (simple, and a resource server's working set refills it at once).
const verifiedMax = 16384

// verifiedCache remembers JWT access tokens whose signature and claims were
// checked, so that a resource server introspecting the same token again
// pays a map lookup instead of a signature check (most of an
// introspection's cost). It is keyed by the whole token, so a changed byte
// misses; entries are dropped when the key set changes, so a key that
// leaves the JWKS takes its tokens with it. Revocation and the session are
// still checked on every call: the cache holds no verdict about those.
type verifiedCache struct {
	mu  sync.Mutex
	gen int64
	m   map[string]accessClaims
}

func (v *verifiedCache) get(token string, gen int64) (accessClaims, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.gen != gen {
		return accessClaims{}, false
	}
	c, ok := v.m[token]
	return c, ok
}

func (v *verifiedCache) put(token string, c accessClaims, gen int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.gen != gen || v.m == nil || len(v.m) >= verifiedMax {
		v.gen, v.m = gen, make(map[string]accessClaims)
	}
	v.m[token] = c
}

// IDTokenHint is what RP-initiated logout needs of an id_token.
type IDTokenHint struct {
	Subject  string
	ClientID string
	Session  string
}

// ParseIDTokenHint verifies an id_token this service signed, accepting an
// expired one (OIDC RP-Initiated Logout §2: the hint may have expired).
func (s *Service) ParseIDTokenHint(token string) (IDTokenHint, error) {
	if len(token) > maxTokenLen || strings.Count(token, ".") != 2 {
		return IDTokenHint{}, fmt.Errorf("%w: not a JWS", ErrInvalidToken)
	}
	jws, err := jose.ParseSignedCompact(token, signatureAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return IDTokenHint{}, fmt.Errorf("%w: not a JWS", ErrInvalidToken)
	}
	h := jws.Signatures[0].Header
	key := s.keys.byID(h.KeyID)
	if key == nil || key.alg != h.Algorithm {
		return IDTokenHint{}, fmt.Errorf("%w: unknown key", ErrInvalidToken)
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "JWT" {
		return IDTokenHint{}, fmt.Errorf("%w: not an id_token", ErrInvalidToken)
	}
	payload, err := jws.Verify(key.public)
	if err != nil {
		return IDTokenHint{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	var c idClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != s.cfg.Issuer || c.Audience == "" {
		return IDTokenHint{}, fmt.Errorf("%w: claims", ErrInvalidToken)
	}
	return IDTokenHint{Subject: c.Subject, ClientID: c.Audience, Session: c.Session}, nil
}
