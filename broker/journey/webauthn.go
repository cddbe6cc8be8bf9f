package journey

import (
	"bytes"
	"context"
	_ "embed" // the passkey pages' script
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
)

// Passkeys (WebAuthn, docs/login.md): a person registers one or more
// authenticators, uses one as the second factor of a login, and, where the
// configuration allows, as the whole login (a discoverable credential
// whose user handle is the Portico user id).
//
// Each ceremony is two requests around the browser's navigator.credentials
// call. The begin endpoint answers JSON with the options; its challenge is
// kept here, in a store record bound to the authorization request (which is
// itself bound to the browser by its cookie), never handed to the client to
// bring back. The finish endpoint is a form post from the same page, so that
// it can answer with the next page of the login (the recovery codes, the
// redirect to the client); it spends the record before it verifies anything,
// so a challenge is good for one answer only.
//
// The relying party id is the issuer's host (without port) and the only
// origin accepted is the issuer's scheme://host[:port]: a passkey made for
// Portico works on no other site, and no other site's works here.

// PasskeyOptions turn WebAuthn on (Options.Passkeys).
type PasskeyOptions struct {
	// Enabled offers passkeys as a second factor, enrolled on the
	// second-factor page and from the account page.
	Enabled bool
	// Passwordless also offers "Log in with a passkey" on the login page:
	// a discoverable credential, with user verification, is the login.
	Passwordless bool
}

// passkey is a WebAuthn credential registered to a user, kept in its
// mfaRecord. The public key is not secret; the record's compare-and-swap
// keeps the sign count honest between concurrent logins.
type passkey struct {
	ID         []byte   `json:"id"`
	PublicKey  []byte   `json:"public_key"`
	SignCount  uint32   `json:"sign_count"`
	Name       string   `json:"name,omitempty"`
	AAGUID     []byte   `json:"aaguid,omitempty"`
	Transports []string `json:"transports,omitempty"`
	// Attestation as registered ("none" unless an authenticator sends one
	// anyway): kept for a later check against the FIDO metadata service.
	AttestationType   string `json:"attestation_type,omitempty"`
	AttestationFormat string `json:"attestation_format,omitempty"`
	Attachment        string `json:"attachment,omitempty"`
	// Flags of the credential record (WebAuthn §4: uvInitialized,
	// backupEligible, backupState).
	UserPresent    bool `json:"user_present,omitempty"`
	UserVerified   bool `json:"user_verified,omitempty"`
	BackupEligible bool `json:"backup_eligible,omitempty"`
	BackupState    bool `json:"backup_state,omitempty"`
	// CloneWarning is set once an assertion came with a sign count that
	// did not increase: two copies of the key may exist.
	CloneWarning bool      `json:"clone_warning,omitempty"`
	Created      time.Time `json:"created,omitzero"`
	LastUsed     time.Time `json:"last_used,omitzero"`
}

// webauthnOn reports whether passkeys are offered.
func (j *Server) webauthnOn() bool { return j.webauthn != nil }

// passwordlessOn reports whether a passkey may be the whole login.
func (j *Server) passwordlessOn() bool { return j.webauthn != nil && j.opts.Passkeys.Passwordless }

// ceremonyTTL bounds a ceremony: the browser's own timeout (the library's
// five minutes) and a little to post the answer.
const ceremonyTTL = 6 * time.Minute

// newWebAuthn is the relying party of the issuer iss.
func newWebAuthn(iss *url.URL, product string) (*webauthn.WebAuthn, error) {
	host := iss.Hostname()
	if err := protocol.ValidateRPID(host); err != nil {
		return nil, fmt.Errorf("broker: passkeys need a domain name as the issuer's host, not %q: %w", host, err)
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID: host, RPDisplayName: product,
		RPOrigins: []string{iss.Scheme + "://" + iss.Host},
		// No attestation: Portico trusts no list of authenticator models,
		// and "none" shows the person no extra privacy prompt.
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("broker: passkeys: %w", err)
	}
	return w, nil
}

// waUser is a Portico user as the WebAuthn library sees it. The user
// handle is the user id: opaque, stable, and not personal data.
type waUser struct {
	u     store.User
	creds []webauthn.Credential
}

func (w waUser) WebAuthnID() []byte   { return []byte(w.u.ID) }
func (w waUser) WebAuthnName() string { return firstNonEmpty(w.u.Email, w.u.Username, w.u.ID) }
func (w waUser) WebAuthnDisplayName() string {
	return firstNonEmpty(w.u.Name, w.u.Username, w.u.Email, w.u.ID)
}
func (w waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func newWAUser(u store.User, m mfaRecord) waUser {
	w := waUser{u: u}
	for _, p := range m.Passkeys {
		w.creds = append(w.creds, p.credential())
	}
	return w
}

// credential is p as the library's credential record.
func (p passkey) credential() webauthn.Credential {
	var f protocol.AuthenticatorFlags
	for _, x := range []struct {
		on   bool
		flag protocol.AuthenticatorFlags
	}{{p.UserPresent, protocol.FlagUserPresent}, {p.UserVerified, protocol.FlagUserVerified},
		{p.BackupEligible, protocol.FlagBackupEligible}, {p.BackupState, protocol.FlagBackupState}} {
		if x.on {
			f |= x.flag
		}
	}
	c := webauthn.Credential{
		ID: p.ID, PublicKey: p.PublicKey, AttestationType: p.AttestationType, AttestationFormat: p.AttestationFormat,
		Flags: webauthn.NewCredentialFlags(f),
		// CloneWarning stays false here: the library's flag then says
		// whether this assertion's count went back, which is what is
		// refused; the stored one is history for administrators.
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount,
			Attachment: protocol.AuthenticatorAttachment(p.Attachment)},
	}
	for _, t := range p.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c
}

// newPasskey is a credential the library has just verified, to keep.
func newPasskey(c *webauthn.Credential, name string, now time.Time) passkey {
	p := passkey{
		ID: c.ID, PublicKey: c.PublicKey, SignCount: c.Authenticator.SignCount, Name: name, AAGUID: c.Authenticator.AAGUID,
		AttestationType: c.AttestationType, AttestationFormat: c.AttestationFormat, Attachment: string(c.Authenticator.Attachment),
		UserPresent: c.Flags.UserPresent, UserVerified: c.Flags.UserVerified,
		BackupEligible: c.Flags.BackupEligible, BackupState: c.Flags.BackupState, Created: now.UTC(),
	}
	for _, t := range c.Transport {
		p.Transports = append(p.Transports, string(t))
	}
	return p
}

// used records an assertion's outcome (sign count, flags) in p.
func (p *passkey) used(c *webauthn.Credential, now time.Time) {
	p.SignCount = c.Authenticator.SignCount
	p.UserVerified, p.BackupState = c.Flags.UserVerified, c.Flags.BackupState
	p.LastUsed = now.UTC()
}

// Ceremony records: kind "webauthn", keyed by what the ceremony is bound
// to (an authorization request's id, or the account page's session).
const webauthnKind = "webauthn"

// What a ceremony is for; a challenge begun for one cannot finish another.
const (
	purposeEnrol   = "enrol"   // a first passkey, as the login's second factor
	purposeMFA     = "mfa"     // a second factor with a registered passkey
	purposeLogin   = "login"   // passwordless: the passkey is the login
	purposeAccount = "account" // one more passkey, from the account page
)

type ceremony struct {
	Purpose string               `json:"purpose"`
	UserID  string               `json:"user_id,omitempty"`
	Session webauthn.SessionData `json:"session"`
}

var errNoCeremony = errors.New("no such ceremony")

// beginCeremony stores a ceremony's session data under key, replacing one
// that an earlier click began.
func (j *Server) beginCeremony(ctx context.Context, key string, cer ceremony) error {
	val, err := json.Marshal(cer)
	if err != nil {
		return err
	}
	rec := store.Record{Kind: webauthnKind, Key: key, Value: val, Expiry: j.opts.Now().Add(ceremonyTTL)}
	for range 3 {
		old, err := j.store.GetRecord(ctx, webauthnKind, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			rec.Version = 0
		case err != nil:
			return fmt.Errorf("read ceremony: %w", err)
		default:
			rec.Version = old.Version
		}
		err = j.store.PutRecord(ctx, rec)
		if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrAlreadyExists) && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return core.ErrTooManyRetries
}

// spendCeremony takes the ceremony stored under key, once: of two answers
// to the same challenge, one finds nothing. A ceremony of another purpose
// is spent too, and refused.
func (j *Server) spendCeremony(ctx context.Context, key, purpose string) (ceremony, error) {
	var cer ceremony
	rec, err := j.store.GetRecord(ctx, webauthnKind, key)
	if errors.Is(err, store.ErrNotFound) {
		return cer, errNoCeremony
	} else if err != nil {
		return cer, fmt.Errorf("read ceremony: %w", err)
	}
	if err := j.store.DeleteRecord(ctx, webauthnKind, key); errors.Is(err, store.ErrNotFound) {
		return cer, errNoCeremony
	} else if err != nil {
		return cer, fmt.Errorf("spend ceremony: %w", err)
	}
	if err := json.Unmarshal(rec.Value, &cer); err != nil || cer.Purpose != purpose {
		return cer, errNoCeremony
	}
	return cer, nil
}

//go:embed static/webauthn.js
var webauthnJS []byte

// handleWebAuthnJS serves the script of the passkey pages, the only script
// Portico's pages run.
func handleWebAuthnJS(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, "text/javascript; charset=utf-8", webauthnJS)
}

// passkeyRoutes adds the passkey endpoints; only called when they are on.
func (j *Server) passkeyRoutes(r gin.IRoutes) {
	r.GET(j.path("/static/webauthn.js"), handleWebAuthnJS)
	// Enrolment during a login (the second-factor setup page).
	r.POST(j.path("/mfa/passkey/register"), j.handlePasskeyEnrolPage)
	r.POST(j.path("/mfa/passkey/register/begin"), j.handlePasskeyEnrolBegin)
	r.POST(j.path("/mfa/passkey/register/finish"), j.handlePasskeyEnrolFinish)
	// A passkey as the second factor.
	r.POST(j.path("/mfa/passkey"), j.handlePasskeyMFAPage)
	r.POST(j.path("/mfa/passkey/begin"), j.handlePasskeyMFABegin)
	r.POST(j.path("/mfa/passkey/finish"), j.handlePasskeyMFAFinish)
	// A passkey as the whole login.
	r.POST(j.path("/passkey/login"), j.handlePasskeyLoginPage)
	r.POST(j.path("/passkey/login/begin"), j.handlePasskeyLoginBegin)
	r.POST(j.path("/passkey/login/finish"), j.handlePasskeyLoginFinish)
	// More passkeys from the account page.
	r.POST(j.path("/account/passkeys"), j.handleAccountPasskeyPage)
	r.POST(j.path("/account/passkeys/begin"), j.handleAccountPasskeyBegin)
	r.POST(j.path("/account/passkeys/finish"), j.handleAccountPasskeyFinish)
	r.POST(j.path("/account/passkeys/done"), j.handleAccountPasskeyDone)
}

// passkeyPage is the page that runs a ceremony: the script calls begin,
// the browser's passkey prompt, then posts the answer to finish in the
// page's form. It starts by itself unless it shows an error; its button
// starts it (again) from the keyboard or where a browser wants a click.
type passkeyPage struct {
	Mode          string // "create" or "get"
	Heading, Help string // message ids
	Button        string // message id
	Begin, Finish string // endpoints
	Req, CSRF     string
	Back          string // where "Cancel" goes
}

func (j *Server) renderPasskeyPage(c *gin.Context, status int, p passkeyPage, errMsg string) {
	c.Header("Content-Security-Policy", ui.ScriptPageCSP)
	j.ui.RenderWith(c, status, "passkey", map[string]any{
		"Title": j.ui.T(c, p.Heading), "Heading": j.ui.T(c, p.Heading), "Help": j.ui.T(c, p.Help), "Button": j.ui.T(c, p.Button),
		"Mode": p.Mode, "Begin": p.Begin, "Finish": p.Finish, "Req": p.Req, "CSRF": p.CSRF, "Back": p.Back,
		"Error": errMsg, "Auto": errMsg == "", "Script": j.path("/static/webauthn.js"),
		"MsgWorking": j.ui.T(c, "ui.passkey_working"), "MsgCancelled": j.ui.T(c, ui.MsgPasskeyCancelled),
		"MsgUnsupported": j.ui.T(c, ui.MsgPasskeyUnsupported), "MsgFailed": j.ui.T(c, ui.MsgPasskeyFailed),
		"MsgExists": j.ui.T(c, ui.MsgPasskeyExists),
	}, false)
}

// passkeyJSONError answers a begin endpoint's failure for the page's
// script, which shows message.
func (j *Server) passkeyJSONError(c *gin.Context, status int, code, msgID string) {
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, gin.H{"error": code, "message": j.ui.T(c, msgID)})
}

// passkeyJSON answers a begin endpoint with the options for
// navigator.credentials.
func passkeyJSON(c *gin.Context, v any) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, v)
}

// beginRequest loads the authorization request of a begin endpoint: this
// browser's, with the page's form token. Failures answer JSON.
func (j *Server) beginRequest(c *gin.Context) (store.AuthRequest, bool) {
	id := c.PostForm("req")
	req, err := j.store.GetAuthRequest(c.Request.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound) || id == "":
		j.passkeyJSONError(c, http.StatusBadRequest, "login_expired", ui.MsgLoginExpired)
		return req, false
	case err != nil:
		j.log.Error("passkey: read auth request", "err", err)
		j.passkeyJSONError(c, http.StatusServiceUnavailable, "unavailable", ui.MsgUnavailable)
		return req, false
	}
	j.ui.UseLocales(c, req.UILocales)
	cookie, _ := c.Cookie(browserCookie)
	if !core.ConstantEqual(core.HashString(cookie), req.BrowserHash) {
		j.passkeyJSONError(c, http.StatusBadRequest, "other_browser", ui.MsgOtherBrowser)
		return req, false
	}
	if !core.ConstantEqual(c.PostForm("csrf"), req.CSRFToken) {
		j.passkeyJSONError(c, http.StatusForbidden, "csrf", ui.MsgLoginCSRF)
		return req, false
	}
	return req, true
}

// parseAttestation reads the page's posted registration answer.
func parseAttestation(c *gin.Context) (*protocol.ParsedCredentialCreationData, error) {
	raw := c.PostForm("credential")
	if raw == "" || len(raw) > 64<<10 {
		return nil, errors.New("no credential posted")
	}
	return protocol.ParseCredentialCreationResponseBytes([]byte(raw))
}

// parseAssertion reads the page's posted login answer.
func parseAssertion(c *gin.Context) (*protocol.ParsedCredentialAssertionData, error) {
	raw := c.PostForm("credential")
	if raw == "" || len(raw) > 64<<10 {
		return nil, errors.New("no credential posted")
	}
	return protocol.ParseCredentialRequestResponseBytes([]byte(raw))
}

// passkeyLogErr logs why a ceremony failed, with the library's detail,
// which tells an operator more than its message.
func (j *Server) passkeyLogErr(what string, err error) {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		j.log.Info("passkey: "+what, "err", err, "type", pe.Type, "info", pe.DevInfo)
		return
	}
	j.log.Info("passkey: "+what, "err", err)
}

// credentialID is how audit events and logs name a credential.
func credentialID(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }

// errSignCount: the assertion's sign count did not increase.
var errSignCount = errors.New("the passkey's sign count did not increase")

// assertAndRecord verifies an assertion of userID's (the library checks
// signature, challenge, origin, RP id, flags and the sign count) against
// the user's current passkeys, and stores the new sign count with a
// compare-and-swap, again from the top if another login changed the
// record meanwhile. Failures of the store are core.ErrStore. A sign count that did not increase (the library's
// CloneWarning) fails with errSignCount, stored on the passkey and
// audited as a security event; the count is not moved back.
func (j *Server) assertAndRecord(c *gin.Context, userID string, validate func(waUser) (*webauthn.Credential, error)) (*webauthn.Credential, error) {
	ctx := c.Request.Context()
	for range core.Retries {
		u, err := j.store.GetUser(ctx, userID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errors.New("no such user")
		} else if err != nil {
			return nil, fmt.Errorf("%w: read user: %w", core.ErrStore, err)
		}
		m, rec, err := j.loadMFA(ctx, userID)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", core.ErrStore, err)
		}
		cred, err := validate(newWAUser(u, m))
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(m.Passkeys, func(p passkey) bool { return bytes.Equal(p.ID, cred.ID) })
		if i < 0 {
			return nil, errors.New("credential vanished")
		}
		m.Passkeys = slices.Clone(m.Passkeys)
		if cred.Authenticator.CloneWarning {
			// As the library leaves it: the stored count stays, the
			// warning is remembered, the login fails.
			m.Passkeys[i].CloneWarning = true
		} else {
			m.Passkeys[i].used(cred, j.opts.Now())
		}
		err = j.saveMFA(ctx, rec, m)
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrAlreadyExists) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("%w: save sign count: %w", core.ErrStore, err)
		}
		if cred.Authenticator.CloneWarning {
			return cred, errSignCount
		}
		return cred, nil
	}
	return nil, fmt.Errorf("%w: %w", core.ErrStore, core.ErrTooManyRetries)
}

// auditSignCount records a sign count that did not increase.
func (j *Server) auditSignCount(c *gin.Context, req store.AuthRequest, userID string, cred *webauthn.Credential, got uint32) {
	j.audit.Request(c, store.AuditEvent{Type: audit.PasskeySignCount, Actor: audit.User(userID), UserID: userID,
		ClientID: req.ClientID, Details: map[string]string{
			"credential": credentialID(cred.ID), "stored": fmt.Sprint(cred.Authenticator.SignCount), "received": fmt.Sprint(got),
		}})
}
