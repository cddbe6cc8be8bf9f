package protocol

import (
	"errors"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// handleUserinfo answers OIDC Core §5.3 with the claims the access token's
// scopes allow; errors per RFC 6750 §3.
func (p *Server) handleUserinfo(c *gin.Context) {
	ctx := c.Request.Context()
	unauthorized := func(code, desc string) {
		h := `Bearer realm="portico"`
		if code != "" {
			h += `, error="` + code + `", error_description="` + desc + `"`
		}
		c.Header("WWW-Authenticate", h)
		c.Header("Cache-Control", "no-store")
		status := http.StatusUnauthorized
		if code == "insufficient_scope" {
			status = http.StatusForbidden
		}
		body := gin.H{}
		if code != "" {
			body = gin.H{"error": code, "error_description": desc}
		}
		c.JSON(status, body)
	}
	h := c.GetHeader("Authorization")
	if h == "" {
		unauthorized("", "") // §3.1: no error code when no credentials were sent
		return
	}
	tok, ok := core.BearerToken(h)
	if !ok {
		unauthorized("invalid_request", "malformed Authorization header")
		return
	}
	a, err := p.tokens.VerifyAccess(ctx, tok)
	if errors.Is(err, tokensvc.ErrInvalidToken) {
		unauthorized("invalid_token", "the access token is invalid or expired")
		return
	} else if err != nil {
		p.log.Error("userinfo: verify", "err", err)
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "temporarily_unavailable"})
		return
	}
	if !slices.Contains(a.Scopes, "openid") {
		unauthorized("insufficient_scope", "the openid scope is required")
		return
	}
	user, err := p.store.GetUser(ctx, a.Subject)
	if errors.Is(err, store.ErrNotFound) || (err == nil && user.Disabled) {
		unauthorized("invalid_token", "the access token is invalid or expired")
		return
	} else if err != nil {
		p.log.Error("userinfo: read user", "err", err)
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "temporarily_unavailable"})
		return
	}
	var extra []string
	if p.ident.CustomScopes(a.Scopes) {
		client, err := p.store.GetClient(ctx, a.ClientID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			p.log.Error("userinfo: read client", "err", err)
			c.JSON(http.StatusServiceUnavailable, gin.H{"error": "temporarily_unavailable"})
			return
		}
		extra = client.ExtraScopes // a client since deleted gets no custom claims
	}
	cl := p.ident.Claims(user, a.Scopes, extra)
	resp := gin.H{"sub": user.ID}
	if cl.Email != "" {
		resp["email"], resp["email_verified"] = cl.Email, *cl.EmailVerified
	}
	if cl.Name != "" {
		resp["name"] = cl.Name
	}
	if cl.PreferredUsername != "" {
		resp["preferred_username"] = cl.PreferredUsername
	}
	if slices.Contains(a.Scopes, "groups") {
		resp["groups"] = cl.Groups
	}
	for k, v := range cl.Extra {
		if _, taken := resp[k]; !taken {
			resp[k] = v
		}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resp)
}
