package protocol

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/tokensvc"
	"github.com/portico-idp/portico/tokensvc/dpop"
)

// maxFormBytes bounds a body of the token, revocation, introspection and
// userinfo endpoints. Most are a few hundred bytes, but /revoke,
// /introspect and /userinfo carry a token, and a token Portico issued
// within its identity limits may be 180,000 bytes (docs/identity.md):
// each must be revocable and introspectable.
const maxFormBytes = 256 << 10

func (p *Server) handleToken(c *gin.Context) {
	if p.askNonce(c) {
		return
	}
	client, ok := p.formClient(c)
	if !ok {
		return
	}
	// The rate limit counts authenticated clients only: anyone could spend
	// a client's budget by naming it.
	if p.opts.TokenRate != nil {
		d, err := p.opts.TokenRate.Allow(c.Request.Context(), throttle.Key{Scope: "client", ID: client.ID})
		if err != nil {
			p.log.Error("token: rate limit", "err", err)
		} else if !d.Allowed {
			c.Header("Retry-After", d.RetryAfterHeader())
			p.writeTokenError(c, &tokenError{status: http.StatusTooManyRequests, code: "temporarily_unavailable",
				desc: "too many token requests from this client; retry after " + d.RetryAfterHeader() + " s"})
			return
		}
	}
	grant := c.Request.PostForm.Get("grant_type")
	if grant == "" {
		p.writeTokenError(c, invalidRequest("grant_type is required"))
		return
	}
	if !slices.Contains([]string{"authorization_code", "refresh_token", "client_credentials", core.GrantTokenExchange, core.GrantDeviceCode}, grant) {
		p.writeTokenError(c, &tokenError{status: http.StatusBadRequest, code: "unsupported_grant_type", desc: "unsupported grant_type " + grant})
		return
	}
	// A refused token exchange is refused by exchangeGrant, which audits it.
	if !slices.Contains(client.GrantTypes, grant) && grant != core.GrantTokenExchange {
		p.writeTokenError(c, &tokenError{status: http.StatusBadRequest, code: "unauthorized_client", desc: "the client may not use " + grant})
		return
	}
	jkt, perr := p.tokenProof(c, client, "/token")
	if perr != nil {
		p.writeTokenError(c, perr)
		return
	}
	if jkt == "" && requiresDPoP(client) {
		p.writeTokenError(c, &tokenError{status: http.StatusBadRequest, code: "invalid_dpop_proof",
			desc: "this client's tokens must be DPoP-bound: send a DPoP proof (RFC 9449)"})
		return
	}
	c.Set(jktKey, jkt)
	var (
		t      tokensvc.Tokens
		err    *tokenError
		issued string // issued_token_type, for token exchange
	)
	switch grant {
	case "authorization_code":
		t, err = p.codeGrant(c, client)
	case "refresh_token":
		t, err = p.refreshGrant(c, client)
	case "client_credentials":
		t, err = p.clientCredentialsGrant(c, client)
	case core.GrantTokenExchange: // RFC 8693 (exchange.go)
		t, issued, err = p.exchangeGrant(c, client)
	case core.GrantDeviceCode: // RFC 8628 (device.go)
		t, err = p.deviceCodeGrant(c, client)
	}
	if err != nil {
		p.writeTokenError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	typ := "Bearer"
	if t.JKT != "" {
		typ = dpop.Scheme // RFC 9449 §5
	}
	resp := gin.H{"access_token": t.AccessToken, "token_type": typ, "expires_in": int(t.ExpiresIn.Seconds())}
	if len(t.Scopes) > 0 { // none granted, none named
		resp["scope"] = strings.Join(t.Scopes, " ")
	}
	if t.IDToken != "" {
		resp["id_token"] = t.IDToken
	}
	if t.RefreshToken != "" {
		resp["refresh_token"] = t.RefreshToken
	}
	if issued != "" {
		resp["issued_token_type"] = issued
	}
	c.JSON(http.StatusOK, resp)
}

func serverError(desc string) *tokenError {
	return &tokenError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: desc}
}

// codeGrant redeems an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.6).
func (p *Server) codeGrant(c *gin.Context, client store.Client) (tokensvc.Tokens, *tokenError) {
	ctx := c.Request.Context()
	form := c.Request.PostForm
	raw := form.Get("code")
	if raw == "" {
		return tokensvc.Tokens{}, invalidRequest("code is required")
	}
	code, err := p.store.GetAuthCode(ctx, core.HashString(raw))
	// The store drops a code at its expiry, but by its own clock and (in
	// Badger) to the second; the broker's clock decides to the instant.
	if err == nil && !p.opts.Now().Before(code.Expiry) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return tokensvc.Tokens{}, invalidGrant("the code is invalid or expired")
	} else if err != nil {
		p.log.Error("token: read code", "err", err)
		return tokensvc.Tokens{}, serverError("try again later")
	}
	// A code older than the client was issued to another client of its
	// id, since deleted (as refreshGrant's session older than its client).
	if code.ClientID != client.ID || client.NewerThan(code.IssuedAt) {
		return tokensvc.Tokens{}, invalidGrant("the code was issued to another client")
	}
	if code.Used {
		p.audit.Request(c, store.AuditEvent{Type: audit.CodeReplay, Actor: audit.Client(client.ID), UserID: code.UserID,
			ClientID: client.ID, ConnectorID: code.ConnectorID, Details: map[string]string{"session": code.FamilyID}})
		p.revokeCodeTokens(c, code)
		// Say so: the client's first tokens stop working too, which would
		// otherwise look like a fault (issue 19).
		return tokensvc.Tokens{}, invalidGrant("the code was already used; the tokens issued for it have been revoked")
	}
	// RFC 6749 §4.1.3: required if the authorization request had it.
	if got := form.Get("redirect_uri"); got != code.RedirectURI && !(got == "" && code.RedirectURIOmitted) {
		return tokensvc.Tokens{}, invalidGrant("redirect_uri does not match the authorization request")
	}
	verifier := form.Get("code_verifier")
	switch {
	case code.CodeChallenge == "" && verifier != "":
		return tokensvc.Tokens{}, invalidGrant("code_verifier given but no code_challenge was")
	case code.CodeChallenge != "" && verifier == "":
		return tokensvc.Tokens{}, invalidGrant("code_verifier is required")
	case code.CodeChallenge != "" && !pkceMatches(verifier, code.CodeChallenge):
		return tokensvc.Tokens{}, invalidGrant("code_verifier does not match the code_challenge")
	}
	// RFC 9449 §10: a code bound to a key at the authorization request
	// (dpop_jkt, or the proof sent to /par) is redeemed with that key.
	if code.DPoPJKT != "" && code.DPoPJKT != c.GetString(jktKey) {
		if c.GetString(jktKey) == "" {
			return tokensvc.Tokens{}, &tokenError{status: http.StatusBadRequest, code: "invalid_dpop_proof",
				desc: "the code is bound to a DPoP key: send a DPoP proof of it"}
		}
		return tokensvc.Tokens{}, invalidGrant("the code is bound to another DPoP key")
	}
	user, err := p.store.GetUser(ctx, code.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && user.Disabled) {
		return tokensvc.Tokens{}, invalidGrant("the user is no longer active")
	} else if err != nil {
		p.log.Error("token: read user", "err", err)
		return tokensvc.Tokens{}, serverError("try again later")
	}
	resources, terr := p.tokenResources(form["resource"], code.Resources, client.Resources)
	if terr != nil {
		return tokensvc.Tokens{}, terr
	}
	g := p.userGrant(user, client, code.Scopes)
	g.Nonce, g.AuthTime, g.AMR, g.ConnectorID = code.Nonce, code.AuthTime, code.AMR, code.ConnectorID
	// The session keeps what the authorization named, even when this
	// request narrowed it; none named (not nil: no fallback to this
	// request's) leaves refreshes the client's resources, as here.
	g.Resources, g.GrantedResources = resources, append([]string{}, code.Resources...)
	// The session was named when the code was issued (by the journey).
	g.AccessJTI, g.FamilyID = tokensvc.NewID(), cmp.Or(code.FamilyID, tokensvc.NewID())
	p.bind(c, client, &g)
	// Spend the code before minting, recording the ids the tokens will have,
	// so that a racing replay either loses here or finds them to revoke.
	code.Used, code.FamilyID, code.AccessJTIs = true, g.FamilyID, []string{g.AccessJTI}
	if err := p.store.UpdateAuthCode(ctx, code); errors.Is(err, store.ErrConflict) {
		return tokensvc.Tokens{}, invalidGrant("the code was already used")
	} else if err != nil {
		p.log.Error("token: spend code", "err", err)
		return tokensvc.Tokens{}, serverError("try again later")
	}
	t, err := p.tokens.Issue(ctx, g)
	if errors.Is(err, tokensvc.ErrInvalidGrant) {
		// The session the code named ended before the code was redeemed:
		// a logout, or an administrator ending the user's sessions.
		return tokensvc.Tokens{}, invalidGrant("the login's session has ended")
	} else if err != nil {
		p.log.Error("token: issue", "err", err)
		return tokensvc.Tokens{}, serverError("try again later")
	}
	p.auditTokens(c, audit.TokenIssue, "authorization_code", client.ID, user.ID, code.ConnectorID, t)
	return t, nil
}

// auditTokens records tokens issued to client: their scopes and session,
// never the tokens themselves.
func (p *Server) auditTokens(c *gin.Context, typ, grant, clientID, userID, connectorID string, t tokensvc.Tokens) {
	d := map[string]string{"grant_type": grant, "scope": strings.Join(t.Scopes, " ")}
	if t.FamilyID != "" {
		d["session"] = t.FamilyID
	}
	e := store.AuditEvent{Type: typ, Actor: audit.Client(clientID), UserID: userID, ClientID: clientID,
		ConnectorID: connectorID, Details: d}
	// Only if the tokens go out: an answer that stood on a write whose
	// sync then failed becomes a 503 (broker/durable.go).
	store.AfterAnswer(c.Request.Context(), func() { p.audit.Request(c, e) })
}

// revokeCodeTokens ends what a replayed code issued (RFC 6749 §4.1.2: the
// server SHOULD revoke all tokens previously issued from that code).
func (p *Server) revokeCodeTokens(c *gin.Context, code store.AuthCode) {
	ctx := c.Request.Context()
	p.log.Warn("security: authorization code replayed; revoking its tokens",
		"event", "code_replay", "client_id", code.ClientID, "user", code.UserID)
	if code.FamilyID != "" {
		if err := p.tokens.RevokeFamily(ctx, code.FamilyID); err != nil {
			p.log.Error("revoke family of replayed code", "err", err)
		}
	}
	for _, jti := range code.AccessJTIs {
		// Deny for as long as any access token can live.
		if err := p.tokens.RevokeAccess(ctx, jti, code.Expiry.Add(p.tokens.AccessTTL())); err != nil {
			p.log.Error("revoke access token of replayed code", "err", err)
		}
	}
}

// pkceMatches checks RFC 7636 §4.6 for S256 in constant time.
func pkceMatches(verifier, challenge string) bool {
	// §4.1: 43 to 128 unreserved characters.
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for _, r := range verifier {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)) {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

// userGrant builds the grant for user's tokens with the claims scopes allow.
func (p *Server) userGrant(user store.User, client store.Client, scopes []string) tokensvc.Grant {
	var aud []string
	if slices.Contains(scopes, core.AdminScope) {
		// The admin scope goes only to a trusted client's token of a user
		// who is an administrator now; otherwise the grant narrows
		// (RFC 6749 §3.3) rather than fail the login.
		if p.admins.IsClient(client.ID) && slices.Contains(client.Scopes, core.AdminScope) && p.admins.IsUser(user) {
			aud = []string{core.AdminAudience(p.opts.Issuer)}
		} else {
			scopes = slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return s == core.AdminScope })
		}
	}
	if slices.Contains(scopes, "offline_access") && !slices.Contains(client.GrantTypes, "refresh_token") {
		// No refresh token for this client, so no offline access: the
		// answer names the scope granted (RFC 6749 §3.3, §5.1).
		scopes = slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return s == "offline_access" })
	}
	g := tokensvc.Grant{
		Subject: user.ID, Username: user.Username, ClientID: client.ID, Scopes: scopes, Audience: aud, Policy: client.Policy(),
		IDToken: slices.Contains(scopes, "openid"), Session: true,
		Refresh: slices.Contains(scopes, "offline_access"),
	}
	g.Claims = p.ident.Claims(user, scopes, client.ExtraScopes)
	return g
}

// refreshGrant exchanges a refresh token (RFC 6749 §6), re-checking the
// user and, where it can, the connector.
func (p *Server) refreshGrant(c *gin.Context, client store.Client) (tokensvc.Tokens, *tokenError) {
	// The family's read brings the user, identities and local account
	// with it (one round trip on PostgreSQL, store.ReadAhead).
	ctx := store.WithReadAhead(c.Request.Context())
	form := c.Request.PostForm
	raw := form.Get("refresh_token")
	if raw == "" {
		return tokensvc.Tokens{}, invalidRequest("refresh_token is required")
	}
	fam, err := p.tokens.Redeem(ctx, client.ID, raw, client.Policy())
	if errors.Is(err, tokensvc.ErrInvalidGrant) {
		return tokensvc.Tokens{}, invalidGrant(strings.TrimPrefix(err.Error(), tokensvc.ErrInvalidGrant.Error()+": "))
	} else if err != nil {
		p.log.Error("token: redeem refresh token", "err", err)
		return tokensvc.Tokens{}, serverError("try again later")
	}
	// A session older than the client began with another client of its
	// id, since deleted: deleting a client ends its sessions, even if
	// the id is registered again.
	if client.NewerThan(fam.CreatedAt) {
		return tokensvc.Tokens{}, invalidGrant("the refresh token was issued to a client since deleted")
	}
	// A bound refresh token is worth nothing without its key (RFC 9449
	// §5): refused, and nothing rotated, so the holder of the key can
	// still use it.
	if jkt := c.GetString(jktKey); fam.JKT != "" && fam.JKT != jkt {
		if jkt == "" {
			return tokensvc.Tokens{}, &tokenError{status: http.StatusBadRequest, code: "invalid_dpop_proof",
				desc: "the refresh token is bound to a DPoP key: send a DPoP proof of it"}
		}
		return tokensvc.Tokens{}, invalidGrant("the refresh token is bound to another DPoP key")
	}
	// A narrower scope narrows this response only (RFC 6749 §6, OAuth 2.1
	// §4.3.3): the family keeps the scopes of its login, so the next
	// refresh without scope gets them all back.
	scopes := fam.Scopes
	if s := form.Get("scope"); s != "" {
		scopes = strings.Fields(s)
		for _, sc := range scopes {
			if !slices.Contains(fam.Scopes, sc) { // §6: no scope beyond the original grant
				return tokensvc.Tokens{}, &tokenError{status: http.StatusBadRequest, code: "invalid_scope", desc: "scope " + sc + " was not granted"}
			}
		}
	}
	resources, terr := p.tokenResources(form["resource"], fam.Resources, client.Resources)
	if terr != nil {
		return tokensvc.Tokens{}, terr
	}
	end := func(reason string) (tokensvc.Tokens, *tokenError) {
		if err := p.tokens.RevokeFamily(ctx, fam.ID); err != nil {
			p.log.Error("token: end refresh family", "err", err)
		}
		return tokensvc.Tokens{}, invalidGrant(reason)
	}
	user, idents, err := p.store.GetUserIdentities(ctx, fam.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && user.Disabled) {
		return end("the user is no longer active")
	} else if err != nil {
		p.log.Error("token: read user", "err", err)
		return tokensvc.Tokens{}, serverError("try again later")
	}
	// Only a verdict about the user ends the session; an outage or a busy
	// store is the server's problem, answered with "try again".
	switch user, err = p.ident.RefreshLinked(ctx, fam.ConnectorID, user, idents, scopes); {
	case err == nil:
	case errors.Is(err, core.ErrUserDisabled):
		return end("the user is no longer active")
	case errors.Is(err, sdk.ErrUnavailable), errors.Is(err, core.ErrContention), errors.Is(err, core.ErrStore):
		p.log.Warn("refresh: cannot check the user now", "connector", fam.ConnectorID, "err", err)
		return tokensvc.Tokens{}, serverError("the identity store is unavailable")
	case errors.Is(err, core.ErrInvalidIdentity):
		// A verdict about the identity, as at login (logged by
		// refreshIdentity): the session ends; a new login is refused too
		// until the upstream account is corrected.
		return end("the identity provider returned account details this server does not accept")
	default:
		p.log.Info("refresh refused by connector", "connector", fam.ConnectorID, "user", fam.UserID, "err", err)
		return end("the identity store no longer accepts this user")
	}
	g := p.userGrant(user, client, scopes)
	g.Resources = resources
	p.bind(c, client, &g)
	// Rotation decides again if it loses a race (a replay, the family
	// revoked meanwhile): its reason is the answer.
	t, err := p.tokens.Rotate(ctx, fam, g)
	if errors.Is(err, tokensvc.ErrInvalidGrant) {
		return tokensvc.Tokens{}, invalidGrant(strings.TrimPrefix(err.Error(), tokensvc.ErrInvalidGrant.Error()+": "))
	} else if err != nil {
		p.log.Error("token: rotate", "err", err)
		return tokensvc.Tokens{}, serverError("try again later")
	}
	p.auditTokens(c, audit.TokenRefresh, "refresh_token", client.ID, user.ID, fam.ConnectorID, t)
	return t, nil
}

// clientCredentialsGrant issues a token to the client itself (RFC 6749 §4.4).
func (p *Server) clientCredentialsGrant(c *gin.Context, client store.Client) (tokensvc.Tokens, *tokenError) {
	if client.Public {
		return tokensvc.Tokens{}, &tokenError{status: http.StatusBadRequest, code: "unauthorized_client", desc: "public clients cannot use client_credentials"}
	}
	scopes := strings.Fields(c.Request.PostForm.Get("scope"))
	for _, s := range scopes {
		if !slices.Contains(client.Scopes, s) {
			return tokensvc.Tokens{}, &tokenError{status: http.StatusBadRequest, code: "invalid_scope", desc: "scope " + s + " is not allowed for this client"}
		}
	}
	resources, terr := p.tokenResources(c.Request.PostForm["resource"], nil, client.Resources)
	if terr != nil {
		return tokensvc.Tokens{}, terr
	}
	var aud []string
	if slices.Contains(scopes, core.AdminScope) {
		// Only the file's admin clients; one created at runtime with the
		// scope in its list gains nothing.
		if !p.admins.IsClient(client.ID) {
			return tokensvc.Tokens{}, &tokenError{status: http.StatusBadRequest, code: "invalid_scope", desc: "scope admin is not allowed for this client"}
		}
		aud = []string{core.AdminAudience(p.opts.Issuer)}
	}
	g := tokensvc.Grant{Subject: client.ID, ClientID: client.ID, Scopes: scopes, Audience: aud, Resources: resources, Policy: client.Policy()}
	p.bind(c, client, &g)
	t, err := p.tokens.Issue(c.Request.Context(), g)
	if err != nil {
		p.log.Error("token: issue", "err", err)
		return tokensvc.Tokens{}, serverError("try again later")
	}
	p.auditTokens(c, audit.TokenIssue, "client_credentials", client.ID, "", "", t)
	return t, nil
}
