package throttle

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// allower is what StoreRate and LocalRate have in common.
type allower interface {
	Allow(ctx context.Context, k Key) (Decision, error)
}

// TestRate runs one schedule against both implementations.
func TestRate(t *testing.T) {
	type step struct {
		advance time.Duration
		want    Decision
	}
	tests := []struct {
		name  string
		rate  Rate
		steps []step
	}{
		{"burst, then one per interval", Rate{Limit: 2, Per: 2 * time.Second}, []step{
			{0, allowed},
			{0, allowed},
			{0, wait(time.Second)},
			{500 * time.Millisecond, wait(time.Second)}, // 0.5s rounds up
			{500 * time.Millisecond, allowed},
			{0, wait(time.Second)},
			{time.Hour, allowed}, // idle time refills to Limit, no more
			{0, allowed},
			{0, wait(time.Second)},
		}},
		{"one a minute", Rate{Limit: 1, Per: time.Minute}, []step{
			{0, allowed},
			{0, wait(time.Minute)},
			{59*time.Second + 500*time.Millisecond, wait(time.Second)},
			{500 * time.Millisecond, allowed},
		}},
	}
	impls := map[string]func(t *testing.T, r Rate, c *clock) allower{
		"store": func(t *testing.T, r Rate, c *clock) allower {
			s, err := NewRate(openStore(t, ""), r, c.now)
			must(t, err, "NewRate")
			return s
		},
		"local": func(t *testing.T, r Rate, c *clock) allower {
			l, err := NewLocalRate(r, c.now)
			must(t, err, "NewLocalRate")
			return l
		},
	}
	for name, open := range impls {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				c := newClock()
				a := open(t, tt.rate, c)
				client, other := Key{Scope: "client", ID: "app"}, Key{Scope: "client", ID: "other"}
				for i, s := range tt.steps {
					c.advance(s.advance)
					d, err := a.Allow(t.Context(), client)
					wantDecision(t, fmt.Sprintf("step %d", i), d, err, s.want)
				}
				d, err := a.Allow(t.Context(), other)
				wantDecision(t, "another key", d, err, allowed)
			})
		}
	}
}

// TestStoreRateShared: concurrent requests, from two limiters on one
// store as from two replicas, get exactly the limit between them.
func TestStoreRateShared(t *testing.T) {
	st, c := openStore(t, t.TempDir()), newClock()
	r := Rate{Limit: 20, Per: time.Hour}
	var replicas [2]*StoreRate
	for i := range replicas {
		var err error
		replicas[i], err = NewRate(st, r, c.now)
		must(t, err, "NewRate")
	}
	k := Key{Scope: "client", ID: "app"}
	const n = 50
	var wg sync.WaitGroup
	results := make(chan Decision, n)
	for i := range n {
		wg.Go(func() {
			d, err := replicas[i%2].Allow(t.Context(), k)
			if err != nil {
				t.Errorf("Allow: %v", err)
			}
			results <- d
		})
	}
	wg.Wait()
	close(results)
	passed := 0
	for d := range results {
		if d.Allowed {
			passed++
		}
	}
	if passed != r.Limit {
		t.Fatalf("%d of %d requests allowed, want %d", passed, n, r.Limit)
	}
	// The next token comes one interval (3m) after the first request.
	d, err := replicas[0].Allow(t.Context(), k)
	wantDecision(t, "after the burst", d, err, wait(3*time.Minute))
}

// TestLocalRateSweep: keys whose bucket is full again are dropped.
func TestLocalRateSweep(t *testing.T) {
	c := newClock()
	l, err := NewLocalRate(Rate{Limit: 1, Per: time.Second}, c.now)
	must(t, err, "NewLocalRate")
	for i := range minSweep - 1 {
		if _, err := l.Allow(t.Context(), Key{Scope: "client", ID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	c.advance(time.Second)
	d, err := l.Allow(t.Context(), Key{Scope: "client", ID: "last"})
	wantDecision(t, "last", d, err, allowed)
	if len(l.tat) != 1 {
		t.Errorf("%d keys kept, want the 1 not yet full", len(l.tat))
	}
}

func TestRateInvalid(t *testing.T) {
	for _, r := range []Rate{{0, time.Second}, {1, 0}, {-1, time.Second}, {10, 5 * time.Nanosecond}} {
		if _, err := NewLocalRate(r, time.Now); err == nil {
			t.Errorf("NewLocalRate(%+v): no error", r)
		}
		if _, err := NewRate(openStore(t, ""), r, time.Now); err == nil {
			t.Errorf("NewRate(%+v): no error", r)
		}
	}
}
