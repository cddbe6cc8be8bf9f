package badger

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	bdg "github.com/dgraph-io/badger/v4"

	"github.com/portico-idp/portico/broker/store"
)

// Group commit. With SyncWrites, badger (v4.9.6) syncs the write-ahead log
// once per transaction, even when its writer takes several transactions
// from its channel at once (DB.writeRequests calls writeToLSM, which syncs,
// for each): eight concurrent refresh rotations cost eight syncs in a row,
// and the store floor's p50 was 7 ms at 8 workers. So the store commits
// the writes that arrive while a commit is in flight together, as one
// badger transaction: one sync for all of them, each still durable before
// its caller returns.
//
// The functions of a group run one after another in one transaction, so
// each sees the writes of those before it, exactly as if they had
// committed in that order. A function that fails may have written part of
// its work into the shared transaction, and badger has no savepoints: then
// the group's transaction is discarded and each function runs again alone,
// in order, in its own transaction (they must not carry state from one run
// to the next, as for a conflict's re-run). Failures are rare on the hot
// paths (a lost compare-and-swap, a name taken), so that slow path is too.
//
// The sync is the group's, not badger's: badger runs without SyncWrites
// and the leader calls DB.Sync once the group is applied, before any of
// its callers returns. Badger's own sync came before the commit's
// timestamp was marked done, so every read transaction started meanwhile
// waited for it (oracle.readTs): with eight refreshes at once, each of
// their reads waited for a sync. Now reads see a group's writes from the
// moment it is applied, a sync before the caller is answered. That is
// still "no acknowledged write lost": a caller learns of its write only
// after the sync, and a write that depends on something read (a reuse
// detected on a rotated family) commits in a later group, after the sync
// of everything it read. The lead is handed on after the sync, and the
// value-log GC takes syncMu, so no write starts a new memtable between a
// group's commit and its sync (DB.Sync syncs the current one's log only).
//
// No goroutine of its own: the caller at the head of the queue leads,
// commits a group, and hands the lead to the next caller waiting, so
// nothing outlives Close and no caller serves others' writes for long.

// maxGroup bounds the functions in one transaction, well inside badger's
// transaction limits for Portico's small records (beyond those, the group
// fails with ErrTxnTooBig and its functions run alone).
const maxGroup = 64

type groupOp struct {
	fn  func(*bdg.Txn) error
	err error
	// wake receives once: false when err is the op's result, true when
	// its caller is to lead the next group (which includes the op).
	wake chan bool
}

type committer struct {
	mu      sync.Mutex
	queue   []*groupOp
	leading bool
	// testHook, if set, is called with the size of each group before it
	// commits (tests hold a commit in it to let a queue build up).
	testHook func(n int)
	// syncHook, if set, is called before a committed group is synced.
	syncHook func()
	// syncErr, if set, stands for DB.Sync (tests of a failed sync).
	syncErr func() error
}

// errInGroup stands for one function's error inside a group's transaction.
var errInGroup = errors.New("badger: a function of the group failed")

// commit runs fn in a transaction, grouped with concurrent callers', and
// returns when its writes are committed (and synced, with SyncWrites).
func (s *Store) commit(fn func(*bdg.Txn) error) error {
	g := &s.group
	op := &groupOp{fn: fn, wake: make(chan bool, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, op)
	if g.leading {
		g.mu.Unlock()
		if lead := <-op.wake; !lead {
			return op.err
		}
		g.mu.Lock()
	}
	g.leading = true
	n := min(len(g.queue), maxGroup)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()

	func() {
		// A panic must not leave the lead taken and the group waiting
		// for ever: every op of the group fails instead.
		defer func() {
			if r := recover(); r != nil {
				for _, o := range batch {
					o.err = fmt.Errorf("badger: commit panicked: %v", r)
				}
			}
		}()
		s.syncMu.Lock()
		defer s.syncMu.Unlock()
		if !s.sync {
			s.commitGroup(batch)
			return
		}
		seq := s.pending.Load() + 1 // leaders take turns: no race
		s.pending.Store(seq)
		done := false
		defer func() {
			if !done {
				// A panic: whatever was applied is synced before the
				// group ends for WaitDurable's waiters.
				_ = s.dbSync()
			}
			s.groupEnded(seq)
		}()
		s.commitGroup(batch)
		s.syncGroup(batch)
		done = true
	}()
	for _, o := range batch {
		if o != op {
			o.wake <- false
		}
	}

	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].wake <- true // it leads the next group, of those waiting
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return op.err
}

// commitGroup sets each op's err: all run in one transaction, or, if one
// fails, each alone.
func (s *Store) commitGroup(batch []*groupOp) {
	if h := s.group.testHook; h != nil {
		h(len(batch))
	}
	if len(batch) == 1 {
		batch[0].err = s.commitOne(batch[0].fn)
		return
	}
	err := s.commitOne(func(txn *bdg.Txn) error {
		for _, o := range batch {
			if err := o.fn(txn); err != nil {
				return errInGroup
			}
		}
		return nil
	})
	if errors.Is(err, errInGroup) || errors.Is(err, bdg.ErrTxnTooBig) || errors.Is(err, store.ErrConflict) {
		for _, o := range batch {
			o.err = s.commitOne(o.fn)
			// Each its own badger write, which may start a new memtable
			// and leave the one before unsynced (DB.Sync syncs the
			// current one): sync each.
			if o.err == nil && s.sync {
				o.err = s.dbSync()
			}
		}
		return
	}
	for _, o := range batch {
		o.err = err // nil, or the commit's own failure, which is every op's
	}
}

// commitOne runs fn in a transaction of its own, again from scratch while
// the commit conflicts with another transaction.
func (s *Store) commitOne(fn func(*bdg.Txn) error) error {
	for range maxAttempts {
		err := s.db.Update(fn)
		if !errors.Is(err, bdg.ErrConflict) {
			return err
		}
	}
	return store.ErrConflict
}

// syncGroup makes the group's committed writes durable before any of its
// callers returns: one sync of the write-ahead log for the group. A
// failed sync fails every op that had succeeded; their writes may be
// visible, as with badger's own sync, which follows the apply.
func (s *Store) syncGroup(batch []*groupOp) {
	if !s.sync || !slices.ContainsFunc(batch, func(o *groupOp) bool { return o.err == nil }) {
		return // nothing written: what reads see is the last group's, synced
	}
	if h := s.group.syncHook; h != nil {
		h()
	}
	if err := s.dbSync(); err != nil {
		for _, o := range batch {
			if o.err == nil {
				o.err = err
			}
		}
	}
}
