// Package rs lets a resource server written in Go accept Portico's access
// tokens: JWT access tokens (RFC 9068) verified against Portico's
// published keys, plain Bearer tokens (RFC 6750) and DPoP-bound ones
// (RFC 9449 §7) with their proofs. A DPoP-bound token is accepted only
// with the DPoP scheme and a proof of its key for this very request; an
// unbound one only as a Bearer token.
//
// Wrap a handler with Middleware, then read the token with FromContext:
//
//	v, err := rs.New(ctx, rs.Config{Issuer: "https://id.example.com", Audience: "https://api.example.com"})
//	...
//	http.Handle("/orders", v.Middleware(orders))
//
// Checking a JWT needs no call to Portico: a revoked token stays valid
// here until it expires (minutes, by default). A resource server that must
// see revocations at once asks Portico's introspection endpoint instead,
// which also answers for opaque tokens.
package rs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/portico-idp/portico/tokensvc/dpop"
)

// Config is how a resource server accepts tokens. Issuer and Audience are
// required.
type Config struct {
	// Issuer is Portico's issuer URL; its discovery document names the
	// keys that sign access tokens.
	Issuer string
	// Audience is this resource server's identifier: a resource
	// indicator clients ask tokens for (RFC 8707), or a client id.
	Audience string
	// URL is the scheme and host clients call this server at
	// ("https://api.example.com"): a DPoP proof's htu is it plus the
	// request's path. Empty: taken from each request (its Host and TLS),
	// which is right only without a proxy in front.
	URL string
	// Leeway tolerates clock differences for exp, nbf and iat (10s): a
	// token is taken that long after its exp.
	Leeway time.Duration
	// DPoP checks proofs; nil takes dpop's defaults with a replay cache
	// in this process's memory. Several replicas of a resource server
	// share a ReplayCache so that a proof works once across them.
	DPoP *dpop.Verifier
	// HTTPClient fetches discovery and keys; http.DefaultClient if nil.
	HTTPClient *http.Client
	Now        func() time.Time // time.Now if nil
}

// Token is a verified access token.
type Token struct {
	Subject  string
	ClientID string
	Scopes   []string
	Audience []string
	Expiry   time.Time
	// JKT is the thumbprint of the DPoP key the token is bound to, "" for
	// a Bearer token.
	JKT string
	// Claims are all of the token's claims, for those not above.
	Claims map[string]any
}

// HasScope reports whether the token carries scope s.
func (t Token) HasScope(s string) bool { return slices.Contains(t.Scopes, s) }

// Verifier accepts or refuses requests. It is safe for concurrent use.
type Verifier struct {
	cfg  Config
	keys *oidc.RemoteKeySet
	dpop *dpop.Verifier
}

// New discovers the issuer's keys and returns a Verifier.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("rs: Issuer and Audience are required")
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	}
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("rs: discover %s: %w", cfg.Issuer, err)
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKSURI == "" {
		return nil, fmt.Errorf("rs: %s's discovery document has no jwks_uri", cfg.Issuer)
	}
	d := cfg.DPoP
	if d == nil {
		d = &dpop.Verifier{Now: cfg.Now}
		d.Replay = dpop.NewMemoryReplay(d.Lifetime, 0, cfg.Now)
	}
	// The key set lives as long as the Verifier: a context that ends
	// after New must not stop key refreshes.
	keysCtx := context.WithoutCancel(ctx)
	return &Verifier{cfg: cfg, keys: oidc.NewRemoteKeySet(keysCtx, meta.JWKSURI), dpop: d}, nil
}

// Error is why a request was refused, as RFC 6750 §3 and RFC 9449 §7.1
// say it: Code is invalid_request, invalid_token, invalid_dpop_proof or
// use_dpop_nonce, or "" when no token was sent; Status the HTTP status.
// Portico's own protected endpoints refuse by the same rules (dpop).
type Error = dpop.Refusal

// atClaims are the claims this package reads of an RFC 9068 token.
type atClaims struct {
	Issuer    string          `json:"iss"`
	Subject   string          `json:"sub"`
	Audience  json.RawMessage `json:"aud"`
	Expiry    *float64        `json:"exp"`
	NotBefore *float64        `json:"nbf"`
	IssuedAt  *float64        `json:"iat"`
	ClientID  string          `json:"client_id"`
	Scope     string          `json:"scope"`
	Cnf       *struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

// Verify returns r's access token, or an *Error saying why it is refused
// (its Err set, Status 503, if the issuer's keys could not be fetched).
func (v *Verifier) Verify(r *http.Request) (Token, error) {
	var t Token
	f := v.dpop.Authorize(r, v.requestURL(r), func(ctx context.Context, tok string) (string, error) {
		var err error
		t, err = v.token(ctx, tok)
		return t.JKT, err
	})
	if f != nil {
		return Token{}, f
	}
	return t, nil
}

func (v *Verifier) requestURL(r *http.Request) string {
	base := v.cfg.URL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return strings.TrimSuffix(base, "/") + r.URL.EscapedPath()
}

// token verifies an access token's signature, type, issuer, audience and
// times.
func (v *Verifier) token(ctx context.Context, tok string) (Token, error) {
	bad := func(desc string) (Token, error) {
		return Token{}, &Error{Code: "invalid_token", Description: desc}
	}
	if len(tok) > 256<<10 || strings.Count(tok, ".") != 2 {
		return bad("the access token is not a JWT")
	}
	payload, err := v.keys.VerifySignature(ctx, tok)
	if err != nil {
		return bad("the access token's signature does not verify with the issuer's keys")
	}
	if typ := headerType(tok); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return bad("the token is not an access token (typ at+jwt)")
	}
	var c atClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return bad("the access token's claims cannot be read")
	}
	aud, err := audience(c.Audience)
	now := v.cfg.Now()
	switch {
	case c.Issuer != v.cfg.Issuer:
		return bad("the access token is from another issuer")
	case err != nil || !slices.Contains(aud, v.cfg.Audience):
		return bad("the access token is not for this resource server")
	case c.Expiry == nil || !now.Before(unix(*c.Expiry).Add(v.cfg.Leeway)):
		return bad("the access token has expired")
	case c.NotBefore != nil && now.Add(v.cfg.Leeway).Before(unix(*c.NotBefore)),
		c.IssuedAt != nil && now.Add(v.cfg.Leeway).Before(unix(*c.IssuedAt)):
		return bad("the access token is not valid yet")
	}
	var all map[string]any
	json.Unmarshal(payload, &all)
	t := Token{Subject: c.Subject, ClientID: c.ClientID, Scopes: strings.Fields(c.Scope), Audience: aud,
		Expiry: unix(*c.Expiry), Claims: all}
	if c.Cnf != nil {
		if c.Cnf.JKT == "" {
			return bad("the access token's cnf has no jkt")
		}
		t.JKT = c.Cnf.JKT
	}
	return t, nil
}

func unix(f float64) time.Time { return time.Unix(int64(f), 0) }

func audience(raw json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	err := json.Unmarshal(raw, &many)
	return many, err
}

// headerType is a compact JWS's typ header, "" if unreadable.
func headerType(tok string) string {
	h, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var hdr struct {
		Typ string `json:"typ"`
	}
	json.Unmarshal(raw, &hdr)
	return hdr.Typ
}

type ctxKey struct{}

// FromContext returns the token Middleware put in ctx.
func FromContext(ctx context.Context) (Token, bool) {
	t, ok := ctx.Value(ctxKey{}).(Token)
	return t, ok
}

// Middleware serves next only requests with an acceptable token, which
// FromContext then returns; others get the Error's status (401; 400 for a
// malformed Authorization header) with WWW-Authenticate as RFC 6750 §3
// and RFC 9449 §7.1 say (and a fresh DPoP-Nonce when the DPoP verifier
// asks for nonces).
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := v.Verify(r)
		var e *Error
		switch {
		case errors.As(err, &e) && e.Status == http.StatusServiceUnavailable:
			http.Error(w, "the token issuer's keys are unavailable", http.StatusServiceUnavailable)
			return
		case errors.As(err, &e):
			v.Challenge(w.Header(), e)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(e.Status)
			if e.Code != "" {
				json.NewEncoder(w).Encode(map[string]string{"error": e.Code, "error_description": e.Description})
			}
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, t)))
	})
}

// Challenge sets the WWW-Authenticate (and DPoP-Nonce) headers for e.
// With no token sent, both schemes are offered.
func (v *Verifier) Challenge(h http.Header, e *Error) {
	v.dpop.WriteChallenge(h, url.PathEscape(v.cfg.Audience), e)
}
