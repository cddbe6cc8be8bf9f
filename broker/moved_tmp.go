package broker

import (
	"errors"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"
	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/identity"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/ui"
)

// refuseIdentity ends a login whose identity admit refused: a verdict
// about the identity, so the person is told, not asked to try later. The
// log names the connector and the field, never the value; the audit trail
// has login.failure with the fixed reason invalid_identity (or, for a
// link, identity.link_refused).
func (b *Broker) refuseIdentity(c *gin.Context, cn *core.Connector, req store.AuthRequest, stored bool, err error) {
	var ie *identity.Error
	if !errors.As(err, &ie) {
		ie = &identity.Error{Field: "identity", Problem: "was refused"}
	}
	b.log.WarnContext(c.Request.Context(), "login refused: the connector's identity breaks its limits (docs/identity.md#identity-limits)",
		"connector", cn.ID, "client_id", req.ClientID, "field", ie.Field, "problem", ie.Problem)
	details := map[string]string{"reason": "invalid_identity", "field": ie.Field}
	if req.LinkUserID != "" {
		details["method"] = "explicit"
		b.audit.Request(c, store.AuditEvent{Type: audit.IdentityLinkRefused, Actor: audit.User(req.LinkUserID), UserID: req.LinkUserID,
			ConnectorID: cn.ID, Details: details})
		if err := b.store.DeleteAuthRequest(c.Request.Context(), req.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			b.log.WarnContext(c.Request.Context(), "delete refused link request", "err", err)
		}
		b.ui.Page(c, http.StatusForbidden, ui.MsgIdentityRefused)
		return
	}
	b.audit.Request(c, store.AuditEvent{Type: audit.LoginFailure, Actor: audit.User(""), ClientID: req.ClientID,
		ConnectorID: cn.ID, Details: details})
	if !stored { // IdP-initiated: no application is waiting for an answer
		b.ui.Page(c, http.StatusForbidden, ui.MsgIdentityRefused)
		return
	}
	b.loginFailed(c, req, http.StatusForbidden, authError{"access_denied", "the identity provider's account details were refused"},
		b.ui.Msg(ui.MsgIdentityRefused))
}

// scopeAllowed reports whether client may ask for scope s.
func (b *Broker) scopeAllowed(client store.Client, s string) bool {
	if slices.Contains(identity.SupportedScopes, s) {
		return true
	}
	if s == core.AdminScope {
		// Asked for explicitly, by a client the file trusts for
		// administration; never offered to anyone else (adminAuth).
		return b.admins.IsClient(client.ID) && slices.Contains(client.Scopes, core.AdminScope)
	}
	_, custom := b.opts.Scopes[s]
	return custom && slices.Contains(client.ExtraScopes, s)
}
