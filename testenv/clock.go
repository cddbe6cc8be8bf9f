package testenv

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/server"
)

// Clock is a test's clock: it stands still until Advance moves it, so a
// test can let a code expire or a polling interval pass without sleeping.
// Safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to the real time now.
func NewClock() *Clock { return &Clock{now: time.Now()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// StartClock is Start with the broker's clock (broker.Options.Now) read
// from clock. The store, the token service and the throttles keep the
// real time: only the broker's own decisions (expiry of what it stores,
// polling intervals) follow clock.
func StartClock(t testing.TB, cfg *config.Config, clock *Clock) *Broker {
	t.Helper()
	return startCtx(t, server.WithClock(context.Background(), clock.Now), cfg, "127.0.0.1")
}

// StartLocalhostClock is StartLocalhost with clock, as StartClock.
func StartLocalhostClock(t testing.TB, cfg *config.Config, clock *Clock) *Broker {
	t.Helper()
	return startCtx(t, server.WithClock(context.Background(), clock.Now), cfg, "localhost")
}
