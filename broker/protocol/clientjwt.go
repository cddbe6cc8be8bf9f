package protocol

// JWT client authentication: private_key_jwt and client_secret_jwt
// (RFC 7523 §2.2 and §3, RFC 7521 §4.2, OpenID Connect Core §9) at every
// endpoint that authenticates clients (formClient).

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
)

const (
	// assertionTypeJWT is the client_assertion_type of RFC 7523 §2.2.
	assertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// maxAssertionBytes bounds a client_assertion; real ones are under
	// 2 KiB.
	maxAssertionBytes = 16 << 10
	// AssertionMaxLifetime is the longest an assertion may live: exp at
	// most this far after iat and after now. Its jti is remembered that
	// long, so a short bound keeps the replay records few.
	AssertionMaxLifetime = 10 * time.Minute
	// assertionLeeway is the clock skew allowed on exp, nbf and iat.
	assertionLeeway = time.Minute
	maxJTILength    = 256
	// jtiKind is the store record of a spent jti, shared by replicas.
	jtiKind = "client-jti"
)

var (
	privateKeyAlgs = joseAlgs(config.PrivateKeyJWTAlgs)
	secretAlgs     = joseAlgs(config.SecretJWTAlgs)
	assertionAlgs  = append(slices.Clone(privateKeyAlgs), secretAlgs...)
)

func joseAlgs(names []string) []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(names))
	for i, n := range names {
		out[i] = jose.SignatureAlgorithm(n)
	}
	return out
}

// clientAssertion is a client_assertion parsed but not yet verified.
type clientAssertion struct {
	tok    *jwt.JSONWebToken
	alg    string
	kid    string
	claims jwt.Claims // unverified
}

// parseClientAssertion decodes raw and checks what can be checked before
// its client is known: the size, a supported algorithm (never "none"), and
// iss equal to sub, the client id (RFC 7523 §3).
func parseClientAssertion(raw string) (*clientAssertion, error) {
	if len(raw) > maxAssertionBytes {
		return nil, errors.New("the client assertion is too large")
	}
	tok, err := jwt.ParseSigned(raw, assertionAlgs)
	if err != nil {
		return nil, errors.New("the client assertion is not a JWS signed with a supported algorithm")
	}
	if len(tok.Headers) != 1 {
		return nil, errors.New("the client assertion must have one signature")
	}
	a := &clientAssertion{tok: tok, alg: tok.Headers[0].Algorithm, kid: tok.Headers[0].KeyID}
	if err := tok.UnsafeClaimsWithoutVerification(&a.claims); err != nil {
		return nil, errors.New("the client assertion's claims are malformed")
	}
	if a.claims.Issuer == "" || a.claims.Issuer != a.claims.Subject {
		return nil, errors.New("the client assertion's iss and sub must both be the client id")
	}
	return a, nil
}

// authenticateAssertion is authenticateClient for a request that carries
// client_assertion (RFC 7521 §4.2). Every failure is invalid_client and
// counts in the client-authentication throttle.
func (p *Server) authenticateAssertion(c *gin.Context) (store.Client, *tokenError) {
	form := c.Request.PostForm
	if _, _, basic := c.Request.BasicAuth(); basic || form.Has("client_secret") || c.GetHeader("Authorization") != "" {
		return store.Client{}, invalidRequest("use one client authentication method, not two")
	}
	if form.Get("client_assertion") == "" || form.Get("client_assertion_type") == "" {
		return store.Client{}, invalidRequest("client_assertion and client_assertion_type go together")
	}
	unauth := func(desc string) *tokenError {
		return &tokenError{status: http.StatusUnauthorized, code: "invalid_client", desc: desc}
	}
	ctx := c.Request.Context()
	// Until the assertion names a client, failures count per address.
	anon := ClientThrottleKeys("", c.ClientIP())[1:]
	if d, err := p.clientThrottlePeek(ctx, anon); err != nil {
		return store.Client{}, serverError("try again later")
	} else if !d.Allowed {
		return store.Client{}, throttledClient(d.RetryAfterHeader())
	}
	if form.Get("client_assertion_type") != assertionTypeJWT {
		p.clientAuthFailed(ctx, anon)
		return store.Client{}, unauth("unsupported client_assertion_type")
	}
	a, err := parseClientAssertion(form.Get("client_assertion"))
	if err != nil {
		p.clientAuthFailed(ctx, anon)
		return store.Client{}, unauth(err.Error())
	}
	id := a.claims.Subject
	if fid := form.Get("client_id"); fid != "" && fid != id {
		p.clientAuthFailed(ctx, anon)
		return store.Client{}, unauth("client_id is not the client assertion's sub")
	}
	keys := ClientThrottleKeys(id, c.ClientIP())
	if d, err := p.clientThrottlePeek(ctx, keys); err != nil {
		return store.Client{}, serverError("try again later")
	} else if !d.Allowed {
		return store.Client{}, throttledClient(d.RetryAfterHeader())
	}
	failed := func(desc, reason string) (store.Client, *tokenError) {
		p.log.Info("client assertion refused", "client_id", id, "reason", reason)
		p.clientAuthFailed(ctx, keys)
		return store.Client{}, unauth(desc)
	}
	const generic = "client authentication failed"
	client, err := p.store.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return failed(generic, "unknown client")
	} else if err != nil {
		p.log.Error("token: read client", "client_id", id, "err", err)
		return store.Client{}, serverError("try again later")
	}
	var claims jwt.Claims
	switch client.AuthMethod {
	case config.AuthSecretJWT:
		if client.JWTSecret == "" || !slices.Contains(config.SecretJWTAlgs, a.alg) ||
			a.tok.Claims([]byte(client.JWTSecret), &claims) != nil {
			return failed(generic, "bad client_secret_jwt signature or algorithm")
		}
	case config.AuthPrivateKeyJWT:
		if !slices.Contains(config.PrivateKeyJWTAlgs, a.alg) || !fapiAlg(client, a.alg) {
			return failed(generic, "algorithm "+a.alg+" is not one of private_key_jwt (or of the client's profile)")
		}
		ok, err := p.verifyWithClientKeys(ctx, client, a, &claims)
		if err != nil {
			p.log.Warn("client keys unavailable", "client_id", id, "err", err)
			return failed(generic, "no keys")
		}
		if !ok {
			return failed(generic, "no key of the client verifies the signature")
		}
	default:
		return failed(generic, "the client is not registered for JWT client authentication")
	}
	// The signature holds: the client itself made this assertion, so the
	// answers below may say what is wrong with it.
	if desc := p.checkAssertionClaims(c, id, claims); desc != "" {
		return failed(desc, desc)
	}
	// FAPI 2.0 §5.3.2.1: the issuer, as a string, so that an assertion
	// made for another server (audience injection) is never one for
	// Portico. The signature holds, so reading the claim again is safe.
	if fapi2(client) {
		var raw struct {
			Aud json.RawMessage `json:"aud"`
		}
		var aud string
		if a.tok.UnsafeClaimsWithoutVerification(&raw) != nil || json.Unmarshal(raw.Aud, &aud) != nil || aud != p.opts.Issuer {
			return failed("this client (profile fapi2) must send the issuer, as a string, as its assertion's aud", "fapi2 aud")
		}
	}
	switch err := p.spendJTI(ctx, id, claims); {
	case errors.Is(err, store.ErrAlreadyExists):
		p.audit.Request(c, store.AuditEvent{Type: audit.AssertionReplay, Actor: audit.Client(id), ClientID: id,
			Details: map[string]string{"assertion": "client_assertion"}})
		return failed("the client assertion was already used (jti)", "jti replay")
	case err != nil:
		p.log.Error("client assertion: record jti", "client_id", id, "err", err)
		return store.Client{}, serverError("try again later")
	}
	return client, nil
}

func throttledClient(retry string) *tokenError {
	return &tokenError{status: http.StatusTooManyRequests, code: "temporarily_unavailable",
		desc: "too many failed client authentications; retry after " + retry + " s", retryAfter: retry}
}

// verifyWithClientKeys verifies a's signature with one of the client's
// keys that fits its kid and alg, into each of out (as jwt's Claims).
// Keys from a jwks_uri are fetched again once when none fits (the client
// rotated its keys). Client assertions and request objects (jar.go) use
// it.
func (p *Server) verifyWithClientKeys(ctx context.Context, client store.Client, a *clientAssertion, out ...any) (bool, error) {
	for _, refresh := range []bool{false, true} {
		var keys []config.JWK
		switch {
		case client.JWKSURI != "":
			var err error
			if keys, err = p.clientKeys.get(ctx, client.JWKSURI, refresh, p.guarded(client)); err != nil {
				return false, err
			}
		case refresh:
			return false, nil
		default:
			keys, _ = config.ParseJWKS(client.JWKS)
		}
		fits := false
		for _, k := range keys {
			if !k.Usable() || (a.kid != "" && k.Key.KeyID != a.kid) || !config.KeyFitsAlg(k.Key, a.alg) {
				continue
			}
			fits = true
			if a.tok.Claims(k.Key.Key, out...) == nil {
				return true, nil
			}
		}
		if fits {
			return false, nil // a key that should verify did not: no refetch
		}
	}
	return false, nil
}

// checkAssertionClaims returns what is wrong with a verified assertion's
// claims (RFC 7523 §3), or "".
func (p *Server) checkAssertionClaims(c *gin.Context, id string, cl jwt.Claims) string {
	now := p.opts.Now()
	endpoint := p.url(strings.TrimPrefix(c.Request.URL.Path, p.path("")))
	switch {
	case cl.Expiry == nil:
		return "the client assertion must have exp"
	case cl.ID == "":
		return "the client assertion must have jti"
	case len(cl.ID) > maxJTILength:
		return "the client assertion's jti is too long"
	}
	// aud: the issuer (OpenID Connect Core errata, RFC 7523bis), the token
	// endpoint (RFC 7523 §3), or the endpoint called.
	err := cl.ValidateWithLeeway(jwt.Expected{
		Issuer: id, Subject: id, Time: now,
		AnyAudience: jwt.Audience{p.opts.Issuer, p.url("/token"), endpoint},
	}, assertionLeeway)
	switch {
	case errors.Is(err, jwt.ErrInvalidAudience):
		return "the client assertion's aud must be the issuer, the token endpoint or the endpoint called"
	case errors.Is(err, jwt.ErrExpired):
		return "the client assertion has expired"
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return "the client assertion is not valid yet"
	case err != nil:
		return "the client assertion's claims are invalid"
	}
	exp := cl.Expiry.Time()
	if exp.Sub(now) > AssertionMaxLifetime+assertionLeeway ||
		(cl.IssuedAt != nil && exp.Sub(cl.IssuedAt.Time()) > AssertionMaxLifetime) {
		return "the client assertion lives too long (at most " + AssertionMaxLifetime.String() + ")"
	}
	return ""
}

// spendJTI records the assertion's jti until it has expired: a create,
// which fails with store.ErrAlreadyExists on every replica for a replay.
func (p *Server) spendJTI(ctx context.Context, id string, cl jwt.Claims) error {
	return p.store.PutRecord(ctx, store.Record{
		Kind: jtiKind, Key: id + " " + core.HashString(cl.ID), Value: []byte("{}"),
		Expiry: cl.Expiry.Time().Add(assertionLeeway),
	})
}
