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

// TestLimiterHeavyHash: an imported hash stronger than the configured
// parameters holds as many of the budget's slots as its memory fills, and
// one larger than the budget all of them, so that wrong passwords for
// such accounts cannot hold several times the budget (the semaphore
// decides, not a clock).
func TestLimiterHeavyHash(t *testing.T) {
	per := uint64(cheap.Memory) << 10
	heavy := cheap
	heavy.Memory = 3 * cheap.Memory
	huge := cheap
	huge.Memory = 10 * cheap.Memory
	acct := func(name string, p Params) Account {
		return Account{ID: "u-" + name, Username: name, PasswordHash: mustHash(t, alicePassword, p)}
	}
	for _, tc := range []struct {
		name  string
		p     Params
		slots int // held by one login with it
	}{
		{"heavy", heavy, 3},
		{"huge", huge, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := HashMemory(mustHash(t, "x", tc.p)); got != uint64(tc.p.Memory)<<10 {
				t.Fatalf("HashMemory = %d, want %d", got, uint64(tc.p.Memory)<<10)
			}
			lim := NewLimiter(4*per, cheap, time.Millisecond)
			accts := newMemAccounts(alice(t, cheap), acct("h1", tc.p), acct("h2", tc.p))
			a := New(accts, Config{Params: cheap, Limiter: lim, QueueTimeout: time.Millisecond})
			b := New(accts, Config{Params: cheap, Limiter: lim, QueueTimeout: time.Millisecond})
			entered, release := make(chan struct{}), make(chan struct{})
			a.testHookHashing = func() { close(entered); <-release }
			done := make(chan error, 1)
			go func() {
				_, err := a.Login(context.Background(), sdk.Scopes{}, "h1", "wrong")
				done <- err
			}()
			<-entered
			if n := len(lim.slots); n != tc.slots {
				t.Errorf("a wrong password for a %s hash holds %d slots, want %d", tc.name, n, tc.slots)
			}
			if _, err := b.Login(t.Context(), sdk.Scopes{}, "h2", "wrong"); !errors.Is(err, sdk.ErrUnavailable) {
				t.Errorf("a second %s hash meanwhile: %v, want sdk.ErrUnavailable", tc.name, err)
			}
			_, err := b.Login(t.Context(), sdk.Scopes{}, "alice", alicePassword)
			if free := 4 - tc.slots; free > 0 && err != nil {
				t.Errorf("a login with the configured parameters and %d slots free: %v", free, err)
			} else if free == 0 && !errors.Is(err, sdk.ErrUnavailable) {
				t.Errorf("a login with no slot free: %v, want sdk.ErrUnavailable", err)
			}
			close(release)
			if err := <-done; !errors.Is(err, sdk.ErrInvalidCredentials) {
				t.Errorf("the held login: %v", err)
			}
			if n := len(lim.slots); n != 0 {
				t.Errorf("%d slots still held after the logins", n)
			}
			if _, err := b.Login(t.Context(), sdk.Scopes{}, "h2", "wrong"); !errors.Is(err, sdk.ErrInvalidCredentials) {
				t.Errorf("a %s hash once the slots are free: %v", tc.name, err)
			}
		})
	}
}

func TestHashMemory(t *testing.T) {
	for _, tc := range []struct {
		hash string
		want uint64
	}{
		{"$scrypt$ln=4,r=8,p=1$c2FsdHNhbHQ$" + "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", 128 * 8 * (16 + 1)},
		{"$2b$04$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui", 0},
		{"$argon2id$v=19$m=nope", 0},
		{"", 0},
	} {
		if got := HashMemory(tc.hash); got != tc.want {
			t.Errorf("HashMemory(%.30q) = %d, want %d", tc.hash, got, tc.want)
		}
	}
}
