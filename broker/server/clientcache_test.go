package server

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/store/badger"
)

// countingStore counts GetClient calls that reach the store.
type countingStore struct {
	store.Store
	reads int
}

func (s *countingStore) GetClient(ctx context.Context, id string) (store.Client, error) {
	s.reads++
	return s.Store.GetClient(ctx, id)
}

// TestClientCache: a client is read from the store once per TTL; a write
// through the cache, or invalidate (the replica sync's notification),
// makes the next read go to the store; a missing client is not cached;
// each caller gets its own copy.
func TestClientCache(t *testing.T) {
	st, err := badger.Open(badger.Options{InMemory: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	inner := &countingStore{Store: st}
	c := newClientCache(inner)
	now := time.Now()
	c.now = func() time.Time { return now }
	get := func(want string, reads int) store.Client {
		t.Helper()
		cl, err := c.GetClient(ctx, "app")
		if err != nil || cl.Name != want || inner.reads != reads {
			t.Fatalf("GetClient = %q, %v after %d store reads; want %q after %d", cl.Name, err, inner.reads, want, reads)
		}
		return cl
	}
	if _, err := c.GetClient(ctx, "app"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing client: %v", err)
	}
	if err := c.CreateClient(ctx, store.Client{ID: "app", Name: "one", RedirectURIs: []string{"https://a/cb"}}); err != nil {
		t.Fatal(err) // the miss above was not cached
	}
	get("one", 2)
	cl := get("one", 2) // from memory
	cl.RedirectURIs[0] = "https://evil/cb"
	if got := get("one", 2); !slices.Equal(got.RedirectURIs, []string{"https://a/cb"}) {
		t.Errorf("a caller's change reached the cache: %q", got.RedirectURIs)
	}
	cl.RedirectURIs[0], cl.Name = "https://a/cb", "two"
	if err := c.UpdateClient(ctx, cl); err != nil {
		t.Fatal(err)
	}
	get("two", 3) // the write emptied the cache
	get("two", 3)
	// Changed behind the cache's back, as another replica does.
	cl, _ = st.GetClient(ctx, "app")
	cl.Name = "three"
	if err := st.UpdateClient(ctx, cl); err != nil {
		t.Fatal(err)
	}
	get("two", 3) // not known yet
	c.invalidate()
	get("three", 4)
	now = now.Add(clientCacheTTL)
	get("three", 5) // expired
	if err := c.DeleteClient(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetClient(ctx, "app"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted client: %v", err)
	}
}

// undurableReads is a store whose reads may see writes not yet durable
// (as badger's, during a group's sync): each read notes group 5.
type undurableReads struct {
	*countingStore
}

func (u undurableReads) GetClient(ctx context.Context, id string) (store.Client, error) {
	store.NoteRead(ctx, 5)
	return u.countingStore.GetClient(ctx, id)
}

// TestClientCacheUndurable: a client read that may have seen a write not
// yet durable marks the request that read it, and is not cached, so that
// no later request gets it without the mark.
func TestClientCacheUndurable(t *testing.T) {
	st, err := badger.Open(badger.Options{InMemory: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateClient(t.Context(), store.Client{ID: "app", Name: "one", RedirectURIs: []string{"https://a/cb"}}); err != nil {
		t.Fatal(err)
	}
	inner := undurableReads{&countingStore{Store: st}}
	c := newClientCache(inner)
	for i := range 2 {
		ctx, mark := store.WithReadMark(t.Context())
		if _, err := c.GetClient(ctx, "app"); err != nil {
			t.Fatal(err)
		}
		if mark.Seq() != 5 {
			t.Fatalf("read %d: the request's mark is %d, want 5", i, mark.Seq())
		}
	}
	if inner.reads != 2 {
		t.Fatalf("%d store reads, want 2: an undurable read was cached", inner.reads)
	}
}
