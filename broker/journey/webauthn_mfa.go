package journey

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/mfa"
	"github.com/portico-idp/portico/broker/store"
)

// Passkeys as the second factor of a login (mfa.go): enrolled on the
// second-factor setup page by a user who has none yet, which counts as
// enrolling, with recovery codes, like TOTP; then asked for on the
// second-factor page. Either adds "hwk" and "mfa" to the login's amr
// (RFC 8176 "hwk": proof of possession of a hardware-secured key). Portico
// asks for no attestation, so it cannot tell a security key from a
// platform or synced passkey; "hwk" names what WebAuthn authenticators are
// built to be, and the "swk" case is not told apart.

// passkeyAMR is what a passkey adds to a login's amr.
const passkeyAMR = "hwk"

func (b *Server) mfaBack(req store.AuthRequest) string {
	return b.path("/mfa") + "?req=" + url.QueryEscape(req.ID)
}

func (b *Server) enrolPasskeyPage(req store.AuthRequest) passkeyPage {
	return passkeyPage{Mode: "create", Heading: "ui.add_passkey", Help: "ui.passkey_create_help", Button: "ui.add_passkey",
		Begin: b.path("/mfa/passkey/register/begin"), Finish: b.path("/mfa/passkey/register/finish"),
		Req: req.ID, CSRF: req.CSRFToken, Back: b.mfaBack(req)}
}

func (b *Server) mfaPasskeyPage(req store.AuthRequest) passkeyPage {
	return passkeyPage{Mode: "get", Heading: "ui.mfa_title", Help: "ui.passkey_get_help", Button: "ui.use_passkey",
		Begin: b.path("/mfa/passkey/begin"), Finish: b.path("/mfa/passkey/finish"),
		Req: req.ID, CSRF: req.CSRFToken, Back: b.mfaBack(req)}
}

// registrationOptions are the options of every passkey registration:
// none of the user's passkeys again, user verification if the
// authenticator can, and a discoverable credential, required when
// passkeys may be the whole login (so that every passkey can be).
func (b *Server) registrationOptions(w waUser) []webauthn.RegistrationOption {
	rk := protocol.ResidentKeyRequirementPreferred
	if b.passwordlessOn() {
		rk = protocol.ResidentKeyRequirementRequired
	}
	return []webauthn.RegistrationOption{
		webauthn.WithExclusions(webauthn.Credentials(w.creds).CredentialDescriptors()),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{UserVerification: protocol.VerificationPreferred}),
		webauthn.WithResidentKeyRequirement(rk), // after the selection, which it amends
	}
}

// handlePasskeyEnrolPage is the setup page's "Add a passkey": the page
// that runs the registration.
func (b *Server) handlePasskeyEnrolPage(c *gin.Context) {
	req, ok := b.mfaRequest(c)
	if !ok {
		return
	}
	m, _, err := b.loadMFA(c.Request.Context(), req.UserID)
	if err != nil {
		b.ui.Unavailable(c, "passkey: load", err)
		return
	}
	if m.enrolled() { // enrolling is for who has no second factor yet
		c.Redirect(http.StatusSeeOther, b.mfaBack(req))
		return
	}
	b.renderPasskeyPage(c, http.StatusOK, b.enrolPasskeyPage(req), "")
}

func (b *Server) handlePasskeyEnrolBegin(c *gin.Context) {
	req, u, m, ok := b.beginSecondFactor(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	if m.enrolled() {
		// A password alone must not add a second factor to an account
		// that has one.
		b.passkeyJSONError(c, http.StatusForbidden, "enrolled", ui.MsgLoginExpired)
		return
	}
	w := newWAUser(u, m)
	creation, session, err := b.webauthn.BeginRegistration(w, b.registrationOptions(w)...)
	if err == nil {
		err = b.beginCeremony(ctx, req.ID, ceremony{Purpose: purposeEnrol, UserID: req.UserID, Session: *session})
	}
	if err != nil {
		b.log.Error("passkey: begin registration", "err", err)
		b.passkeyJSONError(c, http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return
	}
	passkeyJSON(c, creation)
}

// handlePasskeyEnrolFinish keeps the new passkey as the user's second
// factor and shows the recovery codes, like a confirmed TOTP.
func (b *Server) handlePasskeyEnrolFinish(c *gin.Context) {
	req, page, cer, ok := b.finishSecondFactor(c, purposeEnrol, b.enrolPasskeyPage)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	u, err := b.store.GetUser(ctx, req.UserID)
	if err != nil {
		b.ui.Unavailable(c, "passkey: read user", err)
		return
	}
	m, rec, err := b.loadMFA(ctx, req.UserID)
	if err != nil {
		b.ui.Unavailable(c, "passkey: load", err)
		return
	}
	if m.enrolled() {
		b.ui.Page(c, http.StatusBadRequest, ui.MsgLoginExpired)
		return
	}
	cred, msgID, err := b.createCredential(c, newWAUser(u, m), cer.Session)
	if err != nil {
		b.passkeyLogErr("registration refused", err)
		b.renderPasskeyPage(c, http.StatusBadRequest, page, b.ui.Msg(msgID))
		return
	}
	codes, hashes, err := mfa.NewRecoveryCodes(mfa.DefaultRecoveryCodes, []byte(req.UserID))
	if err != nil {
		b.ui.Unavailable(c, "passkey: recovery codes", err)
		return
	}
	// The pending TOTP secret goes: the second factor is the passkey now,
	// and a secret shown on the setup page must not become a second one
	// without the first.
	m.Passkeys, m.Recovery, m.TOTP, m.TOTPLastStep = append(slices.Clone(m.Passkeys), newPasskey(cred, "", b.opts.Now())), hashes, nil, 0
	if err := b.saveMFA(ctx, rec, m); errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrAlreadyExists) {
		b.ui.Page(c, http.StatusBadRequest, ui.MsgLoginExpired)
		return
	} else if err != nil {
		b.ui.Unavailable(c, "passkey: save", err)
		return
	}
	b.audit.Request(c, store.AuditEvent{Type: audit.MFAEnrol, Actor: audit.User(req.UserID), UserID: req.UserID,
		ClientID: req.ClientID, Details: map[string]string{"method": "passkey", "credential": credentialID(cred.ID)}})
	b.showRecoveryCodes(c, req, codes, passkeyAMR)
}

// createCredential verifies the posted registration against session; on
// failure it also says which message to show.
func (b *Server) createCredential(c *gin.Context, w waUser, session webauthn.SessionData) (*webauthn.Credential, string, error) {
	parsed, err := parseAttestation(c)
	if err != nil {
		return nil, ui.MsgPasskeyFailed, err
	}
	if slices.ContainsFunc(w.creds, func(x webauthn.Credential) bool { return bytes.Equal(x.ID, parsed.RawID) }) {
		return nil, ui.MsgPasskeyExists, errors.New("credential already registered")
	}
	cred, err := b.webauthn.CreateCredential(w, session, parsed)
	if err != nil {
		return nil, ui.MsgPasskeyFailed, err
	}
	return cred, "", nil
}

// handlePasskeyMFAPage is the second-factor page's "Use a passkey".
func (b *Server) handlePasskeyMFAPage(c *gin.Context) {
	req, ok := b.mfaRequest(c)
	if !ok {
		return
	}
	m, _, err := b.loadMFA(c.Request.Context(), req.UserID)
	if err != nil {
		b.ui.Unavailable(c, "passkey: load", err)
		return
	}
	if len(m.Passkeys) == 0 {
		c.Redirect(http.StatusSeeOther, b.mfaBack(req))
		return
	}
	b.renderPasskeyPage(c, http.StatusOK, b.mfaPasskeyPage(req), "")
}

func (b *Server) handlePasskeyMFABegin(c *gin.Context) {
	req, u, m, ok := b.beginSecondFactor(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	if len(m.Passkeys) == 0 {
		b.passkeyJSONError(c, http.StatusBadRequest, "no_passkey", ui.MsgPasskeyFailed)
		return
	}
	// The password was the first factor: possession of the key is the
	// second, so user verification is not asked for (a security key
	// without a PIN does).
	assertion, session, err := b.webauthn.BeginLogin(newWAUser(u, m), webauthn.WithUserVerification(protocol.VerificationDiscouraged))
	if err == nil {
		err = b.beginCeremony(ctx, req.ID, ceremony{Purpose: purposeMFA, UserID: req.UserID, Session: *session})
	}
	if err != nil {
		b.log.Error("passkey: begin login", "err", err)
		b.passkeyJSONError(c, http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return
	}
	passkeyJSON(c, assertion)
}

// handlePasskeyMFAFinish checks the passkey's assertion and goes on with
// the login. There is no throttle: an assertion is a signature, nothing
// to guess, and each challenge answers once.
func (b *Server) handlePasskeyMFAFinish(c *gin.Context) {
	req, page, cer, ok := b.finishSecondFactor(c, purposeMFA, b.mfaPasskeyPage)
	if !ok {
		return
	}
	parsed, err := parseAssertion(c)
	var cred *webauthn.Credential
	if err == nil {
		cred, err = b.assertAndRecord(c, req.UserID, func(w waUser) (*webauthn.Credential, error) {
			return b.webauthn.ValidateLogin(w, cer.Session, parsed)
		})
	}
	switch {
	case errors.Is(err, core.ErrStore):
		b.ui.Unavailable(c, "passkey: second factor", err)
		return
	case errors.Is(err, errSignCount):
		b.auditSignCount(c, req, req.UserID, cred, parsed.Response.AuthenticatorData.Counter)
		b.auditLoginFailure(c, req.ConnectorID, req.ClientID, req.UserID, "passkey_sign_count")
		b.renderPasskeyPage(c, http.StatusUnauthorized, page, b.ui.Msg(ui.MsgPasskeySignCount))
		return
	case err != nil:
		b.passkeyLogErr("second factor refused", err)
		b.auditLoginFailure(c, req.ConnectorID, req.ClientID, req.UserID, "passkey_invalid")
		b.renderPasskeyPage(c, http.StatusUnauthorized, page, b.ui.Msg(ui.MsgPasskeyFailed))
		return
	}
	b.secondFactorDone(c, req, passkeyAMR)
}

// beginSecondFactor loads what a passkey ceremony of a login after its
// first factor needs: the request, its user and the user's factors. It
// answers the JSON error itself when one is missing.
func (b *Server) beginSecondFactor(c *gin.Context) (store.AuthRequest, store.User, mfaRecord, bool) {
	req, ok := b.beginRequest(c)
	if !ok {
		return req, store.User{}, mfaRecord{}, false
	}
	if req.UserID == "" || req.Step != "/mfa" {
		b.passkeyJSONError(c, http.StatusBadRequest, "login_expired", ui.MsgLoginExpired)
		return req, store.User{}, mfaRecord{}, false
	}
	ctx := c.Request.Context()
	u, err := b.store.GetUser(ctx, req.UserID)
	if err != nil {
		b.log.ErrorContext(ctx, "passkey: read user", "err", err)
		b.passkeyJSONError(c, http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return req, u, mfaRecord{}, false
	}
	m, _, err := b.loadMFA(ctx, req.UserID)
	if err != nil {
		b.log.ErrorContext(ctx, "passkey: load", "err", err)
		b.passkeyJSONError(c, http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return req, u, m, false
	}
	return req, u, m, true
}

// finishSecondFactor loads what a passkey ceremony's answer during a
// login needs: the request, the page to show again on failure, and the
// ceremony, spent so that it answers once. It answers the failure itself.
func (b *Server) finishSecondFactor(c *gin.Context, purpose string, pageOf func(store.AuthRequest) passkeyPage) (store.AuthRequest, passkeyPage, ceremony, bool) {
	req, ok := b.mfaRequest(c)
	if !ok {
		return req, passkeyPage{}, ceremony{}, false
	}
	page := pageOf(req)
	cer, err := b.spendCeremony(c.Request.Context(), req.ID, purpose)
	if errors.Is(err, errNoCeremony) || (err == nil && cer.UserID != req.UserID) {
		b.renderPasskeyPage(c, http.StatusBadRequest, page, b.ui.Msg(ui.MsgPasskeyExpired))
		return req, page, cer, false
	} else if err != nil {
		b.ui.Unavailable(c, "passkey: ceremony", err)
		return req, page, cer, false
	}
	return req, page, cer, true
}
