package server

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-idp/portico/broker/metrics"
	"github.com/portico-idp/portico/broker/store"
)

// clientCacheTTL bounds how long a cached client is trusted without a
// change being known: the replica sync's notification (postgres) or a
// write through this process empties the cache at once, and this bounds
// the rest (a notification that cannot arrive; a pooler that drops
// LISTEN). A client deleted, or its secret replaced, elsewhere stops
// working here within it.
const clientCacheTTL = time.Second

// clientCache answers GetClient from memory (issue 24: every token,
// introspection and revocation request read its client, one read
// transaction that waits for the commits in flight). Everything else goes
// to the store.
type clientCache struct {
	store.Store
	now func() time.Time
	ttl atomic.Int64 // a time.Duration: clientCacheTTL but in tests

	mu  sync.Mutex
	gen uint64 // advanced by each invalidation
	m   map[string]cachedClient
}

// cachedClient is a client as JSON, decoded afresh for each caller, who
// may change what it gets (the store's contract: a copy).
type cachedClient struct {
	raw   []byte
	until time.Time
}

var _ metrics.WriteChecker = (*clientCache)(nil)

func newClientCache(st store.Store) *clientCache {
	c := &clientCache{Store: st, now: time.Now, m: map[string]cachedClient{}}
	c.ttl.Store(int64(clientCacheTTL))
	return c
}

func (c *clientCache) GetClient(ctx context.Context, id string) (store.Client, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[id]
	gen := c.gen
	c.mu.Unlock()
	var cl store.Client
	if ok && now.Before(e.until) && json.Unmarshal(e.raw, &cl) == nil {
		return cl, nil
	}
	// A read that may have seen a write not yet durable is passed on to
	// the request's mark (store.ReadMark) and not cached: later requests
	// would get it with no mark.
	rctx, mark := store.WithReadMark(ctx)
	cl, err := c.Store.GetClient(rctx, id)
	if seq := mark.Seq(); seq > 0 {
		store.NoteRead(ctx, seq)
		return cl, err
	}
	if err != nil {
		return cl, err // a miss is not cached: a client created elsewhere works at once
	}
	if raw, err := json.Marshal(cl); err == nil {
		c.mu.Lock()
		// Not if a change was made meanwhile: what was read may be older.
		if c.gen == gen {
			c.m[id] = cachedClient{raw: raw, until: now.Add(time.Duration(c.ttl.Load()))}
		}
		c.mu.Unlock()
	}
	return cl, nil
}

// invalidate forgets every cached client; reads in flight do not refill.
func (c *clientCache) invalidate() {
	c.mu.Lock()
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}

func (c *clientCache) CreateClient(ctx context.Context, cl store.Client) error {
	defer c.invalidate()
	at, err := c.afterDeletion(ctx, cl.ID)
	if err != nil {
		return err
	}
	if at.After(cl.CreatedAt) {
		cl.CreatedAt = at
	}
	return c.Store.CreateClient(ctx, cl)
}

func (c *clientCache) UpdateClient(ctx context.Context, cl store.Client) error {
	defer c.invalidate()
	return c.Store.UpdateClient(ctx, cl)
}

// A deleted client's tokens are dead to a client created again with its id
// because they are older than it (protocol: clientStands). An access
// token's iat is in whole seconds, so a client created again within the
// second its namesake was deleted in could not be told from it: the
// deletion leaves a note for two seconds, and a creation that finds one
// waits for the next second and is dated from then. Real time, as the
// token service's.
const deletedNoteKind = "client_deleted"

func (c *clientCache) DeleteClient(ctx context.Context, id string) error {
	defer c.invalidate()
	now := time.Now()
	// Best effort: without the note, only a creation within the same
	// second is ambiguous.
	_ = c.Store.PutRecord(ctx, store.Record{Kind: deletedNoteKind, Key: id,
		Value: []byte(now.UTC().Format(time.RFC3339Nano)), Expiry: now.Add(2 * time.Second)})
	return c.Store.DeleteClient(ctx, id)
}

// afterDeletion waits, if a client of id was deleted within the current
// second, until the next, and returns when the new client may be dated.
func (c *clientCache) afterDeletion(ctx context.Context, id string) (time.Time, error) {
	rec, err := c.Store.GetRecord(ctx, deletedNoteKind, id)
	if err != nil {
		return time.Time{}, nil // none (or unreadable: as without the note)
	}
	deleted, err := time.Parse(time.RFC3339Nano, string(rec.Value))
	if err != nil {
		return time.Time{}, nil
	}
	next := deleted.Truncate(time.Second).Add(time.Second)
	if wait := time.Until(next); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
	return time.Now().UTC(), nil
}

// CheckWrites passes the readiness probe's question on.
func (c *clientCache) CheckWrites(ctx context.Context) error {
	if w, ok := c.Store.(metrics.WriteChecker); ok {
		return w.CheckWrites(ctx)
	}
	return nil
}
