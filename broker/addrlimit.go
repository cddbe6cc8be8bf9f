package broker

import (
	"net/http"
	"strconv"
	"time"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/throttle"
)

// limitAddress refuses, with 429 and the throttled page, a request from
// an address past its rate.
func (b *Broker) limitAddress(c *gin.Context) {
	if b.addrs == nil {
		return
	}
	ok, wait := b.addrs.Allow(throttle.IP(c.ClientIP()).ID)
	if ok {
		return
	}
	secs := max(1, int(wait/time.Second)+1)
	c.Header("Retry-After", strconv.Itoa(secs))
	b.ui.Page(c, http.StatusTooManyRequests, ui.MsgThrottled, b.ui.Duration(c, float64(secs)))
	c.Abort()
}
