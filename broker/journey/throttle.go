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
func (b *Server) csrfOK(c *gin.Context, req store.AuthRequest) bool {
	if !core.ConstantEqual(c.PostForm("csrf"), req.CSRFToken) {
		b.ui.Page(c, http.StatusForbidden, ui.MsgLoginCSRF)
		return false
	}
	return true
}

// throttleCheck reserves an attempt for keys, or answers 429 with
// Retry-After and the page that says how long to wait.
func (b *Server) throttleCheck(c *gin.Context, keys ...throttle.Key) bool {
	if b.opts.Throttle == nil {
		return true
	}
	d, err := b.opts.Throttle.Check(c.Request.Context(), keys...)
	if err != nil {
		b.ui.Unavailable(c, "throttle: check", err)
		return false
	}
	if !d.Allowed {
		c.Header("Retry-After", d.RetryAfterHeader())
		b.ui.Page(c, http.StatusTooManyRequests, ui.MsgThrottled, ui.HumanDuration(d.RetryAfter.Seconds()))
		return false
	}
	return true
}

func (b *Server) throttleFail(c *gin.Context, keys ...throttle.Key) {
	if b.opts.Throttle != nil {
		if err := b.opts.Throttle.Fail(c.Request.Context(), keys...); err != nil {
			b.log.Error("throttle: record failure", "err", err)
		}
	}
}

func (b *Server) throttleSucceed(c *gin.Context, account throttle.Key, others ...throttle.Key) {
	if b.opts.Throttle != nil {
		if err := b.opts.Throttle.Succeed(c.Request.Context(), account, others...); err != nil {
			b.log.Error("throttle: record success", "err", err)
		}
	}
}

func (b *Server) throttleRelease(c *gin.Context, keys ...throttle.Key) {
	if b.opts.Throttle != nil {
		if err := b.opts.Throttle.Release(c.Request.Context(), keys...); err != nil {
			b.log.Error("throttle: release", "err", err)
		}
	}
}
