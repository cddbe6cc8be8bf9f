package throttle

import (
	"sync"
	"time"
)

// maxClean bounds the keys a clean memory holds: keys come from requests
// (a client id and an address), so an attacker could name many. When it is
// full it is emptied, which costs a read per key again, nothing more.
const maxClean = 1 << 14

// cleanMemory remembers keys that had no record when last read: Peek then
// decides them without a read (issue 24: the client-authentication peek
// was a read transaction at every token request, each waiting for the
// commits in flight, for keys that almost never have failures).
//
// What it may miss is bounded. A write through this Limiter forgets its
// key at once (update, under gen, so that a read overlapping a write does
// not remember a stale absence); a write by another process sharing the
// store (a replica) is seen within ttl.
type cleanMemory struct {
	ttl time.Duration

	mu  sync.Mutex
	gen uint64 // advanced by every write through the Limiter
	m   map[string]time.Time
}

// WithCleanMemory returns a copy of l whose Peek remembers, for ttl, the
// keys it found without failures, and decides them again without reading
// the store. Failures recorded through l (and its copies made after this
// call) are seen at once; failures recorded by another Limiter on the same
// store, such as another replica's, within ttl. For a Limiter where a
// guess missed for ttl is harmless: client secrets of 256 bits, not
// passwords.
func (l *Limiter) WithCleanMemory(ttl time.Duration) *Limiter {
	c := *l
	c.clean = &cleanMemory{ttl: ttl, m: map[string]time.Time{}}
	return &c
}

// known says whether name was found clean less than ttl before now, and
// the generation to pass to remember after a read.
func (c *cleanMemory) known(name string, now time.Time) (ok bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.m[name]
	return ok && now.Before(until), c.gen
}

// remember records names as clean at now, unless a write was made since
// gen: what was read may be older than it.
func (c *cleanMemory) remember(names []string, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.m)+len(names) > maxClean {
		clear(c.m)
	}
	for _, n := range names {
		c.m[n] = now.Add(c.ttl)
	}
}

// forget drops name after a write to it.
func (c *cleanMemory) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, name)
}
