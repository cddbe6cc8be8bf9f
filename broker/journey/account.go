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
func (j *Server) accountLogin(c *gin.Context, connectorID, linkUser string) {
	req := store.AuthRequest{
		ID: tokensvc.NewID(), RedirectURI: j.url("/account"), Scopes: []string{"openid", "profile", "email"},
		CSRFToken: tokensvc.NewID(), BrowserHash: core.HashString(j.browserID(c)), LinkUserID: linkUser,
		Expiry: j.opts.Now().Add(j.opts.AuthRequestTTL),
	}
	if linkUser != "" {
		req.Prompt = []string{"login"}
	}
	if err := j.store.CreateAuthRequest(c.Request.Context(), req); err != nil {
		j.log.Error("account: store request", "err", err)
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	next := j.path("/login") + "?req=" + url.QueryEscape(req.ID)
	if connectorID != "" {
		next = j.path("/login/"+url.PathEscape(connectorID)) + "?req=" + url.QueryEscape(req.ID)
	} else if set := j.conns.Load(); len(set.List) == 1 {
		next = j.path("/login/"+url.PathEscape(set.List[0].ID)) + "?req=" + url.QueryEscape(req.ID)
	}
	c.Redirect(http.StatusSeeOther, next)
}

func (j *Server) handleAccount(c *gin.Context) {
	ctx := c.Request.Context()
	s, err := j.currentSSO(c)
	if err != nil {
		j.log.Error("account: read session", "err", err)
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	if s == nil {
		j.accountLogin(c, "", "")
		return
	}
	u, err := j.store.GetUser(ctx, s.UserID)
	if err != nil {
		j.log.Error("account: read user", "err", err)
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	ids, err := j.store.ListIdentities(ctx, u.ID)
	if err != nil {
		j.log.Error("account: list identities", "err", err)
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	set := j.conns.Load()
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
		if j.linkExplicit[cn.ID] && !slices.ContainsFunc(ids, func(i store.Identity) bool { return i.ConnectorID == cn.ID }) {
			can = append(can, linkable{cn.ID, cn.Name, j.path("/account/link/" + url.PathEscape(cn.ID))})
		}
	}
	consents, err := j.userConsents(ctx, u.ID)
	if err != nil {
		j.ui.Unavailable(c, "account: list consents", err)
		return
	}
	notices := map[string]string{"linked": "ui.linked_done", "revoked": "ui.consent_revoked", "passkey": "ui.passkey_added",
		"renamed": "ui.passkey_renamed", "removed": "ui.passkey_removed", "recovery": "ui.recovery_regenerated",
		"password": "ui.password_changed", "ended": "ui.app_ended", "others": "ui.others_ended"}
	data := map[string]any{
		"Title": j.ui.T(c, "ui.account_title"), "Consents": consents, "User": firstNonEmpty(u.Name, u.Username, u.Email, u.ID), "Email": u.Email,
		"Linked": have, "Linkable": can, "CSRF": accountCSRF(c), "Logout": j.path("/logout"),
		"RenameAction": j.path("/account/passkey/rename"), "RemoveAction": j.path("/account/passkey/remove"),
		"RecoveryAction": j.path("/account/recovery"),
	}
	if id, ok := notices[c.Query("done")]; ok {
		data["Notice"] = j.ui.T(c, id)
	}
	if c.Query("done") == "revoked" {
		data["Notice"] = j.revokedNotice(c, u.ID)
	}
	if data["Factors"], err = j.accountFactors(ctx, u.ID); err != nil {
		j.ui.Unavailable(c, "account: second factors", err)
		return
	}
	if j.webauthnOn() {
		data["PasskeyAction"] = j.path("/account/passkeys")
	}
	if la, err := j.localAccount(ctx, u.ID); err != nil {
		j.ui.Unavailable(c, "account: local account", err)
		return
	} else if la != nil {
		data["PasswordAction"] = j.path("/account/password")
	}
	if data["Sessions"], err = j.accountSessions(ctx, s); err != nil {
		j.ui.Unavailable(c, "account: sessions", err)
		return
	}
	j.ui.Render(c, http.StatusOK, "account", data)
}

// handleAccountLink starts logging in with a connector to link its account.
func (j *Server) handleAccountLink(c *gin.Context) {
	s, err := j.currentSSO(c)
	if err != nil || s == nil {
		j.ui.Page(c, http.StatusForbidden, ui.MsgLinkNeedsLogin)
		return
	}
	if subtle.ConstantTimeCompare([]byte(c.PostForm("csrf")), []byte(accountCSRF(c))) != 1 {
		j.ui.Page(c, http.StatusForbidden, ui.MsgAccountCSRF)
		return
	}
	id := c.Param("connector")
	if j.conns.Load().ByID[id] == nil || !j.linkExplicit[id] {
		j.ui.Page(c, http.StatusNotFound, ui.MsgNotLinkable)
		return
	}
	j.accountLogin(c, id, s.UserID)
}

// finishLink links the identity a link login found to the user who asked.
// An identity already linked to another user stays where it is: moving it
// would hand that user's account to whoever can log in upstream.
func (j *Server) finishLink(c *gin.Context, cn *core.Connector, req store.AuthRequest, a identity.Admitted) {
	ctx := c.Request.Context()
	fail := func(status int, msgID, reason string) {
		j.audit.Request(c, store.AuditEvent{Type: audit.IdentityLinkRefused, Actor: audit.User(req.LinkUserID), UserID: req.LinkUserID,
			ConnectorID: cn.ID, Details: map[string]string{"reason": reason, "method": "explicit"}})
		j.ui.Page(c, status, msgID)
	}
	s, err := j.currentSSO(c)
	switch {
	case err != nil:
		j.log.Error("link: read session", "err", err)
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	case s == nil || s.UserID != req.LinkUserID:
		fail(http.StatusForbidden, ui.MsgLinkSessionEnded, "session_ended")
		return
	case !j.linkExplicit[cn.ID]:
		fail(http.StatusForbidden, ui.MsgLinkNotAllowed, "policy")
		return
	}
	if err := j.store.DeleteAuthRequest(ctx, req.ID); errors.Is(err, store.ErrNotFound) {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLinkUsed)
		return
	} else if err != nil {
		// Not a verdict on the link (a full disk refuses the write):
		// the person may try again.
		j.log.Error("link: spend request", "err", err)
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	ident, err := j.store.GetIdentity(ctx, cn.ID, a.Subject())
	switch {
	case err == nil && ident.UserID != req.LinkUserID:
		fail(http.StatusConflict, ui.MsgLinkedElsewhere, "linked_elsewhere")
		return
	case err == nil:
		c.Redirect(http.StatusSeeOther, j.path("/account")+"?done=linked")
		return
	case !errors.Is(err, store.ErrNotFound):
		j.log.Error("link: read identity", "err", err)
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	rec := a.Record(cn.ID, req.LinkUserID, j.opts.Now())
	if err := j.store.CreateIdentity(ctx, rec); errors.Is(err, store.ErrAlreadyExists) {
		fail(http.StatusConflict, ui.MsgLinkRace, "race")
		return
	} else if err != nil {
		j.log.Error("link: create identity", "err", err)
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	j.audit.Request(c, store.AuditEvent{Type: audit.IdentityLink, Actor: audit.User(req.LinkUserID), UserID: req.LinkUserID,
		ConnectorID: cn.ID, Details: map[string]string{"method": "explicit"}})
	c.Redirect(http.StatusSeeOther, j.path("/account")+"?done=linked")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// revokedNotice says which application's access was revoked: the one the
// revoke named in the query, if it is a registered client the user has
// indeed no consent for now (anyone can link to the page with any query),
// else no name.
func (j *Server) revokedNotice(c *gin.Context, userID string) string {
	ctx, id := c.Request.Context(), c.Query("client")
	if c.Query("done") != "revoked" || id == "" {
		return j.ui.T(c, "ui.consent_revoked")
	}
	cl, err := j.store.GetClient(ctx, id)
	if err != nil {
		return j.ui.T(c, "ui.consent_revoked")
	}
	if _, err := j.store.GetRecord(ctx, consentKind, consentKey(userID, id)); !errors.Is(err, store.ErrNotFound) {
		return j.ui.T(c, "ui.consent_revoked")
	}
	return j.ui.T(c, "ui.consent_revoked_app", firstNonEmpty(cl.Name, cl.ID))
}
