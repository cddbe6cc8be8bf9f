package journey

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/mfa"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
	"github.com/portico-idp/portico/tokensvc"
)

// Second factors (docs/login.md): a login that the policy, the client's
// acr_values or the user's own enrolment asks a second factor of stops at
// /login/mfa after its first factor. A user without one enrols a TOTP
// authenticator there (or a passkey) and is shown recovery codes once.

const mfaKind = "mfa" // record per user, key the user id

// mfaRecord is a user's second factors.
type mfaRecord struct {
	TOTP          []byte    `json:"totp,omitempty"` // sealed secret, bound to the user id
	TOTPConfirmed bool      `json:"totp_confirmed,omitempty"`
	TOTPLastStep  int64     `json:"totp_last_step,omitempty"`
	TOTPCreated   time.Time `json:"totp_created,omitzero"`
	Recovery      []string  `json:"recovery,omitempty"` // hashes; "" once used
	Passkeys      []passkey `json:"passkeys,omitempty"`
}

func (m mfaRecord) enrolled() bool { return m.TOTPConfirmed || len(m.Passkeys) > 0 }

// MFAPolicy names the logins that must add a second factor.
type MFAPolicy struct {
	Clients, Connectors, Groups []string
}

// loadMFA returns the user's second factors and the record they came from
// (Version 0 when there is none).
func (j *Server) loadMFA(ctx context.Context, userID string) (mfaRecord, store.Record, error) {
	var m mfaRecord
	rec, err := j.store.GetRecord(ctx, mfaKind, userID)
	if errors.Is(err, store.ErrNotFound) {
		return m, store.Record{Kind: mfaKind, Key: userID}, nil
	} else if err != nil {
		return m, rec, fmt.Errorf("read second factors: %w", err)
	}
	if err := json.Unmarshal(rec.Value, &m); err != nil {
		return m, rec, fmt.Errorf("decode second factors: %w", err)
	}
	return m, rec, nil
}

// saveMFA stores m over rec, compare-and-swap: of two requests spending
// the same code, one loses here.
func (j *Server) saveMFA(ctx context.Context, rec store.Record, m mfaRecord) error {
	val, err := json.Marshal(m)
	if err != nil {
		return err
	}
	rec.Value = val
	return j.store.PutRecord(ctx, rec)
}

// mfaNeeded reports whether req's login must add a second factor.
func (j *Server) mfaNeeded(ctx context.Context, req store.AuthRequest) (bool, error) {
	if slices.Contains(req.AMR, "mfa") {
		return false, nil
	}
	p := j.opts.MFA
	if slices.Contains(req.ACRValues, tokensvc.ACRMFA) || slices.Contains(p.Clients, req.ClientID) || slices.Contains(p.Connectors, req.ConnectorID) {
		return true, nil
	}
	if len(p.Groups) > 0 {
		u, err := j.store.GetUser(ctx, req.UserID)
		if err != nil {
			return false, fmt.Errorf("read user: %w", err)
		}
		if slices.ContainsFunc(slices.Concat(u.Groups, u.LocalGroups, u.ProvisionedGroups), func(g string) bool { return slices.Contains(p.Groups, g) }) {
			return true, nil
		}
	}
	// Whoever enrolled a second factor is asked for it: otherwise it
	// would protect nothing.
	m, _, err := j.loadMFA(ctx, req.UserID)
	return m.enrolled(), err
}

// sealer is the key that seals TOTP secrets at rest.
func (j *Server) sealer() (*mfa.Sealer, error) {
	if len(j.opts.MFAKey) == 0 {
		return nil, errors.New("no key to seal second factors configured")
	}
	return mfa.NewSealer(j.opts.MFAKey)
}

// mfaRequest loads the request of an MFA page: first factor done, this
// browser's, and for a POST its form token.
func (j *Server) mfaRequest(c *gin.Context) (store.AuthRequest, bool) {
	return j.stepRequest(c, "/mfa")
}

// stepRequest loads the request of step's page: first factor done, waiting
// at this step, this browser's, and for a POST its form token.
func (j *Server) stepRequest(c *gin.Context, step string) (store.AuthRequest, bool) {
	req, ok := j.loadRequest(c, formValue(c, "req"))
	if !ok {
		return req, false
	}
	if req.UserID == "" || req.Step != step {
		if !j.resume(c, req) {
			j.ui.Page(c, http.StatusBadRequest, ui.MsgLoginExpired)
		}
		return req, false
	}
	if c.Request.Method == http.MethodPost && !j.csrfOK(c, req) {
		return req, false
	}
	return req, true
}

func (j *Server) handleMFA(c *gin.Context) {
	req, ok := j.mfaRequest(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	m, _, err := j.loadMFA(ctx, req.UserID)
	if err != nil {
		j.ui.Unavailable(c, "mfa: load", err)
		return
	}
	if m.enrolled() {
		j.mfaPage(c, http.StatusOK, req, m, "", "")
		return
	}
	// Enrolment: the secret is this login's, kept across reloads of the
	// page but never shown to another login (which could be someone who
	// knows the password, copying the key before its owner enrols).
	secret, err := j.pendingTOTP(ctx, req, true)
	if err != nil {
		j.ui.Unavailable(c, "mfa: pending secret", err)
		return
	}
	j.enrolPage(c, http.StatusOK, req, secret, "")
}

const pendingTOTPKind = "totp-pending" // key: the authorization request id

// totpAccount names the user in an authenticator app; a colon would cut
// the key URI's label.
func totpAccount(u store.User) string {
	return strings.ReplaceAll(firstNonEmpty(u.Email, u.Username, u.ID), ":", " ")
}

// pendingTOTP returns the secret being enrolled in req's login, sealed in
// a record that lives as long as the request; create makes one if none.
func (j *Server) pendingTOTP(ctx context.Context, req store.AuthRequest, create bool) ([]byte, error) {
	s, err := j.sealer()
	if err != nil {
		return nil, err
	}
	ad := []byte(req.UserID + "/" + req.ID)
	rec, err := j.store.GetRecord(ctx, pendingTOTPKind, req.ID)
	if err == nil {
		return s.Open(rec.Value, ad)
	}
	if !errors.Is(err, store.ErrNotFound) || !create {
		return nil, err
	}
	t, err := mfa.NewTOTP(j.ui.Product(), "pending")
	if err != nil {
		return nil, err
	}
	sealed, err := s.Seal(t.Secret, ad)
	if err != nil {
		return nil, err
	}
	if err := j.store.PutRecord(ctx, store.Record{Kind: pendingTOTPKind, Key: req.ID, Value: sealed, Expiry: req.Expiry}); err != nil {
		return nil, err
	}
	return t.Secret, nil
}

func (j *Server) enrolPage(c *gin.Context, status int, req store.AuthRequest, secret []byte, msg string) {
	u, _ := j.store.GetUser(c.Request.Context(), req.UserID)
	t, err := mfa.TOTPFor(j.ui.Product(), totpAccount(u), secret)
	if err != nil {
		j.ui.Unavailable(c, "mfa: key", err)
		return
	}
	png, err := t.QRCode(240)
	if err != nil {
		j.ui.Unavailable(c, "mfa: qr", err)
		return
	}
	j.ui.Render(c, status, "mfa_enrol", map[string]any{
		"Title": j.ui.T(c, "ui.enrol_title"), "Req": req.ID, "CSRF": req.CSRFToken, "Action": j.path("/mfa/enrol"), "Error": msg,
		"QR": template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)), "Key": t.ManualKey(),
		"Passkey": j.webauthnOn(), "PasskeyAction": j.path("/mfa/passkey/register"),
	})
}

// mfaPage shows the second factor's page; msg is an error about the
// field named by field: "code" (TOTP) or "recovery", whose section then
// stays open and takes the focus.
func (j *Server) mfaPage(c *gin.Context, status int, req store.AuthRequest, m mfaRecord, field, msg string) {
	j.ui.Render(c, status, "mfa", map[string]any{
		"Title": j.ui.T(c, "ui.mfa_title"), "Req": req.ID, "CSRF": req.CSRFToken, "Action": j.path("/mfa"), "Error": msg,
		"CodeError": msg != "" && field == "code", "RecoveryError": msg != "" && field == "recovery",
		"TOTP": m.TOTPConfirmed, "Passkey": len(m.Passkeys) > 0 && j.webauthnOn(), "PasskeyAction": j.path("/mfa/passkey"),
		"Recovery": slices.ContainsFunc(m.Recovery, func(h string) bool { return h != "" }),
	})
}

// handleMFAVerify checks a TOTP or recovery code.
func (j *Server) handleMFAVerify(c *gin.Context) {
	req, ok := j.mfaRequest(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	key := throttle.Key{Scope: "mfa", ID: req.UserID}
	if !j.throttleCheck(c, key) {
		return
	}
	m, rec, err := j.loadMFA(ctx, req.UserID)
	if err != nil {
		j.throttleRelease(c, key)
		j.ui.Unavailable(c, "mfa: load", err)
		return
	}
	method, ok := "", false
	// The recovery form posts no code; a failure is told at the field
	// the person used.
	byRecovery := c.PostForm("code") == "" || !m.TOTPConfirmed
	if code := c.PostForm("code"); !byRecovery {
		s, err := j.sealer()
		if err != nil {
			j.throttleRelease(c, key)
			j.ui.Unavailable(c, "mfa: sealer", err)
			return
		}
		secret, err := s.Open(m.TOTP, []byte(req.UserID))
		if err != nil {
			j.throttleRelease(c, key)
			j.ui.Unavailable(c, "mfa: open secret", err)
			return
		}
		var step int64
		if step, ok = mfa.Verify(secret, code, j.opts.Now(), m.TOTPLastStep); ok {
			m.TOTPLastStep, method = step, "otp"
		}
	} else if code := c.PostForm("recovery"); code != "" {
		var i int
		if i, ok = mfa.MatchRecoveryCode(code, m.Recovery, []byte(req.UserID)); ok {
			m.Recovery = slices.Clone(m.Recovery)
			m.Recovery[i], method = "", "recovery"
		}
	}
	if ok {
		// The spent step or code is stored before it counts: a racing
		// request with the same code loses the compare-and-swap.
		if err := j.saveMFA(ctx, rec, m); errors.Is(err, store.ErrConflict) {
			ok = false
		} else if err != nil {
			j.throttleRelease(c, key)
			j.ui.Unavailable(c, "mfa: save", err)
			return
		}
	}
	if !ok {
		j.throttleFail(c, key)
		j.auditLoginFailure(c, req.ConnectorID, req.ClientID, req.UserID, "mfa_invalid")
		if byRecovery {
			j.mfaPage(c, http.StatusUnauthorized, req, m, "recovery", j.ui.T(c, ui.MsgBadRecovery))
		} else {
			j.mfaPage(c, http.StatusUnauthorized, req, m, "code", j.ui.T(c, ui.MsgBadCode))
		}
		return
	}
	j.throttleSucceed(c, key)
	if method == "recovery" {
		j.audit.Request(c, store.AuditEvent{Type: audit.RecoveryUsed, Actor: audit.User(req.UserID), UserID: req.UserID,
			ClientID: req.ClientID, Details: map[string]string{"left": strconv.Itoa(countLive(m.Recovery))}})
	}
	j.secondFactorDone(c, req, "otp")
}

// secondFactorDone records the second factor in the login and goes on.
func (j *Server) secondFactorDone(c *gin.Context, req store.AuthRequest, amr string) {
	for _, a := range []string{amr, "mfa"} {
		if !slices.Contains(req.AMR, a) {
			req.AMR = append(req.AMR, a)
		}
	}
	req.AuthTime = j.opts.Now().Truncate(1e9)
	j.continueLogin(c, req, true, nil)
}

// handleMFAEnrol confirms a new TOTP authenticator with its first code,
// then shows the recovery codes, once.
func (j *Server) handleMFAEnrol(c *gin.Context) {
	req, ok := j.mfaRequest(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	key := throttle.Key{Scope: "mfa", ID: req.UserID}
	if !j.throttleCheck(c, key) {
		return
	}
	m, rec, err := j.loadMFA(ctx, req.UserID)
	if err != nil || m.enrolled() {
		j.throttleRelease(c, key)
		if err != nil {
			j.ui.Unavailable(c, "mfa: load", err)
		} else {
			j.ui.Page(c, http.StatusBadRequest, ui.MsgLoginExpired)
		}
		return
	}
	secret, err := j.pendingTOTP(ctx, req, false)
	if errors.Is(err, store.ErrNotFound) {
		j.throttleRelease(c, key)
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLoginExpired)
		return
	}
	var sealed []byte
	s, err2 := j.sealer()
	if err == nil && err2 == nil {
		sealed, err = s.Seal(secret, []byte(req.UserID))
	}
	if err = errors.Join(err, err2); err != nil {
		j.throttleRelease(c, key)
		j.ui.Unavailable(c, "mfa: open secret", err)
		return
	}
	step, ok := mfa.Verify(secret, c.PostForm("code"), j.opts.Now(), 0)
	if !ok {
		j.throttleFail(c, key)
		j.enrolPage(c, http.StatusUnauthorized, req, secret, j.ui.T(c, ui.MsgBadCode))
		return
	}
	codes, hashes, err := mfa.NewRecoveryCodes(mfa.DefaultRecoveryCodes, []byte(req.UserID))
	if err != nil {
		j.throttleRelease(c, key)
		j.ui.Unavailable(c, "mfa: recovery codes", err)
		return
	}
	m.TOTP, m.TOTPConfirmed, m.TOTPLastStep, m.Recovery, m.TOTPCreated = sealed, true, step, hashes, j.opts.Now().UTC()
	if err := j.saveMFA(ctx, rec, m); err != nil {
		j.throttleRelease(c, key)
		j.ui.Unavailable(c, "mfa: save", err)
		return
	}
	j.throttleSucceed(c, key)
	if err := j.store.DeleteRecord(ctx, pendingTOTPKind, req.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		j.log.WarnContext(ctx, "mfa: delete pending secret", "err", err)
	}
	j.audit.Request(c, store.AuditEvent{Type: audit.MFAEnrol, Actor: audit.User(req.UserID), UserID: req.UserID,
		ClientID: req.ClientID, Details: map[string]string{"method": "totp"}})
	j.showRecoveryCodes(c, req, codes, "otp")
}

func countLive(hashes []string) int {
	n := 0
	for _, h := range hashes {
		if h != "" {
			n++
		}
	}
	return n
}

// ResetMFA forgets the user's second factors: they enrol again at their
// next login.
func (j *Server) ResetMFA(ctx context.Context, userID string) error {
	if err := j.store.DeleteRecord(ctx, mfaKind, userID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}
