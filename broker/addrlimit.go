package broker

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/throttle"
)

// addrLimiter bounds how fast one address may start what the store keeps
// before anyone has logged in (an authorization request, a passkey
// ceremony). Every identity provider stores such state; without a bound,
// one client sending requests at a few hundred a second fills the store's
// disk and memory for everybody. The counts are in memory, per replica: a
// bound on load, not a security budget, so it needs no store write (which
// would be the very cost it bounds). Behind a load balancer the address
// is the client's only with ops.trusted_proxies.
type addrLimiter struct {
	rate  float64 // tokens a second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// addrLimiterMax bounds the map; when full it is emptied (a flood from
// many addresses then gets a fresh burst each, which the store absorbs).
const addrLimiterMax = 100_000

func newAddrLimiter(perSecond int, now func() time.Time) *addrLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &addrLimiter{rate: float64(perSecond), burst: float64(5 * perSecond), now: now, buckets: map[string]*bucket{}}
}

// allow takes a token of key's bucket, or says how long until one is there.
func (l *addrLimiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	bk := l.buckets[key]
	if bk == nil {
		if len(l.buckets) >= addrLimiterMax {
			clear(l.buckets)
		}
		bk = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = bk
	}
	bk.tokens = min(l.burst, bk.tokens+now.Sub(bk.last).Seconds()*l.rate)
	bk.last = now
	if bk.tokens >= 1 {
		bk.tokens--
		return true, 0
	}
	return false, time.Duration((1 - bk.tokens) / l.rate * float64(time.Second))
}

// limitAddress refuses, with 429 and the throttled page, a request from
// an address past its rate.
func (b *Broker) limitAddress(c *gin.Context) {
	if b.addrs == nil {
		return
	}
	ok, wait := b.addrs.allow(throttle.IP(c.ClientIP()).ID)
	if ok {
		return
	}
	secs := max(1, int(wait/time.Second)+1)
	c.Header("Retry-After", strconv.Itoa(secs))
	b.ui.Page(c, http.StatusTooManyRequests, ui.MsgThrottled, ui.HumanDuration(float64(secs)))
	c.Abort()
}
