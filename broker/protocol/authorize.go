package protocol

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-idp/portico/broker/identity"
	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
	"github.com/portico-idp/portico/tokensvc/dpop"
)

// Bounds of what an authorization request stores. state and nonce are
// the client's opaque values (OpenID Connect and RFC 6749 set no limit;
// real ones are a few dozen bytes, a JWT-shaped state a few hundred).
const (
	maxStateLen = 2048
	maxNonceLen = 512
	maxScopeLen = 1024
	maxACRLen   = 512
	// maxUILocales bounds the ui_locales kept with a request; only its
	// first tags matter (broker/ui reads at most 16).
	maxUILocales = 256
)

// authError is a refused authorization request: at /authorize an error
// returned to the client at its redirect URI (RFC 6749 §4.1.2.1), or, with
// page set, shown on Portico's own page because the redirect URI is not
// known good; at /par the error object of RFC 9126 §2.3.
type authError struct {
	code, desc string
	page       string // ui message id: never redirected
	status     int    // the page's; 0 is 400
}

// authTarget is where an authorization request's answer goes.
type authTarget struct{ redirectURI, state, mode string }

// authSource is how an authorization request's parameters came.
type authSource struct {
	pushed bool // through /par (par.go)
	signed bool // in a verified request object (jar.go)
}

// authParamNames are the authorization parameters that must not repeat
// (RFC 6749 §3.1).
var authParamNames = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge",
	"code_challenge_method", "prompt", "max_age", "acr_values", "response_mode", "request", "request_uri", "ui_locales", "dpop_jkt",
	"id_token_hint"}

// handleAuthorize validates an authorization request and sends the browser
// to the login page. The client and redirect URI are checked first: until
// both are known good, errors are shown here and never redirected.
func (p *Server) handleAuthorize(c *gin.Context) {
	ctx := c.Request.Context()
	if err := c.Request.ParseForm(); err != nil {
		p.ui.Page(c, http.StatusBadRequest, ui.MsgBadAuthorize)
		return
	}
	q := c.Request.Form
	repeated := ""
	// With a pushed request or a request object, the query's other
	// parameters are not read (RFC 9126 §4, RFC 9101 §6.3, but
	// response_type, jar.go): repeated, they are ignored like the rest.
	byRef := q.Has("request_uri") || q.Has("request")
	for _, name := range authParamNames {
		if byRef && !slices.Contains([]string{"client_id", "request", "request_uri", "response_type"}, name) {
			continue
		}
		if len(q[name]) > 1 { // RFC 6749 §3.1: parameters must not repeat
			if name == "client_id" || name == "redirect_uri" {
				// Where an error may go is not known: Portico's page.
				p.ui.Page(c, http.StatusBadRequest, ui.MsgRepeatedParam, name)
				return
			}
			repeated = cmp.Or(repeated, name)
		}
	}
	clientID := q.Get("client_id")
	client, err := p.store.GetClient(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) || clientID == "" {
		p.ui.Page(c, http.StatusBadRequest, ui.MsgUnknownClient)
		return
	} else if err != nil {
		p.log.Error("authorize: read client", "client_id", clientID, "err", err)
		p.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	if repeated != "" {
		// Client and redirect URI known good, the error goes back to the
		// client (RFC 6749 §4.1.2.1), without a state that repeats.
		to, e := p.authTarget(client, q)
		if e != nil && e.page != "" {
			// No redirect URI to tell (a pushed one is not read): say
			// what is wrong here.
			p.ui.Page(c, http.StatusBadRequest, ui.MsgRepeatedParam, repeated)
			return
		}
		switch repeated {
		case "state":
			to.state = ""
		case "response_mode":
			to.mode = "" // the query, as for an unsupported one
		}
		p.authFailed(c, to, &authError{code: "invalid_request", desc: "the parameter " + repeated + " appears more than once"})
		return
	}
	params, src, e := p.authorizationParams(ctx, client, q)
	if e != nil {
		// The request's own parameters could not be had: the error goes
		// where the query says, if that is the client's.
		to, te := p.authTarget(client, q)
		if e.page == "" && te != nil && te.page != "" {
			e = te
		}
		p.authFailed(c, to, e)
		return
	}
	req, to, e := p.checkAuthorization(client, params, src)
	if e != nil {
		p.authFailed(c, to, e)
		return
	}
	p.journey.Begin(c, req)
}

// authFailed answers a refused authorization request: on Portico's page
// when e has one, otherwise at the redirect URI.
func (p *Server) authFailed(c *gin.Context, to authTarget, e *authError) {
	if e.page != "" {
		p.ui.Page(c, cmp.Or(e.status, http.StatusBadRequest), e.page)
		return
	}
	p.ui.RedirectError(c, to.redirectURI, to.state, to.mode, e.code, e.desc)
}

// authorizationParams returns the parameters of an authorization request
// at /authorize: those pushed at /par for a request_uri (par.go), those
// of a signed request object (jar.go), or the query's.
func (p *Server) authorizationParams(ctx context.Context, client store.Client, q url.Values) (url.Values, authSource, *authError) {
	// An empty parameter is an absent one (RFC 6749 §3.1).
	switch {
	case q.Get("request") != "" && q.Get("request_uri") != "":
		return nil, authSource{}, &authError{code: "invalid_request", desc: "request and request_uri cannot both be given"}
	case q.Get("request_uri") != "":
		if !strings.HasPrefix(q.Get("request_uri"), parURNPrefix) {
			// Request objects by reference: Portico fetches nothing.
			return nil, authSource{}, &authError{code: "request_uri_not_supported", desc: "request_uri is supported only for pushed authorization requests (" + p.url("/par") + ")"}
		}
		return p.spendPushed(ctx, client, q.Get("request_uri"))
	case q.Get("request") != "":
		params, oe := p.requestObject(ctx, client, q.Get("request"), client.ID)
		if oe != nil {
			return nil, authSource{}, &authError{code: "invalid_request_object", desc: oe.desc}
		}
		// OpenID Connect Core §6.1: response_type may be sent only in the
		// query; when it is in both, the two must agree.
		switch rt := q.Get("response_type"); {
		case rt != "" && params.Has("response_type") && params.Get("response_type") != rt:
			return nil, authSource{}, &authError{code: "invalid_request_object", desc: "response_type differs between the request object and the request"}
		case rt != "" && !params.Has("response_type"):
			params.Set("response_type", rt)
		}
		return params, authSource{signed: true}, nil
	}
	return q, authSource{}, nil
}

// authTarget returns where the answer to request q of client goes, or the
// error that says it cannot go anywhere but Portico's page. The response
// mode is known before any error goes back, so that errors take the way
// the code would have; an unsupported one (fragment, JARM) cannot carry
// its own error: that goes in the query.
func (p *Server) authTarget(client store.Client, q url.Values) (authTarget, *authError) {
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" && len(client.RedirectURIs) == 1 {
		redirectURI = client.RedirectURIs[0]
	}
	// Exact string match, as OAuth 2.1 and RFC 9700 §4.1.3 require, but
	// for the port of a loopback redirect URI (RFC 8252 §7.3).
	if !redirectRegistered(client.RedirectURIs, redirectURI) {
		return authTarget{}, &authError{code: "invalid_request", desc: "redirect_uri is not one the client registered", page: ui.MsgBadRedirect}
	}
	// An empty value is an absent one (RFC 6749 §3.1).
	to := authTarget{redirectURI: redirectURI, state: q.Get("state")}
	if len(to.state) > maxStateLen {
		to.state = "" // not echoed back: the client gets its error without it
	}
	switch mode := q.Get("response_mode"); mode {
	case "", "query":
	case ui.ModeFormPost:
		// A page can post only to the web: a native app's private-use
		// scheme (com.example.app:/cb) gets its code in the query.
		if !strings.HasPrefix(redirectURI, "https://") && !strings.HasPrefix(redirectURI, "http://") {
			return to, &authError{code: "invalid_request", desc: "response_mode form_post needs an http or https redirect_uri"}
		}
		to.mode = mode
	default:
		return to, &authError{code: "invalid_request", desc: "unsupported response_mode (supported: query, form_post)"}
	}
	return to, nil
}

// checkAuthorization validates the authorization parameters q of client,
// as /authorize and /par both take them, and returns the request to
// start and where its answer goes.
func (p *Server) checkAuthorization(client store.Client, q url.Values, src authSource) (store.AuthRequest, authTarget, *authError) {
	to, e := p.authTarget(client, q)
	if e != nil {
		return store.AuthRequest{}, to, e
	}
	fail := func(code, desc string) (store.AuthRequest, authTarget, *authError) {
		return store.AuthRequest{}, to, &authError{code: code, desc: desc}
	}
	state := q.Get("state")
	if len(state) > maxStateLen {
		return fail("invalid_request", "state is longer than "+strconv.Itoa(maxStateLen)+" bytes")
	}
	// Everything stored with the request is bounded: an authorization
	// request is stored before anyone logs in, so unbounded parameters
	// would let anyone fill the store (and its disk) at will.
	for name, n := range map[string]int{"nonce": maxNonceLen, "scope": maxScopeLen, "acr_values": maxACRLen, "prompt": 64, "max_age": 20} {
		if len(q.Get(name)) > n {
			return fail("invalid_request", name+" is longer than "+strconv.Itoa(n)+" bytes")
		}
	}
	// Pushed and signed requests (RFC 9126 §5, RFC 9101 §10.5): a client
	// that must use them gets nothing from a plain request.
	global := p.opts.RequirePushedRequests && (client.ID != p.opts.PushExempt || p.opts.PushExempt == "")
	if (global || client.RequirePushedAuthorizationRequests) && !src.pushed {
		return fail("invalid_request", "authorization requests must be pushed to "+p.url("/par")+" first (RFC 9126)")
	}
	if desc := fapiAuthorization(client, q, src); desc != "" {
		return fail("invalid_request", desc)
	}
	if client.RequireSignedRequestObject && !src.signed {
		return fail("invalid_request", "this client must send its authorization request as a signed request object (RFC 9101)")
	}
	if rt := q.Get("response_type"); rt != "code" {
		if rt == "" {
			return fail("invalid_request", "response_type is required")
		}
		return fail("unsupported_response_type", "only response_type=code is supported")
	}
	if !slices.Contains(client.GrantTypes, "authorization_code") {
		return fail("unauthorized_client", "the client may not use the authorization code grant")
	}
	scopes := strings.Fields(q.Get("scope"))
	for _, s := range scopes {
		if !p.scopeAllowed(client, s) {
			return fail("invalid_scope", "unsupported scope "+s)
		}
	}
	resources, desc := p.checkResources(q["resource"], client.Resources, "allowed for this client")
	if desc != "" {
		return fail("invalid_target", desc)
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return fail("invalid_request", "code_challenge_method without code_challenge")
	case challenge == "" && client.Public:
		return fail("invalid_request", "PKCE (code_challenge with S256) is required for public clients")
	case challenge != "" && method != "S256":
		return fail("invalid_request", "code_challenge_method must be S256")
	case challenge != "" && !validChallenge(challenge):
		return fail("invalid_request", "code_challenge must be the base64url SHA-256 of the verifier")
	}
	// RFC 9449 §10: the code will be redeemed only with this DPoP key.
	jkt := q.Get("dpop_jkt")
	if jkt != "" && !dpop.ValidJKT(jkt) {
		return fail("invalid_request", "dpop_jkt must be the base64url SHA-256 thumbprint of a JWK (RFC 9449 §10)")
	}
	prompt, maxAge, acr, perr := loginParams(q)
	if perr != nil {
		return store.AuthRequest{}, to, perr
	}
	if slices.Contains(scopes, core.AdminScope) {
		// An admin token is never handed out silently: a public admin
		// client's loopback redirect can be served by any local process,
		// which could otherwise start this request in the administrator's
		// browser and take the code (RFC 8252 §8.6). The person logs in.
		if slices.Contains(prompt, "none") {
			return fail("login_required", "the admin scope needs the user to log in")
		}
		if !slices.Contains(prompt, "login") {
			prompt = append(prompt, "login")
		}
	}
	// OpenID Connect Core §3.1.2.1: the hint names the user the client
	// expects; a session of another user does not answer for it.
	var hintSubject string
	if raw := q.Get("id_token_hint"); raw != "" {
		h, err := p.tokens.ParseIDTokenHint(raw)
		if err != nil || h.ClientID != client.ID {
			return fail("invalid_request", "id_token_hint is not an ID token issued to this client")
		}
		hintSubject = h.Subject
	}
	return store.AuthRequest{
		ID: tokensvc.NewID(), ClientID: client.ID, RedirectURI: to.redirectURI, RedirectURIOmitted: q.Get("redirect_uri") == "", Scopes: scopes,
		HintSubject: hintSubject,
		State:       state, Nonce: q.Get("nonce"), CodeChallenge: challenge, CodeChallengeMethod: method,
		ResponseMode: to.mode, Resources: resources,
		Prompt: prompt, MaxAge: maxAge, ACRValues: acr, UILocales: core.Truncate(q.Get("ui_locales"), maxUILocales),
		Expiry: p.opts.Now().Add(p.opts.AuthRequestTTL), DPoPJKT: jkt,
	}, to, nil
}

// redirectRegistered reports whether uri is one of the registered redirect
// URIs: the same string, or, for http to a loopback IP literal, the same
// string but for the port. A native app listens on a port the OS picks
// when it starts (RFC 8252 §7.3). localhost does not count: it may resolve
// elsewhere, and RFC 8252 §8.3 recommends the IP literals.
func redirectRegistered(registered []string, uri string) bool {
	if slices.Contains(registered, uri) {
		return true
	}
	host, rest, ok := loopbackParts(uri)
	if !ok {
		return false
	}
	for _, r := range registered {
		if h, rr, ok := loopbackParts(r); ok && h == host && rr == rest {
			return true
		}
	}
	return false
}

// loopbackParts splits an http URI to 127.0.0.1 or [::1] into that host
// and everything after the authority, leaving out the port; ok is false
// for any other URI. It cuts the string rather than parse and rebuild
// the URL, so that everything but the port is compared byte for byte.
func loopbackParts(uri string) (host, rest string, ok bool) {
	authority, found := strings.CutPrefix(uri, "http://")
	if !found {
		return "", "", false
	}
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority, rest = authority[:i], authority[i:]
	}
	for _, h := range []string{"127.0.0.1", "[::1]"} {
		port, found := strings.CutPrefix(authority, h)
		if !found {
			continue
		}
		if p, hasPort := strings.CutPrefix(port, ":"); port == "" || hasPort && validPort(p) {
			return h, rest, true
		}
	}
	return "", "", false
}

// validPort: 1 to 65535 in decimal digits, no sign and no leading zero,
// so that one port has one spelling.
func validPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' || strings.ContainsFunc(p, func(r rune) bool { return r < '0' || r > '9' }) {
		return false
	}
	n, _ := strconv.Atoi(p)
	return n <= 65535
}

// validChallenge: an S256 challenge is 32 bytes, base64url without padding.
func validChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// loginParams reads prompt, max_age and acr_values (OpenID Connect Core
// §3.1.2.1). max_age=0 is kept as prompt=login, which it means.
func loginParams(q url.Values) (prompt []string, maxAge int64, acr []string, e *authError) {
	prompt = strings.Fields(q.Get("prompt"))
	for _, p := range prompt {
		if !slices.Contains([]string{"none", "login", "consent", "select_account"}, p) {
			return nil, 0, nil, &authError{code: "invalid_request", desc: "unknown prompt value " + p}
		}
	}
	if slices.Contains(prompt, "none") && len(prompt) > 1 {
		return nil, 0, nil, &authError{code: "invalid_request", desc: "prompt=none cannot be combined with other values"}
	}
	if raw, ok := q["max_age"]; ok {
		n, err := strconv.ParseInt(raw[0], 10, 64)
		if err != nil || n < 0 {
			return nil, 0, nil, &authError{code: "invalid_request", desc: "max_age must be a non-negative number of seconds"}
		}
		if n == 0 && !slices.Contains(prompt, "login") {
			prompt = append(prompt, "login")
		}
		maxAge = n
	}
	return prompt, maxAge, strings.Fields(q.Get("acr_values")), nil
}

// IssueCode stores a single-use code for the login req has made, and
// returns it; only its hash is stored. familyID names the token session
// the code's exchange will start.
func (p *Server) IssueCode(ctx context.Context, req store.AuthRequest, familyID string) (string, error) {
	code := tokensvc.NewID() + tokensvc.NewID()
	now := p.opts.Now()
	ttl := p.opts.AuthCodeTTL
	if cl, err := p.store.GetClient(ctx, req.ClientID); err == nil && fapi2(cl) {
		ttl = min(ttl, fapiCodeTTL)
	}
	err := p.store.CreateAuthCode(ctx, store.AuthCode{
		ID: core.HashString(code), ClientID: req.ClientID, RedirectURI: req.RedirectURI, RedirectURIOmitted: req.RedirectURIOmitted, UserID: req.UserID,
		ConnectorID: req.ConnectorID, Scopes: req.Scopes, Nonce: req.Nonce,
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: req.CodeChallengeMethod,
		AuthTime: req.AuthTime, AMR: req.AMR, Resources: req.Resources, FamilyID: familyID, IssuedAt: now, Expiry: now.Add(ttl),
		DPoPJKT: req.DPoPJKT,
	})
	return code, err
}

// scopeAllowed reports whether client may ask for scope s.
func (p *Server) scopeAllowed(client store.Client, s string) bool {
	if slices.Contains(identity.SupportedScopes, s) {
		return true
	}
	if s == core.AdminScope {
		// Asked for explicitly, by a client the file trusts for
		// administration; never offered to anyone else (adminAuth).
		return p.admins.IsClient(client.ID) && slices.Contains(client.Scopes, core.AdminScope)
	}
	_, custom := p.opts.Scopes[s]
	return custom && slices.Contains(client.ExtraScopes, s)
}
