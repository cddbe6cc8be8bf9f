package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// adminClient is a client as the API reads and writes it: durations as Go
// duration strings, never the secret or its hash.
type adminClient struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name,omitempty"`
	Public                 bool     `json:"public"`
	RedirectURIs           []string `json:"redirect_uris,omitempty"`
	GrantTypes             []string `json:"grant_types,omitempty"`
	Scopes                 []string `json:"scopes,omitempty"`
	ExtraScopes            []string `json:"extra_scopes,omitempty"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	NoIntrospection        bool     `json:"no_introspection,omitempty"`
	IntrospectAny          bool     `json:"introspect_any,omitempty"`
	Consent                bool     `json:"consent,omitempty"`
	TokenFormat            string   `json:"token_format,omitempty"`
	AccessTokenTTL         string   `json:"access_token_ttl,omitempty"`
	IDTokenTTL             string   `json:"id_token_ttl,omitempty"`
	RefreshIdleTTL         string   `json:"refresh_idle_ttl,omitempty"`
	RefreshAbsoluteTTL     string   `json:"refresh_absolute_ttl,omitempty"`
	RefreshReuseGrace      string   `json:"refresh_reuse_grace,omitempty"`
	IDTokenAlg             string   `json:"id_token_alg,omitempty"`
	HasSecret              bool     `json:"has_secret"` // output only
	Version                int64    `json:"version"`    // output only
	// Resources the client may ask tokens for (RFC 8707). ResourceURIs,
	// naming the client as a resource server, come from the file only:
	// through the API one client could take another's tokens' audience.
	Resources    []string `json:"resources,omitempty"`
	ResourceURIs []string `json:"resource_uris,omitempty"` // output only

	// Client authentication (core.CheckClientKeys).
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	// TokenExchange: what it may exchange (RFC 8693, checked by the protocol).
	TokenExchange *store.ClientExchange `json:"token_exchange,omitempty"`

	// Back-channel logout (broker/protocol).
	BackchannelLogoutURI             string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool   `json:"backchannel_logout_session_required,omitempty"`
	// Pushed and signed authorization requests (RFC 9126, RFC 9101).
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests,omitempty"`
	RequireSignedRequestObject         bool `json:"require_signed_request_object,omitempty"`
	// DPoP-bound tokens (RFC 9449 §5.2) and the client profile (fapi2).
	DPoPBoundAccessTokens bool   `json:"dpop_bound_access_tokens,omitempty"`
	Profile               string `json:"profile,omitempty"`
	// ManagedBy is "file" for a client the configuration file manages
	// (declarative: true; managed.go), read-only here.
	ManagedBy string `json:"managed_by,omitempty"`
}

// adminClientSecret is the answer that carries a new secret, shown once.
type adminClientSecret struct {
	adminClient
	ClientSecret string `json:"client_secret,omitempty"`
}

func clientView(c store.Client) adminClient {
	d := func(v time.Duration) string {
		if v == 0 {
			return ""
		}
		return v.String()
	}
	return adminClient{
		ID: c.ID, Name: c.Name, Public: c.Public, RedirectURIs: c.RedirectURIs, GrantTypes: c.GrantTypes,
		Scopes: c.Scopes, ExtraScopes: c.ExtraScopes, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		NoIntrospection: c.NoIntrospection, IntrospectAny: c.IntrospectAny, Consent: c.Consent, TokenFormat: c.TokenFormat,
		AccessTokenTTL: d(c.AccessTokenTTL), IDTokenTTL: d(c.IDTokenTTL), RefreshIdleTTL: d(c.RefreshIdleTTL),
		RefreshAbsoluteTTL: d(c.RefreshAbsoluteTTL), RefreshReuseGrace: d(c.RefreshReuseGrace),
		IDTokenAlg: c.IDTokenAlg, HasSecret: c.SecretHash != "", Version: c.Version,
		Resources: c.Resources, ResourceURIs: c.ResourceURIs,
		TokenEndpointAuthMethod: c.AuthMethod, JWKS: c.JWKS, JWKSURI: c.JWKSURI, TokenExchange: c.TokenExchange,
		BackchannelLogoutURI: c.BackchannelLogoutURI, BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
		RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests, RequireSignedRequestObject: c.RequireSignedRequestObject,
		DPoPBoundAccessTokens: c.DPoPBoundAccessTokens, Profile: c.Profile,
	}
}

var adminGrantTypes = []string{"authorization_code", "refresh_token", "client_credentials", core.GrantTokenExchange, core.GrantDeviceCode}

// clientRecord checks v and returns it as a store record (without secret and
// version); the error text is safe to show the caller.
func (api *API) clientRecord(v adminClient) (store.Client, error) {
	c := store.Client{
		ID: v.ID, Name: v.Name, Public: v.Public, RedirectURIs: v.RedirectURIs, GrantTypes: v.GrantTypes,
		Scopes: v.Scopes, ExtraScopes: v.ExtraScopes, PostLogoutRedirectURIs: v.PostLogoutRedirectURIs,
		NoIntrospection: v.NoIntrospection || v.Public, IntrospectAny: v.IntrospectAny && !v.Public, Consent: v.Consent, TokenFormat: v.TokenFormat, IDTokenAlg: v.IDTokenAlg,
		Resources: v.Resources,
	}
	if len(v.ResourceURIs) > 0 {
		return c, errors.New("resource_uris: resource servers are configured in the file, not through the API")
	}
	if len(c.Resources) > config.MaxResources {
		return c, fmt.Errorf("resources: at most %d", config.MaxResources)
	}
	for i, r := range c.Resources {
		if msg := config.CheckResource(r); msg != "" {
			return c, fmt.Errorf("resources[%d]: %s", i, msg)
		}
		if slices.Contains(c.Resources[:i], r) {
			return c, fmt.Errorf("resources[%d]: duplicate resource %q", i, r)
		}
		if r == core.AdminAudience(api.opts.Issuer) {
			return c, fmt.Errorf("resources[%d]: %q is the admin API's audience, which no client may take", i, r)
		}
	}
	// Back-channel logout: the file's rule for the URI.
	c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired = v.BackchannelLogoutURI, v.BackchannelLogoutSessionRequired
	if c.BackchannelLogoutURI != "" {
		if msg := config.CheckBackchannelLogoutURI(c.BackchannelLogoutURI); msg != "" {
			return c, errors.New("backchannel_logout_uri: " + msg)
		}
	} else if c.BackchannelLogoutSessionRequired {
		return c, errors.New("backchannel_logout_session_required: needs backchannel_logout_uri")
	}
	// One rule with the file: an id the API accepts is one its paths,
	// the token endpoint's Basic credentials and the loader take too.
	if msg := config.CheckClientID(c.ID); msg != "" {
		return c, errors.New("id: " + msg)
	}
	if msg := config.CheckDisplayName(c.Name); msg != "" {
		return c, errors.New("name: " + msg)
	}
	if msg := config.CheckClientLists(map[string][]string{"redirect_uris": c.RedirectURIs, "post_logout_redirect_uris": c.PostLogoutRedirectURIs,
		"grant_types": c.GrantTypes, "scopes": c.Scopes, "extra_scopes": c.ExtraScopes}); msg != "" {
		return c, errors.New(msg)
	}
	for _, d := range []struct {
		name string
		in   string
		out  *time.Duration
	}{
		{"access_token_ttl", v.AccessTokenTTL, &c.AccessTokenTTL}, {"id_token_ttl", v.IDTokenTTL, &c.IDTokenTTL},
		{"refresh_idle_ttl", v.RefreshIdleTTL, &c.RefreshIdleTTL}, {"refresh_absolute_ttl", v.RefreshAbsoluteTTL, &c.RefreshAbsoluteTTL},
		{"refresh_reuse_grace", v.RefreshReuseGrace, &c.RefreshReuseGrace},
	} {
		if d.in == "" {
			continue
		}
		t, err := time.ParseDuration(d.in)
		if err != nil || t < 0 {
			return c, errors.New(d.name + ": not a non-negative duration such as 10m")
		}
		*d.out = t
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{"authorization_code"}
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(adminGrantTypes, g) {
			return c, errors.New("grant_types: unknown grant type " + g)
		}
	}
	if c.Public && slices.Contains(c.GrantTypes, "client_credentials") {
		return c, errors.New("grant_types: a public client cannot use client_credentials")
	}
	if slices.Contains(c.GrantTypes, "authorization_code") && len(c.RedirectURIs) == 0 {
		return c, errors.New("redirect_uris: required for authorization_code")
	}
	if slices.Contains(c.GrantTypes, "refresh_token") && !slices.Contains(c.GrantTypes, "authorization_code") && !slices.Contains(c.GrantTypes, core.GrantDeviceCode) {
		return c, errors.New("grant_types: refresh_token requires authorization_code or the device code grant")
	}
	// The file's rules: no plain http off loopback, no script schemes.
	for _, l := range []struct {
		name string
		uris []string
	}{{"redirect_uris", c.RedirectURIs}, {"post_logout_redirect_uris", c.PostLogoutRedirectURIs}} {
		for _, raw := range l.uris {
			if msg := config.CheckRedirectURI(raw, c.Public); msg != "" {
				return c, fmt.Errorf("%s: %q: %s", l.name, raw, msg)
			}
		}
	}
	if field, msg := config.CheckClientLifetimes(c.AccessTokenTTL, c.IDTokenTTL, c.RefreshIdleTTL, c.RefreshAbsoluteTTL, c.RefreshReuseGrace); msg != "" {
		return c, errors.New(field + ": " + msg)
	}
	for i, s := range c.Scopes {
		// Admin clients come from the configuration file only: the API
		// must not be able to mint a second way in (nor a look-alike).
		if strings.EqualFold(s, core.AdminScope) {
			return c, errors.New("scopes: the admin scope is configured in the file (admin: true), not through the API")
		}
		if msg := config.CheckScope(s); msg != "" {
			return c, fmt.Errorf("scopes[%d]: %s", i, msg)
		}
		if slices.Contains(c.Scopes[:i], s) {
			return c, fmt.Errorf("scopes[%d]: duplicate scope %q", i, s)
		}
	}
	for _, s := range c.ExtraScopes {
		if _, ok := api.opts.Scopes[s]; !ok {
			return c, errors.New("extra_scopes: scope " + s + " is not configured")
		}
	}
	if !slices.Contains([]string{"", tokensvc.FormatJWT, tokensvc.FormatOpaque}, c.TokenFormat) {
		return c, errors.New("token_format: jwt or opaque")
	}
	if err := api.tokens.CheckPolicy(c.Policy()); err != nil {
		return c, err
	}
	if err := adminClientAuth(v, &c); err != nil {
		return c, err
	}
	// Pushed and signed requests: the file's rule (signed objects need keys).
	c.RequirePushedAuthorizationRequests, c.RequireSignedRequestObject = v.RequirePushedAuthorizationRequests, v.RequireSignedRequestObject
	if msg := config.CheckSignedRequestObjects(c.AuthMethod, c.RequireSignedRequestObject); msg != "" {
		return c, errors.New("require_signed_request_object: " + msg)
	}
	c.DPoPBoundAccessTokens, c.Profile = v.DPoPBoundAccessTokens, v.Profile
	if msg := config.CheckProfile(c.Profile, c.AuthMethod, c.Public, c.GrantTypes); msg != "" {
		return c, errors.New("profile: " + msg)
	}
	if msg := config.CheckProfileAlgs(c.Profile, c.IDTokenAlg, api.tokens.Algorithms()[0]); msg != "" {
		return c, errors.New("profile: " + msg)
	}
	c.TokenExchange = v.TokenExchange
	if err := api.clients.CheckExchange(c); err != nil { // the protocol's rules
		return c, err
	}
	return c, nil
}

func (api *API) adminListClients(c *gin.Context) {
	cls, err := api.store.ListClients(c.Request.Context())
	if err != nil {
		api.adminFail(c, "list clients", err)
		return
	}
	slices.SortFunc(cls, func(x, y store.Client) int { return strings.Compare(x.ID, y.ID) })
	out := make([]adminClient, 0, len(cls))
	for _, cl := range cls {
		v := clientView(cl)
		v.ManagedBy = api.managedBy("client", cl.ID)
		out = append(out, v)
	}
	c.JSON(http.StatusOK, gin.H{"clients": out})
}

func (api *API) adminGetClient(c *gin.Context) {
	cl, err := api.store.GetClient(c.Request.Context(), c.Param("id"))
	if !api.adminCheck(c, "client", err) {
		return
	}
	v := clientView(cl)
	v.ManagedBy = api.managedBy("client", cl.ID)
	c.JSON(http.StatusOK, v)
}

// adminCreateClient registers a client; a confidential one gets a secret,
// returned in this answer only.
func (api *API) adminCreateClient(c *gin.Context) {
	var v adminClient
	if !adminBind(c, &v) {
		return
	}
	if v.ID == "" {
		v.ID = core.NewClientID()
	}
	if api.reserved(c, v.ID) {
		return
	}
	rec, err := api.clientRecord(v)
	if err != nil {
		adminError(c, http.StatusBadRequest, "invalid_client_metadata", err.Error())
		return
	}
	secret := ""
	if !rec.Public && config.AuthMethodUsesSecret(rec.AuthMethod) {
		secret = core.NewSecretFor(&rec)
	}
	// Sessions older than this began with a deleted client of this id:
	// the token endpoint refuses them.
	rec.CreatedAt = api.opts.Now().UTC()
	err = api.store.CreateClient(c.Request.Context(), rec)
	if errors.Is(err, store.ErrAlreadyExists) {
		adminError(c, http.StatusConflict, "conflict", "a client with this id exists")
		return
	} else if !api.adminCheck(c, "client", err) {
		return
	}
	api.adminAudit(c, "client_create", store.AuditEvent{ClientID: rec.ID})
	c.JSON(http.StatusCreated, adminClientSecret{clientView(rec), secret})
}

// adminPutClient replaces a client's settings, keeping its secret; making
// a public client confidential, or a client client_secret_jwt, needs a
// secret rotation afterwards.
func (api *API) adminPutClient(c *gin.Context) {
	var v adminClient
	if !adminBind(c, &v) {
		return
	}
	id := c.Param("id")
	if v.ID != "" && v.ID != id {
		adminError(c, http.StatusBadRequest, "invalid_request", "the body's id differs from the path's")
		return
	}
	v.ID = id
	rec, err := api.clientRecord(v)
	if err != nil {
		adminError(c, http.StatusBadRequest, "invalid_client_metadata", err.Error())
		return
	}
	ctx := c.Request.Context()
	err = core.ErrTooManyRetries
	for range core.Retries {
		var old store.Client
		if old, err = api.store.GetClient(ctx, id); err != nil {
			break
		}
		// Settings only: what dynamic registration keeps (its access
		// token) stays, so the client can still manage itself.
		rec.Version, rec.Registration, rec.ResourceURIs, rec.CreatedAt = old.Version, old.Registration, old.ResourceURIs, old.CreatedAt
		if !rec.Public {
			rec.SecretHash = old.SecretHash
		}
		if rec.AuthMethod == config.AuthSecretJWT { // else none needed (core.NewSecretFor)
			rec.JWTSecret = old.JWTSecret // none yet: as for a public client made confidential, rotate
		}
		if err = api.store.UpdateClient(ctx, rec); !errors.Is(err, store.ErrConflict) {
			break
		}
		err = core.ErrTooManyRetries
	}
	if !api.adminCheck(c, "client", err) {
		return
	}
	rec.Version++
	api.adminAudit(c, "client_update", store.AuditEvent{ClientID: id})
	c.JSON(http.StatusOK, clientView(rec))
}

func (api *API) adminDeleteClient(c *gin.Context) {
	id := c.Param("id")
	ctx := c.Request.Context()
	if _, err := api.store.GetClient(ctx, id); !api.adminCheck(c, "client", err) {
		return
	}
	if err := api.store.DeleteClient(ctx, id); !api.adminCheck(c, "client", err) {
		return
	}
	api.adminAudit(c, "client_delete", store.AuditEvent{ClientID: id})
	c.Status(http.StatusNoContent)
}

// adminRotateSecret gives a confidential client a new secret at once; the
// old one stops working.
func (api *API) adminRotateSecret(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	secret := core.NewClientSecret()
	var cl store.Client
	err := core.ErrTooManyRetries
	for range core.Retries {
		if cl, err = api.store.GetClient(ctx, id); err != nil {
			break
		}
		if cl.Public || !config.AuthMethodUsesSecret(cl.AuthMethod) {
			adminError(c, http.StatusBadRequest, "invalid_request", "this client authenticates without a secret")
			return
		}
		secret = core.NewSecretFor(&cl)
		if err = api.store.UpdateClient(ctx, cl); !errors.Is(err, store.ErrConflict) {
			break
		}
		err = core.ErrTooManyRetries
	}
	if !api.adminCheck(c, "client", err) {
		return
	}
	cl.Version++
	api.adminAudit(c, "client_secret_rotate", store.AuditEvent{ClientID: id})
	c.JSON(http.StatusOK, adminClientSecret{clientView(cl), secret})
}

// adminKey is a signing key's public facts.
type adminKey struct {
	ID         string    `json:"id"`
	Alg        string    `json:"alg"`
	State      string    `json:"state"` // next, active or retired
	CreatedAt  time.Time `json:"created_at"`
	ActiveFrom time.Time `json:"active_from"`
	RetiredAt  time.Time `json:"retired_at,omitzero"`
}

func (api *API) keyList(c *gin.Context) bool {
	ks, err := api.store.GetKeys(c.Request.Context())
	if err != nil {
		api.adminFail(c, "read keys", err)
		return false
	}
	now := api.opts.Now()
	out := make([]adminKey, 0, len(ks.Keys))
	for _, k := range ks.Keys {
		state := "active"
		switch {
		case !k.RetiredAt.IsZero():
			state = "retired"
		case k.ActiveFrom.After(now):
			state = "next"
		}
		out = append(out, adminKey{ID: k.ID, Alg: k.Alg, State: state, CreatedAt: k.CreatedAt, ActiveFrom: k.ActiveFrom, RetiredAt: k.RetiredAt})
	}
	c.JSON(http.StatusOK, gin.H{"keys": out})
	return true
}

func (api *API) adminListKeys(c *gin.Context) { api.keyList(c) }

// adminRotateKeys retires the active keys now; the next ones take over
// (tokensvc.RotateKeys).
func (api *API) adminRotateKeys(c *gin.Context) {
	if err := api.tokens.RotateKeys(c.Request.Context()); err != nil {
		api.adminFail(c, "rotate keys", err)
		return
	}
	api.adminAudit(c, "keys_rotate", store.AuditEvent{})
	api.keyList(c)
}

// adminListAudit returns stored events from since (RFC 3339), oldest first.
func (api *API) adminListAudit(c *gin.Context) {
	limit, ok := adminLimit(c)
	if !ok {
		return
	}
	var since time.Time
	if raw := c.Query("since"); raw != "" {
		t, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			adminError(c, http.StatusBadRequest, "invalid_request", "since must be an RFC 3339 time")
			return
		}
		since = t
	}
	evs, err := api.store.ListAuditEvents(c.Request.Context(), since, limit)
	if err != nil {
		api.adminFail(c, "list audit events", err)
		return
	}
	if evs == nil {
		evs = []store.AuditEvent{}
	}
	c.JSON(http.StatusOK, gin.H{"events": evs})
}

// adminClientAuth sets c's authentication from the admin API's client v:
// the method defaults as it always did (a secret, or none when public).
func adminClientAuth(v adminClient, c *store.Client) error {
	m := v.TokenEndpointAuthMethod
	switch {
	case m == "":
	case !slices.Contains(config.AuthMethods, m):
		return errors.New("token_endpoint_auth_method: unsupported (client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, none)")
	case (m == config.AuthNone) != c.Public:
		return errors.New("token_endpoint_auth_method: none goes with public: true, and only with it")
	}
	jwks, msg := core.CheckClientKeys(m, v.JWKS, v.JWKSURI)
	if msg != "" {
		return errors.New(msg)
	}
	c.AuthMethod, c.JWKS, c.JWKSURI = m, jwks, v.JWKSURI
	return nil
}
