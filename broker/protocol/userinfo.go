package protocol

import (
	"errors"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
)

// handleUserinfo answers OIDC Core §5.3 with the claims the access token's
// scopes allow; errors per RFC 6750 §3.
func (p *Server) handleUserinfo(c *gin.Context) {
	ctx := c.Request.Context()
	c.Header("Cache-Control", "no-store")
	refuse := func(f *core.AuthFailure) {
		p.res.Challenge(c.Writer.Header(), f)
		body := gin.H{}
		if f.Code != "" {
			body = gin.H{"error": f.Code, "error_description": core.Description(f.Description)}
		}
		c.JSON(f.Status, body)
	}
	// Bearer or DPoP (RFC 6750 §2.1, RFC 9449 §7); no credentials at
	// all is a 401 without an error code (RFC 6750 §3.1).
	a, f := p.res.Check(c.Request)
	if f != nil && f.Status == http.StatusServiceUnavailable {
		p.log.Error("userinfo: verify", "err", f.Err)
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "temporarily_unavailable"})
		return
	}
	if f != nil {
		refuse(f)
		return
	}
	if !slices.Contains(a.Scopes, "openid") {
		p.res.Forbidden(c.Writer.Header(), a, "the openid scope is required", "openid")
		c.JSON(http.StatusForbidden, gin.H{"error": "insufficient_scope", "error_description": "the openid scope is required"})
		return
	}
	// A token of a client since deleted is dead here as at /introspect.
	client, stands, err := p.tokenClient(ctx, a)
	if err != nil {
		p.log.Error("userinfo: read client", "err", err)
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "temporarily_unavailable"})
		return
	}
	user, err := p.store.GetUser(ctx, a.Subject)
	if !stands || errors.Is(err, store.ErrNotFound) || (err == nil && user.Disabled) {
		refuse(&core.AuthFailure{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the access token is invalid or expired", DPoP: a.JKT != ""})
		return
	} else if err != nil {
		p.log.Error("userinfo: read user", "err", err)
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "temporarily_unavailable"})
		return
	}
	cl := p.ident.Claims(user, a.Scopes, client.ExtraScopes)
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
