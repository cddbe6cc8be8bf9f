package protocol

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// repeatable are the token endpoint's parameters that may repeat.
var repeatable = map[string]bool{"resource": true, "audience": true}

// formClient parses a client-authenticated POST form (token, revocation and
// introspection endpoints) and authenticates its client. On failure it has
// answered already. The body was bounded before (the broker's body.go).
func (p *Server) formClient(c *gin.Context) (store.Client, bool) {
	if !strings.EqualFold(c.ContentType(), "application/x-www-form-urlencoded") { // media types ignore case (RFC 9110 §8.3.1)
		p.writeTokenError(c, invalidRequest("the body must be application/x-www-form-urlencoded"))
		return store.Client{}, false
	}
	if err := c.Request.ParseForm(); err != nil {
		p.writeTokenError(c, invalidRequest("the body could not be parsed"))
		return store.Client{}, false
	}
	for k, v := range c.Request.PostForm {
		// RFC 6749 §3.2: parameters must not repeat, but for those
		// defined to (RFC 8707 resource, RFC 8693 audience).
		if len(v) > 1 && !repeatable[k] {
			p.writeTokenError(c, invalidRequest("parameter "+k+" repeated"))
			return store.Client{}, false
		}
	}
	client, terr := p.authenticateClient(c)
	if terr != nil {
		p.writeTokenError(c, terr)
		return store.Client{}, false
	}
	return client, true
}

// handleRevoke is RFC 7009: the client's own tokens end; anything else,
// known or not, gets the same 200.
func (p *Server) handleRevoke(c *gin.Context) {
	client, ok := p.formClient(c)
	if !ok {
		return
	}
	tok := c.Request.PostForm.Get("token")
	if tok == "" {
		p.writeTokenError(c, invalidRequest("token is required"))
		return
	}
	if err := p.tokens.Revoke(c.Request.Context(), client.ID, tok, c.Request.PostForm.Get("token_type_hint")); err != nil {
		p.log.Error("revoke", "client_id", client.ID, "err", err)
		p.writeTokenError(c, serverError("try again later")) // §2.2.1: 503, retry
		return
	}
	p.log.Info("token revocation", "client_id", client.ID)
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
}

// handleIntrospect is RFC 7662. An inactive token's answer says only that,
// whether it is unknown, expired, revoked or malformed.
func (p *Server) handleIntrospect(c *gin.Context) {
	client, ok := p.formClient(c)
	if !ok {
		return
	}
	if client.Public || client.NoIntrospection {
		p.writeTokenError(c, &tokenError{status: http.StatusForbidden, code: "unauthorized_client", desc: "this client may not introspect tokens"})
		return
	}
	tok := c.Request.PostForm.Get("token")
	if tok == "" {
		p.writeTokenError(c, invalidRequest("token is required"))
		return
	}
	ctx := c.Request.Context()
	in, err := p.tokens.Introspect(ctx, client.ID, tok, client.Policy())
	if err == nil && in.Active {
		_, in.Active, err = p.tokenClient(ctx, in.Access)
	}
	if err != nil {
		p.log.Error("introspect", "client_id", client.ID, "err", err)
		p.writeTokenError(c, serverError("try again later"))
		return
	}
	c.Header("Cache-Control", "no-store")
	// RFC 7662 §4: a client learns about a token only if it is one of the
	// token's audiences (by its id, or as the resource server its
	// resource_uris name), unless configured as a resource server for all.
	// Refresh tokens are answered to their own client alone (tokensvc).
	// The admin API's audience is no client's, whatever a client is named.
	if in.Active && in.TokenType != "refresh_token" && !client.IntrospectAny && !audienceOf(in.Access.Audience, client, p.opts.Issuer) {
		in.Active = false
	}
	if !in.Active {
		c.JSON(http.StatusOK, gin.H{"active": false})
		return
	}
	a := in.Access
	resp := gin.H{
		"active": true, "token_type": in.TokenType, "client_id": a.ClientID, "sub": a.Subject,
		"exp": a.ExpiresAt.Unix(), "iat": a.IssuedAt.Unix(), "iss": p.opts.Issuer,
	}
	if len(a.Scopes) > 0 {
		resp["scope"] = strings.Join(a.Scopes, " ")
	}
	if len(a.Audience) > 0 {
		resp["aud"] = a.Audience
	}
	if a.Username != "" {
		resp["username"] = a.Username
	}
	if a.JTI != "" {
		resp["jti"] = a.JTI
	}
	if a.Session != "" {
		resp["sid"] = a.Session
	}
	if a.JKT != "" { // RFC 9449 §6.2: the resource server checks the proof's key
		resp["cnf"] = gin.H{"jkt": a.JKT}
	}
	if !a.AuthTime.IsZero() {
		resp["auth_time"] = a.AuthTime.Unix()
	}
	if len(a.Groups) > 0 {
		resp["groups"] = a.Groups
	}
	if a.Act != nil { // token exchange (RFC 8693 §4.1)
		resp["act"] = a.Act
	}
	c.JSON(http.StatusOK, resp)
}

// tokenClient returns the client a token was issued to, and whether it
// still stands: deleting a client ends its tokens, and one created again
// with its id is another client (Client.NewerThan; the token endpoint
// refuses the old sessions and codes too).
func (p *Server) tokenClient(ctx context.Context, a tokensvc.Access) (store.Client, bool, error) {
	cl, err := p.store.GetClient(ctx, a.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Client{}, false, nil
	} else if err != nil {
		return store.Client{}, false, fmt.Errorf("read the token's client: %w", err)
	}
	return cl, !cl.NewerThan(a.IssuedAt), nil
}

// audienceOf reports whether client is one of the audiences aud: by its id
// or one of its resource URIs, never as the admin API.
func audienceOf(aud []string, client store.Client, issuer string) bool {
	if client.ID == core.AdminAudience(issuer) {
		return false
	}
	return slices.Contains(aud, client.ID) || slices.ContainsFunc(client.ResourceURIs, func(r string) bool {
		return r != core.AdminAudience(issuer) && slices.Contains(aud, r)
	})
}
