package protocol

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// OAuth 2.0 Token Exchange (RFC 8693) at /token, in two forms
// (docs/tokens.md#token-exchange):
//
//   - a token of a trusted external issuer (a Kubernetes service account,
//     a CI system, another Portico; exchange_issuers.go) becomes a Portico
//     access token for the subject its configuration maps it to;
//   - a user's Portico access token becomes a narrower one (fewer scopes,
//     another audience, no longer life) naming the client, or the party
//     of an actor_token, as actor (act, §4.1).
//
// What each client may do is its token_exchange setting; every exchange,
// issued or refused, is audited (token.exchange), never with the tokens.

// Token type identifiers (RFC 8693 §3).
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
)

// maxExchangeTargets bounds audience and resource values together.
const maxExchangeTargets = 10

// exchangeRequest is a token exchange request's parameters (§2.1).
type exchangeRequest struct {
	SubjectToken, SubjectType string
	ActorToken, ActorType     string
	RequestedType             string
	Scopes                    []string
	// Targets are the audience and resource values, in order, once each.
	Targets []string
}

// parseExchangeRequest checks the form of a token exchange request; the
// tokens themselves are checked later.
func parseExchangeRequest(form url.Values) (exchangeRequest, *tokenError) {
	r := exchangeRequest{
		SubjectToken: form.Get("subject_token"), SubjectType: form.Get("subject_token_type"),
		ActorToken: form.Get("actor_token"), ActorType: form.Get("actor_token_type"),
		RequestedType: form.Get("requested_token_type"), Scopes: strings.Fields(form.Get("scope")),
	}
	switch {
	case r.SubjectToken == "":
		return r, invalidRequest("subject_token is required")
	case r.SubjectType == "":
		return r, invalidRequest("subject_token_type is required")
	case !slices.Contains([]string{TokenTypeAccessToken, TokenTypeJWT, TokenTypeIDToken}, r.SubjectType):
		return r, invalidRequest("unsupported subject_token_type (supported: access_token, jwt, id_token)")
	case (r.ActorToken == "") != (r.ActorType == ""):
		return r, invalidRequest("actor_token and actor_token_type go together")
	case r.ActorType != "" && r.ActorType != TokenTypeAccessToken:
		return r, invalidRequest("unsupported actor_token_type (supported: a Portico access_token)")
	case r.RequestedType != "" && r.RequestedType != TokenTypeAccessToken && r.RequestedType != TokenTypeJWT:
		return r, invalidRequest("unsupported requested_token_type (supported: access_token, jwt)")
	case len(r.Scopes) > 100:
		return r, invalidRequest("too many scopes")
	}
	for _, name := range []string{"audience", "resource"} {
		for _, v := range form[name] {
			if v == "" || len(v) > 255 || strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
				return r, invalidRequest(name + " must be 1 to 255 characters without controls")
			}
			if name == "resource" { // RFC 8707 §2: an absolute URI, no fragment
				if u, err := url.Parse(v); err != nil || !u.IsAbs() || u.Fragment != "" {
					return r, invalidRequest("resource must be an absolute URI without a fragment")
				}
			}
			if !slices.Contains(r.Targets, v) {
				r.Targets = append(r.Targets, v)
			}
		}
	}
	// Counted as sent, repeats too: the bound is on the request.
	if len(form["audience"])+len(form["resource"]) > maxExchangeTargets {
		return r, invalidRequest("too many audience and resource values")
	}
	return r, nil
}

func invalidTarget(desc string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: "invalid_target", desc: desc}
}

func invalidScope(desc string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: "invalid_scope", desc: desc}
}

func unauthorizedClient(desc string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: "unauthorized_client", desc: desc}
}

// exchangeGrant answers a token exchange; issued is the issued_token_type.
func (p *Server) exchangeGrant(c *gin.Context, client store.Client) (t tokensvc.Tokens, issued string, terr *tokenError) {
	d := map[string]string{"grant_type": core.GrantTokenExchange}
	var userID string
	defer func() {
		// Every exchange is recorded, refused ones with the reason, issued
		// ones once their answer goes out (store.AfterAnswer).
		e := store.AuditEvent{Type: audit.TokenExchange, Actor: audit.Client(client.ID), UserID: userID,
			ClientID: client.ID, Details: d}
		if terr != nil {
			d["result"], d["error"] = "refused", terr.code
			p.audit.Request(c, e)
			return
		}
		d["result"], d["scope"] = "issued", strings.Join(t.Scopes, " ")
		store.AfterAnswer(c.Request.Context(), func() { p.audit.Request(c, e) })
	}()
	x := client.TokenExchange
	if x == nil || !slices.Contains(client.GrantTypes, core.GrantTokenExchange) {
		return t, "", unauthorizedClient("the client may not exchange tokens")
	}
	req, terr := parseExchangeRequest(c.Request.PostForm)
	if terr != nil {
		return t, "", terr
	}
	d["subject_token_type"] = req.SubjectType
	if len(req.Targets) > 0 {
		d["audience"] = strings.Join(req.Targets, " ")
	}
	for _, a := range req.Targets {
		// The admin API's audience is never a target: its tokens come
		// from the admin clients' own grants only.
		if !slices.Contains(x.Audiences, a) || a == core.AdminAudience(p.opts.Issuer) {
			return t, "", invalidTarget("the client may not ask for audience or resource " + a)
		}
	}
	if slices.Contains(req.Scopes, core.AdminScope) {
		return t, "", invalidScope("the admin scope cannot be had by token exchange")
	}
	issued = TokenTypeAccessToken
	if req.RequestedType == TokenTypeJWT {
		if client.Policy().Format == tokensvc.FormatOpaque {
			return t, "", invalidRequest("this client's access tokens are opaque: ask for requested_token_type access_token")
		}
		issued = TokenTypeJWT
	}
	var actor *tokensvc.Actor
	if req.ActorToken != "" {
		a, err := p.tokens.VerifyAccess(c.Request.Context(), req.ActorToken)
		if errors.Is(err, tokensvc.ErrInvalidToken) {
			return t, "", invalidRequest("the actor_token is invalid, expired or revoked")
		} else if err != nil {
			p.log.Error("token exchange: verify actor token", "err", err)
			return t, "", serverError("try again later")
		}
		// The actor token is the calling service's own: one issued to
		// it, so no client can name another as actor.
		if a.ClientID != client.ID {
			return t, "", invalidRequest("the actor_token was issued to another client")
		}
		// The client's own token, bound to its key: the request proves it.
		if a.JKT != "" && a.JKT != c.GetString(jktKey) {
			return t, "", invalidRequest("the actor_token is DPoP-bound: send a DPoP proof of its key")
		}
		actor = &tokensvc.Actor{Subject: a.Subject, ClientID: client.ID}
		d["actor"] = a.Subject
	}
	var g tokensvc.Grant
	if req.SubjectType == TokenTypeAccessToken {
		g, userID, terr = p.delegationGrant(c, client, req, actor, d)
	} else {
		g, userID, terr = p.externalGrant(c, client, req, actor, d)
	}
	if terr != nil {
		return t, "", terr
	}
	// Targets narrow the audience like resource indicators: a token for
	// them, not for the client (RFC 8707 §2, RFC 8693 §2.1).
	g.Resources, g.GrantedResources, g.Policy = req.Targets, nil, client.Policy()
	g.IDToken, g.Session, g.Refresh = false, false, false // an access token only (§2.2.1: no refresh token)
	p.bind(c, client, &g)
	t, err := p.tokens.Issue(c.Request.Context(), g)
	if err != nil {
		p.log.Error("token exchange: issue", "err", err)
		return t, "", serverError("try again later")
	}
	d["subject"] = g.Subject
	return t, issued, nil
}

// delegationGrant is the grant for a user's Portico access token, narrowed.
func (p *Server) delegationGrant(c *gin.Context, client store.Client, req exchangeRequest, actor *tokensvc.Actor, d map[string]string) (tokensvc.Grant, string, *tokenError) {
	ctx := c.Request.Context()
	d["subject_issuer"] = "portico"
	if !client.TokenExchange.Delegation {
		return tokensvc.Grant{}, "", unauthorizedClient("the client may not exchange Portico access tokens")
	}
	// Alive: not expired, not revoked, nor its session (logout).
	a, err := p.tokens.VerifyAccess(ctx, req.SubjectToken)
	if errors.Is(err, tokensvc.ErrInvalidToken) {
		// RFC 8693 §2.2.2: an invalid subject token is invalid_request.
		return tokensvc.Grant{}, "", invalidRequest("the subject_token is invalid, expired or revoked")
	} else if err != nil {
		p.log.Error("token exchange: verify subject token", "err", err)
		return tokensvc.Grant{}, "", serverError("try again later")
	}
	d["subject"] = a.Subject
	// Meant for this client: by its id, or as the resource server its
	// resource_uris name (a token for it, RFC 8707).
	audience := audienceOf(a.Audience, client, p.opts.Issuer)
	if !audience && !slices.Contains(client.TokenExchange.DelegationFrom, a.ClientID) {
		return tokensvc.Grant{}, "", invalidRequest("the subject_token is neither meant for this client nor issued to a client it may delegate from")
	}
	// A bound token reaches its audience with a proof the audience checked
	// (RFC 9449 §7); anyone else must prove its key, or could turn a
	// stolen bound token into a Bearer one.
	if a.JKT != "" && !audience && a.JKT != c.GetString(jktKey) {
		return tokensvc.Grant{}, "", invalidRequest("the subject_token is DPoP-bound: only its audience, or a request proving its key, may exchange it")
	}
	if a.Act.Depth() >= tokensvc.MaxActDepth {
		return tokensvc.Grant{}, "", invalidRequest("the subject_token's chain of actors is too long")
	}
	user, err := p.store.GetUser(ctx, a.Subject)
	if errors.Is(err, store.ErrNotFound) || (err == nil && user.Disabled) {
		// A client's own token, or an external subject's, is no user's.
		return tokensvc.Grant{}, "", invalidRequest("the subject_token is not of an active user")
	} else if err != nil {
		p.log.Error("token exchange: read user", "err", err)
		return tokensvc.Grant{}, "", serverError("try again later")
	}
	// §2.1 scope: narrower, never wider (RFC 6749 §3.3).
	scopes := slices.DeleteFunc(slices.Clone(a.Scopes), func(s string) bool { return s == core.AdminScope })
	if len(req.Scopes) > 0 {
		for _, s := range req.Scopes {
			if !slices.Contains(a.Scopes, s) {
				return tokensvc.Grant{}, "", invalidScope("scope " + s + " is not in the subject_token")
			}
		}
		scopes = req.Scopes
	}
	if actor == nil { // the client acts for the user
		actor = &tokensvc.Actor{Subject: client.ID, ClientID: client.ID}
		d["actor"] = client.ID
	}
	actor.Act = a.Act
	g := p.userGrant(user, client, scopes)
	// The token names the user's session, so a logout ends it too, and
	// lives no longer than the token it came from.
	g.FamilyID, g.AuthTime, g.NotAfter, g.Act = a.Session, a.AuthTime, a.ExpiresAt, actor
	return g, user.ID, nil
}

// externalGrant is the grant for a token of a configured external issuer.
func (p *Server) externalGrant(c *gin.Context, client store.Client, req exchangeRequest, actor *tokensvc.Actor, d map[string]string) (tokensvc.Grant, string, *tokenError) {
	ctx := c.Request.Context()
	jws, iss, err := peekIssuer(req.SubjectToken)
	if err != nil {
		return tokensvc.Grant{}, "", invalidRequest(err.Error())
	}
	is := p.exchange.byIss[iss]
	if is == nil {
		return tokensvc.Grant{}, "", invalidRequest("the subject_token's issuer is not trusted")
	}
	d["subject_issuer"] = is.cfg.Name
	if !slices.Contains(client.TokenExchange.Issuers, is.cfg.Name) {
		return tokensvc.Grant{}, "", unauthorizedClient("the client may not exchange tokens of issuer " + is.cfg.Name)
	}
	claims, err := is.verify(ctx, jws, p.opts.Now())
	if bad := (*errExternalToken)(nil); errors.As(err, &bad) {
		return tokensvc.Grant{}, "", invalidRequest(bad.msg)
	} else if err != nil {
		p.log.Warn("token exchange: issuer keys unavailable", "issuer", is.cfg.Name, "err", err)
		return tokensvc.Grant{}, "", serverError("the subject token's issuer cannot be reached")
	}
	for _, s := range req.Scopes {
		if !slices.Contains(client.Scopes, s) {
			return tokensvc.Grant{}, "", invalidScope("scope " + s + " is not allowed for this client")
		}
	}
	g := tokensvc.Grant{ClientID: client.ID, Scopes: req.Scopes, Act: actor}
	m := is.cfg.Subject
	switch {
	case m.Client:
		g.Subject = client.ID
	case m.Template != "":
		s, err := expandSubject(m.Template, claims)
		if err != nil {
			return tokensvc.Grant{}, "", invalidRequest(err.Error())
		}
		// A mapped subject must not pass for a Portico user or client
		// at a resource server: such a mapping is refused.
		if _, err := p.store.GetUser(ctx, s); err == nil {
			p.log.Warn("token exchange: a mapped subject is a user's id; refused", "issuer", is.cfg.Name)
			return tokensvc.Grant{}, "", invalidRequest("the mapped subject is taken")
		}
		if _, err := p.store.GetClient(ctx, s); err == nil { // this client's too: its own tokens have it
			return tokensvc.Grant{}, "", invalidRequest("the mapped subject is taken")
		}
		g.Subject = s
	default:
		user, terr := p.exchangeUser(c, claims, m.UserEmailClaim)
		if terr != nil {
			return tokensvc.Grant{}, "", terr
		}
		ug := p.userGrant(user, client, req.Scopes)
		ug.Act = actor
		return ug, user.ID, nil
	}
	return g, "", nil
}

// exchangeUser finds the one active user with the verified email in claim.
func (p *Server) exchangeUser(c *gin.Context, claims map[string]any, claim string) (store.User, *tokenError) {
	ctx := c.Request.Context()
	email, _ := claimString(claims, claim)
	verified := claims["email_verified"] == true || claims["email_verified"] == "true"
	if email == "" || !verified {
		return store.User{}, invalidRequest("the subject_token has no verified email in " + claim)
	}
	ids, err := p.store.ListIdentitiesByVerifiedEmail(ctx, email)
	if err != nil {
		p.log.Error("token exchange: find user by email", "err", err)
		return store.User{}, serverError("try again later")
	}
	var userID string
	for _, id := range ids {
		if userID != "" && id.UserID != userID {
			return store.User{}, invalidRequest("the subject_token's email belongs to more than one user")
		}
		userID = id.UserID
	}
	if userID == "" {
		return store.User{}, invalidRequest("no user has the subject_token's email")
	}
	user, err := p.store.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && user.Disabled) {
		return store.User{}, invalidRequest("the subject_token's user is not active")
	} else if err != nil {
		p.log.Error("token exchange: read user", "err", err)
		return store.User{}, serverError("try again later")
	}
	return user, nil
}

// CheckExchange applies the file's token_exchange rules to a client
// of the admin API; the error text is safe to show.
func (p *Server) CheckExchange(c store.Client) error {
	has, x := slices.Contains(c.GrantTypes, core.GrantTokenExchange), c.TokenExchange
	switch {
	case has && x == nil:
		return errors.New("token_exchange: required with grant type " + core.GrantTokenExchange)
	case x == nil:
		return nil
	case !has:
		return errors.New("grant_types: token_exchange is set: add " + core.GrantTokenExchange)
	case c.Public:
		return errors.New("token_exchange: a public client cannot exchange tokens")
	case len(x.Issuers) == 0 && !x.Delegation:
		return errors.New("token_exchange: allows nothing: list issuers or set delegation")
	case len(x.DelegationFrom) > 0 && !x.Delegation:
		return errors.New("token_exchange.delegation_from: needs delegation: true")
	case len(x.Audiences) > 100 || len(x.DelegationFrom) > 100 || len(x.Issuers) > 100:
		return errors.New("token_exchange: at most 100 issuers, audiences and delegation_from")
	}
	for _, n := range x.Issuers {
		if p.exchange.byName[n] == nil {
			return errors.New("token_exchange.issuers: no issuer named " + n + " is configured")
		}
	}
	for _, a := range x.Audiences {
		if a == "" || len(a) > 255 || strings.ContainsFunc(a, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return errors.New("token_exchange.audiences: each must be 1 to 255 characters without controls")
		}
		// The exchange refuses it anyway: say so when it is set.
		if a == core.AdminAudience(p.opts.Issuer) {
			return errors.New("token_exchange.audiences: the admin API's audience cannot be exchanged for")
		}
	}
	return nil
}
