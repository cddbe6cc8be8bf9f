package journey

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/ui"
)

// The recovery codes of a new second factor. Enrolling answers with a
// redirect to their page (/mfa/recovery), the step the login then waits
// at, so that Back and a reload show the codes again instead of a
// resubmitted form or "login expired": someone who reloads before writing
// them down must not lose them. Until the person continues, the codes are
// kept sealed (as TOTP secrets are) in a record of the login, readable
// only by the browser that holds its cookie, and deleted when the login
// goes on or expires.

const (
	recoveryStep        = "/mfa/recovery"
	pendingRecoveryKind = "recovery-pending" // key: the authorization request id
)

// recoveryAD binds sealed codes to their user and login.
func recoveryAD(req store.AuthRequest) []byte {
	return []byte("recovery/" + req.UserID + "/" + req.ID)
}

// showRecoveryCodes records the second factor in the request, keeps the
// codes until the person continues, and sends the browser to their page.
func (j *Server) showRecoveryCodes(c *gin.Context, req store.AuthRequest, codes []string, amr string) {
	ctx := c.Request.Context()
	for _, a := range []string{amr, "mfa"} {
		if !slices.Contains(req.AMR, a) {
			req.AMR = append(req.AMR, a)
		}
	}
	req.AuthTime = j.opts.Now().Truncate(1e9)
	// Sealed before the step moves on: a login waiting at the codes' page
	// without them is only a store failure's doing.
	if err := j.keepRecoveryCodes(c, req, codes); err != nil {
		j.ui.Unavailable(c, "mfa: keep recovery codes", err)
		return
	}
	req.Step = recoveryStep
	if err := j.store.UpdateAuthRequest(ctx, req); errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLoginUsed)
		return
	} else if err != nil {
		j.ui.Unavailable(c, "mfa: record progress", err)
		return
	}
	c.Redirect(http.StatusSeeOther, j.path(recoveryStep)+"?req="+url.QueryEscape(req.ID))
}

func (j *Server) keepRecoveryCodes(c *gin.Context, req store.AuthRequest, codes []string) error {
	s, err := j.sealer()
	if err != nil {
		return err
	}
	plain, err := json.Marshal(codes)
	if err != nil {
		return err
	}
	sealed, err := s.Seal(plain, recoveryAD(req))
	if err != nil {
		return err
	}
	return j.store.PutRecord(c.Request.Context(), store.Record{Kind: pendingRecoveryKind, Key: req.ID, Value: sealed, Expiry: req.Expiry})
}

// handleMFARecovery shows the login's recovery codes, as often as it is
// asked, until the person continues. Without them (their record lost) it
// says so and still lets the login go on: the second factor is set up,
// and only an administrator's reset makes new codes.
func (j *Server) handleMFARecovery(c *gin.Context) {
	req, ok := j.stepRequest(c, recoveryStep)
	if !ok {
		return
	}
	data := map[string]any{"Title": j.ui.T(c, "ui.recovery_title"), "Req": req.ID, "CSRF": req.CSRFToken, "Action": j.path("/mfa/continue")}
	codes, err := j.pendingRecoveryCodes(c, req)
	switch {
	case err == nil:
		data["Codes"] = codes
	case errors.Is(err, store.ErrNotFound):
		data["Lost"] = true
	default:
		j.ui.Unavailable(c, "mfa: read recovery codes", err)
		return
	}
	j.ui.Render(c, http.StatusOK, "recovery", data)
}

func (j *Server) pendingRecoveryCodes(c *gin.Context, req store.AuthRequest) ([]string, error) {
	rec, err := j.store.GetRecord(c.Request.Context(), pendingRecoveryKind, req.ID)
	if err != nil {
		return nil, err
	}
	s, err := j.sealer()
	if err != nil {
		return nil, err
	}
	plain, err := s.Open(rec.Value, recoveryAD(req))
	if err != nil {
		return nil, err
	}
	var codes []string
	return codes, json.Unmarshal(plain, &codes)
}

// handleMFAContinue goes on with a login whose second factor is done,
// once the person has seen the recovery codes; they are not kept after.
func (j *Server) handleMFAContinue(c *gin.Context) {
	req, ok := j.stepRequest(c, recoveryStep)
	if !ok {
		return
	}
	if !slices.Contains(req.AMR, "mfa") {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgLoginExpired)
		return
	}
	j.continueLogin(c, req, true, nil)
	// After: should the login fail to go on, a reload still shows the
	// codes. Past this the login waits elsewhere, so the page is gone
	// either way; the record's expiry is the login's.
	if err := j.store.DeleteRecord(c.Request.Context(), pendingRecoveryKind, req.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		j.log.WarnContext(c.Request.Context(), "mfa: forget recovery codes", "err", err)
	}
}
