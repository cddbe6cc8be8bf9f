package saml

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestReplayCache: an ID is accepted once until it expires; a full cache
// makes room from expired entries, and otherwise refuses (fails closed).
func TestReplayCache(t *testing.T) {
	now := time.Now()
	r := newReplayCache(3)
	if err := r.consume("a", now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := r.consume("a", now.Add(time.Minute), now.Add(59*time.Second)); !errors.Is(err, errReplayed) {
		t.Errorf("replay within expiry: %v", err)
	}
	if err := r.consume("a", now.Add(2*time.Minute), now.Add(time.Minute)); err != nil {
		t.Errorf("after expiry: %v", err)
	}
	r.consume("b", now.Add(time.Hour), now)
	r.consume("c", now.Add(time.Second), now)
	if err := r.consume("d", now.Add(time.Hour), now); !errors.Is(err, errCacheFull) {
		t.Errorf("full cache: %v", err)
	}
	if err := r.consume("d", now.Add(time.Hour), now.Add(2*time.Second)); err != nil {
		t.Errorf("full cache with an expired entry: %v", err)
	}
	if err := r.consume("b", now.Add(time.Hour), now.Add(3*time.Second)); !errors.Is(err, errReplayed) {
		t.Errorf("b after the purge: %v", err)
	}
	big := newReplayCache(DefaultReplayCacheSize)
	// One login a millisecond, each ID kept a second: about a thousand
	// are alive at any time, and the cache stays near that.
	for i := range 10000 {
		at := now.Add(time.Duration(i) * time.Millisecond)
		big.consume(fmt.Sprint(i), at.Add(time.Second), at)
	}
	if n := big.len(); n > 2100 {
		t.Errorf("%d entries: expired ones are not purged as it goes", n)
	}
}
