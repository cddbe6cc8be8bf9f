package journey

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/portico-idp/portico/broker/identity"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// The account page (/account) shows the logged-in person their user and
// linked accounts, and lets them link an account of another connector by
// logging in with it: explicit linking, for connectors the linking policy
// names. It is reached with the single sign-on session; without one it
// first asks the person to log in, as a login to no client.

// accountCSRF is the account page's form token: derived from the session
// cookie, which a cross-site page can neither read nor send with a POST
// (SameSite=Lax), so a forged "link" form fails twice over.
func accountCSRF(c *gin.Context) string {
	v, _ := c.Cookie(sessionCookie)
	return core.HashString("account-csrf:" + v)
}

// accountLogin starts a login for the account page, or for linking an
// account to linkUser when it is set, and sends the browser to it.
func (b *Server) accountLogin(c *gin.Context, connectorID, linkUser string) {
	req := store.AuthRequest{
		ID: tokensvc.NewID(), RedirectURI: b.url("/account"), Scopes: []string{"openid", "profile", "email"},
		CSRFToken: tokensvc.NewID(), BrowserHash: core.HashString(b.browserID(c)), LinkUserID: linkUser,
		Expiry: b.opts.Now().Add(b.opts.AuthRequestTTL),
	}
	if linkUser != "" {
		req.Prompt = []string{"login"}
	}
	if err := b.store.CreateAuthRequest(c.Request.Context(), req); err != nil {
		b.log.Error("account: store request", "err", err)
		b.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	next := b.path("/login") + "?req=" + url.QueryEscape(req.ID)
	if connectorID != "" {
		next = b.path("/login/"+url.PathEscape(connectorID)) + "?req=" + url.QueryEscape(req.ID)
	} else if set := b.conns.Load(); len(set.List) == 1 {
		next = b.path("/login/"+url.PathEscape(set.List[0].ID)) + "?req=" + url.QueryEscape(req.ID)
	}
	c.Redirect(http.StatusSeeOther, next)
}

func (b *Server) handleAccount(c *gin.Context) {
	ctx := c.Request.Context()
	s, err := b.currentSSO(c)
	if err != nil {
		b.log.Error("account: read session", "err", err)
		b.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	if s == nil {
		b.accountLogin(c, "", "")
		return
	}
	u, err := b.store.GetUser(ctx, s.UserID)
	if err != nil {
		b.log.Error("account: read user", "err", err)
		b.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	ids, err := b.store.ListIdentities(ctx, u.ID)
	if err != nil {
		b.log.Error("account: list identities", "err", err)
		b.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	set := b.conns.Load()
	type linked struct{ Connector, Name string }
	type linkable struct{ ID, Name, Action string }
	var have []linked
	for _, id := range ids {
		name := id.ConnectorID
		if cn := set.ByID[id.ConnectorID]; cn != nil {
			name = cn.Name
		}
		have = append(have, linked{name, firstNonEmpty(id.Username, id.Email, id.Name, id.Subject)})
	}
	var can []linkable
	for _, cn := range set.List {
		if b.linkExplicit[cn.ID] && !slices.ContainsFunc(ids, func(i store.Identity) bool { return i.ConnectorID == cn.ID }) {
			can = append(can, linkable{cn.ID, cn.Name, b.path("/account/link/" + url.PathEscape(cn.ID))})
		}
	}
	consents, err := b.userConsents(ctx, u.ID)
	if err != nil {
		b.ui.Unavailable(c, "account: list consents", err)
		return
	}
	data := map[string]any{
		"Title": b.ui.Text("ui.account_title"), "Consents": consents, "User": firstNonEmpty(u.Name, u.Username, u.Email, u.ID), "Email": u.Email,
		"Linked": have, "Linkable": can, "CSRF": accountCSRF(c), "Logout": b.path("/logout"),
		"Notice": map[string]string{"linked": b.ui.Text("ui.linked_done"), "revoked": b.ui.Text("ui.consent_revoked"), "passkey": b.ui.Text("ui.passkey_added")}[c.Query("done")],
	}
	if b.webauthnOn() {
		if data["Passkeys"], err = b.accountPasskeys(ctx, u.ID); err != nil {
			b.ui.Unavailable(c, "account: passkeys", err)
			return
		}
		data["PasskeyAction"] = b.path("/account/passkeys")
	}
	b.ui.Render(c, http.StatusOK, "account", data)
}

// handleAccountLink starts logging in with a connector to link its account.
func (b *Server) handleAccountLink(c *gin.Context) {
	s, err := b.currentSSO(c)
	if err != nil || s == nil {
		b.ui.Page(c, http.StatusForbidden, ui.MsgLinkNeedsLogin)
		return
	}
	if subtle.ConstantTimeCompare([]byte(c.PostForm("csrf")), []byte(accountCSRF(c))) != 1 {
		b.ui.Page(c, http.StatusForbidden, ui.MsgAccountCSRF)
		return
	}
	id := c.Param("connector")
	if b.conns.Load().ByID[id] == nil || !b.linkExplicit[id] {
		b.ui.Page(c, http.StatusNotFound, ui.MsgNotLinkable)
		return
	}
	b.accountLogin(c, id, s.UserID)
}

// finishLink links the identity a link login found to the user who asked.
// An identity already linked to another user stays where it is: moving it
// would hand that user's account to whoever can log in upstream.
func (b *Server) finishLink(c *gin.Context, cn *core.Connector, req store.AuthRequest, a identity.Admitted) {
	ctx := c.Request.Context()
	fail := func(status int, msgID, reason string) {
		b.audit.Request(c, store.AuditEvent{Type: audit.IdentityLinkRefused, Actor: audit.User(req.LinkUserID), UserID: req.LinkUserID,
			ConnectorID: cn.ID, Details: map[string]string{"reason": reason, "method": "explicit"}})
		b.ui.Page(c, status, msgID)
	}
	s, err := b.currentSSO(c)
	switch {
	case err != nil:
		b.log.Error("link: read session", "err", err)
		b.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	case s == nil || s.UserID != req.LinkUserID:
		fail(http.StatusForbidden, ui.MsgLinkSessionEnded, "session_ended")
		return
	case !b.linkExplicit[cn.ID]:
		fail(http.StatusForbidden, ui.MsgLinkNotAllowed, "policy")
		return
	}
	if err := b.store.DeleteAuthRequest(ctx, req.ID); errors.Is(err, store.ErrNotFound) {
		b.ui.Page(c, http.StatusBadRequest, ui.MsgLinkUsed)
		return
	} else if err != nil {
		// Not a verdict on the link (a full disk refuses the write):
		// the person may try again.
		b.log.Error("link: spend request", "err", err)
		b.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	ident, err := b.store.GetIdentity(ctx, cn.ID, a.Subject())
	switch {
	case err == nil && ident.UserID != req.LinkUserID:
		fail(http.StatusConflict, ui.MsgLinkedElsewhere, "linked_elsewhere")
		return
	case err == nil:
		c.Redirect(http.StatusSeeOther, b.path("/account")+"?done=linked")
		return
	case !errors.Is(err, store.ErrNotFound):
		b.log.Error("link: read identity", "err", err)
		b.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	rec := a.Record(cn.ID, req.LinkUserID, b.opts.Now())
	if err := b.store.CreateIdentity(ctx, rec); errors.Is(err, store.ErrAlreadyExists) {
		fail(http.StatusConflict, ui.MsgLinkRace, "race")
		return
	} else if err != nil {
		b.log.Error("link: create identity", "err", err)
		b.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	b.audit.Request(c, store.AuditEvent{Type: audit.IdentityLink, Actor: audit.User(req.LinkUserID), UserID: req.LinkUserID,
		ConnectorID: cn.ID, Details: map[string]string{"method": "explicit"}})
	c.Redirect(http.StatusSeeOther, b.path("/account")+"?done=linked")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
