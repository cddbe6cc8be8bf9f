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

func (b *Server) accountPasskeyPage(c *gin.Context) passkeyPage {
	return passkeyPage{Mode: "create", Heading: "ui.add_passkey", Help: "ui.passkey_create_help", Button: "ui.add_passkey",
		Begin: b.path("/account/passkeys/begin"), Finish: b.path("/account/passkeys/finish"),
		CSRF: accountCSRF(c), Back: b.path("/account")}
}

// accountPasskeySession returns the session of an account passkey
// request, with the page's form token checked, and the user's second
// factors; ok false once it has answered (through fail).
func (b *Server) accountPasskeySession(c *gin.Context, fail func(status int, code, msgID string)) (*sso, mfaRecord, store.Record, bool) {
	s, err := b.currentSSO(c)
	if err != nil {
		b.log.Error("account passkey: read session", "err", err)
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
	m, rec, err := b.loadMFA(c.Request.Context(), s.UserID)
	if err != nil {
		b.log.Error("account passkey: load", "err", err)
		fail(http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return nil, mfaRecord{}, store.Record{}, false
	}
	if m.enrolled() && !slices.Contains(s.AMR, "mfa") {
		fail(http.StatusForbidden, "mfa_required", ui.MsgPasskeyNeedsMFA)
		return nil, mfaRecord{}, store.Record{}, false
	}
	// A passkey is a way in that outlives the session: whoever holds a
	// stolen cookie must not add one. The login must be recent.
	if b.opts.Now().Sub(s.AuthTime) > recentLogin {
		fail(http.StatusForbidden, "reauth", ui.MsgReauth)
		return nil, mfaRecord{}, store.Record{}, false
	}
	return s, m, rec, true
}

// recentLogin is how old a login may be for the account page to add a
// passkey.
const recentLogin = 10 * time.Minute

func (b *Server) pageFail(c *gin.Context) func(int, string, string) {
	return func(status int, _, msgID string) { b.ui.Page(c, status, msgID) }
}

func (b *Server) jsonFail(c *gin.Context) func(int, string, string) {
	return func(status int, code, msgID string) { b.passkeyJSONError(c, status, code, msgID) }
}

// accountPasskeys lists the user's passkeys for the account page.
func (b *Server) accountPasskeys(ctx context.Context, userID string) ([]map[string]string, error) {
	m, _, err := b.loadMFA(ctx, userID)
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
func (b *Server) handleAccountPasskeyPage(c *gin.Context) {
	fail := func(status int, code, msgID string) {
		if code == "reauth" { // log in again, then back to the account page
			b.accountLogin(c, "", "")
			return
		}
		b.ui.Page(c, status, msgID)
	}
	if _, _, _, ok := b.accountPasskeySession(c, fail); !ok {
		return
	}
	b.renderPasskeyPage(c, http.StatusOK, b.accountPasskeyPage(c), "")
}

func (b *Server) handleAccountPasskeyBegin(c *gin.Context) {
	s, m, _, ok := b.accountPasskeySession(c, b.jsonFail(c))
	if !ok {
		return
	}
	ctx := c.Request.Context()
	u, err := b.store.GetUser(ctx, s.UserID)
	if err != nil {
		b.log.Error("account passkey: read user", "err", err)
		b.passkeyJSONError(c, http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return
	}
	w := newWAUser(u, m)
	creation, session, err := b.webauthn.BeginRegistration(w, b.registrationOptions(w)...)
	if err == nil {
		err = b.beginCeremony(ctx, accountPasskeyKey(s), ceremony{Purpose: purposeAccount, UserID: s.UserID, Session: *session})
	}
	if err != nil {
		b.log.Error("account passkey: begin registration", "err", err)
		b.passkeyJSONError(c, http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return
	}
	passkeyJSON(c, creation)
}

func (b *Server) handleAccountPasskeyFinish(c *gin.Context) {
	s, m, rec, ok := b.accountPasskeySession(c, b.pageFail(c))
	if !ok {
		return
	}
	ctx := c.Request.Context()
	page := b.accountPasskeyPage(c)
	cer, err := b.spendCeremony(ctx, accountPasskeyKey(s), purposeAccount)
	if errors.Is(err, errNoCeremony) || (err == nil && cer.UserID != s.UserID) {
		b.renderPasskeyPage(c, http.StatusBadRequest, page, b.ui.Msg(ui.MsgPasskeyExpired))
		return
	} else if err != nil {
		b.ui.Unavailable(c, "account passkey: ceremony", err)
		return
	}
	u, err := b.store.GetUser(ctx, s.UserID)
	if err != nil {
		b.ui.Unavailable(c, "account passkey: read user", err)
		return
	}
	cred, msgID, err := b.createCredential(c, newWAUser(u, m), cer.Session)
	if err != nil {
		b.passkeyLogErr("registration refused", err)
		b.renderPasskeyPage(c, http.StatusBadRequest, page, b.ui.Msg(msgID))
		return
	}
	first := !m.enrolled()
	var codes []string
	m.Passkeys = append(slices.Clone(m.Passkeys), newPasskey(cred, "", b.opts.Now()))
	if first {
		var hashes []string
		if codes, hashes, err = mfa.NewRecoveryCodes(mfa.DefaultRecoveryCodes, []byte(s.UserID)); err != nil {
			b.ui.Unavailable(c, "account passkey: recovery codes", err)
			return
		}
		m.Recovery, m.TOTP, m.TOTPLastStep = hashes, nil, 0
	}
	if err := b.saveMFA(ctx, rec, m); errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrAlreadyExists) {
		b.renderPasskeyPage(c, http.StatusConflict, page, b.ui.Msg(ui.MsgPasskeyExpired))
		return
	} else if err != nil {
		b.ui.Unavailable(c, "account passkey: save", err)
		return
	}
	b.audit.Request(c, store.AuditEvent{Type: audit.MFAEnrol, Actor: audit.User(s.UserID), UserID: s.UserID,
		Details: map[string]string{"method": "passkey", "credential": credentialID(cred.ID), "via": "account"}})
	if !first {
		c.Redirect(http.StatusSeeOther, b.path("/account")+"?done=passkey")
		return
	}
	b.ui.Render(c, http.StatusOK, "recovery", map[string]any{
		"Title": b.ui.Text("ui.recovery_title"), "CSRF": accountCSRF(c), "Action": b.path("/account/passkeys/done"), "Codes": codes,
	})
}

// handleAccountPasskeyDone is the recovery codes' "Continue" back to the
// account page.
func (b *Server) handleAccountPasskeyDone(c *gin.Context) {
	if !core.ConstantEqual(c.PostForm("csrf"), accountCSRF(c)) {
		b.ui.Page(c, http.StatusForbidden, ui.MsgAccountCSRF)
		return
	}
	c.Redirect(http.StatusSeeOther, b.path("/account")+"?done=passkey")
}
