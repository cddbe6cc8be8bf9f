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

func (j *Server) mfaBack(req store.AuthRequest) string {
	return j.path("/mfa") + "?req=" + url.QueryEscape(req.ID)
}

func (j *Server) enrolPasskeyPage(req store.AuthRequest) passkeyPage {
	return passkeyPage{Mode: "create", Heading: "ui.add_passkey", Help: "ui.passkey_create_help", Button: "ui.add_passkey",
		Begin: j.path("/mfa/passkey/register/begin"), Finish: j.path("/mfa/passkey/register/finish"),
		Req: req.ID, CSRF: req.CSRFToken, Back: j.mfaBack(req)}
}

func (j *Server) mfaPasskeyPage(req store.AuthRequest) passkeyPage {
	return passkeyPage{Mode: "get", Heading: "ui.mfa_title", Help: "ui.passkey_get_help", Button: "ui.use_passkey",
		Begin: j.path("/mfa/passkey/begin"), Finish: j.path("/mfa/passkey/finish"),
		Req: req.ID, CSRF: req.CSRFToken, Back: j.mfaBack(req)}
}

// registrationOptions are the options of every passkey registration:
// none of the user's passkeys again, user verification if the
// authenticator can, and a discoverable credential, required when
// passkeys may be the whole login (so that every passkey can be).
func (j *Server) registrationOptions(w waUser) []webauthn.RegistrationOption {
	rk := protocol.ResidentKeyRequirementPreferred
	if j.passwordlessOn() {
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
func (j *Server) handlePasskeyEnrolPage(c *gin.Context) {
	req, ok := j.mfaRequest(c)
	if !ok {
		return
	}
	m, _, err := j.loadMFA(c.Request.Context(), req.UserID)
	if err != nil {
		j.ui.Unavailable(c, "passkey: load", err)
		return
	}
	if m.enrolled() { // enrolling is for who has no second factor yet
		c.Redirect(http.StatusSeeOther, j.mfaBack(req))
		return
	}
	j.renderPasskeyPage(c, http.StatusOK, j.enrolPasskeyPage(req), "")
}

func (j *Server) handlePasskeyEnrolBegin(c *gin.Context) {
	req, u, m, ok := j.beginSecondFactor(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	if m.enrolled() {
		// A password alone must not add a second factor to an account
		// that has one.
		j.passkeyJSONError(c, http.StatusForbidden, "enrolled", ui.MsgLoginExpired)
		return
	}
	w := newWAUser(u, m)
	creation, session, err := j.webauthn.BeginRegistration(w, j.registrationOptions(w)...)
	if err == nil {
		err = j.beginCeremony(ctx, req.ID, ceremony{Purpose: purposeEnrol, UserID: req.UserID, Session: *session})
	}
	if err != nil {
		j.log.Error("passkey: begin registration", "err", err)
		j.passkeyJSONError(c, http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return
	}
	passkeyJSON(c, creation)
}

// handlePasskeyEnrolFinish keeps the new passkey as the user's second
// factor and shows the recovery codes, like a confirmed TOTP.
func (j *Server) handlePasskeyEnrolFinish(c *gin.Context) {
	req, page, cer, ok := j.finishSecondFactor(c, purposeEnrol, j.enrolPasskeyPage)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	u, err := j.store.GetUser(ctx, req.UserID)
	if err != nil {
		j.ui.Unavailable(c, "passkey: read user", err)
		return
	}
	m, rec, err := j.loadMFA(ctx, req.UserID)
	if err != nil {
		j.ui.Unavailable(c, "passkey: load", err)
		return
	}
	if m.enrolled() {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLoginExpired)
		return
	}
	cred, msgID, err := j.createCredential(c, newWAUser(u, m), cer.Session)
	if err != nil {
		j.passkeyLogErr("registration refused", err)
		j.renderPasskeyPage(c, http.StatusBadRequest, page, j.ui.T(c, msgID))
		return
	}
	codes, hashes, err := mfa.NewRecoveryCodes(mfa.DefaultRecoveryCodes, []byte(req.UserID))
	if err != nil {
		j.ui.Unavailable(c, "passkey: recovery codes", err)
		return
	}
	// The pending TOTP secret goes: the second factor is the passkey now,
	// and a secret shown on the setup page must not become a second one
	// without the first.
	m.Passkeys, m.Recovery, m.TOTP, m.TOTPLastStep = append(slices.Clone(m.Passkeys), newPasskey(cred, "", j.opts.Now())), hashes, nil, 0
	if err := j.saveMFA(ctx, rec, m); errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrAlreadyExists) {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLoginExpired)
		return
	} else if err != nil {
		j.ui.Unavailable(c, "passkey: save", err)
		return
	}
	j.audit.Request(c, store.AuditEvent{Type: audit.MFAEnrol, Actor: audit.User(req.UserID), UserID: req.UserID,
		ClientID: req.ClientID, Details: map[string]string{"method": "passkey", "credential": credentialID(cred.ID)}})
	j.showRecoveryCodes(c, req, codes, passkeyAMR)
}

// createCredential verifies the posted registration against session; on
// failure it also says which message to show.
func (j *Server) createCredential(c *gin.Context, w waUser, session webauthn.SessionData) (*webauthn.Credential, string, error) {
	parsed, err := parseAttestation(c)
	if err != nil {
		return nil, ui.MsgPasskeyFailed, err
	}
	if slices.ContainsFunc(w.creds, func(x webauthn.Credential) bool { return bytes.Equal(x.ID, parsed.RawID) }) {
		return nil, ui.MsgPasskeyExists, errors.New("credential already registered")
	}
	cred, err := j.webauthn.CreateCredential(w, session, parsed)
	if err != nil {
		return nil, ui.MsgPasskeyFailed, err
	}
	return cred, "", nil
}

// handlePasskeyMFAPage is the second-factor page's "Use a passkey".
func (j *Server) handlePasskeyMFAPage(c *gin.Context) {
	req, ok := j.mfaRequest(c)
	if !ok {
		return
	}
	m, _, err := j.loadMFA(c.Request.Context(), req.UserID)
	if err != nil {
		j.ui.Unavailable(c, "passkey: load", err)
		return
	}
	if len(m.Passkeys) == 0 {
		c.Redirect(http.StatusSeeOther, j.mfaBack(req))
		return
	}
	j.renderPasskeyPage(c, http.StatusOK, j.mfaPasskeyPage(req), "")
}

func (j *Server) handlePasskeyMFABegin(c *gin.Context) {
	req, u, m, ok := j.beginSecondFactor(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	if len(m.Passkeys) == 0 {
		j.passkeyJSONError(c, http.StatusBadRequest, "no_passkey", ui.MsgPasskeyFailed)
		return
	}
	// The password was the first factor: possession of the key is the
	// second, so user verification is not asked for (a security key
	// without a PIN does).
	assertion, session, err := j.webauthn.BeginLogin(newWAUser(u, m), webauthn.WithUserVerification(protocol.VerificationDiscouraged))
	if err == nil {
		err = j.beginCeremony(ctx, req.ID, ceremony{Purpose: purposeMFA, UserID: req.UserID, Session: *session})
	}
	if err != nil {
		j.log.Error("passkey: begin login", "err", err)
		j.passkeyJSONError(c, http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return
	}
	passkeyJSON(c, assertion)
}

// handlePasskeyMFAFinish checks the passkey's assertion and goes on with
// the login. There is no throttle: an assertion is a signature, nothing
// to guess, and each challenge answers once.
func (j *Server) handlePasskeyMFAFinish(c *gin.Context) {
	req, page, cer, ok := j.finishSecondFactor(c, purposeMFA, j.mfaPasskeyPage)
	if !ok {
		return
	}
	parsed, err := parseAssertion(c)
	var cred *webauthn.Credential
	if err == nil {
		cred, err = j.assertAndRecord(c, req.UserID, func(w waUser) (*webauthn.Credential, error) {
			return j.webauthn.ValidateLogin(w, cer.Session, parsed)
		})
	}
	switch {
	case errors.Is(err, core.ErrStore):
		j.ui.Unavailable(c, "passkey: second factor", err)
		return
	case errors.Is(err, errSignCount):
		j.auditSignCount(c, req, req.UserID, cred, parsed.Response.AuthenticatorData.Counter)
		j.auditLoginFailure(c, req.ConnectorID, req.ClientID, req.UserID, "passkey_sign_count")
		j.renderPasskeyPage(c, http.StatusUnauthorized, page, j.ui.T(c, ui.MsgPasskeySignCount))
		return
	case err != nil:
		j.passkeyLogErr("second factor refused", err)
		j.auditLoginFailure(c, req.ConnectorID, req.ClientID, req.UserID, "passkey_invalid")
		j.renderPasskeyPage(c, http.StatusUnauthorized, page, j.ui.T(c, ui.MsgPasskeyFailed))
		return
	}
	j.secondFactorDone(c, req, passkeyAMR)
}

// beginSecondFactor loads what a passkey ceremony of a login after its
// first factor needs: the request, its user and the user's factors. It
// answers the JSON error itself when one is missing.
func (j *Server) beginSecondFactor(c *gin.Context) (store.AuthRequest, store.User, mfaRecord, bool) {
	req, ok := j.beginRequest(c)
	if !ok {
		return req, store.User{}, mfaRecord{}, false
	}
	if req.UserID == "" || req.Step != "/mfa" {
		j.passkeyJSONError(c, http.StatusBadRequest, "login_expired", ui.MsgLoginExpired)
		return req, store.User{}, mfaRecord{}, false
	}
	ctx := c.Request.Context()
	u, err := j.store.GetUser(ctx, req.UserID)
	if err != nil {
		j.log.ErrorContext(ctx, "passkey: read user", "err", err)
		j.passkeyJSONError(c, http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return req, u, mfaRecord{}, false
	}
	m, _, err := j.loadMFA(ctx, req.UserID)
	if err != nil {
		j.log.ErrorContext(ctx, "passkey: load", "err", err)
		j.passkeyJSONError(c, http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return req, u, m, false
	}
	return req, u, m, true
}

// finishSecondFactor loads what a passkey ceremony's answer during a
// login needs: the request, the page to show again on failure, and the
// ceremony, spent so that it answers once. It answers the failure itself.
func (j *Server) finishSecondFactor(c *gin.Context, purpose string, pageOf func(store.AuthRequest) passkeyPage) (store.AuthRequest, passkeyPage, ceremony, bool) {
	req, ok := j.mfaRequest(c)
	if !ok {
		return req, passkeyPage{}, ceremony{}, false
	}
	page := pageOf(req)
	cer, err := j.spendCeremony(c.Request.Context(), req.ID, purpose)
	if errors.Is(err, errNoCeremony) || (err == nil && cer.UserID != req.UserID) {
		j.renderPasskeyPage(c, http.StatusBadRequest, page, j.ui.T(c, ui.MsgPasskeyExpired))
		return req, page, cer, false
	} else if err != nil {
		j.ui.Unavailable(c, "passkey: ceremony", err)
		return req, page, cer, false
	}
	return req, page, cer, true
}
