package journey

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/sdk"
)

// A passkey as the whole login (login.passkeys.passwordless): the login
// page's "Log in with a passkey" asks the browser for any discoverable
// credential of Portico's relying party id, with user verification; the
// credential's user handle names the Portico user.
//
// Such a login is complete: the authenticator proved possession of the key
// and verified the person (PIN or biometric) itself, two factors, so the
// amr is ["hwk", "mfa"] and the acr urn:portico:acr:mfa, and a policy that
// asks a second factor of the login is satisfied (mfaNeeded finds "mfa").
// Neither "pin" nor "fpt"/"face" is claimed: the authenticator does not say
// which verification it used.
//
// The login's connector (req.ConnectorID: the token's connector, whom a
// refresh asks again) is that of the user's identity seen last among the
// connectors configured now, so that refresh keeps re-checking the user
// upstream as after a password login; a connector that can refresh is asked
// at once, and a user it no longer knows does not log in. A user with no
// such identity cannot log in with a passkey.

func (j *Server) loginPasskeyPage(req store.AuthRequest) passkeyPage {
	return passkeyPage{Mode: "get", Heading: "ui.passkey_login", Help: "ui.passkey_get_help", Button: "ui.passkey_login",
		Begin: j.path("/passkey/login/begin"), Finish: j.path("/passkey/login/finish"),
		Req: req.ID, CSRF: req.CSRFToken, Back: j.path("/login") + "?req=" + url.QueryEscape(req.ID)}
}

// handlePasskeyLoginPage is the login page's "Log in with a passkey". It
// only shows a page, so the picker's form carries no form token; the
// page's own endpoints check it.
func (j *Server) handlePasskeyLoginPage(c *gin.Context) {
	if !j.passwordlessOn() {
		j.ui.Page(c, http.StatusNotFound, ui.MsgNotFound)
		return
	}
	id := c.Query("req")
	if id == "" {
		id = c.PostForm("req")
	}
	req, ok := j.loadRequest(c, id)
	if !ok {
		return
	}
	if req.LinkUserID != "" {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLinkNotAllowed)
		return
	}
	j.renderPasskeyPage(c, http.StatusOK, j.loginPasskeyPage(req), "")
}

func (j *Server) handlePasskeyLoginBegin(c *gin.Context) {
	if !j.passwordlessOn() {
		j.passkeyJSONError(c, http.StatusNotFound, "not_found", ui.MsgNotFound)
		return
	}
	req, ok := j.beginRequest(c)
	if !ok {
		return
	}
	if req.LinkUserID != "" {
		j.passkeyJSONError(c, http.StatusBadRequest, "link", ui.MsgLinkNotAllowed)
		return
	}
	assertion, session, err := j.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err == nil {
		err = j.beginCeremony(c.Request.Context(), req.ID, ceremony{Purpose: purposeLogin, Session: *session})
	}
	if err != nil {
		j.log.Error("passkey: begin passwordless login", "err", err)
		j.passkeyJSONError(c, http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return
	}
	passkeyJSON(c, assertion)
}

func (j *Server) handlePasskeyLoginFinish(c *gin.Context) {
	if !j.passwordlessOn() {
		j.ui.Page(c, http.StatusNotFound, ui.MsgNotFound)
		return
	}
	req, ok := j.loadRequest(c, c.PostForm("req"))
	if !ok || !j.csrfOK(c, req) {
		return
	}
	ctx := c.Request.Context()
	page := j.loginPasskeyPage(req)
	cer, err := j.spendCeremony(ctx, req.ID, purposeLogin)
	if errors.Is(err, errNoCeremony) || (err == nil && req.LinkUserID != "") {
		j.renderPasskeyPage(c, http.StatusBadRequest, page, j.ui.T(c, ui.MsgPasskeyExpired))
		return
	} else if err != nil {
		j.ui.Unavailable(c, "passkey: ceremony", err)
		return
	}
	parsed, err := parseAssertion(c)
	var (
		cred   *webauthn.Credential
		userID string
	)
	if err == nil {
		userID = string(parsed.Response.UserHandle)
		cred, err = j.assertAndRecord(c, userID, func(w waUser) (*webauthn.Credential, error) {
			_, cred, err := j.webauthn.ValidatePasskeyLogin(func(_, handle []byte) (webauthn.User, error) {
				if string(handle) != w.u.ID {
					return nil, errors.New("user handle changed")
				}
				return w, nil
			}, cer.Session, parsed)
			if err == nil && !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
				err = errors.New("the authenticator did not verify the user")
			}
			return cred, err
		})
	}
	switch {
	case errors.Is(err, core.ErrStore):
		j.ui.Unavailable(c, "passkey: login", err)
		return
	case errors.Is(err, errSignCount):
		j.auditSignCount(c, req, userID, cred, parsed.Response.AuthenticatorData.Counter)
		j.auditLoginFailure(c, "", req.ClientID, userID, "passkey_sign_count")
		j.renderPasskeyPage(c, http.StatusUnauthorized, page, j.ui.T(c, ui.MsgPasskeySignCount))
		return
	case err != nil:
		// The user handle is only named once a passkey of that user
		// verified: anyone can post one.
		j.passkeyLogErr("passwordless login refused", err)
		j.auditLoginFailure(c, "", req.ClientID, "", "passkey_invalid")
		j.renderPasskeyPage(c, http.StatusUnauthorized, page, j.ui.T(c, ui.MsgPasskeyFailed))
		return
	}
	j.finishPasskeyLogin(c, req, userID)
}

// finishPasskeyLogin goes on with a login whose passkey verified: the
// user must be active, and known to a configured connector.
func (j *Server) finishPasskeyLogin(c *gin.Context, req store.AuthRequest, userID string) {
	ctx := c.Request.Context()
	u, err := j.store.GetUser(ctx, userID)
	if err != nil {
		j.ui.Unavailable(c, "passkey: read user", err)
		return
	}
	if u.Disabled {
		j.auditLoginFailure(c, "", req.ClientID, u.ID, "user_disabled")
		j.ui.Page(c, http.StatusForbidden, ui.MsgDisabled)
		return
	}
	ids, err := j.store.ListIdentities(ctx, u.ID)
	if err != nil {
		j.ui.Unavailable(c, "passkey: list identities", err)
		return
	}
	set, connID := j.conns.Load(), ""
	var seen store.Identity
	for _, id := range ids {
		if set.ByID[id.ConnectorID] != nil && (connID == "" || id.LastSeen.After(seen.LastSeen)) {
			connID, seen = id.ConnectorID, id
		}
	}
	if connID == "" {
		j.auditLoginFailure(c, "", req.ClientID, u.ID, "no_connector")
		j.ui.Page(c, http.StatusForbidden, ui.MsgPasskeyNoLogin)
		return
	}
	// A connector that can refresh says whether the user still exists
	// upstream, as it will at each refresh of the tokens.
	switch u, err = j.ident.Refresh(c.Request.Context(), connID, u, req.Scopes); {
	case err == nil:
	case errors.Is(err, core.ErrUserDisabled):
		j.auditLoginFailure(c, connID, req.ClientID, u.ID, "user_disabled")
		j.ui.Page(c, http.StatusForbidden, ui.MsgDisabled)
		return
	case errors.Is(err, core.ErrStore):
		j.ui.Unavailable(c, "passkey: check user", err)
		return
	case errors.Is(err, sdk.ErrUnavailable), errors.Is(err, core.ErrContention):
		j.log.Warn("passkey: cannot check the user now", "connector", connID, "err", err)
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgConnectorDown)
		return
	default:
		j.log.Info("passkey: connector refused the user", "connector", connID, "user", u.ID, "err", err)
		j.auditLoginFailure(c, connID, req.ClientID, u.ID, "upstream_refused")
		j.ui.Page(c, http.StatusForbidden, ui.MsgPasskeyNoLogin)
		return
	}
	req.UserID, req.ConnectorID, req.AMR = u.ID, connID, []string{passkeyAMR, "mfa"}
	req.AuthTime = j.opts.Now().Truncate(1e9)
	j.continueLogin(c, req, true, nil)
}
