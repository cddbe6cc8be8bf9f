package local

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/portico-idp/portico/sdk"
)

// Limiter is a hashing semaphore that several connectors, and whatever
// else hashes passwords in the process (an administrator setting one), can
// share, so that a memory budget holds for the whole process rather than
// per connector: argon2id holds Params.Memory for each hash in flight.
type Limiter struct {
	slots chan struct{}
	// heavy is held by the one hash gathering several slots (weight).
	heavy   chan struct{}
	timeout time.Duration // Hash's wait for a slot
	// Garbage: each hash allocates its memory afresh and drops it, and
	// the Go runtime frees it only at a collection, which GOGC (or a
	// GOMEMLIMIT near the peak) starts too late for a heap that grows by
	// 64 MiB at a time: 128 MiB of budget peaked at 517 MiB RSS. So a hash
	// about to start collects first, waiting for it, once the hashes
	// finished since the last collection have dropped collectAt bytes
	// (one hash's worth, and at least collectEvery, so that cheap test
	// hashes do not collect often). The hashes' memory holds no pointers:
	// a collection marks only the rest of the heap, a few ms here.
	per       uint64 // bytes one hash with the configured Params holds
	collectAt uint64 // dropped bytes that make the next hash collect
	dropped   atomic.Uint64
	collect   func() // runtime.GC; tests count calls
}

// collectEvery is the least garbage of finished hashes that makes the
// next hash collect first.
const collectEvery = 64 << 20

// NewLimiter returns a limiter that lets budget bytes of argon2id memory
// be in use at once with p: budget / (p.Memory KiB) hashes, at least one.
// A zero budget means one hash per CPU (runtime.GOMAXPROCS(0)), the
// connector's default. Its Hash waits up to queueTimeout for a slot (zero
// or less: DefaultQueueTimeout).
func NewLimiter(budget uint64, p Params, queueTimeout time.Duration) *Limiter {
	if queueTimeout <= 0 {
		queueTimeout = DefaultQueueTimeout
	}
	return newLimiter(Concurrency(budget, p), p, queueTimeout)
}

func newLimiter(n int, p Params, queueTimeout time.Duration) *Limiter {
	per := uint64(p.Memory) << 10
	return &Limiter{slots: make(chan struct{}, n), heavy: make(chan struct{}, 1), timeout: queueTimeout, per: per,
		collectAt: max(per, collectEvery), collect: runtime.GC}
}

// acquired is called with a slot just taken, before hashing: see
// Limiter's garbage.
func (l *Limiter) acquired() {
	if l.dropped.Load() >= l.collectAt {
		l.dropped.Store(0)
		l.collect()
	}
}

// release gives a slot back.
func (l *Limiter) release() {
	<-l.slots
	l.dropped.Add(l.per)
}

// weight is the number of slots a hash holding mem bytes takes: one for
// a hash no heavier than the configured parameters' (or of unknown
// memory, 0), more for an imported one that is (argon2id with a larger m,
// scrypt), as many as its memory fills, but at most all of them: such a
// hash then runs alone, and the peak is its memory rather than the
// budget. Without it, an attacker knowing one such username held a
// 512 MiB hash's memory per wrong password, whatever the budget.
func (l *Limiter) weight(mem uint64) int {
	if mem <= l.per || l.per == 0 {
		return 1
	}
	return int(min(uint64(cap(l.slots)), (mem+l.per-1)/l.per))
}

// Concurrency is the number of hashes with p that budget bytes allow at
// once, at least one; for a zero budget, runtime.GOMAXPROCS(0).
func Concurrency(budget uint64, p Params) int {
	if budget == 0 {
		return runtime.GOMAXPROCS(0)
	}
	per := uint64(max(p.Memory, 1)) << 10
	return int(max(1, min(budget/per, 1<<16)))
}

// QueueTimeout is how long Hash waits for a slot; 0 for a nil Limiter.
func (l *Limiter) QueueTimeout() time.Duration {
	if l == nil {
		return 0
	}
	return l.timeout
}

// Max is the number of hashes that run at once.
func (l *Limiter) Max() int { return cap(l.slots) }

// Hash is Hash(password, p) under l's turns for p's memory, waiting at
// most its queue timeout for them; then the error wraps
// sdk.ErrUnavailable.
func (l *Limiter) Hash(password string, p Params) (string, error) {
	release, err := l.acquire(context.Background(), uint64(p.Memory)<<10, l.timeout)
	if err != nil {
		return "", err
	}
	defer release()
	return Hash(password, p)
}

// errQueueFull is acquire's error when the wait ran out.
var errQueueFull = errors.New("queue full")

// acquire takes the turns a hash holding mem bytes needs (weight),
// waiting at most timeout and while ctx lasts; the error wraps
// sdk.ErrUnavailable, and errQueueFull if the wait ran out. A turn free
// now is taken without a timer.
func (l *Limiter) acquire(ctx context.Context, mem uint64, timeout time.Duration) (release func(), err error) {
	k := l.weight(mem)
	if k == 1 {
		select {
		case l.slots <- struct{}{}:
			l.acquired()
			return l.release, nil
		default:
		}
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	wait := func(ch chan struct{}) error {
		select {
		case ch <- struct{}{}:
			return nil
		case <-t.C:
			return fmt.Errorf("%w: local: %w: %d password hashes already running, waited %v", sdk.ErrUnavailable, errQueueFull, l.Max(), timeout)
		case <-ctx.Done():
			return fmt.Errorf("%w: local: waiting for a password hashing slot: %w", sdk.ErrUnavailable, ctx.Err())
		}
	}
	if k > 1 {
		// One hash at a time gathers several turns, so that two such
		// hashes never each hold part of what the other waits for.
		if err := wait(l.heavy); err != nil {
			return nil, err
		}
		defer func() { <-l.heavy }()
	}
	for i := range k {
		if err := wait(l.slots); err != nil {
			for range i {
				<-l.slots
			}
			return nil, err
		}
	}
	l.acquired()
	return func() {
		for range k {
			l.release()
		}
	}, nil
}
