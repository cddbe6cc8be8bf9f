package identity

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/store/badger"
	"github.com/portico-idp/portico/sdk"
)

// TestResolveConcurrentLogins: many logins of one person at once all
// resolve to the user (each used to write its LastLogin by
// compare-and-swap, and 25 at once ran out of retries: 503s, found by a
// black-box test), and the latest time is kept.
func TestResolveConcurrentLogins(t *testing.T) {
	st, err := badger.Open(badger.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	u := store.User{ID: "u1", Name: "Alice"}
	if err := st.CreateUser(ctx, u, store.Identity{ConnectorID: "c", Subject: "alice", UserID: "u1", Name: "Alice"}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	clock := time.Now().Truncate(time.Microsecond)
	now := func() time.Time { // every login a microsecond later
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Microsecond)
		return clock
	}
	s := New(Options{Now: now}, st, slog.New(slog.DiscardHandler), nil, nil)
	a, err := s.Admit("c", sdk.Identity{Subject: "alice", Name: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 25)
	for range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.Resolve(ctx, "c", a, true)
			if err == nil && got.ID != "u1" {
				t.Errorf("resolved to %q", got.ID)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a concurrent login: %v", err)
		}
	}
	stored, err := st.GetUser(ctx, "u1")
	if err != nil || stored.LastLogin.IsZero() || stored.LastLogin.After(clock) {
		t.Errorf("LastLogin %v (%v), want set, at most %v", stored.LastLogin, err, clock)
	}
}
