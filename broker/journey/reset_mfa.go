package journey

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/mfa"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
	"github.com/portico-idp/portico/broker/ui"
)

// With reset_second_factor, a reset link alone does not set a new
// password for a person who has a second factor: whoever reads their
// mail would otherwise own the account. The form then also asks for a
// code of their authenticator app or a recovery code (a person with only
// passkeys uses a recovery code), checked and spent as at login, under
// the same throttle.

// resetFactorUser is the user of account a whose second factor a reset
// must check, or "" when none must be. Local connectors share one store
// of accounts, and a link does not say through which one it was asked
// for: if any asks for the factor, every reset does.
func (j *Server) resetFactorUser(ctx context.Context, a store.LocalAccount) (string, error) {
	if !slices.ContainsFunc(slices.Collect(maps.Values(j.self.cfg.Local)), func(ls LocalService) bool { return ls.ResetSecondFactor }) {
		return "", nil
	}
	users, err := j.localUserIDs(ctx, a.ID)
	if err != nil {
		return "", err
	}
	for _, u := range users {
		m, _, err := j.loadMFA(ctx, u)
		if err != nil {
			return "", err
		}
		if m.TOTPConfirmed || slices.ContainsFunc(m.Recovery, func(h string) bool { return h != "" }) {
			return u, nil
		}
	}
	return "", nil
}

// checkResetFactor checks the posted code or recovery code of userID; on
// failure it has answered with the form and its error.
func (j *Server) checkResetFactor(c *gin.Context, userID string) bool {
	ctx := c.Request.Context()
	key := throttle.Key{Scope: "mfa", ID: userID}
	if !j.throttleCheck(c, key) {
		return false
	}
	m, rec, err := j.loadMFA(ctx, userID)
	if err != nil {
		j.throttleRelease(c, key)
		j.ui.Unavailable(c, "reset: load second factors", err)
		return false
	}
	ok := false
	code := c.PostForm("code")
	switch {
	case code != "" && m.TOTPConfirmed:
		s, err := j.sealer()
		if err == nil {
			var secret []byte
			if secret, err = s.Open(m.TOTP, []byte(userID)); err == nil {
				var step int64
				if step, ok = mfa.Verify(secret, code, j.opts.Now(), m.TOTPLastStep); ok {
					m.TOTPLastStep = step
				}
			}
		}
		if err != nil {
			j.throttleRelease(c, key)
			j.ui.Unavailable(c, "reset: open second factor", err)
			return false
		}
		if !ok { // maybe a recovery code typed in the one field
			if i, rok := mfa.MatchRecoveryCode(code, m.Recovery, []byte(userID)); rok {
				m.Recovery = slices.Clone(m.Recovery)
				m.Recovery[i], ok = "", true
			}
		}
	case code != "":
		if i, rok := mfa.MatchRecoveryCode(code, m.Recovery, []byte(userID)); rok {
			m.Recovery = slices.Clone(m.Recovery)
			m.Recovery[i], ok = "", true
		}
	}
	if ok {
		if err := j.saveMFA(ctx, rec, m); errors.Is(err, store.ErrConflict) {
			ok = false
		} else if err != nil {
			j.throttleRelease(c, key)
			j.ui.Unavailable(c, "reset: save second factors", err)
			return false
		}
	}
	if !ok {
		j.throttleFail(c, key)
		j.passwordFormWith(c, http.StatusUnauthorized, "reset", j.ui.T(c, ui.MsgResetFactor), "code", true)
		return false
	}
	j.throttleSucceed(c, key)
	return true
}
