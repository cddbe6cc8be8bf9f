package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/device"

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
// (broker/journey); meanwhile the device polls /token with the device code.
//
// State is two store records with the code's expiry: the device record,
// keyed by the device code's hash, and the user code's, keyed by the
// user code's hash and naming the device record. Neither code is stored.
// Every change of the device record (a poll, the approval, the
// redemption) is a compare-and-swap on its Version.

const (
	// maxDeviceCodeLen bounds a device code at /token: Portico's are 44
	// characters.
	maxDeviceCodeLen = 128
	// deviceSlowDown is how much a poll that came too early adds to the
	// interval (RFC 8628 §3.5), and deviceMaxInterval bounds the growth.
	deviceSlowDown    = 5 * time.Second
	deviceMaxInterval = 5 * time.Minute
)

func (p *Server) deviceTTL() time.Duration {
	if p.opts.DeviceCodeTTL > 0 {
		return p.opts.DeviceCodeTTL
	}
	return config.DefaultDeviceCodeTTL
}

func (p *Server) deviceInterval() time.Duration {
	if p.opts.DevicePollInterval > 0 {
		return p.opts.DevicePollInterval
	}
	return config.DefaultDevicePollInterval
}

// deviceRecordGrace keeps a device record this long after its code
// expired, so that a late poll hears expired_token rather than
// invalid_grant.
const deviceRecordGrace = 10 * time.Minute

// limitedClient takes one of the address's requests (the endpoints that
// store state before anyone logs in: device authorization, PAR), answering
// 429 with code when there is none, then authenticates the client.
func (p *Server) limitedClient(c *gin.Context, code string) (store.Client, bool) {
	if p.addrs != nil {
		if ok, wait := p.addrs.Allow(throttle.IP(c.ClientIP()).ID); !ok {
			secs := fmt.Sprint(max(1, int(wait/time.Second)+1))
			p.writeTokenError(c, &tokenError{status: http.StatusTooManyRequests, code: code,
				desc: "too many requests from this address; retry after " + secs + " s", retryAfter: secs})
			return store.Client{}, false
		}
	}
	return p.formClient(c)
}

// handleDeviceAuthorize is the device authorization endpoint (RFC 8628
// §3.1, §3.2): the client authenticates as at /token, and gets a device
// code to poll with and a user code for the person.
func (p *Server) handleDeviceAuthorize(c *gin.Context) {
	client, ok := p.limitedClient(c, "slow_down")
	if !ok {
		return
	}
	ctx := c.Request.Context()
	if !slices.Contains(client.GrantTypes, core.GrantDeviceCode) {
		p.writeTokenError(c, &tokenError{status: http.StatusBadRequest, code: "unauthorized_client", desc: "the client may not use the device authorization grant"})
		return
	}
	raw := c.Request.PostForm.Get("scope")
	if len(raw) > maxScopeLen {
		p.writeTokenError(c, invalidRequest(fmt.Sprintf("scope is longer than %d bytes", maxScopeLen)))
		return
	}
	var scopes []string
	for _, s := range strings.Fields(raw) {
		if !p.scopeAllowed(client, s) {
			p.writeTokenError(c, &tokenError{status: http.StatusBadRequest, code: "invalid_scope", desc: "unsupported scope " + s})
			return
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	now := p.opts.Now()
	ttl := p.deviceTTL()
	deviceCode := tokensvc.NewID() + tokensvc.NewID()
	key := core.HashString(deviceCode)
	expires := now.Add(ttl)
	// A user code is short: it may be taken by a live one. Creating its
	// record only if absent makes each live code name one device.
	var userCode string
	for range 5 {
		userCode = device.NewUserCode()
		v, _ := json.Marshal(device.UserRef{DeviceKey: key})
		err := p.store.PutRecord(ctx, store.Record{Kind: device.UserKind, Key: device.UserCodeKey(userCode), Value: v, Expiry: expires})
		if err == nil {
			break
		}
		userCode = ""
		if !errors.Is(err, store.ErrAlreadyExists) {
			p.log.Error("device: store user code", "err", err)
			p.writeTokenError(c, serverError("try again later"))
			return
		}
	}
	if userCode == "" {
		p.writeTokenError(c, serverError("try again later"))
		return
	}
	st := device.State{ClientID: client.ID, IssuedAt: p.opts.Now(), Scopes: scopes, UserKey: device.UserCodeKey(userCode), Expires: expires,
		Interval: p.deviceInterval(), Status: device.Pending}
	val, _ := json.Marshal(st)
	if err := p.store.PutRecord(ctx, store.Record{Kind: device.Kind, Key: key, Value: val, Expiry: expires.Add(deviceRecordGrace)}); err != nil {
		p.log.Error("device: store device code", "err", err)
		p.writeTokenError(c, serverError("try again later"))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	shown := device.FormatUserCode(userCode)
	c.JSON(http.StatusOK, gin.H{
		"device_code": deviceCode, "user_code": shown,
		"verification_uri":          p.url("/device"),
		"verification_uri_complete": p.url("/device") + "?user_code=" + url.QueryEscape(shown),
		"expires_in":                int(ttl.Seconds()), "interval": int(st.Interval.Seconds()),
	})
}

// deviceCodeGrant answers a device's poll (RFC 8628 §3.4, §3.5):
// authorization_pending until the person decides, slow_down when it polls
// before its interval has passed (and the interval grows by 5 seconds,
// remembered), access_denied, expired_token, or the tokens, once.
func (p *Server) deviceCodeGrant(c *gin.Context, client store.Client) (tokensvc.Tokens, *tokenError) {
	ctx := c.Request.Context()
	raw := c.Request.PostForm.Get("device_code")
	if raw == "" {
		return tokensvc.Tokens{}, invalidRequest("device_code is required")
	}
	if len(raw) > maxDeviceCodeLen {
		return tokensvc.Tokens{}, invalidGrant("the device code is invalid or expired")
	}
	st, rec, err := device.Load(c.Request.Context(), p.store, core.HashString(raw))
	if errors.Is(err, store.ErrNotFound) {
		return tokensvc.Tokens{}, invalidGrant("the device code is invalid or expired")
	} else if err != nil {
		p.log.Error("token: read device code", "err", err)
		return tokensvc.Tokens{}, serverError("try again later")
	}
	// As an unknown one: no telling it exists. One older than the client
	// was issued to a client of its id since deleted (as codeGrant).
	if st.ClientID != client.ID || client.NewerThan(st.IssuedAt) {
		return tokensvc.Tokens{}, invalidGrant("the device code is invalid or expired")
	}
	now := p.opts.Now()
	pollErr := func(code, desc string) *tokenError {
		return &tokenError{status: http.StatusBadRequest, code: code, desc: desc}
	}
	switch {
	case st.Status == device.Used:
		return tokensvc.Tokens{}, invalidGrant("the device code was already used")
	case !now.Before(st.Expires):
		return tokensvc.Tokens{}, pollErr("expired_token", "the device code has expired; start again")
	case !st.LastPoll.IsZero() && now.Sub(st.LastPoll) < st.Interval:
		// Too early: every further request must wait 5 seconds more.
		st.Interval = min(st.Interval+deviceSlowDown, deviceMaxInterval)
		st.LastPoll = now
		if err := device.Save(c.Request.Context(), p.store, rec, st); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			p.log.Error("token: record device poll", "err", err)
			return tokensvc.Tokens{}, serverError("try again later")
		}
		return tokensvc.Tokens{}, pollErr("slow_down", fmt.Sprintf("polling too fast; wait %d seconds between requests", int(st.Interval.Seconds())))
	}
	st.LastPoll = now
	next := st
	if st.Status == device.Approved {
		next.Status = device.Used // spent before minting: one redemption
	}
	switch err := device.Save(c.Request.Context(), p.store, rec, next); {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		// Another poll of the same code at the same moment.
		return tokensvc.Tokens{}, pollErr("slow_down", "polling too fast")
	case err != nil:
		p.log.Error("token: record device poll", "err", err)
		return tokensvc.Tokens{}, serverError("try again later")
	}
	switch st.Status {
	case device.Pending:
		return tokensvc.Tokens{}, pollErr("authorization_pending", "the user has not yet approved the request")
	case device.Denied:
		return tokensvc.Tokens{}, pollErr("access_denied", "the user denied the request")
	case device.Approved:
	default:
		return tokensvc.Tokens{}, invalidGrant("the device code is invalid")
	}
	user, err := p.store.GetUser(ctx, st.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && user.Disabled) {
		return tokensvc.Tokens{}, invalidGrant("the user is no longer active")
	} else if err != nil {
		p.log.Error("token: read user", "err", err)
		return tokensvc.Tokens{}, serverError("try again later")
	}
	g := p.userGrant(user, client, st.Scopes)
	g.AuthTime, g.AMR, g.ConnectorID = st.AuthTime, st.AMR, st.ConnectorID
	g.AccessJTI, g.FamilyID = tokensvc.NewID(), st.FamilyID
	p.bind(c, client, &g)
	t, err := p.tokens.Issue(ctx, g)
	if errors.Is(err, tokensvc.ErrInvalidGrant) {
		// The browser session that approved ended before the device
		// polled: a logout, or an administrator ending the user's sessions.
		return tokensvc.Tokens{}, invalidGrant("the login's session has ended")
	} else if err != nil {
		p.log.Error("token: issue", "err", err)
		return tokensvc.Tokens{}, serverError("try again later")
	}
	p.auditTokens(c, audit.TokenIssue, core.GrantDeviceCode, client.ID, user.ID, st.ConnectorID, t)
	return t, nil
}
