package journey

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/mfa"
	"github.com/portico-idp/portico/broker/store"
)

// More passkeys from the account page, in the browser's single sign-on
// session. The ceremony is bound to that session (its record's key) and
// to the account page's form token. A user who has a second factor adds a
// passkey only from a session that used it; one who has none enrols with
// this passkey and is shown recovery codes, as at a login.

// accountPasskeyKey is the ceremony record's key of session s.
func accountPasskeyKey(s *sso) string { return "account:" + s.rec.Key }

func (j *Server) accountPasskeyPage(c *gin.Context) passkeyPage {
	return passkeyPage{Mode: "create", Heading: "ui.add_passkey", Help: "ui.passkey_create_help", Button: "ui.add_passkey",
		Begin: j.path("/account/passkeys/begin"), Finish: j.path("/account/passkeys/finish"),
		CSRF: accountCSRF(c), Back: j.path("/account")}
}

// accountPasskeySession returns the session of an account passkey
// request, with the page's form token checked, and the user's second
// factors; ok false once it has answered (through fail).
func (j *Server) accountPasskeySession(c *gin.Context, fail func(status int, code, msgID string)) (*sso, mfaRecord, store.Record, bool) {
	s, err := j.currentSSO(c)
	if err != nil {
		j.log.Error("account passkey: read session", "err", err)
		fail(http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return nil, mfaRecord{}, store.Record{}, false
	}
	if s == nil {
		fail(http.StatusForbidden, "login_required", ui.MsgLinkNeedsLogin)
		return nil, mfaRecord{}, store.Record{}, false
	}
	if !core.ConstantEqual(c.PostForm("csrf"), accountCSRF(c)) {
		fail(http.StatusForbidden, "csrf", ui.MsgAccountCSRF)
		return nil, mfaRecord{}, store.Record{}, false
	}
	m, rec, err := j.loadMFA(c.Request.Context(), s.UserID)
	if err != nil {
		j.log.Error("account passkey: load", "err", err)
		fail(http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return nil, mfaRecord{}, store.Record{}, false
	}
	if m.enrolled() && !slices.Contains(s.AMR, "mfa") {
		fail(http.StatusForbidden, "mfa_required", ui.MsgPasskeyNeedsMFA)
		return nil, mfaRecord{}, store.Record{}, false
	}
	// A passkey is a way in that outlives the session: whoever holds a
	// stolen cookie must not add one. The login must be recent.
	if j.opts.Now().Sub(s.AuthTime) > recentLogin {
		fail(http.StatusForbidden, "reauth", ui.MsgReauth)
		return nil, mfaRecord{}, store.Record{}, false
	}
	return s, m, rec, true
}

// recentLogin is how old a login may be for the account page to add a
// passkey.
const recentLogin = 10 * time.Minute

func (j *Server) pageFail(c *gin.Context) func(int, string, string) {
	return func(status int, _, msgID string) { j.ui.Page(c, status, msgID) }
}

func (j *Server) jsonFail(c *gin.Context) func(int, string, string) {
	return func(status int, code, msgID string) { j.passkeyJSONError(c, status, code, msgID) }
}

// accountPasskeys lists the user's passkeys for the account page.
func (j *Server) accountPasskeys(ctx context.Context, userID string) ([]map[string]string, error) {
	m, _, err := j.loadMFA(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	for _, p := range m.Passkeys {
		item := map[string]string{"Created": p.Created.Format(time.DateOnly)}
		if !p.LastUsed.IsZero() {
			item["LastUsed"] = p.LastUsed.Format(time.DateOnly)
		}
		out = append(out, item)
	}
	return out, nil
}

// handleAccountPasskeyPage is the account page's "Add a passkey".
func (j *Server) handleAccountPasskeyPage(c *gin.Context) {
	fail := func(status int, code, msgID string) {
		if code == "reauth" { // log in again, then back to the account page
			j.accountLogin(c, "", "")
			return
		}
		j.ui.Page(c, status, msgID)
	}
	if _, _, _, ok := j.accountPasskeySession(c, fail); !ok {
		return
	}
	j.renderPasskeyPage(c, http.StatusOK, j.accountPasskeyPage(c), "")
}

func (j *Server) handleAccountPasskeyBegin(c *gin.Context) {
	s, m, _, ok := j.accountPasskeySession(c, j.jsonFail(c))
	if !ok {
		return
	}
	ctx := c.Request.Context()
	u, err := j.store.GetUser(ctx, s.UserID)
	if err != nil {
		j.log.Error("account passkey: read user", "err", err)
		j.passkeyJSONError(c, http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return
	}
	w := newWAUser(u, m)
	creation, session, err := j.webauthn.BeginRegistration(w, j.registrationOptions(w)...)
	if err == nil {
		err = j.beginCeremony(ctx, accountPasskeyKey(s), ceremony{Purpose: purposeAccount, UserID: s.UserID, Session: *session})
	}
	if err != nil {
		j.log.Error("account passkey: begin registration", "err", err)
		j.passkeyJSONError(c, http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return
	}
	passkeyJSON(c, creation)
}

func (j *Server) handleAccountPasskeyFinish(c *gin.Context) {
	s, m, rec, ok := j.accountPasskeySession(c, j.pageFail(c))
	if !ok {
		return
	}
	ctx := c.Request.Context()
	page := j.accountPasskeyPage(c)
	cer, err := j.spendCeremony(ctx, accountPasskeyKey(s), purposeAccount)
	if errors.Is(err, errNoCeremony) || (err == nil && cer.UserID != s.UserID) {
		j.renderPasskeyPage(c, http.StatusBadRequest, page, j.ui.T(c, ui.MsgPasskeyExpired))
		return
	} else if err != nil {
		j.ui.Unavailable(c, "account passkey: ceremony", err)
		return
	}
	u, err := j.store.GetUser(ctx, s.UserID)
	if err != nil {
		j.ui.Unavailable(c, "account passkey: read user", err)
		return
	}
	cred, msgID, err := j.createCredential(c, newWAUser(u, m), cer.Session)
	if err != nil {
		j.passkeyLogErr("registration refused", err)
		j.renderPasskeyPage(c, http.StatusBadRequest, page, j.ui.T(c, msgID))
		return
	}
	first := !m.enrolled()
	var codes []string
	m.Passkeys = append(slices.Clone(m.Passkeys), newPasskey(cred, "", j.opts.Now()))
	if first {
		var hashes []string
		if codes, hashes, err = mfa.NewRecoveryCodes(mfa.DefaultRecoveryCodes, []byte(s.UserID)); err != nil {
			j.ui.Unavailable(c, "account passkey: recovery codes", err)
			return
		}
		m.Recovery, m.TOTP, m.TOTPLastStep = hashes, nil, 0
	}
	if err := j.saveMFA(ctx, rec, m); errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrAlreadyExists) {
		j.renderPasskeyPage(c, http.StatusConflict, page, j.ui.T(c, ui.MsgPasskeyExpired))
		return
	} else if err != nil {
		j.ui.Unavailable(c, "account passkey: save", err)
		return
	}
	j.audit.Request(c, store.AuditEvent{Type: audit.MFAEnrol, Actor: audit.User(s.UserID), UserID: s.UserID,
		Details: map[string]string{"method": "passkey", "credential": credentialID(cred.ID), "via": "account"}})
	if !first {
		c.Redirect(http.StatusSeeOther, j.path("/account")+"?done=passkey")
		return
	}
	j.ui.Render(c, http.StatusOK, "recovery", map[string]any{
		"Title": j.ui.T(c, "ui.recovery_title"), "CSRF": accountCSRF(c), "Action": j.path("/account/passkeys/done"), "Codes": codes,
	})
}

// handleAccountPasskeyDone is the recovery codes' "Continue" back to the
// account page.
func (j *Server) handleAccountPasskeyDone(c *gin.Context) {
	if !core.ConstantEqual(c.PostForm("csrf"), accountCSRF(c)) {
		j.ui.Page(c, http.StatusForbidden, ui.MsgAccountCSRF)
		return
	}
	c.Redirect(http.StatusSeeOther, j.path("/account")+"?done=passkey")
}
