package protocol

// Dynamic client registration (RFC 7591) and its management protocol
// (RFC 7592). Registration is never open: POST /register takes one of the
// configured initial access tokens as a Bearer token. Each registered
// client gets a registration access token, stored hashed like a client
// secret, with which it reads, replaces or deletes its registration at
// /register/{client_id}. Clients of the configuration file have no
// registration and cannot be managed there.

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portico-idp/portico/broker/identity"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
	"github.com/portico-idp/portico/tokensvc"
)

// RegistrationOptions turn dynamic client registration on.
type RegistrationOptions struct {
	// InitialAccessTokenHashes are HashClientSecret of the tokens that
	// authorize POST /register.
	InitialAccessTokenHashes []string
	// DefaultGrantTypes are given to a client that asks for none.
	DefaultGrantTypes []string
	// AllowPrivateURIs lets registered clients' jwks_uri and
	// backchannel_logout_uri reach non-public addresses (outbound.go).
	AllowPrivateURIs bool
}

// maxRegistrationBytes bounds a registration body; real ones are small.
const maxRegistrationBytes = 64 << 10

// Token endpoint authentication methods a client may register.
const (
	authBasic = "client_secret_basic"
	authPost  = "client_secret_post"
	authNone  = "none"
)

// clientMetadata is the client metadata Portico accepts (RFC 7591 §2,
// OpenID Connect Registration §2). Other members are ignored, as §2 allows,
// and left out of the answer, which shows what was accepted.
type clientMetadata struct {
	RedirectURIs             []string `json:"redirect_uris,omitempty"`
	GrantTypes               []string `json:"grant_types"`
	ResponseTypes            []string `json:"response_types"`
	TokenEndpointAuthMethod  string   `json:"token_endpoint_auth_method"`
	ClientName               string   `json:"client_name,omitempty"`
	Scope                    string   `json:"scope,omitempty"`
	PostLogoutRedirectURIs   []string `json:"post_logout_redirect_uris,omitempty"`
	IDTokenSignedResponseAlg string   `json:"id_token_signed_response_alg,omitempty"`
	// A private_key_jwt client's keys (clientjwt_register.go).
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI string          `json:"jwks_uri,omitempty"`
	// ClientID and ClientSecret appear only in RFC 7592 updates.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`

	// Back-Channel Logout 1.0 §2.2 (backchannel.go).
	BackchannelLogoutURI             string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool   `json:"backchannel_logout_session_required,omitempty"`

	// RFC 9126 §6 and RFC 9101 §10.5 (par.go, jar.go).
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests,omitempty"`
	RequireSignedRequestObject         bool `json:"require_signed_request_object,omitempty"`

	// RFC 9449 §5.2 (dpop.go).
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty"`
}

// regError is an RFC 7591 §3.2.2 error (or, with status 401, an RFC 6750
// §3.1 bearer token error).
type regError struct {
	status     int
	code, desc string
}

func badMetadata(desc string) *regError {
	return &regError{http.StatusBadRequest, "invalid_client_metadata", desc}
}

func badRedirect(desc string) *regError {
	return &regError{http.StatusBadRequest, "invalid_redirect_uri", desc}
}

// badToken: the message never says whether the client exists (RFC 7592
// §2 answers an unknown client with 401 too).
var badToken = &regError{http.StatusUnauthorized, "invalid_token", "the access token is missing, invalid or not for this client"}

var regUnavailable = &regError{http.StatusServiceUnavailable, "temporarily_unavailable", "try again later"}

func (p *Server) writeRegError(c *gin.Context, e *regError) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	if e.status == http.StatusUnauthorized {
		// No credentials at all: the challenge names no error (RFC 6750
		// §3.1).
		if c.GetHeader("Authorization") == "" {
			c.Header("WWW-Authenticate", `Bearer realm="portico"`)
		} else {
			c.Header("WWW-Authenticate", `Bearer realm="portico", error="invalid_token"`)
		}
	}
	c.AbortWithStatusJSON(e.status, gin.H{"error": e.code, "error_description": core.Description(e.desc)})
}

func (p *Server) registrationRoutes(r *gin.Engine) {
	r.POST(p.path("/register"), p.handleRegister)
	r.GET(p.path("/register/:client_id"), p.handleRegistrationRead)
	r.PUT(p.path("/register/:client_id"), p.handleRegistrationUpdate)
	r.DELETE(p.path("/register/:client_id"), p.handleRegistrationDelete)
}

// bearer returns the request's Bearer token (RFC 6750 §2.1), or "".
func bearer(c *gin.Context) string {
	h := c.GetHeader("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return ""
	}
	return strings.TrimSpace(h[7:])
}

// initialTokenOK compares the token's hash with every configured one, in
// constant time and without stopping at a match.
func (p *Server) initialTokenOK(token string) bool {
	if token == "" {
		return false
	}
	h := []byte(core.HashClientSecret(token))
	ok := 0
	for _, want := range p.opts.Registration.InitialAccessTokenHashes {
		ok |= subtle.ConstantTimeCompare(h, []byte(want))
	}
	return ok == 1
}

// regThrottled returns the answer to a registration request whose keys
// are throttled (with Retry-After set), or nil when it may go on.
func (p *Server) regThrottled(c *gin.Context, keys []throttle.Key) *regError {
	d, err := p.clientThrottlePeek(c.Request.Context(), keys)
	switch {
	case err != nil:
		return regUnavailable
	case !d.Allowed:
		c.Header("Retry-After", d.RetryAfterHeader())
		return &regError{http.StatusTooManyRequests, "temporarily_unavailable", "too many failed attempts; retry after " + d.RetryAfterHeader() + " s"}
	}
	return nil
}

// readMetadata decodes the request body, JSON of at most
// maxRegistrationBytes (the broker's body.go), as client metadata.
func readMetadata(c *gin.Context) (clientMetadata, *regError) {
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return clientMetadata{}, badMetadata("the request body could not be read")
	}
	return parseMetadata(raw)
}

// parseMetadata decodes one JSON object of client metadata. A member of
// the wrong type is an error, not silently dropped.
func parseMetadata(raw []byte) (clientMetadata, *regError) {
	var m clientMetadata
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&m); err != nil {
		return clientMetadata{}, badMetadata("the body must be a JSON object of client metadata")
	}
	if _, err := dec.Token(); err != io.EOF {
		return clientMetadata{}, badMetadata("the body must hold one JSON object")
	}
	return m, nil
}

// checkMetadata validates m, filling in defaults, and returns the client
// record it describes (without ID, secret or registration). The rules are
// those of the configuration file's clients.
func (p *Server) checkMetadata(m *clientMetadata) (store.Client, *regError) {
	switch m.TokenEndpointAuthMethod {
	case "":
		m.TokenEndpointAuthMethod = authBasic // RFC 7591 §2's default
	case authBasic, authPost, authNone, config.AuthSecretJWT, config.AuthPrivateKeyJWT:
	default:
		return store.Client{}, badMetadata("unsupported token_endpoint_auth_method (supported: client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, none)")
	}
	public := m.TokenEndpointAuthMethod == authNone

	if m.GrantTypes == nil {
		for _, g := range p.opts.Registration.DefaultGrantTypes {
			if !(public && g == config.GrantClientCredentials) {
				m.GrantTypes = append(m.GrantTypes, g)
			}
		}
	}
	grants := map[string]bool{}
	for _, g := range m.GrantTypes {
		switch {
		case !slices.Contains([]string{config.GrantAuthorizationCode, config.GrantRefreshToken, config.GrantClientCredentials, config.GrantDeviceCode}, g):
			return store.Client{}, badMetadata("unsupported grant type " + quote(g) + " (supported: authorization_code, refresh_token, client_credentials, " + config.GrantDeviceCode + ")")
		case grants[g]:
			return store.Client{}, badMetadata("duplicate grant type " + quote(g))
		case g == config.GrantClientCredentials && public:
			return store.Client{}, badMetadata("a public client (token_endpoint_auth_method none) cannot use client_credentials")
		}
		grants[g] = true
	}
	if len(grants) == 0 {
		return store.Client{}, badMetadata("grant_types must not be empty")
	}
	if grants[config.GrantRefreshToken] && !grants[config.GrantAuthorizationCode] && !grants[config.GrantDeviceCode] {
		return store.Client{}, badMetadata("refresh_token requires authorization_code or the device code grant")
	}

	// RFC 7591 §2.1: response types must agree with grant types; code is
	// the only response type and goes with authorization_code.
	code := grants[config.GrantAuthorizationCode]
	if m.ResponseTypes == nil && code {
		m.ResponseTypes = []string{"code"}
	}
	if m.ResponseTypes == nil {
		m.ResponseTypes = []string{}
	}
	for _, rt := range m.ResponseTypes {
		if rt != "code" {
			return store.Client{}, badMetadata("unsupported response type " + quote(rt) + " (supported: code)")
		}
	}
	if code != (len(m.ResponseTypes) > 0) {
		return store.Client{}, badMetadata("response_types code and grant type authorization_code go together")
	}

	if msg := config.CheckClientLists(map[string][]string{"redirect_uris": m.RedirectURIs, "post_logout_redirect_uris": m.PostLogoutRedirectURIs,
		"grant_types": m.GrantTypes, "response_types": m.ResponseTypes}); msg != "" {
		return store.Client{}, badMetadata(msg)
	}
	if code && len(m.RedirectURIs) == 0 {
		return store.Client{}, badRedirect("at least one redirect URI is required for the authorization_code grant")
	}
	if !code && len(m.RedirectURIs) > 0 {
		return store.Client{}, badRedirect("redirect URIs need the authorization_code grant")
	}
	for i, u := range m.RedirectURIs {
		if msg := config.CheckRedirectURI(u, public); msg != "" {
			return store.Client{}, badRedirect("redirect URI " + quote(u) + ": " + msg)
		}
		if slices.Contains(m.RedirectURIs[:i], u) {
			return store.Client{}, badRedirect("duplicate redirect URI " + quote(u))
		}
	}
	for _, u := range m.PostLogoutRedirectURIs {
		if msg := config.CheckRedirectURI(u, public); msg != "" {
			return store.Client{}, badMetadata("post-logout redirect URI " + quote(u) + ": " + msg)
		}
	}

	if m.BackchannelLogoutURI != "" {
		if msg := config.CheckBackchannelLogoutURI(m.BackchannelLogoutURI); msg != "" {
			return store.Client{}, badMetadata("backchannel_logout_uri " + quote(m.BackchannelLogoutURI) + ": " + msg)
		}
	} else if m.BackchannelLogoutSessionRequired {
		return store.Client{}, badMetadata("backchannel_logout_session_required needs backchannel_logout_uri")
	}
	// Portico will connect to these: an address literal that is not public
	// is refused now, a name resolving to one when connecting (outbound.go).
	if !p.opts.Registration.AllowPrivateURIs {
		for _, u := range []struct{ name, uri string }{{"jwks_uri", m.JWKSURI}, {"backchannel_logout_uri", m.BackchannelLogoutURI}} {
			if privateLiteral(u.uri) {
				return store.Client{}, badMetadata(u.name + " " + quote(u.uri) + ": must not name a loopback, private or link-local address")
			}
		}
	}

	// scope: the standard scopes are every client's; custom ones (the
	// configured scopes) become the client's extra scopes. Others, such as
	// API scopes for client_credentials, only an administrator grants.
	var extra []string
	for _, s := range strings.Fields(m.Scope) {
		_, custom := p.opts.Scopes[s]
		switch {
		case custom && !slices.Contains(extra, s):
			extra = append(extra, s)
		case !custom && !slices.Contains(identity.SupportedScopes, s):
			return store.Client{}, badMetadata("scope " + quote(s) + " cannot be registered")
		}
	}
	// Characters, not bytes (800 bytes at most); no C0, DEL or C1, and
	// no bidirectional controls, which make a name read as another (a
	// right-to-left override turns "Good\u202elivE" into "GoodEvil").
	if !utf8.ValidString(m.ClientName) || len(m.ClientName) > 800 || utf8.RuneCountInString(m.ClientName) > 200 ||
		strings.ContainsFunc(m.ClientName, config.IsControl) {
		return store.Client{}, badMetadata("client_name must be at most 200 characters, without control characters")
	}
	rec := store.Client{
		Name: m.ClientName, Public: public, RedirectURIs: m.RedirectURIs, GrantTypes: m.GrantTypes,
		ExtraScopes: extra, PostLogoutRedirectURIs: m.PostLogoutRedirectURIs,
		IDTokenAlg: m.IDTokenSignedResponseAlg,
		// Introspection reads any client's tokens: a resource server's
		// privilege, which only an administrator grants.
		NoIntrospection: true,
		Consent:         true, // anyone with an initial access token: a third party
		// Back-channel logout.
		BackchannelLogoutURI:             m.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired: m.BackchannelLogoutSessionRequired,
	}
	if err := p.tokens.CheckPolicy(rec.Policy()); err != nil {
		return store.Client{}, badMetadata("this server has no signing keys for that id_token_signed_response_alg")
	}
	if e := checkAuthMetadata(m, &rec); e != nil { // clientjwt_register.go
		return store.Client{}, e
	}
	if msg := config.CheckSignedRequestObjects(rec.AuthMethod, m.RequireSignedRequestObject); msg != "" {
		return store.Client{}, badMetadata("require_signed_request_object " + msg)
	}
	rec.RequirePushedAuthorizationRequests, rec.RequireSignedRequestObject = m.RequirePushedAuthorizationRequests, m.RequireSignedRequestObject
	rec.DPoPBoundAccessTokens = m.DPoPBoundAccessTokens
	return rec, nil
}

// quote shows a client's value in an error, cut short.
func quote(s string) string {
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// clientInfo is the RFC 7591 §3.2.1 / RFC 7592 §3 answer: the accepted
// metadata and what the server issued. secret and regToken are set only
// when just issued; Portico keeps neither in clear.
func (p *Server) clientInfo(cl store.Client, secret, regToken string) gin.H {
	reg := cl.Registration
	grants := slices.Clone(cl.GrantTypes)
	resp := []string{}
	if slices.Contains(grants, config.GrantAuthorizationCode) {
		resp = []string{"code"}
	}
	h := gin.H{
		"client_id": cl.ID, "client_id_issued_at": reg.IssuedAt.Unix(),
		"registration_client_uri":    p.url("/register/" + cl.ID),
		"token_endpoint_auth_method": reg.AuthMethod,
		"grant_types":                grants, "response_types": resp,
	}
	if cl.SecretHash != "" {
		h["client_secret_expires_at"] = 0 // never
	}
	authInfo(cl, h) // clientjwt_register.go
	if secret != "" {
		h["client_secret"] = secret
	}
	if regToken != "" {
		h["registration_access_token"] = regToken
	}
	for k, v := range map[string][]string{"redirect_uris": cl.RedirectURIs, "post_logout_redirect_uris": cl.PostLogoutRedirectURIs} {
		if len(v) > 0 {
			h[k] = v
		}
	}
	if cl.Name != "" {
		h["client_name"] = cl.Name
	}
	if len(cl.ExtraScopes) > 0 {
		h["scope"] = strings.Join(cl.ExtraScopes, " ")
	}
	if cl.IDTokenAlg != "" {
		h["id_token_signed_response_alg"] = cl.IDTokenAlg
	}
	if cl.RequirePushedAuthorizationRequests { // par.go
		h["require_pushed_authorization_requests"] = true
	}
	if cl.RequireSignedRequestObject { // jar.go
		h["require_signed_request_object"] = true
	}
	if cl.DPoPBoundAccessTokens { // dpop.go
		h["dpop_bound_access_tokens"] = true
	}
	if cl.BackchannelLogoutURI != "" { // back-channel logout
		h["backchannel_logout_uri"] = cl.BackchannelLogoutURI
		h["backchannel_logout_session_required"] = cl.BackchannelLogoutSessionRequired
	}
	return h
}

func (p *Server) writeClientInfo(c *gin.Context, status int, h gin.H) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.JSON(status, h)
}

// handleRegister is RFC 7591 §3.1.
func (p *Server) handleRegister(c *gin.Context) {
	// Initial access tokens are not a client's: failures count per
	// address only, so that nobody can shut registration for all.
	keys := ClientThrottleKeys("", c.ClientIP())[1:]
	if e := p.regThrottled(c, keys); e != nil {
		p.writeRegError(c, e)
		return
	}
	if !p.initialTokenOK(bearer(c)) {
		p.clientAuthFailed(c.Request.Context(), keys)
		p.writeRegError(c, badToken)
		return
	}
	m, e := readMetadata(c)
	if e == nil && (m.ClientID != "" || m.ClientSecret != "") {
		e = badMetadata("client_id and client_secret are issued by the server")
	}
	var rec store.Client
	if e == nil {
		rec, e = p.checkMetadata(&m)
	}
	if e != nil {
		p.writeRegError(c, e)
		return
	}
	var secret string
	regToken := tokensvc.NewID() + tokensvc.NewID()
	rec.ID = core.NewClientID()
	rec.Registration = &store.ClientRegistration{
		AccessTokenHash: core.HashClientSecret(regToken), AuthMethod: m.TokenEndpointAuthMethod,
		IssuedAt: p.opts.Now().UTC().Truncate(time.Second),
	}
	if !rec.Public && config.AuthMethodUsesSecret(rec.AuthMethod) {
		secret = core.NewSecretFor(&rec) // clientjwt_register.go
	}
	rec.CreatedAt = p.opts.Now().UTC()
	if err := p.store.CreateClient(c.Request.Context(), rec); err != nil {
		p.log.Error("register: store client", "err", err)
		p.writeRegError(c, regUnavailable)
		return
	}
	p.auditRegistration(c, "client_create", "registration", rec.ID)
	p.writeClientInfo(c, http.StatusCreated, p.clientInfo(rec, secret, regToken))
}

// registeredClient returns the client the path names if the request
// carries its registration access token. Any failure is the same 401, so
// that nobody learns which client ids exist (RFC 7592 §2.1).
func (p *Server) registeredClient(c *gin.Context) (store.Client, *regError) {
	keys := ClientThrottleKeys(c.Param("client_id"), c.ClientIP())
	if e := p.regThrottled(c, keys); e != nil {
		return store.Client{}, e
	}
	token := bearer(c)
	cl, err := p.store.GetClient(c.Request.Context(), c.Param("client_id"))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		p.log.Error("register: read client", "err", err)
		return store.Client{}, regUnavailable
	}
	want := core.HashClientSecret("") // compare anyway: a miss costs what a match does
	if err == nil && cl.Registration != nil {
		want = cl.Registration.AccessTokenHash
	}
	match := subtle.ConstantTimeCompare([]byte(core.HashClientSecret(token)), []byte(want)) == 1
	if token == "" || !match || err != nil || cl.Registration == nil {
		p.clientAuthFailed(c.Request.Context(), keys)
		return store.Client{}, badToken
	}
	return cl, nil
}

// handleRegistrationRead is RFC 7592 §2.1.
func (p *Server) handleRegistrationRead(c *gin.Context) {
	cl, e := p.registeredClient(c)
	if e != nil {
		p.writeRegError(c, e)
		return
	}
	p.writeClientInfo(c, http.StatusOK, p.clientInfo(cl, "", ""))
}

// handleRegistrationUpdate is RFC 7592 §2.2: the metadata sent replaces the
// client's whole; the secret and the registration stay.
func (p *Server) handleRegistrationUpdate(c *gin.Context) {
	cl, e := p.registeredClient(c)
	if e != nil {
		p.writeRegError(c, e)
		return
	}
	m, e := readMetadata(c)
	switch {
	case e != nil:
	case m.ClientID != cl.ID:
		e = badMetadata("client_id must be the client's own")
	case m.ClientSecret != "" && (cl.Public || subtle.ConstantTimeCompare([]byte(core.HashClientSecret(m.ClientSecret)), []byte(cl.SecretHash)) != 1):
		e = badMetadata("client_secret does not match; it cannot be changed")
	}
	var rec store.Client
	if e == nil {
		rec, e = p.checkMetadata(&m)
	}
	if e == nil && rec.Public != cl.Public {
		// A secret cannot be handed out or taken back by an update.
		e = badMetadata("token_endpoint_auth_method cannot change between none and a client secret")
	}
	if e == nil {
		e = keepSecret(cl, &rec) // clientjwt_register.go
	}
	if e != nil {
		p.writeRegError(c, e)
		return
	}
	rec.ID, rec.SecretHash, rec.Version, rec.CreatedAt = cl.ID, cl.SecretHash, cl.Version, cl.CreatedAt
	if !rec.Public && !config.AuthMethodUsesSecret(rec.AuthMethod) {
		// Moved to keys: the secret is retired for good, not kept for
		// an update that would move back (keepSecret then refuses).
		rec.SecretHash, rec.JWTSecret = "", ""
	}
	reg := *cl.Registration
	reg.AuthMethod = m.TokenEndpointAuthMethod
	rec.Registration = &reg
	if err := p.store.UpdateClient(c.Request.Context(), rec); errors.Is(err, store.ErrConflict) {
		p.writeRegError(c, &regError{http.StatusConflict, "invalid_client_metadata", "the registration changed meanwhile; read it and try again"})
		return
	} else if err != nil {
		p.log.Error("register: update client", "err", err)
		p.writeRegError(c, regUnavailable)
		return
	}
	p.auditRegistration(c, "client_update", audit.Client(rec.ID), rec.ID)
	p.writeClientInfo(c, http.StatusOK, p.clientInfo(rec, "", ""))
}

// handleRegistrationDelete is RFC 7592 §2.3. With the client gone, its
// authorization requests, codes and refresh tokens are refused, since each
// of those looks the client up.
func (p *Server) handleRegistrationDelete(c *gin.Context) {
	cl, e := p.registeredClient(c)
	if e != nil {
		p.writeRegError(c, e)
		return
	}
	if err := p.store.DeleteClient(c.Request.Context(), cl.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		p.log.Error("register: delete client", "err", err)
		p.writeRegError(c, regUnavailable)
		return
	}
	p.auditRegistration(c, "client_delete", audit.Client(cl.ID), cl.ID)
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusNoContent)
}

// auditRegistration records a change made through registration as an
// administrator's change of clients: the audit trail shows every client
// change alike, with the registrant ("registration", the holder of an
// initial access token, or the client itself) as the actor.
func (p *Server) auditRegistration(c *gin.Context, what, actor, clientID string) {
	p.audit.Request(c, store.AuditEvent{Type: audit.AdminPrefix + what, Actor: actor, ClientID: clientID,
		Details: map[string]string{"client_id": clientID, "via": "registration"}})
}
