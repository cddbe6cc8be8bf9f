package journey

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/portico-idp/portico/broker/identity"
	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/tokensvc"
)

// CallbackURL is where a redirect connector's upstream sends the browser
// back, for the broker with this issuer.
func CallbackURL(issuer, connectorID string) string {
	return strings.TrimSuffix(issuer, "/") + "/callback/" + url.PathEscape(connectorID)
}

func (j *Server) callbackURL(connectorID string) string {
	return CallbackURL(j.opts.Issuer, connectorID)
}

// MetadataURL is where the broker publishes a connector's metadata document
// (sdk.MetadataConnector), e.g. a SAML SP's metadata for the IdP's admin.
func MetadataURL(issuer, connectorID string) string {
	return strings.TrimSuffix(issuer, "/") + "/metadata/" + url.PathEscape(connectorID)
}

func (j *Server) handleMetadata(c *gin.Context) {
	cn := j.conns.Load().ByID[c.Param("connector")]
	var mc sdk.MetadataConnector
	if cn != nil {
		mc, _ = cn.Impl.(sdk.MetadataConnector)
	}
	if mc == nil {
		j.ui.Page(c, http.StatusNotFound, ui.MsgNoMetadata)
		return
	}
	ctx, cancel := core.WithConnectorDeadline(c.Request.Context(), cn)
	defer cancel()
	doc, err := mc.Metadata(ctx)
	if err != nil {
		j.log.Error("connector metadata", "connector", cn.ID, "err", err)
		c.Status(http.StatusServiceUnavailable)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, doc.ContentType, doc.Body)
}

// beginRedirectLogin sends the browser to a redirect connector's upstream,
// keeping what the connector needs back with the pending request.
func (j *Server) beginRedirectLogin(c *gin.Context, cn *core.Connector, cc sdk.CallbackConnector, req store.AuthRequest) {
	ctx := c.Request.Context()
	cctx, cancel := core.WithConnectorDeadline(ctx, cn)
	rd, err := cc.LoginURL(cctx, sdk.ParseScopes(req.Scopes), j.callbackURL(cn.ID), req.ID)
	cancel()
	if err != nil {
		j.log.Error("login: connector cannot start a login", "connector", cn.ID, "err", err)
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgConnectorDown)
		return
	}
	req.ConnectorID, req.ConnectorData = cn.ID, rd.Data
	if err := j.store.UpdateAuthRequest(ctx, req); err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			j.ui.Page(c, http.StatusBadRequest, ui.MsgLoginUsed)
			return
		}
		j.log.Error("login: store connector state", "err", err)
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	if rd.PostForm != nil {
		j.ui.AutoPost(c, rd.URL, rd.PostForm)
		return
	}
	c.Redirect(http.StatusSeeOther, rd.URL)
}

// bounceParam marks a callback that Portico re-posted to itself.
const bounceParam = "portico_bounce"

// handleCallback completes a redirect connector's login. The state (OAuth
// state or SAML RelayState) names the pending request, which must belong
// to this browser and this connector and is spent by the first callback.
func (j *Server) handleCallback(c *gin.Context) {
	ctx := c.Request.Context()
	// The body is a form of at most maxCallbackBytes (the broker's body.go).
	if err := c.Request.ParseForm(); err != nil {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgBadResponse)
		return
	}
	cn := j.conns.Load().ByID[c.Param("connector")]
	var cc sdk.CallbackConnector
	if cn != nil {
		cc, _ = cn.Impl.(sdk.CallbackConnector)
	}
	if cc == nil {
		j.ui.Page(c, http.StatusNotFound, ui.MsgNoConnector)
		return
	}
	state := c.Request.Form.Get("state")
	if state == "" {
		state = c.Request.Form.Get("RelayState")
	}
	// A cross-site POST (SAML's HTTP-POST binding) arrives without the
	// SameSite=Lax binding cookie. Post the same fields again from our own
	// page: that request is same-site, so the cookie comes along.
	if _, err := c.Cookie(browserCookie); err != nil && c.Request.Method == http.MethodPost && c.Request.PostForm.Get(bounceParam) == "" {
		fields := map[string]string{bounceParam: "1"}
		for k, v := range c.Request.PostForm {
			fields[k] = v[0]
		}
		j.ui.AutoPost(c, j.callbackURL(cn.ID), fields)
		return
	}
	if u, ok := cn.Impl.(unsolicitedConnector); ok && c.Request.Method == http.MethodPost && !j.pendingRequest(c, state) {
		j.handleUnsolicited(c, cn, cc, u)
		return
	}
	req, ok := j.firstFactorRequest(c, state)
	if !ok {
		return
	}
	if subtle.ConstantTimeCompare([]byte(req.ConnectorID), []byte(cn.ID)) != 1 {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLoginElsewhere)
		return
	}
	// Spend the request before asking the connector, so that a second
	// callback (a replay, or a double submit) fails here.
	spent := req
	spent.ConnectorID, spent.ConnectorData = "", nil
	if err := j.store.UpdateAuthRequest(ctx, spent); err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			j.ui.Page(c, http.StatusBadRequest, ui.MsgLoginUsed)
			return
		}
		j.log.Error("callback: spend auth request", "err", err)
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	form := c.Request.PostForm
	delete(form, bounceParam)
	cctx, done := j.conns.Call(ctx, cn, "callback")
	id, err := cc.HandleCallback(cctx, sdk.ParseScopes(req.Scopes), sdk.CallbackRequest{
		Method: c.Request.Method, URL: j.callbackURL(cn.ID), Query: c.Request.URL.Query(), Form: form, Data: req.ConnectorData,
	})
	done(err)
	switch {
	// A connector that ran out of its deadline did not refuse the person.
	case errors.Is(err, sdk.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		j.log.Error("login: upstream unavailable", "connector", cn.ID, "err", err)
		j.auditLoginFailure(c, cn.ID, req.ClientID, "", "unavailable")
		j.loginFailed(c, req, http.StatusServiceUnavailable, authError{"temporarily_unavailable", "the identity provider is unavailable"},
			j.ui.T(c, ui.MsgUpstreamDown))
		return
	case err != nil:
		j.log.Warn("login failed at callback", "connector", cn.ID, "client_id", req.ClientID, "err", err)
		j.auditCallbackFailure(c, cn.ID, req.ClientID, err)
		j.loginFailed(c, req, http.StatusForbidden, authError{"access_denied", "the identity provider did not authenticate the user"},
			j.ui.T(c, ui.MsgUpstreamRefused))
		return
	}
	spent.Version++ // as stored: the next step updates it again
	j.finishLogin(c, cn, spent, true, id, nil)
}

// auditCallbackFailure records an upstream's refused login; a replayed
// assertion or response is a security event too. Connectors say "replay"
// only in their error's text (the SAML connector's RejectedError reason
// ends "already used (replay)"); the sdk has no typed error for it.
func (j *Server) auditCallbackFailure(c *gin.Context, connectorID, clientID string, err error) {
	reason := "upstream_refused"
	if strings.Contains(err.Error(), "(replay)") {
		reason = "replay"
		j.audit.Request(c, store.AuditEvent{Type: audit.AssertionReplay, Actor: "anonymous", ClientID: clientID,
			ConnectorID: connectorID, Details: map[string]string{"error": core.Truncate(err.Error(), 300)}})
	}
	j.auditLoginFailure(c, connectorID, clientID, "", reason)
}

// loginFailed ends a login with a page saying so, whose link takes the
// person back to the application with the OAuth error.
func (j *Server) loginFailed(c *gin.Context, req store.AuthRequest, status int, e authError, msg string) {
	v := url.Values{"error": {e.code}, "error_description": {core.Description(e.desc)}, "iss": {j.opts.Issuer}}
	if req.State != "" {
		v.Set("state", req.State)
	}
	if err := j.store.DeleteAuthRequest(c.Request.Context(), req.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		j.log.Warn("delete failed auth request", "err", err)
	}
	data := map[string]any{"Title": j.ui.T(c, "ui.login_failed"), "Message": msg, "Back": core.WithQuery(req.RedirectURI, v)}
	if req.ResponseMode == ui.ModeFormPost {
		// The error goes back the way the code would have: a form to post
		// (with a click; this page runs no script).
		fields := map[string]string{}
		for k := range v {
			fields[k] = v.Get(k)
		}
		data["Back"], data["Action"], data["Fields"] = "", req.RedirectURI, fields
	}
	j.ui.Render(c, status, "failed", data)
}

// unsolicitedConnector is a connector that may accept a login the broker
// did not ask for (SAML IdP-initiated login), for one configured client.
type unsolicitedConnector interface {
	IDPInitiated() (clientID, redirectURI string, ok bool)
}

// pendingRequest reports whether state names a pending authorization
// request; only then is a callback the answer to one.
func (j *Server) pendingRequest(c *gin.Context, state string) bool {
	if state == "" {
		return false
	}
	_, err := j.store.GetAuthRequest(c.Request.Context(), state)
	return err == nil || !errors.Is(err, store.ErrNotFound)
}

// handleUnsolicited completes an IdP-initiated login, when the connector
// enables it: the identity is checked by the connector as usual (signature,
// audience, replay), and the code goes to the connector's default client
// at its registered redirect URI. The client gets no state: it must be
// written to accept such codes, which is why this is off unless enabled.
func (j *Server) handleUnsolicited(c *gin.Context, cn *core.Connector, cc sdk.CallbackConnector, u unsolicitedConnector) {
	ctx := c.Request.Context()
	clientID, redirectURI, enabled := u.IDPInitiated()
	if !enabled {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgNotStartedHere)
		return
	}
	client, err := j.store.GetClient(ctx, clientID)
	if err != nil || !slices.Contains(client.RedirectURIs, redirectURI) || !slices.Contains(client.GrantTypes, "authorization_code") {
		j.log.Error("idp-initiated login: the default client or its redirect URI is not registered", "connector", cn.ID, "client_id", clientID, "err", err)
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgNoUnsolicited)
		return
	}
	form := c.Request.PostForm
	delete(form, bounceParam)
	cctx, cancel := core.WithConnectorDeadline(ctx, cn)
	id, err := cc.HandleCallback(cctx, sdk.Scopes{Groups: true}, sdk.CallbackRequest{
		Method: c.Request.Method, URL: j.callbackURL(cn.ID), Query: c.Request.URL.Query(), Form: form,
	})
	cancel()
	if err != nil {
		j.log.Warn("idp-initiated login refused", "connector", cn.ID, "err", err)
		j.auditCallbackFailure(c, cn.ID, clientID, err)
		j.ui.Page(c, http.StatusForbidden, ui.MsgUpstreamRefused)
		return
	}
	j.log.Info("idp-initiated login", "connector", cn.ID, "client_id", clientID)
	req := store.AuthRequest{
		ID: tokensvc.NewID(), ClientID: clientID, RedirectURI: redirectURI,
		Scopes: []string{"openid", "profile", "email", "groups"},
		// Anyone can post an assertion to this browser: it gets the
		// client its code, never the browser's session for every client.
		NoSession: true,
	}
	j.finishLogin(c, cn, req, false, id, nil)
}

// refuseIdentity ends a login whose identity admit refused: a verdict
// about the identity, so the person is told, not asked to try later. The
// log names the connector and the field, never the value; the audit trail
// has login.failure with the fixed reason invalid_identity (or, for a
// link, identity.link_refused).
func (j *Server) refuseIdentity(c *gin.Context, cn *core.Connector, req store.AuthRequest, stored bool, err error) {
	var ie *identity.Error
	if !errors.As(err, &ie) {
		ie = &identity.Error{Field: "identity", Problem: "was refused"}
	}
	j.log.WarnContext(c.Request.Context(), "login refused: the connector's identity breaks its limits (docs/identity.md#identity-limits)",
		"connector", cn.ID, "client_id", req.ClientID, "field", ie.Field, "problem", ie.Problem)
	details := map[string]string{"reason": "invalid_identity", "field": ie.Field}
	if req.LinkUserID != "" {
		details["method"] = "explicit"
		j.audit.Request(c, store.AuditEvent{Type: audit.IdentityLinkRefused, Actor: audit.User(req.LinkUserID), UserID: req.LinkUserID,
			ConnectorID: cn.ID, Details: details})
		if err := j.store.DeleteAuthRequest(c.Request.Context(), req.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			j.log.WarnContext(c.Request.Context(), "delete refused link request", "err", err)
		}
		j.ui.Page(c, http.StatusForbidden, ui.MsgIdentityRefused)
		return
	}
	j.audit.Request(c, store.AuditEvent{Type: audit.LoginFailure, Actor: audit.User(""), ClientID: req.ClientID,
		ConnectorID: cn.ID, Details: details})
	if !stored { // IdP-initiated: no application is waiting for an answer
		j.ui.Page(c, http.StatusForbidden, ui.MsgIdentityRefused)
		return
	}
	j.loginFailed(c, req, http.StatusForbidden, authError{"access_denied", "the identity provider's account details were refused"},
		j.ui.T(c, ui.MsgIdentityRefused))
}

// authError is an error returned to the client at its redirect URI
// (RFC 6749 §4.1.2.1).
type authError struct {
	code, desc string
}
