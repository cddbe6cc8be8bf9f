package throttle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/portico-idp/portico/broker/store"
)

// RateKind is the record kind of StoreRate's counters.
const RateKind = "rate"

// Rate is a request rate: Limit requests Per period, of which all Limit
// may come at once. It is a token bucket holding Limit tokens and refilled
// at Limit per Per, kept as one time per key (the generic cell rate
// algorithm): unlike a fixed window, it never lets 2*Limit through across
// a window's edge.
//
// Two implementations, the same algorithm:
//
//   - StoreRate keeps the time in a store record, so that replicas share
//     one limit and a restart keeps it. Each allowed request costs a read
//     and a compare-and-swap write, and requests of one key from many
//     replicas contend for that record; a refused request costs only the
//     read. Choose it when the limit must hold across replicas, such as a
//     quota per client.
//   - LocalRate keeps it in memory: no store traffic, lost on restart, and
//     per process, so that n replicas allow n times the limit. Choose it
//     on a single node, or where a limit per replica (Limit/n each) is
//     good enough, such as shedding a runaway client at the token
//     endpoint.
//
// A rate is not a defence against guessing: it refuses the right guess as
// readily as a wrong one and forgives failures. Use a Limiter for that.
// A rate keyed by an unauthenticated client_id lets anyone spend that
// client's budget; key it after client authentication, and throttle
// failed authentications with a Limiter.
type Rate struct {
	Limit int
	Per   time.Duration
}

// interval is the time one request uses up: Per/Limit.
func (r Rate) interval() (time.Duration, error) {
	if r.Limit <= 0 || r.Per <= 0 {
		return 0, fmt.Errorf("throttle: rate %d per %v: both must be positive", r.Limit, r.Per)
	}
	iv := r.Per / time.Duration(r.Limit)
	if iv <= 0 {
		return 0, fmt.Errorf("throttle: rate %d per %v: finer than a nanosecond", r.Limit, r.Per)
	}
	return iv, nil
}

// take decides a request at now for a key whose theoretical arrival time
// (when the bucket would be full again) is tat, and returns the new one.
func (r Rate) take(iv time.Duration, tat, now time.Time) (time.Time, Decision) {
	next := latest(tat, now).Add(iv)
	if over := next.Sub(now) - r.Per; over > 0 {
		return tat, deny(over)
	}
	return next, allowed
}

// StoreRate is a Rate kept in store records; see Rate for when to choose
// it. It is safe for concurrent use.
type StoreRate struct {
	recs Records
	rate Rate
	iv   time.Duration
	now  func() time.Time
}

// NewRate returns a StoreRate; now is the clock (time.Now outside tests).
func NewRate(recs Records, r Rate, now func() time.Time) (*StoreRate, error) {
	iv, err := r.interval()
	if err != nil {
		return nil, err
	}
	if recs == nil || now == nil {
		return nil, errors.New("throttle: new rate: no store or no clock")
	}
	return &StoreRate{recs: recs, rate: r, iv: iv, now: now}, nil
}

// bucket is a StoreRate record's value.
type bucket struct {
	TAT time.Time `json:"tat"`
}

// Allow decides one request of k and, if allowed, counts it. An error
// means the store failed or the key was contended past all retries.
func (s *StoreRate) Allow(ctx context.Context, k Key) (Decision, error) {
	if err := k.validate(); err != nil {
		return Decision{}, err
	}
	var d Decision
	err := modify(ctx, s.recs, RateKind, k.recordKey(), func(r store.Record) (store.Record, bool, error) {
		var b bucket
		if r.Version != 0 {
			if err := json.Unmarshal(r.Value, &b); err != nil {
				return r, false, fmt.Errorf("decode record: %w", err)
			}
		}
		tat, dd := s.rate.take(s.iv, b.TAT, s.now())
		if d = dd; !d.Allowed {
			return r, false, nil
		}
		v, err := json.Marshal(bucket{TAT: tat})
		if err != nil {
			return r, false, fmt.Errorf("encode record: %w", err)
		}
		// From tat on the bucket is full: the record is no longer needed.
		return store.Record{Value: v, Expiry: tat}, true, nil
	})
	if err != nil {
		return Decision{}, fmt.Errorf("throttle: rate of %s: %w", k.Scope, err)
	}
	return d, nil
}

// LocalRate is a Rate kept in this process's memory; see Rate for when to
// choose it. It is safe for concurrent use.
type LocalRate struct {
	rate Rate
	iv   time.Duration
	now  func() time.Time

	mu  sync.Mutex
	tat map[Key]time.Time
	// sweepAt is the map size that triggers dropping full buckets, so
	// that keys seen once do not pile up.
	sweepAt int
}

// minSweep is the smallest map size worth sweeping.
const minSweep = 1024

// NewLocalRate returns a LocalRate; now is the clock (time.Now outside
// tests).
func NewLocalRate(r Rate, now func() time.Time) (*LocalRate, error) {
	iv, err := r.interval()
	if err != nil {
		return nil, err
	}
	if now == nil {
		return nil, errors.New("throttle: new local rate: no clock")
	}
	return &LocalRate{rate: r, iv: iv, now: now, tat: map[Key]time.Time{}, sweepAt: minSweep}, nil
}

// Allow decides one request of k and, if allowed, counts it. It never
// fails; it has Allow's signature of StoreRate so that either can be used.
func (l *LocalRate) Allow(_ context.Context, k Key) (Decision, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	tat, d := l.rate.take(l.iv, l.tat[k], now)
	if d.Allowed {
		l.tat[k] = tat
	}
	if len(l.tat) >= l.sweepAt {
		for k, t := range l.tat {
			if !t.After(now) { // full again: the same as absent
				delete(l.tat, k)
			}
		}
		l.sweepAt = max(minSweep, 2*len(l.tat))
	}
	return d, nil
}
