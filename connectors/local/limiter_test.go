package local

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-idp/portico/sdk"
)

func TestConcurrency(t *testing.T) {
	for _, tc := range []struct {
		budget uint64
		p      Params
		want   int
	}{
		{256 << 20, DefaultParams, 4},
		{255 << 20, DefaultParams, 3}, // a hash that does not fit waits
		{64 << 20, DefaultParams, 1},
		{1, DefaultParams, 1}, // at least one
		{0, DefaultParams, runtime.GOMAXPROCS(0)},
		{3 * 64 << 10, cheap, 3},
	} {
		if got := Concurrency(tc.budget, tc.p); got != tc.want {
			t.Errorf("Concurrency(%d, m=%d KiB) = %d, want %d", tc.budget, tc.p.Memory, got, tc.want)
		}
	}
}

// TestLimiterBound: two connectors and an administrator's password change
// share one budget of three hashes. With three logins holding the slots,
// a fourth on either connector and the password change are refused as
// unavailable (the semaphore, not a clock, decides); once they finish,
// both work again.
func TestLimiterBound(t *testing.T) {
	lim := NewLimiter(3*uint64(cheap.Memory)<<10, cheap, time.Millisecond)
	if lim.Max() != 3 {
		t.Fatalf("Max() = %d, want 3", lim.Max())
	}
	accts := newMemAccounts(alice(t, cheap))
	var inside atomic.Int32
	entered, release := make(chan struct{}, 3), make(chan struct{})
	hold := func() {
		inside.Add(1)
		entered <- struct{}{}
		<-release
	}
	a := New(accts, Config{Params: cheap, Limiter: lim, QueueTimeout: time.Millisecond})
	b := New(accts, Config{Params: cheap, Limiter: lim, QueueTimeout: time.Millisecond})
	a.testHookHashing, b.testHookHashing = hold, hold
	var wg sync.WaitGroup
	for i, c := range []*Connector{a, b, a} {
		wg.Go(func() {
			login, want := "alice", error(nil)
			if i == 1 {
				login, want = "nobody", sdk.ErrInvalidCredentials // the dummy hash takes a slot too
			}
			if _, err := c.Login(context.Background(), sdk.Scopes{}, login, alicePassword); err != want {
				t.Errorf("held Login(%q) error = %v, want %v", login, err, want)
			}
		})
	}
	for range 3 {
		<-entered
	}
	for name, c := range map[string]*Connector{"a": a, "b": b} {
		if _, err := c.Login(t.Context(), sdk.Scopes{}, "alice", alicePassword); !errors.Is(err, sdk.ErrUnavailable) {
			t.Errorf("fourth login on %s: %v, want sdk.ErrUnavailable", name, err)
		}
	}
	if _, err := lim.Hash("new password", cheap); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("password change with the budget spent: %v, want sdk.ErrUnavailable", err)
	}
	if n := inside.Load(); n != 3 {
		t.Errorf("%d hashes inside the budget of 3", n)
	}
	close(release)
	wg.Wait()
	a.testHookHashing, b.testHookHashing = nil, nil
	if _, err := b.Login(t.Context(), sdk.Scopes{}, "alice", alicePassword); err != nil {
		t.Errorf("login once the slots are free: %v", err)
	}
	if h, err := lim.Hash("new password", cheap); err != nil {
		t.Errorf("password change once the slots are free: %v", err)
	} else if ok, _ := Verify("new password", h); !ok {
		t.Error("the limiter's hash does not verify")
	}
}

// TestLimiterCollects: a hash about to start collects first once one
// hash's memory has been dropped since the last collection (the Go heap
// otherwise keeps several 64 MiB garbage hashes: Limiter), and not before.
func TestLimiterCollects(t *testing.T) {
	l := newLimiter(2, DefaultParams, time.Second)
	var collections int
	l.collect = func() { collections++ }
	take := func() {
		l.slots <- struct{}{}
		l.acquired()
	}
	take() // nothing dropped yet
	if collections != 0 {
		t.Errorf("%d collections with nothing dropped", collections)
	}
	l.release() // one hash's 64 MiB dropped
	take()
	if collections != 1 {
		t.Errorf("%d collections before a hash with a hash's garbage behind it, want 1", collections)
	}
	take() // collected: nothing dropped since
	if collections != 1 {
		t.Errorf("%d collections, want still 1 right after one", collections)
	}
	cheapLim := newLimiter(2, cheap, time.Second)
	cheapLim.collect = func() { collections++ }
	for range 100 { // 100 × 64 KiB: far below collectEvery
		cheapLim.slots <- struct{}{}
		cheapLim.acquired()
		cheapLim.release()
	}
	if collections != 1 {
		t.Errorf("cheap hashes collected %d times", collections-1)
	}
}
