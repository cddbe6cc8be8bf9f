package throttle

import (
	"context"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/store"
)

// hookedReads runs after, once, after its next GetRecords has read and
// before it answers: a write that overlaps a Peek's read.
type hookedReads struct {
	*severalReads
	after func()
}

func (h *hookedReads) GetRecords(ctx context.Context, kind string, keys ...string) ([]store.Record, error) {
	recs, err := h.severalReads.GetRecords(ctx, kind, keys...)
	if f := h.after; f != nil {
		h.after = nil
		f()
	}
	return recs, err
}

// TestCleanMemory: with WithCleanMemory, keys found without failures are
// decided from memory for its ttl; a failure recorded through the Limiter
// is seen at once, one recorded by another Limiter on the store (a
// replica) once the ttl has passed; and a read that overlaps a write is
// not remembered.
func TestCleanMemory(t *testing.T) {
	c := newClock()
	st := openStore(t, "")
	p := Policy{FreeFailures: -1, LockAfter: 1}
	reads := &severalReads{singleReads: &singleReads{Records: st}}
	l := newLimiter(t, reads, p, c).WithCleanMemory(time.Second)
	a, b := Key{Scope: "client", ID: "a"}, Key{Scope: "client", ID: "b"}
	peek := func(want bool, keys ...Key) {
		t.Helper()
		d, err := l.Peek(t.Context(), keys...)
		must(t, err, "Peek")
		if d.Allowed != want {
			t.Fatalf("Peek%v allowed %v, want %v", keys, d.Allowed, want)
		}
	}
	counted := func(want int, what string) {
		t.Helper()
		if reads.several != want {
			t.Fatalf("%s: %d reads, want %d", what, reads.several, want)
		}
	}

	peek(true, a, b)
	peek(true, a, b)
	peek(true, a)
	counted(1, "clean keys, peeked three times within the ttl")
	c.advance(time.Second)
	peek(true, a, b)
	counted(2, "after the ttl")

	// Through this Limiter: at once.
	fail(t, l, 1, a)
	peek(false, a, b)
	counted(3, "after a failure here")
	peek(true, b)
	counted(3, "b is still known clean")

	// Through another Limiter on the same store (another replica): b's
	// absence is trusted until the ttl ends, then the failure is seen.
	fail(t, newLimiter(t, st, p, c), 1, b)
	peek(true, b)
	counted(3, "within the ttl, b from memory")
	c.advance(time.Second)
	peek(false, b)
	counted(4, "after the ttl")

	// A write overlapping the read: the absence read is not remembered.
	k := Key{Scope: "client", ID: "k"}
	hooked := &hookedReads{severalReads: &severalReads{singleReads: &singleReads{Records: st}}}
	hl := newLimiter(t, hooked, p, c).WithCleanMemory(time.Minute)
	hooked.after = func() { fail(t, hl, 1, k) }
	d, err := hl.Peek(t.Context(), k)
	must(t, err, "Peek")
	if !d.Allowed {
		t.Fatal("the peek that read before the failure refused")
	}
	if d, err = hl.Peek(t.Context(), k); err != nil || d.Allowed {
		t.Fatalf("the peek after the failure: allowed %v, err %v; want refused: the overlapping read was remembered", d.Allowed, err)
	}
}

// TestCleanMemoryBounded: keys named by requests cannot grow the memory
// without bound.
func TestCleanMemoryBounded(t *testing.T) {
	c := newClock()
	l := newLimiter(t, openStore(t, ""), Policy{}, c).WithCleanMemory(time.Minute)
	for i := range maxClean + 10 {
		if _, err := l.Peek(t.Context(), Key{Scope: "client", ID: string(rune(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(l.clean.m); n > maxClean {
		t.Fatalf("%d keys remembered, bound %d", n, maxClean)
	}
}
