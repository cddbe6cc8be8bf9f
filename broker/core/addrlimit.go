package core

import (
	"sync"
	"time"
)

// AddrLimiter bounds how fast one address may start what the store keeps
// before anyone has logged in (an authorization request, a passkey
// ceremony). Every identity provider stores such state; without a bound,
// one client sending requests at a few hundred a second fills the store's
// disk and memory for everybody. The counts are in memory, per replica: a
// bound on load, not a security budget, so it needs no store write (which
// would be the very cost it bounds). Behind a load balancer the address
// is the client's only with ops.trusted_proxies.
type AddrLimiter struct {
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

// NewAddrLimiter returns a limiter of perSecond, or nil (no bound) for 0.
func NewAddrLimiter(perSecond int, now func() time.Time) *AddrLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &AddrLimiter{rate: float64(perSecond), burst: float64(5 * perSecond), now: now, buckets: map[string]*bucket{}}
}

// Allow takes a token of key's bucket, or says how long until one is there.
func (l *AddrLimiter) Allow(key string) (bool, time.Duration) {
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
