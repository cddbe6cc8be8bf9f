package throttle

import (
	"sync"
	"time"
)

// maxUnrecorded bounds the keys an unrecorded memory holds.
const maxUnrecorded = 1 << 14

// unrecorded keeps the failures Fail could not store: a store that takes
// reads but refuses writes (a full disk, a database refusing writes) would
// otherwise leave Peek allowing every guess, since client authentication
// peeks, verifies, and only then records the failure — unlimited guessing,
// the right secret told by its 200 (found by a black-box attack). Peek and
// Check count them with the stored ones, in this process, until they would
// have expired.
//
// When it is full, entries that stopped mattering go first, then the one
// with the fewest failures: junk keys an attacker sprays to push a victim's
// count out have one failure each, a key being guessed at has many.
type unrecorded struct {
	mu sync.Mutex
	m  map[string]unrecordedEntry
}

type unrecordedEntry struct {
	s      state
	expiry time.Time // under the policy of the key's scope
}

func newUnrecorded() *unrecorded { return &unrecorded{m: map[string]unrecordedEntry{}} }

// add counts one failure of name at now, under policy p.
func (u *unrecorded) add(name string, p Policy, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	e, ok := u.m[name]
	if ok && !now.Before(e.expiry) {
		e, ok = unrecordedEntry{}, false
	}
	if !ok && len(u.m) >= maxUnrecorded {
		u.evict(now)
	}
	e.s.Failures++
	e.s.Last = latest(e.s.Last, now)
	e.expiry = e.s.expiry(p)
	u.m[name] = e
}

// evict makes room for one entry.
func (u *unrecorded) evict(now time.Time) {
	var victim string
	var least unrecordedEntry
	for k, e := range u.m {
		if !now.Before(e.expiry) {
			delete(u.m, k)
			continue
		}
		if victim == "" || e.s.Failures < least.s.Failures ||
			(e.s.Failures == least.s.Failures && e.expiry.Before(least.expiry)) {
			victim, least = k, e
		}
	}
	if len(u.m) >= maxUnrecorded {
		delete(u.m, victim)
	}
}

// of returns name's unrecorded failures, ok false if none still matter at
// now.
func (u *unrecorded) of(name string, now time.Time) (state, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	e, ok := u.m[name]
	if !ok {
		return state{}, false
	}
	if !now.Before(e.expiry) {
		delete(u.m, name)
		return state{}, false
	}
	return e.s, true
}

// with adds what is unrecorded of name to s, a stored state.
func (u *unrecorded) with(s state, name string, now time.Time) state {
	m, ok := u.of(name, now)
	if !ok {
		return s
	}
	s.Failures += m.Failures
	s.Last = latest(s.Last, m.Last)
	return s
}

// forget drops name's unrecorded failures: a success proved its
// credential.
func (u *unrecorded) forget(name string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.m, name)
}
