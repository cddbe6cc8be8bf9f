package saml

import (
	"errors"
	"sync"
	"time"
)

// DefaultReplayCacheSize bounds the IDs remembered. An entry lives a few
// minutes (an assertion is refused once issued more than
// saml.MaxIssueDelay ago) or, for a request ID, requestTTL; at 100,000
// entries that is several hundred logins a second, in about 10 MB.
const DefaultReplayCacheSize = 100_000

var (
	errReplayed  = errors.New("already used")
	errCacheFull = errors.New("replay cache full")
)

// replayCache remembers used IDs until they expire, in memory: it protects
// one process. Replicas behind a load balancer need a shared store, or a
// response replayed to another replica is accepted there.
type replayCache struct {
	mu      sync.Mutex
	m       map[string]time.Time
	max     int
	inserts int
}

func newReplayCache(max int) *replayCache {
	return &replayCache{m: map[string]time.Time{}, max: max}
}

// consume records key as used until expiry, or fails if it is recorded
// already. When the cache is full of live entries it fails closed: a
// replay must never get through because memory ran out.
func (r *replayCache) consume(key string, expiry, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if exp, ok := r.m[key]; ok && now.Before(exp) {
		return errReplayed
	}
	r.inserts++
	if len(r.m) >= r.max || r.inserts%1024 == 0 {
		for k, exp := range r.m {
			if !now.Before(exp) {
				delete(r.m, k)
			}
		}
	}
	if len(r.m) >= r.max {
		return errCacheFull
	}
	r.m[key] = expiry
	return nil
}

func (r *replayCache) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}
