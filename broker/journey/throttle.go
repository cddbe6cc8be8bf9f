package journey

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
	"github.com/portico-idp/portico/broker/ui"
)

// csrfOK checks a login page's form token, answering when it is wrong.
func (j *Server) csrfOK(c *gin.Context, req store.AuthRequest) bool {
	if !core.ConstantEqual(c.PostForm("csrf"), req.CSRFToken) {
		j.ui.Page(c, http.StatusForbidden, ui.MsgLoginCSRF)
		return false
	}
	return true
}

// throttleCheck reserves an attempt for keys, or answers 429 with
// Retry-After and the page that says how long to wait.
func (j *Server) throttleCheck(c *gin.Context, keys ...throttle.Key) bool {
	if j.opts.Throttle == nil {
		return true
	}
	d, err := j.opts.Throttle.Check(c.Request.Context(), keys...)
	if err != nil {
		j.ui.Unavailable(c, "throttle: check", err)
		return false
	}
	return j.allowed(c, d)
}

// allowed reports d.Allowed, answering 429 with Retry-After and the page
// that says how long to wait when it is not.
func (j *Server) allowed(c *gin.Context, d throttle.Decision) bool {
	if !d.Allowed {
		c.Header("Retry-After", d.RetryAfterHeader())
		j.ui.Page(c, http.StatusTooManyRequests, ui.MsgThrottled, j.ui.Duration(c, d.RetryAfter.Seconds()))
		return false
	}
	return true
}

func (j *Server) throttleFail(c *gin.Context, keys ...throttle.Key) {
	if j.opts.Throttle != nil {
		if err := j.opts.Throttle.Fail(c.Request.Context(), keys...); err != nil {
			j.log.Error("throttle: record failure", "err", err)
		}
	}
}

func (j *Server) throttleSucceed(c *gin.Context, account throttle.Key, others ...throttle.Key) {
	if j.opts.Throttle != nil {
		if err := j.opts.Throttle.Succeed(c.Request.Context(), account, others...); err != nil {
			j.log.Error("throttle: record success", "err", err)
		}
	}
}

func (j *Server) throttleRelease(c *gin.Context, keys ...throttle.Key) {
	if j.opts.Throttle != nil {
		if err := j.opts.Throttle.Release(c.Request.Context(), keys...); err != nil {
			j.log.Error("throttle: release", "err", err)
		}
	}
}
