package throttle

import (
	"sync"
	"time"
)

// maxUnrecorded bounds the keys an unrecorded memory holds. When it is
// full, the entries that stopped mattering go first; then it is emptied.
const maxUnrecorded = 1 << 14

// unrecorded keeps the failures Fail could not store: a store that takes
// reads but refuses writes (a full disk, a database refusing writes) would
// otherwise leave Peek allowing every guess, since client authentication
// peeks, verifies, and only then records the failure — unlimited guessing,
// the right secret told by its 200 (found by a black-box attack). Peek and
// Check count them with the stored ones, in this process, until they would
// have expired.
type unrecorded struct {
	mu sync.Mutex
	m  map[string]state
}

// add counts one failure of name at now, under policy p.
func (u *unrecorded) add(name string, p Policy, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.m[name]
	if !now.Before(s.expiry(p)) {
		s = state{}
	}
	s.Failures++
	s.Last = latest(s.Last, now)
	if _, ok := u.m[name]; !ok && len(u.m) >= maxUnrecorded {
		for k, old := range u.m {
			if !now.Before(old.expiry(p)) {
				delete(u.m, k)
			}
		}
		if len(u.m) >= maxUnrecorded {
			clear(u.m)
		}
	}
	u.m[name] = s
}

// of returns name's unrecorded failures, ok false if there are none that
// still matter under p at now.
func (u *unrecorded) of(name string, p Policy, now time.Time) (state, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	s, ok := u.m[name]
	if !ok {
		return state{}, false
	}
	if !now.Before(s.expiry(p)) {
		delete(u.m, name)
		return state{}, false
	}
	return s, true
}

// with adds what is unrecorded of name to s, a stored state.
func (u *unrecorded) with(s state, name string, p Policy, now time.Time) state {
	m, ok := u.of(name, p, now)
	if !ok {
		return s
	}
	s.Failures += m.Failures
	s.Last = latest(s.Last, m.Last)
	return s
}
