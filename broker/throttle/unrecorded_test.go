package throttle

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/store"
)

// refusingWrites reads, but refuses every write, as a full disk does.
type refusingWrites struct{ Records }

func (refusingWrites) PutRecord(context.Context, store.Record) error { return store.ErrUnavailable }
func (refusingWrites) DeleteRecord(context.Context, string, string) error {
	return store.ErrUnavailable
}

// TestUnrecordedFailuresCount: failures the store refuses to record still
// throttle the key in this process, until they would have expired; a
// store refusing writes does not open the door to unlimited guessing.
func TestUnrecordedFailuresCount(t *testing.T) {
	c := newClock()
	st := openStore(t, "")
	p := Policy{FreeFailures: 2, BaseDelay: time.Second, LockAfter: -1, Window: time.Minute}
	l := newLimiter(t, refusingWrites{st}, p, c).WithCleanMemory(time.Hour)
	k := Key{Scope: "client", ID: "app 192.0.2.1"}
	ctx := t.Context()
	for i := range 3 {
		d, err := l.Peek(ctx, k)
		wantDecision(t, fmt.Sprintf("peek before failure %d", i+1), d, err, allowed)
		if err := l.Fail(ctx, k); err == nil {
			t.Fatal("Fail on a store refusing writes: no error")
		}
	}
	d, err := l.Peek(ctx, k)
	wantDecision(t, "peek after 3 unrecorded failures", d, err, deny(time.Second))
	d, err = l.Check(ctx, k)
	wantDecision(t, "check after 3 unrecorded failures", d, err, deny(time.Second))
	// Nothing was stored: another replica does not see them.
	d, err = newLimiter(t, st, p, c).Peek(ctx, k)
	wantDecision(t, "another limiter's peek", d, err, allowed)
	// They lapse as stored ones would: the delay, then the window.
	c.advance(time.Second)
	d, err = l.Peek(ctx, k)
	wantDecision(t, "peek after the delay", d, err, allowed)
	c.advance(time.Minute)
	if _, ok := l.unrec.of(k.recordKey(), c.now()); ok {
		t.Error("the unrecorded failures outlived the window")
	}
}

// TestUnrecordedAddsToStored: unrecorded failures add to the stored ones.
func TestUnrecordedAddsToStored(t *testing.T) {
	c := newClock()
	st := openStore(t, "")
	p := Policy{FreeFailures: 2, BaseDelay: time.Second, LockAfter: -1}
	k := Key{Scope: "client", ID: "app 192.0.2.1"}
	fail(t, newLimiter(t, st, p, c), 2, k)
	l := newLimiter(t, refusingWrites{st}, p, c)
	d, err := l.Peek(t.Context(), k)
	wantDecision(t, "peek after 2 stored failures", d, err, allowed)
	if l.Fail(t.Context(), k) == nil {
		t.Fatal("Fail on a store refusing writes: no error")
	}
	d, err = l.Peek(t.Context(), k)
	wantDecision(t, "peek after 2 stored and 1 unrecorded failures", d, err, deny(time.Second))
}

// TestUnrecordedBounded: the memory holds at most maxUnrecorded keys;
// when full, what has expired goes, then the key with the fewest
// failures, so keys sprayed once each cannot push out one being guessed.
func TestUnrecordedBounded(t *testing.T) {
	u := newUnrecorded()
	p, _ := Policy{}.withDefaults()
	now := time.Now()
	for range 5 {
		u.add("guessed", p, now)
	}
	for i := range maxUnrecorded + 100 {
		u.add(fmt.Sprint(i), p, now)
		if len(u.m) > maxUnrecorded {
			t.Fatalf("%d keys held", len(u.m))
		}
	}
	if s, ok := u.of("guessed", now); !ok || s.Failures != 5 {
		t.Errorf("the key with 5 failures: %+v, %v; want it kept", s, ok)
	}
	// Expired entries go first.
	later := now.Add(24 * time.Hour)
	u.add("late", p, later)
	if _, ok := u.of("late", later); !ok || len(u.m) != 1 {
		t.Errorf("after the others expired: %d keys, late held %v", len(u.m), ok)
	}
}

// TestUnrecordedSucceedForgets: a success forgets the account's unrecorded
// failures, as it does the stored ones.
func TestUnrecordedSucceedForgets(t *testing.T) {
	c := newClock()
	st := openStore(t, "")
	p := Policy{FreeFailures: 1, BaseDelay: time.Hour, MaxDelay: time.Hour, LockAfter: -1}
	l := newLimiter(t, refusingWrites{st}, p, c)
	k := Key{Scope: "client", ID: "app 192.0.2.1"}
	for range 2 {
		l.Fail(t.Context(), k)
	}
	d, err := l.Peek(t.Context(), k)
	wantDecision(t, "peek after 2 unrecorded failures", d, err, deny(time.Hour))
	l.Succeed(t.Context(), k)
	d, err = l.Peek(t.Context(), k)
	wantDecision(t, "peek after a success", d, err, allowed)
}

// TestEndsAfterHangUp: an attempt's end is recorded in the store whether
// or not its request's context has ended: a login abandoned by the browser
// used to stay pending, counting as a failure (the next login got 429),
// and a guess whose sender hung up was not stored.
func TestEndsAfterHangUp(t *testing.T) {
	c := newClock()
	st := openStore(t, "")
	p := Policy{FreeFailures: -1, BaseDelay: time.Hour, MaxDelay: time.Hour}
	l := newLimiter(t, st, p, c)
	k := Login("carol")
	for name, end := range map[string]func(context.Context) error{
		"Release": func(ctx context.Context) error { return l.Release(ctx, k) },
		"Succeed": func(ctx context.Context) error { return l.Succeed(ctx, k) },
	} {
		d, err := l.Check(t.Context(), k)
		wantDecision(t, "check before "+name, d, err, allowed)
		ctx, hangUp := context.WithCancel(t.Context())
		hangUp()
		must(t, end(ctx), name+" after the request ended")
		d, err = l.Peek(t.Context(), k)
		wantDecision(t, "peek after "+name, d, err, allowed)
	}
	ctx, hangUp := context.WithCancel(t.Context())
	hangUp()
	must(t, l.Fail(ctx, k), "Fail after the request ended")
	// Stored, not only remembered here: another limiter sees it.
	d, err := newLimiter(t, st, p, c).Peek(t.Context(), k)
	wantDecision(t, "another limiter's peek after the failure", d, err, deny(time.Hour))
}
