package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
)

// The admin API (docs/admin-api.md): JSON under /admin/v1, authenticated
// by Portico's own access tokens. Every change is an audit event of type
// "admin.<what>" whose actor is the caller.

// adminActorKey is the gin context key of the authenticated caller.
const adminActorKey = "portico.admin.actor"

// Defaults and bounds of list endpoints.
const (
	adminDefaultLimit = 100
	adminMaxLimit     = 1000
	adminMaxBody      = 1 << 20
	// adminMaxQuery bounds a search (q, login): no username or email the
	// API takes is longer.
	adminMaxQuery = 256
)

// Connectors returns the connectors users can log in with now (a copy).
func (api *API) Connectors() []core.Connector { return slices.Clone(api.conns.Load().List) }

// Handler serves the admin API under /admin/v1 to a caller the process
// trusts already, without a token: the CLI working on a store it opened
// itself, whose access to the data is its authority. Every change is
// audited with actor as who made it, as the served API audits its callers.
func (api *API) Handler(actor string) http.Handler {
	e := gin.New()
	// Every answer is the API's, errors included: a path or method it
	// does not serve is the same JSON error the served API gives.
	e.HandleMethodNotAllowed = true
	e.NoRoute(adminNotFound)
	e.NoMethod(adminMethodNotAllowed)
	api.routes(e.Group("/admin/v1"), func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.Set(adminActorKey, actor)
		c.Next()
	})
	return e
}

// NoRoute answers a path under /admin/v1 that names no operation
// with the API's JSON 404, not the site's HTML page, and ends the chain
// there; other paths go on to the site's handler.
func (api *API) NoRoute(c *gin.Context) {
	if api.Under(c.Request.URL.Path) {
		adminNotFound(c)
	}
}

// NoMethod does the same for a method an admin path does not take.
func (api *API) NoMethod(c *gin.Context) {
	if api.Under(c.Request.URL.Path) {
		adminMethodNotAllowed(c)
	}
}

func (api *API) Under(p string) bool {
	root := api.path("/admin/v1")
	return p == root || strings.HasPrefix(p, root+"/")
}

func adminNotFound(c *gin.Context) {
	adminError(c, http.StatusNotFound, "not_found", notFoundDesc)
}

// adminMethodNotAllowed: gin has set Allow (RFC 9110 §15.5.6) already.
func adminMethodNotAllowed(c *gin.Context) {
	adminError(c, http.StatusMethodNotAllowed, "method_not_allowed", "this endpoint does not take "+c.Request.Method+"; the Allow header lists what it takes")
}

func (api *API) routes(g *gin.RouterGroup, auth gin.HandlerFunc) {
	g.GET("/openapi.json", api.handleAdminOpenAPI) // public: it describes, it grants nothing
	g.Use(auth, adminParams, api.adminManaged)     // adminManaged: managed.go
	g.GET("/users", api.adminListUsers)
	g.GET("/users/:id", api.adminGetUser)
	g.PATCH("/users/:id", api.adminPatchUser)
	g.DELETE("/users/:id", api.adminDeleteUser)
	g.GET("/users/:id/identities", api.adminListIdentities)
	g.DELETE("/users/:id/identities/:connector/:subject", api.adminUnlinkIdentity)
	g.GET("/users/:id/sessions", api.adminListSessions)
	g.DELETE("/users/:id/sessions", api.adminRevokeSessions)
	g.DELETE("/users/:id/sessions/:session", api.adminRevokeSession)
	g.DELETE("/users/:id/mfa", api.adminResetMFA)
	g.GET("/accounts", api.adminListAccounts)
	g.POST("/accounts", api.adminCreateAccount)
	g.GET("/accounts/:id", api.adminGetAccount)
	g.DELETE("/accounts/:id", api.adminDeleteAccount)
	g.PUT("/accounts/:id/password", api.adminSetPassword)
	g.POST("/accounts/:id/invitation", api.adminInvite)
	g.GET("/clients", api.adminListClients)
	g.POST("/clients", api.adminCreateClient)
	g.GET("/clients/:id", api.adminGetClient)
	g.PUT("/clients/:id", api.adminPutClient)
	g.DELETE("/clients/:id", api.adminDeleteClient)
	g.POST("/clients/:id/secret", api.adminRotateSecret)
	g.GET("/keys", api.adminListKeys)
	g.POST("/keys/rotate", api.adminRotateKeys)
	g.GET("/audit", api.adminListAudit)
	g.GET("/connectors", api.adminListConnectors)
	g.POST("/connectors", api.adminCreateConnector)
	g.POST("/connectors/test", api.adminTestConnector)
	g.GET("/connector-types", api.adminConnectorTypes)
	g.PUT("/connectors/:id", api.adminPutConnector)
	g.DELETE("/connectors/:id", api.adminDeleteConnector)
	api.scimAdminRoutes(g) // SCIM provisioners (scim.go)
}

// adminAuth admits an access token only when every one of these holds:
// it was issued to a client the configuration trusts for administration
// (admin: true), it carries the admin scope, its audience names the admin
// API (AdminAudience), the client still exists with that scope, and — for
// a person's token — the user still has the admin role. A role alone is
// never enough: an application the admin logged into holds a token of an
// admin user, and must not get the API with it. A missing or bad token is
// 401 (RFC 6750 §3.1); a good one without these rights 403.
func (api *API) adminAuth(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	a, f := api.res.Check(c.Request) // Bearer or DPoP (RFC 6750, RFC 9449 §7)
	if f != nil && f.Status == http.StatusServiceUnavailable {
		api.adminFail(c, "verify token", f.Err)
		return
	}
	unauthorized := func(f *core.AuthFailure) {
		api.res.Challenge(c.Writer.Header(), f)
		status, code, desc := http.StatusUnauthorized, "unauthorized", "a valid access token is required"
		if f.Code != "" {
			desc = f.Description
		}
		if f.Status == http.StatusBadRequest { // a malformed request (RFC 6750 §3.1)
			status, code = f.Status, f.Code
		}
		c.AbortWithStatusJSON(status, gin.H{"error": code, "error_description": desc})
	}
	if f != nil {
		unauthorized(f)
		return
	}
	ctx := c.Request.Context()
	forbidden := func(desc string) {
		api.res.Forbidden(c.Writer.Header(), a, "", core.AdminScope)
		adminError(c, http.StatusForbidden, "forbidden", desc)
	}
	switch {
	case !api.admins.IsClient(a.ClientID):
		forbidden("the token was issued to a client not trusted for administration")
		return
	case !slices.Contains(a.Scopes, core.AdminScope):
		forbidden("the token lacks the admin scope")
		return
	case !slices.Contains(a.Audience, core.AdminAudience(api.opts.Issuer)):
		forbidden("the token's audience is not the admin API")
		return
	}
	// Tokens outlive their client: one deleted (through this API) or
	// stripped of the scope loses the API at once.
	cl, err := api.store.GetClient(ctx, a.ClientID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !slices.Contains(cl.Scopes, core.AdminScope)) {
		unauthorized(&core.AuthFailure{Code: "invalid_token", Description: "the client no longer exists or lost the admin scope", DPoP: a.JKT != ""})
		return
	} else if err != nil {
		api.adminFail(c, "read client", err)
		return
	}
	// client_credentials tokens have the client as subject.
	if a.Subject == a.ClientID {
		c.Set(adminActorKey, audit.Client(a.ClientID))
		c.Next()
		return
	}
	user, err := api.store.GetUser(ctx, a.Subject)
	if errors.Is(err, store.ErrNotFound) || (err == nil && user.Disabled) {
		unauthorized(&core.AuthFailure{Code: "invalid_token", Description: "the access token is invalid or expired", DPoP: a.JKT != ""})
		return
	} else if err != nil {
		api.adminFail(c, "read user", err)
		return
	}
	if !api.admins.IsUser(user) {
		forbidden("the user lacks the admin role")
		return
	}
	c.Set(adminActorKey, audit.User(user.ID))
	c.Next()
}

// adminAudit records an administrator's change made through the API.
func (api *API) adminAudit(c *gin.Context, what string, e store.AuditEvent) {
	e.Type = audit.AdminPrefix + what
	e.Actor = c.GetString(adminActorKey)
	api.audit.Request(c, e)
}

// adminError answers with the API's error object.
func adminError(c *gin.Context, status int, code, desc string) {
	c.AbortWithStatusJSON(status, gin.H{"error": code, "error_description": desc})
}

// adminFail answers a store or token service failure: logged, never shown.
func (api *API) adminFail(c *gin.Context, what string, err error) {
	api.log.ErrorContext(c.Request.Context(), "admin: "+what, "err", err)
	adminError(c, http.StatusServiceUnavailable, "temporarily_unavailable", "try again later")
}

// adminCheck answers 404 for ErrNotFound, 409 for ErrConflict and 503
// for other errors; it reports whether err was nil.
func (api *API) adminCheck(c *gin.Context, what string, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, store.ErrNotFound):
		adminError(c, http.StatusNotFound, "not_found", what+" not found")
	case errors.Is(err, store.ErrConflict):
		adminError(c, http.StatusConflict, "conflict", what+" changed concurrently; try again")
	default:
		api.adminFail(c, what, err)
	}
	return false
}

// adminParams answers 404 for a path parameter no record can have: one
// with a NUL or not UTF-8. PostgreSQL's text holds neither, and the
// lookup would fail as a store error, a 503 for a mistyped id. A query
// parameter given twice is a 400: which one counts would be a guess (no
// operation takes a list in its query).
func adminParams(c *gin.Context) {
	for _, p := range c.Params {
		if !utf8.ValidString(p.Value) || strings.ContainsRune(p.Value, 0) {
			adminError(c, http.StatusNotFound, "not_found", p.Key+": no record has this value")
			return
		}
	}
	for k, v := range c.Request.URL.Query() {
		if len(v) > 1 {
			adminError(c, http.StatusBadRequest, "invalid_request", k+": given more than once")
			return
		}
	}
	c.Next()
}

// adminSearch reads a search parameter: at most adminMaxQuery bytes of
// UTF-8 without control characters, as every name it could match is.
func adminSearch(c *gin.Context, name string) (string, bool) {
	v := c.Query(name)
	switch {
	case len(v) > adminMaxQuery:
		adminError(c, http.StatusBadRequest, "invalid_request", fmt.Sprintf("%s: longer than %d bytes", name, adminMaxQuery))
	case !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0:
		adminError(c, http.StatusBadRequest, "invalid_request", name+": not UTF-8 text without control characters")
	default:
		return v, true
	}
	return "", false
}

// adminLimit reads ?limit=, defaulting and bounding it.
func adminLimit(c *gin.Context) (int, bool) {
	raw := c.Query("limit")
	if raw == "" {
		return adminDefaultLimit, true
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > adminMaxLimit {
		adminError(c, http.StatusBadRequest, "invalid_request", "limit must be 1 to "+strconv.Itoa(adminMaxLimit))
		return 0, false
	}
	return n, true
}

// adminBind decodes a JSON body, refusing unknown fields so a typo is not
// silently ignored.
func adminBind(c *gin.Context, v any) bool {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, adminMaxBody)
	if err := decodeStrict(c.Request.Body, v); err != nil {
		adminError(c, http.StatusBadRequest, "invalid_request", "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

// decodeStrict decodes one JSON value with no unknown fields, no key twice
// in an object (without case: encoding/json matches fields so) or unpaired
// surrogate escape (config.CheckJSON), and nothing after it.
func decodeStrict(r io.Reader, v any) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if err := config.CheckJSON(raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
