package journey

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/device"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/portico-idp/portico/broker/audit"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
	"github.com/portico-idp/portico/tokensvc"
)

// The person's side of the device grant (device.go): /device takes the
// user code; a valid one starts an ordinary login for the device's client,
// an authorization request marked with the device record (DeviceKey), so
// that every connector, second factor and single sign-on session serves
// it as it serves /authorize. Where that journey would issue a code, it
// stops at /device/approve instead (journey.go), always: the person must
// see which application asks, for what, and that the code matches the one
// on their device.

const deviceApproveStep = "/device/approve"

// ScopeDevice is the throttle scope of wrong user codes, keyed by address:
// a wrong code is a failed guess, as a wrong password is. The server gives
// it the address policy of logins (ten times an account's allowance):
// many people behind one NAT may mistype codes.
const ScopeDevice = "device"

// deviceCSRF is the code form's token: bound to the browser's cookie, so
// another site cannot post a code (and start a login) in this browser.
func deviceCSRF(browser string) string { return core.HashString("device-csrf:" + browser) }

func (j *Server) devicePage(c *gin.Context, status int, code, msg string) {
	j.ui.Render(c, status, "device", map[string]any{
		"Title": j.ui.T(c, "ui.device_title"), "Action": j.path("/device"), "CSRF": deviceCSRF(j.browserID(c)),
		"Code": code, "Error": msg,
	})
}

// handleDevice shows the code form; ?user_code= (verification_uri_complete)
// fills it in, but the person still submits it.
func (j *Server) handleDevice(c *gin.Context) {
	code := c.Query("user_code")
	if len(code) > device.MaxUserCodeInput {
		code = ""
	}
	msg := ""
	if c.Query("error") != "" { // the journey could not finish (journey.go)
		msg = j.ui.T(c, ui.MsgUnavailable)
	}
	j.devicePage(c, http.StatusOK, code, msg)
}

// handleDeviceSubmit checks a user code and starts the login for it.
// Every answer but the login is the same for a code that never existed,
// one that expired and one already answered: the page is no oracle.
func (j *Server) handleDeviceSubmit(c *gin.Context) {
	ctx := c.Request.Context()
	cookie, _ := c.Cookie(browserCookie)
	if cookie == "" || !core.ConstantEqual(c.PostForm("csrf"), deviceCSRF(cookie)) {
		j.ui.Page(c, http.StatusForbidden, ui.MsgDeviceCSRF)
		return
	}
	typed := c.PostForm("user_code")
	shown := typed
	if len(shown) > device.MaxUserCodeInput {
		shown = ""
	}
	key := throttle.Key{Scope: ScopeDevice, ID: throttle.IP(c.ClientIP()).ID}
	if j.opts.Throttle != nil {
		d, err := j.opts.Throttle.Check(ctx, key)
		if err != nil {
			j.ui.Unavailable(c, "device: throttle", err)
			return
		}
		if !d.Allowed {
			c.Header("Retry-After", d.RetryAfterHeader())
			j.devicePage(c, http.StatusTooManyRequests, shown, j.ui.T(c, ui.MsgThrottled, j.ui.Duration(c, d.RetryAfter.Seconds())))
			return
		}
	}
	wrong := func() {
		j.throttleFail(c, key)
		j.auditLoginFailure(c, "", "", "", "invalid_user_code")
		j.devicePage(c, http.StatusBadRequest, shown, j.ui.T(c, ui.MsgDeviceBadCode))
	}
	code, ok := device.NormalizeUserCode(typed)
	if !ok {
		wrong()
		return
	}
	st, devKey, err := j.deviceByUserCode(c, code)
	if errors.Is(err, store.ErrNotFound) {
		wrong()
		return
	} else if err != nil {
		j.throttleRelease(c, key)
		j.ui.Unavailable(c, "device: read code", err)
		return
	}
	now := j.opts.Now()
	if st.Status != device.Pending || !now.Before(st.Expires) {
		wrong()
		return
	}
	// A right code: the attempt is not a failure. It is not a success
	// either, which would forget the address's failures: anyone can get
	// a right code of their own from /device/authorize.
	j.throttleRelease(c, key)
	req := store.AuthRequest{
		ID: tokensvc.NewID(), ClientID: st.ClientID, RedirectURI: j.url("/device"), Scopes: st.Scopes,
		CSRFToken: tokensvc.NewID(), BrowserHash: core.HashString(j.browserID(c)),
		Expiry:    minTime(now.Add(j.opts.AuthRequestTTL), st.Expires),
		DeviceKey: devKey, DeviceUserCode: device.FormatUserCode(code),
	}
	if slices.Contains(req.Scopes, core.AdminScope) {
		// As at /authorize: an admin token needs the person to log in
		// now, not a session's earlier login.
		req.Prompt = []string{"login"}
	}
	s, err := j.currentSSO(c)
	if err != nil {
		j.ui.Unavailable(c, "device: read session", err)
		return
	}
	if j.ssoServes(s, req) {
		req.UserID, req.ConnectorID, req.AuthTime, req.AMR = s.UserID, s.ConnectorID, s.AuthTime, s.AMR
		j.continueLogin(c, req, false, s)
		return
	}
	if err := j.store.CreateAuthRequest(ctx, req); err != nil {
		j.ui.Unavailable(c, "device: store request", err)
		return
	}
	next := j.path("/login") + "?req=" + url.QueryEscape(req.ID)
	if set := j.conns.Load(); len(set.List) == 1 {
		next = j.path("/login/"+url.PathEscape(set.List[0].ID)) + "?req=" + url.QueryEscape(req.ID)
	}
	c.Redirect(http.StatusSeeOther, next)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// deviceByUserCode finds the device record of a normalized user code.
func (j *Server) deviceByUserCode(c *gin.Context, code string) (device.State, string, error) {
	ref, err := j.store.GetRecord(c.Request.Context(), device.UserKind, device.UserCodeKey(code))
	if err != nil {
		return device.State{}, "", err
	}
	var r device.UserRef
	if err := json.Unmarshal(ref.Value, &r); err != nil || r.DeviceKey == "" {
		return device.State{}, "", store.ErrNotFound
	}
	st, _, err := device.Load(c.Request.Context(), j.store, r.DeviceKey)
	return st, r.DeviceKey, err
}

// deviceRequest loads the approval step's request and its device record,
// which must still wait for an answer.
func (j *Server) deviceRequest(c *gin.Context) (store.AuthRequest, device.State, store.Record, bool) {
	req, ok := j.stepRequest(c, deviceApproveStep)
	if !ok {
		return req, device.State{}, store.Record{}, false
	}
	st, rec, err := device.Load(c.Request.Context(), j.store, req.DeviceKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		j.ui.Unavailable(c, "device: read device", err)
		return req, st, rec, false
	case st.Status == device.Pending && j.opts.Now().Before(st.Expires) && st.ClientID == req.ClientID:
		return req, st, rec, true
	}
	j.ui.Page(c, http.StatusBadRequest, ui.MsgDeviceGone)
	return req, st, rec, false
}

// handleDeviceApprove shows which application asks, for what, and the
// code, with Approve and Deny.
func (j *Server) handleDeviceApprove(c *gin.Context) {
	req, _, _, ok := j.deviceRequest(c)
	if !ok {
		return
	}
	name, items, third, ok := j.askedFor(c, req, "device")
	if !ok {
		return
	}
	j.ui.Render(c, http.StatusOK, "device_approve", map[string]any{
		"Title": j.ui.T(c, "ui.device_approve_title"), "Intro": j.ui.T(c, "ui.device_approve_intro", name), "ThirdParty": third,
		"Scopes": items, "UserCode": req.DeviceUserCode, "Req": req.ID, "CSRF": req.CSRFToken, "Action": j.path(deviceApproveStep),
	})
}

// handleDeviceApproveSubmit records the person's answer in the device
// record, where the device's next poll finds it.
func (j *Server) handleDeviceApproveSubmit(c *gin.Context) {
	req, st, rec, ok := j.deviceRequest(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	// Spent first: of two submits of the same page only one answers.
	switch err := j.store.DeleteAuthRequest(ctx, req.ID); {
	case errors.Is(err, store.ErrNotFound):
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLoginUsed)
		return
	case err != nil:
		j.ui.Unavailable(c, "device: spend request", err)
		return
	}
	allow := c.PostForm("answer") == "allow"
	if allow {
		st.Status = device.Approved
		st.UserID, st.ConnectorID, st.AuthTime, st.AMR = req.UserID, req.ConnectorID, req.AuthTime, req.AMR
		// The token session is named now, so the browser session can
		// list it (and logout end it) before the device polls.
		st.FamilyID = tokensvc.NewID()
		s, err := j.currentSSO(c)
		if err == nil {
			if s != nil && s.UserID == req.UserID && s.AuthTime.Equal(req.AuthTime) {
				err = j.useSSO(ctx, s, st.FamilyID)
			} else {
				err = j.startSSO(c, req.UserID, req.ConnectorID, req.AuthTime, req.AMR, st.FamilyID)
			}
		}
		if err != nil {
			j.ui.Unavailable(c, "device: session", err)
			return
		}
	} else {
		st.Status = device.Denied
	}
	switch err := device.Save(c.Request.Context(), j.store, rec, st); {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		// A poll moved the record meanwhile: read it again, once.
		cur, rec2, err := device.Load(c.Request.Context(), j.store, req.DeviceKey)
		if err != nil || cur.Status != device.Pending {
			j.ui.Page(c, http.StatusBadRequest, ui.MsgDeviceGone)
			return
		}
		cur.Status, cur.UserID, cur.ConnectorID, cur.AuthTime, cur.AMR, cur.FamilyID = st.Status, st.UserID, st.ConnectorID, st.AuthTime, st.AMR, st.FamilyID
		if err := device.Save(c.Request.Context(), j.store, rec2, cur); err != nil {
			j.ui.Page(c, http.StatusBadRequest, ui.MsgDeviceGone)
			return
		}
	case err != nil:
		j.ui.Unavailable(c, "device: record answer", err)
		return
	}
	// The user code has done its work: it cannot be entered again.
	if err := j.store.DeleteRecord(ctx, device.UserKind, st.UserKey); err != nil && !errors.Is(err, store.ErrNotFound) {
		j.log.Warn("device: delete user code", "err", err)
	}
	d := map[string]string{"scope": strings.Join(req.Scopes, " ")}
	if !allow {
		j.audit.Request(c, store.AuditEvent{Type: audit.DeviceDeny, Actor: audit.User(req.UserID), UserID: req.UserID,
			ClientID: req.ClientID, ConnectorID: req.ConnectorID, Details: d})
		j.ui.Render(c, http.StatusOK, "device_done", map[string]any{"Title": j.ui.T(c, "ui.device_denied"), "Message": j.ui.T(c, "ui.device_denied_text")})
		return
	}
	j.log.Info("login succeeded", "connector", req.ConnectorID, "client_id", req.ClientID, "user", req.UserID, "via", "device")
	ld := map[string]string{"device": "true"}
	if len(req.AMR) > 0 {
		ld["amr"] = strings.Join(req.AMR, " ")
	}
	j.audit.Request(c, store.AuditEvent{Type: audit.LoginSuccess, Actor: audit.User(req.UserID), UserID: req.UserID,
		ClientID: req.ClientID, ConnectorID: req.ConnectorID, Details: ld})
	j.audit.Request(c, store.AuditEvent{Type: audit.DeviceApprove, Actor: audit.User(req.UserID), UserID: req.UserID,
		ClientID: req.ClientID, ConnectorID: req.ConnectorID, Details: d})
	j.ui.Render(c, http.StatusOK, "device_done", map[string]any{"Title": j.ui.T(c, "ui.device_approved"), "Message": j.ui.T(c, "ui.device_approved_text")})
}
