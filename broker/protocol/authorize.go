package protocol

import (
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

// authError is an error returned to the client at its redirect URI
// (RFC 6749 §4.1.2.1).
type authError struct {
	code, desc string
}

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
	for _, name := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "prompt", "max_age", "acr_values", "response_mode", "request", "request_uri"} {
		if len(q[name]) > 1 { // RFC 6749 §3.1: parameters must not repeat
			p.ui.Page(c, http.StatusBadRequest, ui.MsgRepeatedParam, name)
			return
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
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" && len(client.RedirectURIs) == 1 {
		redirectURI = client.RedirectURIs[0]
	}
	// Exact string match, as OAuth 2.1 and RFC 9700 §4.1.3 require, but
	// for the port of a loopback redirect URI (RFC 8252 §7.3).
	if !redirectRegistered(client.RedirectURIs, redirectURI) {
		p.ui.Page(c, http.StatusBadRequest, ui.MsgBadRedirect)
		return
	}
	// The response mode is known before any error goes back, so that
	// errors take the way the code would have. An unsupported one (fragment,
	// JARM) cannot carry its own error: that goes in the query. An empty
	// value is an absent one (RFC 6749 §3.1).
	state := q.Get("state")
	echo := state
	if len(state) > maxStateLen {
		echo = "" // not echoed back: the client gets its error without it
	}
	mode := q.Get("response_mode")
	switch mode {
	case "", "query":
		mode = ""
	case ui.ModeFormPost:
		// A page can post only to the web: a native app's private-use
		// scheme (com.example.app:/cb) gets its code in the query.
		if !strings.HasPrefix(redirectURI, "https://") && !strings.HasPrefix(redirectURI, "http://") {
			p.ui.RedirectError(c, redirectURI, echo, "", "invalid_request", "response_mode form_post needs an http or https redirect_uri")
			return
		}
	default:
		p.ui.RedirectError(c, redirectURI, echo, "", "invalid_request", "unsupported response_mode (supported: query, form_post)")
		return
	}
	if len(state) > maxStateLen {
		p.ui.RedirectError(c, redirectURI, "", mode, "invalid_request", "state is longer than "+strconv.Itoa(maxStateLen)+" bytes")
		return
	}
	fail := func(e authError) { p.ui.RedirectError(c, redirectURI, state, mode, e.code, e.desc) }
	// Everything stored with the request is bounded: an authorization
	// request is stored before anyone logs in, so unbounded parameters
	// would let anyone fill the store (and its disk) at will.
	for name, n := range map[string]int{"nonce": maxNonceLen, "scope": maxScopeLen, "acr_values": maxACRLen, "prompt": 64, "max_age": 20} {
		if len(q.Get(name)) > n {
			fail(authError{"invalid_request", name + " is longer than " + strconv.Itoa(n) + " bytes"})
			return
		}
	}

	// OpenID Connect Core §6: request objects are not supported. Ignoring
	// one would serve the request on its unsigned parameters rather than
	// those the client signed, so it is refused with §6.2's errors.
	switch {
	case q.Get("request") != "":
		fail(authError{"request_not_supported", "request objects are not supported"})
		return
	case q.Get("request_uri") != "":
		fail(authError{"request_uri_not_supported", "request_uri is not supported"})
		return
	}
	if rt := q.Get("response_type"); rt != "code" {
		if rt == "" {
			fail(authError{"invalid_request", "response_type is required"})
		} else {
			fail(authError{"unsupported_response_type", "only response_type=code is supported"})
		}
		return
	}
	if !slices.Contains(client.GrantTypes, "authorization_code") {
		fail(authError{"unauthorized_client", "the client may not use the authorization code grant"})
		return
	}
	scopes := strings.Fields(q.Get("scope"))
	for _, s := range scopes {
		if !p.scopeAllowed(client, s) {
			fail(authError{"invalid_scope", "unsupported scope " + s})
			return
		}
	}
	resources, desc := p.checkResources(q["resource"], client.Resources, "allowed for this client")
	if desc != "" {
		fail(authError{"invalid_target", desc})
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		fail(authError{"invalid_request", "code_challenge_method without code_challenge"})
		return
	case challenge == "" && client.Public:
		fail(authError{"invalid_request", "PKCE (code_challenge with S256) is required for public clients"})
		return
	case challenge != "" && method != "S256":
		fail(authError{"invalid_request", "code_challenge_method must be S256"})
		return
	case challenge != "" && !validChallenge(challenge):
		fail(authError{"invalid_request", "code_challenge must be the base64url SHA-256 of the verifier"})
		return
	}
	prompt, maxAge, acr, perr := loginParams(q)
	if perr != nil {
		fail(*perr)
		return
	}
	if slices.Contains(scopes, core.AdminScope) {
		// An admin token is never handed out silently: a public admin
		// client's loopback redirect can be served by any local process,
		// which could otherwise start this request in the administrator's
		// browser and take the code (RFC 8252 §8.6). The person logs in.
		if slices.Contains(prompt, "none") {
			fail(authError{"login_required", "the admin scope needs the user to log in"})
			return
		}
		if !slices.Contains(prompt, "login") {
			prompt = append(prompt, "login")
		}
	}

	p.journey.Begin(c, store.AuthRequest{
		ID: tokensvc.NewID(), ClientID: client.ID, RedirectURI: redirectURI, Scopes: scopes,
		State: state, Nonce: q.Get("nonce"), CodeChallenge: challenge, CodeChallengeMethod: method,
		ResponseMode: mode, Resources: resources,
		Prompt: prompt, MaxAge: maxAge, ACRValues: acr, UILocales: core.Truncate(q.Get("ui_locales"), maxUILocales),
		Expiry: p.opts.Now().Add(p.opts.AuthRequestTTL),
	})
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
			return nil, 0, nil, &authError{"invalid_request", "unknown prompt value " + p}
		}
	}
	if slices.Contains(prompt, "none") && len(prompt) > 1 {
		return nil, 0, nil, &authError{"invalid_request", "prompt=none cannot be combined with other values"}
	}
	if raw, ok := q["max_age"]; ok {
		n, err := strconv.ParseInt(raw[0], 10, 64)
		if err != nil || n < 0 {
			return nil, 0, nil, &authError{"invalid_request", "max_age must be a non-negative number of seconds"}
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
	err := p.store.CreateAuthCode(ctx, store.AuthCode{
		ID: core.HashString(code), ClientID: req.ClientID, RedirectURI: req.RedirectURI, UserID: req.UserID,
		ConnectorID: req.ConnectorID, Scopes: req.Scopes, Nonce: req.Nonce,
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: req.CodeChallengeMethod,
		AuthTime: req.AuthTime, AMR: req.AMR, Resources: req.Resources, FamilyID: familyID, Expiry: p.opts.Now().Add(p.opts.AuthCodeTTL),
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
