package dpop

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"
)

// ErrReplayFull: MemoryReplay holds as many proofs as it may; the request
// should be retried later (the server's state, not the client's fault).
var ErrReplayFull = errors.New("dpop: replay cache full")

// ErrBeforeStart: MemoryReplay cannot know whether a proof this old was
// taken before it started; a fresh proof a few seconds later will pass.
var ErrBeforeStart = errors.New("dpop: proof may predate the replay cache")

// MemoryReplay is a ReplayCache for one process. It keeps two generations
// of keys, each a proof's whole acceptance window long, so a key lives at
// least until a proof with its iat stops being accepted. Proofs taken by
// an earlier process are not in it, so it refuses (ErrBeforeStart) every
// proof with an iat before the second it started in. What that leaves
// open is a proof taken in the last MaxFuture before a restart with an
// iat ahead of the server's clock: it can be used once more after.
type MemoryReplay struct {
	mu        sync.Mutex
	cur, prev map[[32]byte]struct{}
	rotated   time.Time
	started   int64 // Unix seconds: proofs with an earlier iat are refused
	lifetime  time.Duration
	max       int
	now       func() time.Time
}

// NewMemoryReplay keeps proofs for lifetime (the Verifier's), at most max
// per generation (1<<20 if 0); now is time.Now if nil.
func NewMemoryReplay(lifetime time.Duration, max int, now func() time.Time) *MemoryReplay {
	if lifetime <= 0 {
		lifetime = DefaultLifetime
	}
	if max <= 0 {
		max = 1 << 20
	}
	if now == nil {
		now = time.Now
	}
	t := now()
	return &MemoryReplay{cur: map[[32]byte]struct{}{}, prev: map[[32]byte]struct{}{}, rotated: t,
		// A proof is taken from MaxFuture before its iat until lifetime
		// after: a key must be kept that long after it is first seen.
		started: t.Unix(), lifetime: lifetime + MaxFuture + time.Second, max: max, now: now}
}

// Use implements ReplayCache.
func (m *MemoryReplay) Use(_ context.Context, key string, issued, _ time.Time) (bool, error) {
	if issued.Unix() < m.started {
		return false, ErrBeforeStart
	}
	k := sha256.Sum256([]byte(key))
	m.mu.Lock()
	defer m.mu.Unlock()
	if now := m.now(); now.Sub(m.rotated) >= m.lifetime {
		if now.Sub(m.rotated) >= 2*m.lifetime {
			clear(m.cur) // idle for two generations: nothing is live
		}
		m.prev, m.cur, m.rotated = m.cur, make(map[[32]byte]struct{}, len(m.cur)), now
	}
	if _, ok := m.cur[k]; ok {
		return false, nil
	}
	if _, ok := m.prev[k]; ok {
		return false, nil
	}
	if len(m.cur) >= m.max {
		return false, ErrReplayFull
	}
	m.cur[k] = struct{}{}
	return true, nil
}
