package throttle

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/store/badger"
)

// The store satisfies Records as it is.
var _ Records = store.Store(nil)

// clock is a settable clock, so that no test sleeps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

// newClock starts ahead of the wall clock: the store drops records by the
// wall clock, so the test clock must not make them look expired to it.
func newClock() *clock { return &clock{t: time.Now().Add(time.Hour).Truncate(time.Second)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openStore(t *testing.T, dir string) *badger.Store {
	t.Helper()
	opts := badger.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)}
	if dir == "" {
		opts.InMemory = true
	}
	s, err := badger.Open(opts)
	if err != nil {
		t.Fatalf("open badger: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newLimiter(t *testing.T, recs Records, p Policy, c *clock) *Limiter {
	t.Helper()
	l, err := New(recs, p, c.now)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func fail(t *testing.T, l *Limiter, n int, keys ...Key) {
	t.Helper()
	for range n {
		must(t, l.Fail(t.Context(), keys...), "Fail")
	}
}

func wantDecision(t *testing.T, what string, got Decision, err error, want Decision) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got != want {
		t.Fatalf("%s = %+v, want %+v", what, got, want)
	}
}

func peek(t *testing.T, l *Limiter, what string, want Decision, keys ...Key) {
	t.Helper()
	d, err := l.Peek(t.Context(), keys...)
	wantDecision(t, what, d, err, want)
}

func wait(d time.Duration) Decision { return Decision{RetryAfter: d} }

// stateOf reads k's counters as the limiter sees them now.
func stateOf(t *testing.T, l *Limiter, k Key) state {
	t.Helper()
	r, err := l.recs.GetRecord(t.Context(), Kind, k.recordKey())
	if errors.Is(err, store.ErrNotFound) {
		return state{}
	}
	must(t, err, "get record")
	s, err := load(r, l.now())
	must(t, err, "load")
	return s
}

// TestSchedule: n failures at one instant leave the key refused for the
// penalty of n.
func TestSchedule(t *testing.T) {
	capped := Policy{MaxDelay: 5 * time.Second, LockAfter: -1}
	tests := []struct {
		name     string
		policy   Policy
		failures int
		want     Decision
	}{
		{"none", Policy{}, 0, allowed},
		{"1 free", Policy{}, 1, allowed},
		{"3 free", Policy{}, 3, allowed},
		{"4th: 1s", Policy{}, 4, wait(time.Second)},
		{"5th: 2s", Policy{}, 5, wait(2 * time.Second)},
		{"6th: 4s", Policy{}, 6, wait(4 * time.Second)},
		{"9th: 32s", Policy{}, 9, wait(32 * time.Second)},
		{"10th: locked", Policy{}, 10, wait(15 * time.Minute)},
		{"11th: locked", Policy{}, 11, wait(15 * time.Minute)},
		{"capped 7th", capped, 7, wait(5 * time.Second)},
		{"capped 30th", capped, 30, wait(5 * time.Second)},
		{"no free failures", Policy{FreeFailures: -1}, 1, wait(time.Second)},
		{"own numbers", Policy{FreeFailures: 1, BaseDelay: 3 * time.Second, LockAfter: 4, LockFor: time.Hour}, 3, wait(6 * time.Second)},
		{"own lock", Policy{FreeFailures: 1, BaseDelay: 3 * time.Second, LockAfter: 4, LockFor: time.Hour}, 4, wait(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(t, openStore(t, ""), tt.policy, newClock())
			fail(t, l, tt.failures, Login("alice"))
			peek(t, l, "after failures", tt.want, Login("alice"))
		})
	}
}

// TestPenaltyNoOverflow: the doubling stops at the cap however many
// failures there were.
func TestPenaltyNoOverflow(t *testing.T) {
	p, err := Policy{MaxDelay: 1 << 62, LockAfter: -1}.withDefaults()
	must(t, err, "policy")
	for _, n := range []int{62, 64, 100, 1 << 40} {
		if got := p.penalty(n); got <= 0 || got > p.MaxDelay {
			t.Errorf("penalty(%d) = %v, want within (0, %v]", n, got, p.MaxDelay)
		}
	}
}

// TestTimeline follows keys through time: locks end, a failure after a
// lock locks again, and failures are forgotten after the Window.
func TestTimeline(t *testing.T) {
	type step struct {
		advance time.Duration
		fails   int
		want    Decision // by Peek after the failures
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"lock ends, relocks, is forgotten", []step{
			{0, 10, wait(15 * time.Minute)},
			{15*time.Minute - 1500*time.Millisecond, 0, wait(2 * time.Second)}, // 1.5s rounds up
			{500 * time.Millisecond, 0, wait(time.Second)},
			{time.Second, 0, allowed}, // the lock has ended
			{0, 1, wait(15 * time.Minute)},
			{15 * time.Minute, 0, allowed},
			{15*time.Minute - time.Second, 1, wait(15 * time.Minute)}, // still remembered
			{30 * time.Minute, 0, allowed},                            // lock and window over
			{0, 3, allowed},                                           // counting from zero
			{0, 1, wait(time.Second)},
		}},
		{"window forgets free failures", []step{
			{0, 3, allowed},
			{15 * time.Minute, 1, allowed}, // 1 failure, not 4
		}},
		{"window not yet over", []step{
			{0, 3, allowed},
			{15*time.Minute - time.Second, 1, wait(time.Second)},
		}},
		{"window runs from the end of a delay", []step{
			{0, 5, wait(2 * time.Second)},
			{2*time.Second + 15*time.Minute - time.Second, 1, wait(4 * time.Second)},
			{4*time.Second + 15*time.Minute, 3, allowed},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			l := newLimiter(t, openStore(t, ""), Policy{}, c)
			for i, s := range tt.steps {
				c.advance(s.advance)
				fail(t, l, s.fails, Login("alice"))
				d, err := l.Peek(t.Context(), Login("alice"))
				wantDecision(t, fmt.Sprintf("step %d", i), d, err, s.want)
			}
		})
	}
}

func TestRetryAfterRounding(t *testing.T) {
	tests := []struct {
		wait   time.Duration
		want   time.Duration
		header string
	}{
		{time.Nanosecond, time.Second, "1"},
		{999 * time.Millisecond, time.Second, "1"},
		{time.Second, time.Second, "1"},
		{time.Second + time.Nanosecond, 2 * time.Second, "2"},
		{15 * time.Minute, 15 * time.Minute, "900"},
	}
	for _, tt := range tests {
		d := deny(tt.wait)
		if d.RetryAfter != tt.want || d.RetryAfterHeader() != tt.header {
			t.Errorf("deny(%v) = %v, header %q; want %v, %q", tt.wait, d.RetryAfter, d.RetryAfterHeader(), tt.want, tt.header)
		}
	}
	if h := allowed.RetryAfterHeader(); h != "0" {
		t.Errorf("allowed: header %q, want 0", h)
	}
}

// TestUnknownAccountsSame: a name with an account and one without get the
// same decisions, because neither the keys nor the limiter look at
// accounts.
func TestUnknownAccountsSame(t *testing.T) {
	ctx, st, c := t.Context(), openStore(t, ""), newClock()
	must(t, st.CreateLocalAccount(ctx, store.LocalAccount{ID: "l1", Username: "alice", Email: "alice@example.com", PasswordHash: "h"}), "create account")
	_, err := st.GetLocalAccountByLogin(ctx, "mallory")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("mallory: %v, want not found", err)
	}
	l := newLimiter(t, st, Policy{}, c)
	known, unknown := Login(" Alice "), Login("mallory")
	if known != Login("alice") {
		t.Fatalf("Login(%q) = %+v, want the key of alice", " Alice ", known)
	}
	for i := range 20 {
		var got [2]Decision
		for j, k := range []Key{known, unknown} {
			d, err := l.Check(ctx, k)
			must(t, err, "Check")
			got[j] = d
			if d.Allowed {
				must(t, l.Fail(ctx, k), "Fail")
			}
		}
		if got[0] != got[1] {
			t.Fatalf("attempt %d: alice %+v, mallory %+v", i, got[0], got[1])
		}
		if !got[0].Allowed {
			c.advance(got[0].RetryAfter)
		}
	}
	if s := stateOf(t, l, unknown); s.Failures < 10 {
		t.Errorf("mallory: %d failures counted, want the lock's 10 or more", s.Failures)
	}
}

// TestConcurrentFailures: every one of many simultaneous failures is
// counted, on a real store, through the compare-and-swap retries.
func TestConcurrentFailures(t *testing.T) {
	l := newLimiter(t, openStore(t, t.TempDir()), Policy{}, newClock())
	keys := []Key{Login("alice"), IP("203.0.113.9")}
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() { errs <- l.Fail(t.Context(), keys...) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err, "Fail")
	}
	for _, k := range keys {
		if s := stateOf(t, l, k); s.Failures != n {
			t.Errorf("%s: %d failures counted, want %d", k.Scope, s.Failures, n)
		}
	}
}

// TestConcurrentChecks: of many guesses sent at once for a fresh key, only
// the free ones and one more get through; the rest are refused before
// anything is verified.
func TestConcurrentChecks(t *testing.T) {
	l := newLimiter(t, openStore(t, t.TempDir()), Policy{}, newClock())
	keys := []Key{Login("alice"), IP("203.0.113.9")}
	const n = 50
	var wg sync.WaitGroup
	results := make(chan Decision, n)
	for range n {
		wg.Go(func() {
			d, err := l.Check(t.Context(), keys...)
			if err != nil {
				t.Errorf("Check: %v", err)
			}
			results <- d
		})
	}
	wg.Wait()
	close(results)
	passed := 0
	for d := range results {
		if d.Allowed {
			passed++
		} else if d.RetryAfter != time.Second {
			t.Errorf("refused with RetryAfter %v, want 1s", d.RetryAfter)
		}
	}
	if passed != 4 {
		t.Fatalf("%d of %d checks passed, want 3 free + 1", passed, n)
	}
	for _, k := range keys {
		if s := stateOf(t, l, k); s.Pending != 4 || s.Failures != 0 {
			t.Errorf("%s: %+v, want 4 pending", k.Scope, s)
		}
	}
	fail(t, l, 4, keys...)
	for _, k := range keys {
		if s := stateOf(t, l, k); s.Pending != 0 || s.Failures != 4 {
			t.Errorf("%s after the failures: %+v, want 4 failures", k.Scope, s)
		}
	}
	peek(t, l, "after 4 failures", wait(time.Second), keys...)
}

// TestSurvivesRestart: a lock holds across a close and reopen of the store.
func TestSurvivesRestart(t *testing.T) {
	dir, c := t.TempDir(), newClock()
	st := openStore(t, dir)
	fail(t, newLimiter(t, st, Policy{}, c), 10, Login("alice"))
	must(t, st.Close(), "close")

	c.advance(time.Minute)
	l := newLimiter(t, openStore(t, dir), Policy{}, c)
	peek(t, l, "after restart", wait(14*time.Minute), Login("alice"))
	d, err := l.Check(t.Context(), Login("alice"))
	wantDecision(t, "Check after restart", d, err, wait(14*time.Minute))
}

// TestSucceed: success forgets the account's failures, not the address's.
func TestSucceed(t *testing.T) {
	ctx := t.Context()
	l := newLimiter(t, openStore(t, ""), Policy{}, newClock())
	alice, mallory, ip := Login("alice"), Login("mallory"), IP("203.0.113.9")
	fail(t, l, 3, alice, ip)

	d, err := l.Check(ctx, alice, ip)
	wantDecision(t, "Check", d, err, allowed)
	must(t, l.Succeed(ctx, alice, ip), "Succeed")
	if s := stateOf(t, l, alice); s != (state{}) {
		t.Errorf("alice after success: %+v, want nothing", s)
	}
	if s := stateOf(t, l, ip); s.Failures != 3 || s.Pending != 0 {
		t.Errorf("address after success: %+v, want its 3 failures, none pending", s)
	}
	// A sprayer's own successful login does not reset the address.
	fail(t, l, 1, mallory, ip)
	peek(t, l, "mallory from the address", wait(time.Second), mallory, ip)
	peek(t, l, "alice from the address", wait(time.Second), alice, ip)
	peek(t, l, "alice elsewhere", allowed, alice, IP("198.51.100.7"))
}

// TestPending: a pending attempt counts as a failure until it is
// released, fails, or lapses.
func TestPending(t *testing.T) {
	ctx, c := t.Context(), newClock()
	l := newLimiter(t, openStore(t, ""), Policy{LockAfter: 1}, c)
	alice := Login("alice")
	check := func(what string, want Decision) {
		t.Helper()
		d, err := l.Check(ctx, alice)
		wantDecision(t, what, d, err, want)
	}
	check("first", allowed)
	check("while pending", wait(15*time.Minute))
	must(t, l.Release(ctx, alice), "Release")
	check("after release", allowed)
	c.advance(time.Minute - time.Second)
	check("before lapse", wait(15*time.Minute-(time.Minute-time.Second)))
	c.advance(time.Second)
	check("after lapse", allowed)
	must(t, l.Fail(ctx, alice), "Fail")
	if s := stateOf(t, l, alice); s.Pending != 0 || s.Failures != 1 {
		t.Errorf("after failure: %+v, want 1 failure, none pending", s)
	}
	peek(t, l, "after failure", wait(15*time.Minute), alice)
}

// TestCheckAllKeys: one throttled key refuses the attempt, reserves
// nothing on the others, and the longest wait is reported.
func TestCheckAllKeys(t *testing.T) {
	ctx := t.Context()
	l := newLimiter(t, openStore(t, ""), Policy{}, newClock())
	alice, bob, ip := Login("alice"), Login("bob"), IP("203.0.113.9")
	fail(t, l, 5, alice)
	fail(t, l, 4, ip)
	d, err := l.Check(ctx, bob, alice, ip, alice)
	wantDecision(t, "Check", d, err, wait(2*time.Second))
	if s := stateOf(t, l, bob); s != (state{}) {
		t.Errorf("bob: %+v, want nothing reserved", s)
	}
}

// TestScopes: a scope's own policy applies to its keys only.
func TestScopes(t *testing.T) {
	base := newLimiter(t, openStore(t, ""), Policy{}, newClock())
	l, err := base.WithScope(ScopeIP, Policy{FreeFailures: 20, LockAfter: 100})
	must(t, err, "WithScope")
	alice, ip := Login("alice"), IP("203.0.113.9")
	fail(t, l, 5, alice, ip)
	peek(t, l, "address", allowed, ip)
	peek(t, l, "account", wait(2*time.Second), alice)
	peek(t, base, "address without the scope's policy", wait(2*time.Second), ip)
}

func TestKeys(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9":        "203.0.113.9",
		" 203.0.113.9 ":      "203.0.113.9",
		"::ffff:203.0.113.9": "203.0.113.9",
		"2001:db8::1":        "2001:db8::/64",
		"2001:db8::ffff:1":   "2001:db8::/64",
		"2001:db8:0:1::1":    "2001:db8:0:1::/64",
		"fe80::1%eth0":       "fe80::/64",
		"unix-socket":        "unix-socket",
	} {
		if got := IP(in); got != (Key{Scope: ScopeIP, ID: want}) {
			t.Errorf("IP(%q) = %+v, want ID %q", in, got, want)
		}
	}
	if got := Login("\tAlice@Example.COM "); got != (Key{Scope: ScopeLogin, ID: "alice@example.com"}) {
		t.Errorf("Login: %+v", got)
	}
	// What was submitted is not readable in the record key.
	rk := Login("hunter2").recordKey()
	if !strings.HasPrefix(rk, "login/") || strings.Contains(rk, "hunter2") || len(rk) != len("login/")+43 {
		t.Errorf("record key %q: want login/ and a hash", rk)
	}
}

func TestInvalid(t *testing.T) {
	st := openStore(t, "")
	for _, p := range []Policy{{BaseDelay: -1}, {Window: -time.Second}, {AttemptTimeout: -1}} {
		if _, err := New(st, p, time.Now); err == nil {
			t.Errorf("New(%+v): no error", p)
		}
	}
	if _, err := New(nil, Policy{}, time.Now); err == nil {
		t.Error("New without a store: no error")
	}
	l := newLimiter(t, st, Policy{}, newClock())
	if _, err := l.WithScope("a/b", Policy{}); err == nil {
		t.Error("WithScope(a/b): no error")
	}
	if err := l.Fail(t.Context(), Key{ID: "x"}); err == nil {
		t.Error("Fail with no scope: no error")
	}
	if _, err := l.Check(t.Context(), Key{Scope: "a/b"}); err == nil {
		t.Error("Check with scope a/b: no error")
	}
}
