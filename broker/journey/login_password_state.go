package journey

import (
	"errors"
	"net/http"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/throttle"
	"github.com/portico-idp/portico/sdk"
)

// Password states (issue 18). A connector reports an expired password, one
// that must be changed, or a locked account only once the password was
// right (sdk.ErrPasswordExpired and the like), so the broker can say so
// honestly instead of "wrong password" without telling a guesser anything.

// passwordStates maps each state to its message and audit reason.
var passwordStates = []struct {
	err    error
	msg    string
	reason string
}{
	{sdk.ErrPasswordExpired, ui.MsgPasswordExpired, "password_expired"},
	{sdk.ErrPasswordMustChange, ui.MsgPasswordMustChange, "password_must_change"},
	{sdk.ErrAccountLocked, ui.MsgAccountLocked, "account_locked"},
}

// passwordState answers a login refused with a password state, and
// reports whether err was one. Throttling: an expired or must-change
// password was proven right, so the attempt is released, neither counted
// as a failure nor clearing earlier ones; a locked account's attempt is
// counted as a failure, because with reveal_locked (LDAP) the directory
// says "locked" whatever the password, and the lock page must not become
// a free oracle.
func (j *Server) passwordState(c *gin.Context, cn *core.Connector, clientID string, keys []throttle.Key, ip throttle.Key, err error) bool {
	for _, st := range passwordStates {
		if !errors.Is(err, st.err) {
			continue
		}
		if st.err == sdk.ErrAccountLocked {
			j.throttleFail(c, append(keys, ip)...)
		} else {
			j.throttleRelease(c, keys...)
		}
		j.log.Info("login refused: "+st.reason, "connector", cn.ID, "client_id", clientID)
		j.auditLoginFailure(c, cn.ID, clientID, "", st.reason)
		j.ui.Page(c, http.StatusForbidden, st.msg)
		return true
	}
	return false
}
