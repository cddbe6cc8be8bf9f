package broker

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
	"github.com/portico-idp/portico/tokensvc"
)

// The device authorization grant (RFC 8628) for what cannot show a login
// page itself: a CLI, a TV, a headless tool. The device asks
// /device/authorize for a device code and a user code; a person opens
// /device on another screen, enters the user code, logs in through the
// ordinary journey (any connector, second factor, single sign-on) and
// approves or denies on a page that names the application and its scopes
// (device_page.go); meanwhile the device polls /token with the device code.
//
// State is two store records with the code's expiry: the device record,
// keyed by the device code's hash, and the user code's, keyed by the
// user code's hash and naming the device record. Neither code is stored.
// Every change of the device record (a poll, the approval, the
// redemption) is a compare-and-swap on its Version.

const (
	deviceKind     = "device"      // key: hash of the device code
	deviceUserKind = "device_user" // key: hash of the user code, normalized
)

// Status of a device record.
const (
	devicePending  = "pending"
	deviceApproved = "approved"
	deviceDenied   = "denied"
	deviceUsed     = "used" // tokens were issued: the device code is spent
)

// userCodeAlphabet: consonants only, upper case (RFC 8628 §6.1): no
// vowels to spell words, nothing to confuse (0/O, 1/I/L are absent), and
// the same on every keyboard. Eight of them carry 34.5 bits; with the
// throttle on wrong codes (handleDeviceSubmit) and the code's short life,
// guessing a live one is hopeless.
const (
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLen      = 8
	// maxUserCodeInput bounds what the page accepts before normalizing:
	// the code, dashes and spaces as people type them.
	maxUserCodeInput = 64
	// maxDeviceCodeLen bounds a device code at /token: Portico's are 44
	// characters.
	maxDeviceCodeLen = 128
	// deviceSlowDown is how much a poll that came too early adds to the
	// interval (RFC 8628 §3.5), and deviceMaxInterval bounds the growth.
	deviceSlowDown    = 5 * time.Second
	deviceMaxInterval = 5 * time.Minute
)

// deviceState is a device record's value.
type deviceState struct {
	ClientID string    `json:"client_id"`
	Scopes   []string  `json:"scopes,omitempty"`
	UserKey  string    `json:"user_key"` // the user code record's key
	Expires  time.Time `json:"expires"`
	// Interval is the polling interval in force, grown by slow_down;
	// LastPoll is when the device last polled.
	Interval time.Duration `json:"interval"`
	LastPoll time.Time     `json:"last_poll,omitzero"`
	Status   string        `json:"status"`
	// The approved login: who, how, and the token session it starts.
	UserID      string    `json:"user_id,omitempty"`
	ConnectorID string    `json:"connector_id,omitempty"`
	AuthTime    time.Time `json:"auth_time,omitzero"`
	AMR         []string  `json:"amr,omitempty"`
	FamilyID    string    `json:"family_id,omitempty"`
}

// deviceUserRef is a user code record's value.
type deviceUserRef struct {
	DeviceKey string `json:"device_key"`
}

func (b *Broker) deviceTTL() time.Duration {
	if b.opts.DeviceCodeTTL > 0 {
		return b.opts.DeviceCodeTTL
	}
	return config.DefaultDeviceCodeTTL
}

func (b *Broker) deviceInterval() time.Duration {
	if b.opts.DevicePollInterval > 0 {
		return b.opts.DevicePollInterval
	}
	return config.DefaultDevicePollInterval
}

// deviceRecordGrace keeps a device record this long after its code
// expired, so that a late poll hears expired_token rather than
// invalid_grant.
const deviceRecordGrace = 10 * time.Minute

// newUserCode returns a random user code, normalized (no dash).
func newUserCode() string {
	var out [userCodeLen]byte
	buf := make([]byte, 2*userCodeLen)
	for i := 0; i < userCodeLen; {
		rand.Read(buf)
		for _, c := range buf {
			// 240 is the largest multiple of 20 within a byte: no bias.
			if c < 240 && i < userCodeLen {
				out[i] = userCodeAlphabet[int(c)%len(userCodeAlphabet)]
				i++
			}
		}
	}
	return string(out[:])
}

// formatUserCode shows a normalized user code as people read it: XXXX-XXXX.
func formatUserCode(code string) string {
	if len(code) != userCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// normalizeUserCode reads a user code as typed: case, dashes and white
// space do not matter. ok is false for anything that cannot be a code.
func normalizeUserCode(in string) (string, bool) {
	if len(in) > maxUserCodeInput {
		return "", false
	}
	var sb strings.Builder
	for _, r := range in {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\u00a0':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		if r > 0x7f || !strings.ContainsRune(userCodeAlphabet, r) {
			return "", false
		}
		sb.WriteRune(r)
	}
	if sb.Len() != userCodeLen {
		return "", false
	}
	return sb.String(), true
}

func userCodeKey(code string) string { return core.HashString("user-code:" + code) }

// loadDevice returns the device record at key and its value.
func (b *Broker) loadDevice(c *gin.Context, key string) (deviceState, store.Record, error) {
	var st deviceState
	rec, err := b.store.GetRecord(c.Request.Context(), deviceKind, key)
	if err != nil {
		return st, rec, err
	}
	if err := json.Unmarshal(rec.Value, &st); err != nil {
		return st, rec, fmt.Errorf("decode device record: %w", err)
	}
	return st, rec, nil
}

// saveDevice stores st over rec, compare-and-swap.
func (b *Broker) saveDevice(c *gin.Context, rec store.Record, st deviceState) error {
	rec.Value, _ = json.Marshal(st)
	return b.store.PutRecord(c.Request.Context(), rec)
}

// handleDeviceAuthorize is the device authorization endpoint (RFC 8628
// §3.1, §3.2): the client authenticates as at /token, and gets a device
// code to poll with and a user code for the person.
func (b *Broker) handleDeviceAuthorize(c *gin.Context) {
	if b.addrs != nil { // it stores state before anyone logs in
		if ok, wait := b.addrs.allow(throttle.IP(c.ClientIP()).ID); !ok {
			secs := fmt.Sprint(max(1, int(wait/time.Second)+1))
			b.writeTokenError(c, &tokenError{status: http.StatusTooManyRequests, code: "slow_down",
				desc: "too many requests from this address; retry after " + secs + " s", retryAfter: secs})
			return
		}
	}
	client, ok := b.formClient(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	if !slices.Contains(client.GrantTypes, core.GrantDeviceCode) {
		b.writeTokenError(c, &tokenError{status: http.StatusBadRequest, code: "unauthorized_client", desc: "the client may not use the device authorization grant"})
		return
	}
	raw := c.Request.PostForm.Get("scope")
	if len(raw) > maxScopeLen {
		b.writeTokenError(c, invalidRequest(fmt.Sprintf("scope is longer than %d bytes", maxScopeLen)))
		return
	}
	var scopes []string
	for _, s := range strings.Fields(raw) {
		if !b.scopeAllowed(client, s) {
			b.writeTokenError(c, &tokenError{status: http.StatusBadRequest, code: "invalid_scope", desc: "unsupported scope " + s})
			return
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	now := b.opts.Now()
	ttl := b.deviceTTL()
	deviceCode := tokensvc.NewID() + tokensvc.NewID()
	key := core.HashString(deviceCode)
	expires := now.Add(ttl)
	// A user code is short: it may be taken by a live one. Creating its
	// record only if absent makes each live code name one device.
	var userCode string
	for range 5 {
		userCode = newUserCode()
		v, _ := json.Marshal(deviceUserRef{DeviceKey: key})
		err := b.store.PutRecord(ctx, store.Record{Kind: deviceUserKind, Key: userCodeKey(userCode), Value: v, Expiry: expires})
		if err == nil {
			break
		}
		userCode = ""
		if !errors.Is(err, store.ErrAlreadyExists) {
			b.log.Error("device: store user code", "err", err)
			b.writeTokenError(c, serverError("try again later"))
			return
		}
	}
	if userCode == "" {
		b.writeTokenError(c, serverError("try again later"))
		return
	}
	st := deviceState{ClientID: client.ID, Scopes: scopes, UserKey: userCodeKey(userCode), Expires: expires,
		Interval: b.deviceInterval(), Status: devicePending}
	val, _ := json.Marshal(st)
	if err := b.store.PutRecord(ctx, store.Record{Kind: deviceKind, Key: key, Value: val, Expiry: expires.Add(deviceRecordGrace)}); err != nil {
		b.log.Error("device: store device code", "err", err)
		b.writeTokenError(c, serverError("try again later"))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	shown := formatUserCode(userCode)
	c.JSON(http.StatusOK, gin.H{
		"device_code": deviceCode, "user_code": shown,
		"verification_uri":          b.url("/device"),
		"verification_uri_complete": b.url("/device") + "?user_code=" + url.QueryEscape(shown),
		"expires_in":                int(ttl.Seconds()), "interval": int(st.Interval.Seconds()),
	})
}

// deviceCodeGrant answers a device's poll (RFC 8628 §3.4, §3.5):
// authorization_pending until the person decides, slow_down when it polls
// before its interval has passed (and the interval grows by 5 seconds,
// remembered), access_denied, expired_token, or the tokens, once.
func (b *Broker) deviceCodeGrant(c *gin.Context, client store.Client) (tokensvc.Tokens, *tokenError) {
	ctx := c.Request.Context()
	raw := c.Request.PostForm.Get("device_code")
	if raw == "" {
		return tokensvc.Tokens{}, invalidRequest("device_code is required")
	}
	if len(raw) > maxDeviceCodeLen {
		return tokensvc.Tokens{}, invalidGrant("the device code is invalid or expired")
	}
	st, rec, err := b.loadDevice(c, core.HashString(raw))
	if errors.Is(err, store.ErrNotFound) {
		return tokensvc.Tokens{}, invalidGrant("the device code is invalid or expired")
	} else if err != nil {
		b.log.Error("token: read device code", "err", err)
		return tokensvc.Tokens{}, serverError("try again later")
	}
	if st.ClientID != client.ID {
		return tokensvc.Tokens{}, invalidGrant("the device code is invalid or expired") // as an unknown one: no telling it exists
	}
	now := b.opts.Now()
	pollErr := func(code, desc string) *tokenError {
		return &tokenError{status: http.StatusBadRequest, code: code, desc: desc}
	}
	switch {
	case st.Status == deviceUsed:
		return tokensvc.Tokens{}, invalidGrant("the device code was already used")
	case !now.Before(st.Expires):
		return tokensvc.Tokens{}, pollErr("expired_token", "the device code has expired; start again")
	case !st.LastPoll.IsZero() && now.Sub(st.LastPoll) < st.Interval:
		// Too early: every further request must wait 5 seconds more.
		st.Interval = min(st.Interval+deviceSlowDown, deviceMaxInterval)
		st.LastPoll = now
		if err := b.saveDevice(c, rec, st); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			b.log.Error("token: record device poll", "err", err)
			return tokensvc.Tokens{}, serverError("try again later")
		}
		return tokensvc.Tokens{}, pollErr("slow_down", fmt.Sprintf("polling too fast; wait %d seconds between requests", int(st.Interval.Seconds())))
	}
	st.LastPoll = now
	next := st
	if st.Status == deviceApproved {
		next.Status = deviceUsed // spent before minting: one redemption
	}
	switch err := b.saveDevice(c, rec, next); {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		// Another poll of the same code at the same moment.
		return tokensvc.Tokens{}, pollErr("slow_down", "polling too fast")
	case err != nil:
		b.log.Error("token: record device poll", "err", err)
		return tokensvc.Tokens{}, serverError("try again later")
	}
	switch st.Status {
	case devicePending:
		return tokensvc.Tokens{}, pollErr("authorization_pending", "the user has not yet approved the request")
	case deviceDenied:
		return tokensvc.Tokens{}, pollErr("access_denied", "the user denied the request")
	case deviceApproved:
	default:
		return tokensvc.Tokens{}, invalidGrant("the device code is invalid")
	}
	user, err := b.store.GetUser(ctx, st.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && user.Disabled) {
		return tokensvc.Tokens{}, invalidGrant("the user is no longer active")
	} else if err != nil {
		b.log.Error("token: read user", "err", err)
		return tokensvc.Tokens{}, serverError("try again later")
	}
	g := b.userGrant(user, client, st.Scopes)
	g.AuthTime, g.AMR, g.ConnectorID = st.AuthTime, st.AMR, st.ConnectorID
	g.AccessJTI, g.FamilyID = tokensvc.NewID(), st.FamilyID
	t, err := b.tokens.Issue(ctx, g)
	if errors.Is(err, tokensvc.ErrInvalidGrant) {
		// The browser session that approved ended before the device
		// polled: a logout, or an administrator ending the user's sessions.
		return tokensvc.Tokens{}, invalidGrant("the login's session has ended")
	} else if err != nil {
		b.log.Error("token: issue", "err", err)
		return tokensvc.Tokens{}, serverError("try again later")
	}
	b.auditTokens(c, audit.TokenIssue, core.GrantDeviceCode, client.ID, user.ID, st.ConnectorID, t)
	return t, nil
}
