package store

import (
	"context"
	"sync"
	"sync/atomic"
)

// A store may let reads see a write a moment before it is durable: the
// badger store with sync_writes commits a group of writes, then syncs it
// (reads waiting for every sync made each refresh wait for several, issue
// 24). The writer is answered only after the sync; but another request
// that read the write must not be answered before it either, or a crash
// in between would take back what that answer stood on (a session "already
// ended" by a logout the crash undoes). So such a store notes, in the
// request's ReadMark, the newest write its reads may have seen that is not
// yet durable, and the server waits for it (Syncer) before it answers.

// ReadMark collects, for one request, the newest not-yet-durable write its
// reads may have seen. Safe for concurrent use.
type ReadMark struct {
	seq atomic.Uint64

	mu    sync.Mutex
	after []func()
}

type readMarkKey struct{}

// WithReadMark returns ctx carrying a new ReadMark, and the mark.
func WithReadMark(ctx context.Context) (context.Context, *ReadMark) {
	m := new(ReadMark)
	return context.WithValue(ctx, readMarkKey{}, m), m
}

// NoteRead records, in ctx's ReadMark if it has one, that a read may have
// seen writes up to seq that are not yet durable.
func NoteRead(ctx context.Context, seq uint64) {
	m, _ := ctx.Value(readMarkKey{}).(*ReadMark)
	if m == nil {
		return
	}
	for {
		cur := m.seq.Load()
		if seq <= cur || m.seq.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// Seq is the newest write noted, 0 if none.
func (m *ReadMark) Seq() uint64 { return m.seq.Load() }

// Syncer is a store whose reads may see writes before they are durable.
type Syncer interface {
	// WaitDurable returns once the writes up to seq (a ReadMark's) are
	// durable, or why they may not be.
	WaitDurable(ctx context.Context, seq uint64) error
}

// AfterAnswer runs fn once the answer to ctx's request is known to go out:
// at once without a ReadMark in ctx (nothing holds the answer back), else
// when the wait for the mark has succeeded (Answered), and never if the
// answer was replaced because it failed. For what claims the answer was
// given: an audit event of tokens issued.
func AfterAnswer(ctx context.Context, fn func()) {
	m, _ := ctx.Value(readMarkKey{}).(*ReadMark)
	if m == nil {
		fn()
		return
	}
	m.mu.Lock()
	m.after = append(m.after, fn)
	m.mu.Unlock()
}

// Answered runs what AfterAnswer put off, if ok (the answer goes out), or
// drops it; once.
func (m *ReadMark) Answered(ok bool) {
	m.mu.Lock()
	after := m.after
	m.after = nil
	m.mu.Unlock()
	if ok {
		for _, fn := range after {
			fn()
		}
	}
}
