package journey

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/mfa"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/ui"
)

// The account page's changes to the person's own ways in: passkeys
// renamed or removed, recovery codes made anew, the password changed, and
// sessions ended. Every form carries the page's token (accountCSRF). What
// adds or removes a way in needs a recent login, with the second factor
// for a user who has one: a stolen session cookie alone must not swap a
// passkey or the password. Ending sessions needs no recent login: it only
// ever takes access away.

// defaultFreshLogin is Options.FreshLogin unless set.
const defaultFreshLogin = 10 * time.Minute

// Bounds of what the account forms take.
const (
	maxPasskeyName  = 64   // runes
	maxCredentialID = 1400 // characters: a WebAuthn credential id is at most 1023 bytes
	maxPassword     = 1024 // bytes, as the admin API: argon2 takes any length
)

func (j *Server) accountRoutes(r gin.IRoutes) {
	r.POST(j.path("/account/passkey/rename"), j.handlePasskeyRename)
	r.POST(j.path("/account/passkey/remove"), j.handlePasskeyRemove)
	r.POST(j.path("/account/recovery"), j.handleRecoveryRegenerate)
	r.POST(j.path("/account/recovery/done"), j.handleRecoveryDone)
	r.GET(j.path("/account/password"), j.handlePasswordPage)
	r.POST(j.path("/account/password"), j.handlePasswordChange)
	r.POST(j.path("/account/apps/:client/end"), j.handleAppEnd)
	r.POST(j.path("/account/sessions/end"), j.handleOtherSessionsEnd)
}

// fresh reports whether s's login is recent enough for a sensitive change.
func (j *Server) fresh(s *sso) bool {
	return !j.opts.Now().After(s.AuthTime.Add(j.opts.FreshLogin))
}

// accountAction checks a form of the account page: a session and the
// page's token; sensitive also asks for a recent login, with the second
// factor for a user who has one, and otherwise sends the person to log in
// again, after which they come back to the account page. ok is false once
// it has answered.
func (j *Server) accountAction(c *gin.Context, sensitive bool) (*sso, bool) {
	s, err := j.currentSSO(c)
	if err != nil {
		j.ui.Unavailable(c, "account: read session", err)
		return nil, false
	}
	if s == nil {
		j.ui.Page(c, http.StatusForbidden, ui.MsgLinkNeedsLogin)
		return nil, false
	}
	if !core.ConstantEqual(c.PostForm("csrf"), accountCSRF(c)) {
		j.ui.Page(c, http.StatusForbidden, ui.MsgAccountCSRF)
		return nil, false
	}
	if !sensitive {
		return s, true
	}
	if ok, err := j.recentEnough(c.Request.Context(), s); err != nil {
		j.ui.Unavailable(c, "account: load second factors", err)
		return nil, false
	} else if !ok {
		j.accountLogin(c, "", "")
		return nil, false
	}
	return s, true
}

// recentEnough reports whether s may make a sensitive change: its login
// is fresh and, for a user with a second factor, used it.
func (j *Server) recentEnough(ctx context.Context, s *sso) (bool, error) {
	if !j.fresh(s) || slices.Contains(s.AMR, "mfa") {
		return j.fresh(s), nil
	}
	m, _, err := j.loadMFA(ctx, s.UserID)
	return !m.enrolled(), err
}

// updateMFA applies change to the user's second factors and stores them,
// compare-and-swap, again from the top if another request changed them
// meanwhile. An error of change is returned as it is.
func (j *Server) updateMFA(ctx context.Context, userID string, change func(*mfaRecord) error) (mfaRecord, error) {
	for range core.Retries {
		m, rec, err := j.loadMFA(ctx, userID)
		if err != nil {
			return m, err
		}
		if err := change(&m); err != nil {
			return m, err
		}
		err = j.saveMFA(ctx, rec, m)
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrAlreadyExists) {
			continue
		} else if err != nil {
			return m, fmt.Errorf("save second factors: %w", err)
		}
		return m, nil
	}
	return mfaRecord{}, core.ErrTooManyRetries
}

// passkeyName is the name of a new passkey among have: the first
// "Passkey N" no other has.
func (j *Server) passkeyName(have []passkey) string {
	for n := len(have) + 1; ; n++ {
		name := j.ui.Text("ui.passkey_default_name") + " " + strconv.Itoa(n)
		if !slices.ContainsFunc(have, func(p passkey) bool { return p.Name == name }) {
			return name
		}
	}
}

// displayName is p's name, or for one registered before passkeys had
// names, one from its place in the list.
func (j *Server) displayName(p passkey, i int) string {
	if p.Name != "" {
		return p.Name
	}
	return j.ui.Text("ui.passkey_default_name") + " " + strconv.Itoa(i+1)
}

// cleanPasskeyName returns a posted name, trimmed, or false: empty, too
// long, not UTF-8, or with control or formatting characters (a
// right-to-left override would make the list lie).
func cleanPasskeyName(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxPasskeyName {
		return "", false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return "", false
		}
	}
	return s, true
}

var (
	errNoPasskey   = errors.New("no such passkey")
	errPasskeyName = errors.New("not a passkey name")
)

// passkeyIndex finds the user's passkey of the posted id.
func passkeyIndex(m *mfaRecord, id string) (int, error) {
	i := slices.IndexFunc(m.Passkeys, func(p passkey) bool { return credentialID(p.ID) == id })
	if id == "" || len(id) > maxCredentialID || i < 0 {
		return -1, errNoPasskey
	}
	return i, nil
}

func (j *Server) handlePasskeyRename(c *gin.Context) {
	s, ok := j.accountAction(c, true)
	if !ok {
		return
	}
	name, valid := cleanPasskeyName(c.PostForm("name"))
	id := c.PostForm("id")
	_, err := j.updateMFA(c.Request.Context(), s.UserID, func(m *mfaRecord) error {
		i, err := passkeyIndex(m, id)
		if err != nil {
			return err
		}
		if !valid {
			return errPasskeyName
		}
		m.Passkeys = slices.Clone(m.Passkeys)
		m.Passkeys[i].Name = name
		return nil
	})
	switch {
	case errors.Is(err, errNoPasskey):
		j.ui.Page(c, http.StatusNotFound, ui.MsgNotFound)
		return
	case errors.Is(err, errPasskeyName):
		j.ui.Page(c, http.StatusBadRequest, ui.MsgPasskeyName)
		return
	case err != nil:
		j.ui.Unavailable(c, "account: rename passkey", err)
		return
	}
	j.audit.Request(c, store.AuditEvent{Type: audit.PasskeyRename, Actor: audit.User(s.UserID), UserID: s.UserID,
		Details: map[string]string{"credential": id}})
	c.Redirect(http.StatusSeeOther, j.path("/account")+"?done=renamed")
}

// handlePasskeyRemove removes one passkey. The last second factor may go
// too: the person then enrols again when a login needs one, and the
// recovery codes, which stood in for it, go with it.
func (j *Server) handlePasskeyRemove(c *gin.Context) {
	s, ok := j.accountAction(c, true)
	if !ok {
		return
	}
	id := c.PostForm("id")
	m, err := j.updateMFA(c.Request.Context(), s.UserID, func(m *mfaRecord) error {
		i, err := passkeyIndex(m, id)
		if err != nil {
			return err
		}
		m.Passkeys = slices.Delete(slices.Clone(m.Passkeys), i, i+1)
		if !m.enrolled() {
			m.Recovery = nil
		}
		return nil
	})
	if errors.Is(err, errNoPasskey) {
		j.ui.Page(c, http.StatusNotFound, ui.MsgNotFound)
		return
	} else if err != nil {
		j.ui.Unavailable(c, "account: remove passkey", err)
		return
	}
	j.audit.Request(c, store.AuditEvent{Type: audit.PasskeyRemove, Actor: audit.User(s.UserID), UserID: s.UserID,
		Details: map[string]string{"credential": id, "left": strconv.Itoa(len(m.Passkeys))}})
	c.Redirect(http.StatusSeeOther, j.path("/account")+"?done=removed")
}

// handleRecoveryRegenerate replaces the recovery codes with new ones,
// shown once; the old ones no longer work.
func (j *Server) handleRecoveryRegenerate(c *gin.Context) {
	s, ok := j.accountAction(c, true)
	if !ok {
		return
	}
	codes, hashes, err := mfa.NewRecoveryCodes(mfa.DefaultRecoveryCodes, []byte(s.UserID))
	if err != nil {
		j.ui.Unavailable(c, "account: recovery codes", err)
		return
	}
	errNone := errors.New("no second factor")
	_, err = j.updateMFA(c.Request.Context(), s.UserID, func(m *mfaRecord) error {
		if !m.enrolled() {
			return errNone
		}
		m.Recovery = hashes
		return nil
	})
	if errors.Is(err, errNone) {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgNoSecondFactor)
		return
	} else if err != nil {
		j.ui.Unavailable(c, "account: save recovery codes", err)
		return
	}
	j.audit.Request(c, store.AuditEvent{Type: audit.RecoveryRegenerate, Actor: audit.User(s.UserID), UserID: s.UserID,
		Details: map[string]string{"codes": strconv.Itoa(len(codes))}})
	j.ui.Render(c, http.StatusOK, "recovery", map[string]any{
		"Title": j.ui.T(c, "ui.recovery_title"), "CSRF": accountCSRF(c), "Action": j.path("/account/recovery/done"), "Codes": codes,
	})
}

// handleRecoveryDone is the new codes' "Continue" back to the account page.
func (j *Server) handleRecoveryDone(c *gin.Context) {
	if !core.ConstantEqual(c.PostForm("csrf"), accountCSRF(c)) {
		j.ui.Page(c, http.StatusForbidden, ui.MsgAccountCSRF)
		return
	}
	c.Redirect(http.StatusSeeOther, j.path("/account")+"?done=recovery")
}

// accountFactors is the second factors as the account page lists them.
func (j *Server) accountFactors(ctx context.Context, userID string) (map[string]any, error) {
	m, _, err := j.loadMFA(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"Enrolled": m.enrolled(), "TOTP": m.TOTPConfirmed, "RecoveryLeft": countLive(m.Recovery)}
	if !m.TOTPCreated.IsZero() {
		out["TOTPCreated"] = m.TOTPCreated.Format(time.DateOnly)
	}
	if m.TOTPConfirmed && m.TOTPLastStep > 0 {
		out["TOTPLastUsed"] = time.Unix(m.TOTPLastStep*int64(mfa.Period/time.Second), 0).UTC().Format(time.DateOnly)
	}
	var keys []map[string]string
	for i, p := range m.Passkeys {
		item := map[string]string{"ID": credentialID(p.ID), "Name": j.displayName(p, i), "Created": p.Created.Format(time.DateOnly),
			"Field": "passkey-name-" + strconv.Itoa(i)}
		if !p.LastUsed.IsZero() {
			item["LastUsed"] = p.LastUsed.Format(time.DateOnly)
		}
		keys = append(keys, item)
	}
	out["Passkeys"] = keys
	return out, nil
}
