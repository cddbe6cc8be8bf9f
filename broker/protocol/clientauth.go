package protocol

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
)

// tokenError is an RFC 6749 §5.2 error response.
type tokenError struct {
	status      int
	code, desc  string
	basicFailed bool   // answer with WWW-Authenticate: Basic
	retryAfter  string // seconds, for a 429
}

func (e *tokenError) Error() string { return e.code + ": " + e.desc }

func invalidRequest(desc string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: "invalid_request", desc: desc}
}

func invalidGrant(desc string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: "invalid_grant", desc: desc}
}

func (p *Server) writeTokenError(c *gin.Context, e *tokenError) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	// A 401 names a scheme (RFC 7235 §3.1), whichever way the client
	// authenticated: Basic, the one that is an HTTP scheme (RFC 6749 §5.2).
	if e.basicFailed || e.status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Basic realm="portico", charset="UTF-8"`)
	}
	if e.retryAfter != "" {
		c.Header("Retry-After", e.retryAfter)
	}
	body := gin.H{"error": e.code}
	if e.desc != "" {
		body["error_description"] = core.Description(e.desc)
	}
	c.JSON(e.status, body)
}

// authenticateClient identifies the client of a token-endpoint request by
// client_secret_basic, client_secret_post, a JWT (client_secret_jwt,
// private_key_jwt: clientjwt.go) or (public clients) client_id alone
// (RFC 6749 §2.3.1, §3.2.1).
func (p *Server) authenticateClient(c *gin.Context) (store.Client, *tokenError) {
	form := c.Request.PostForm
	if len(c.Request.Header.Values("Authorization")) > 1 { // which one counts would be a guess
		return store.Client{}, invalidRequest("more than one Authorization header")
	}
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		return p.authenticateAssertion(c) // clientjwt.go
	}
	id, secret, basic := c.Request.BasicAuth()
	if basic {
		// §2.3.1: id and secret are form-urlencoded inside the header.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return store.Client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", desc: "malformed basic credentials", basicFailed: true}
		}
		if form.Has("client_secret") {
			return store.Client{}, invalidRequest("use one client authentication method, not two")
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			return store.Client{}, invalidRequest("client_id does not match the authenticated client")
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" {
		if strings.HasPrefix(c.GetHeader("Authorization"), "Basic") {
			return store.Client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", desc: "malformed basic credentials", basicFailed: true}
		}
		return store.Client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", desc: "client authentication is required"}
	}
	ctx := c.Request.Context()
	keys := ClientThrottleKeys(id, c.ClientIP())
	if d, err := p.clientThrottlePeek(ctx, keys); err != nil {
		return store.Client{}, serverError("try again later")
	} else if !d.Allowed {
		return store.Client{}, &tokenError{status: http.StatusTooManyRequests, code: "temporarily_unavailable",
			desc: "too many failed client authentications; retry after " + d.RetryAfterHeader() + " s", retryAfter: d.RetryAfterHeader()}
	}
	fail := &tokenError{status: http.StatusUnauthorized, code: "invalid_client", desc: "client authentication failed", basicFailed: basic}
	failed := func() (store.Client, *tokenError) {
		p.clientAuthFailed(ctx, keys)
		return store.Client{}, fail
	}
	client, err := p.store.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		// Hash anyway so an unknown id costs what a wrong secret does.
		subtle.ConstantTimeCompare([]byte(core.HashClientSecret(secret)), []byte(core.HashClientSecret("")))
		return failed()
	} else if err != nil {
		p.log.Error("token: read client", "client_id", id, "err", err)
		return store.Client{}, &tokenError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: "try again later"}
	}
	if client.Public {
		if secret != "" {
			return failed()
		}
		return client, nil
	}
	if secret == "" || subtle.ConstantTimeCompare([]byte(core.HashClientSecret(secret)), []byte(client.SecretHash)) != 1 {
		return failed()
	}
	// A client registered for JWT authentication never sends its secret.
	if client.AuthMethod == config.AuthSecretJWT || client.AuthMethod == config.AuthPrivateKeyJWT {
		return failed()
	}
	return client, nil
}

// Scopes of the client-authentication throttle's keys (ClientThrottle):
// failures per client id (known or not) from one address, and per address
// across ids. Not per client id alone: anyone can name a client, and its
// failures from everywhere would let them keep it shut out (a back-off
// renewed by a guess each Retry-After is a lock). With 256-bit secrets
// guessing from many addresses is no threat; an address spraying ids is
// caught by its own key.
const (
	ScopeClient   = "client"
	ScopeClientIP = "client-ip"
)

// ClientThrottleKeys are the throttle keys of a client's failed authentication
// from addr: the client at that address, and the address.
func ClientThrottleKeys(id, addr string) []throttle.Key {
	ip := throttle.IP(addr).ID
	return []throttle.Key{{Scope: ScopeClient, ID: id + " " + ip}, {Scope: ScopeClientIP, ID: ip}}
}

// clientThrottlePeek says whether keys may try to authenticate. The keys
// are looked at, not reserved: a secret of 256 bits does not fall to a
// burst, and reserving would cost every token request a write.
func (p *Server) clientThrottlePeek(ctx context.Context, keys []throttle.Key) (throttle.Decision, error) {
	if p.opts.ClientThrottle == nil {
		return throttle.Decision{Allowed: true}, nil
	}
	d, err := p.opts.ClientThrottle.Peek(ctx, keys...)
	if err != nil {
		p.log.Error("client authentication: throttle", "err", err)
	}
	return d, err
}

// clientAuthFailed counts a failed client authentication on keys.
func (p *Server) clientAuthFailed(ctx context.Context, keys []throttle.Key) {
	if p.opts.ClientThrottle == nil {
		return
	}
	if err := p.opts.ClientThrottle.Fail(ctx, keys...); err != nil {
		p.log.Error("client authentication: record failure", "err", err)
	}
}
