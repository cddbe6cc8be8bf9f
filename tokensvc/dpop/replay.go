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

// MemoryReplay is a ReplayCache for one process. It keeps two generations
// of keys, each twice the proof lifetime long, so a key lives at least
// until a proof with its iat stops being accepted; and it refuses every proof issued before
// before the second it was made in, since proofs taken by an earlier
// process are not in it. So a restart costs a client at most one retry,
// and leaves at most that one second's proofs open to one replay.
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
		// A proof is taken while its iat is within lifetime of now, either
		// way: until 2×lifetime after the earliest moment it can arrive.
		started: t.Unix(), lifetime: 2*lifetime + time.Second, max: max, now: now}
}

// Use implements ReplayCache.
func (m *MemoryReplay) Use(_ context.Context, key string, issued, _ time.Time) (bool, error) {
	if issued.Unix() < m.started {
		return false, nil
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
