// Package badger is the embedded store.Store backend: one data directory and
// no database server, for a single Portico process.
//
// Records are JSON under prefixed keys, with secondary index keys beside
// them (identities by user, local accounts by username and email, refresh
// families by user). Every change that touches several keys is one badger
// transaction, so a record and its indexes never disagree. Badger's
// transactions are optimistic: two that touch the same key conflict at
// commit. Every write re-runs on such a conflict, and the re-run finds the
// winner's Version, so each compare-and-swap has exactly one winner.
package badger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bdg "github.com/dgraph-io/badger/v4"

	"github.com/portico-idp/portico/broker/store"
)

// ErrInUse is returned by Open when another process, or another Store in
// this one, holds the directory: badger allows one writer per directory.
var ErrInUse = errors.New("data directory is in use by another portico process")

// Options configures Open.
type Options struct {
	// Dir holds the data; it is created if missing. Ignored if InMemory.
	Dir string
	// InMemory keeps everything in memory and loses it on Close (tests,
	// demos).
	InMemory bool
	// SyncWrites syncs every commit before it returns, so that a power cut
	// loses no acknowledged write, at the cost of write latency. The group
	// commit does the sync (group.go), not badger's commit, so a write is
	// visible to reads just before it is on disk, and reads never wait
	// for a sync.
	SyncWrites bool
	// Logger receives badger's warnings and errors; nil means slog.Default().
	Logger *slog.Logger
	// MinFreeSpace is the free space, in bytes, below which the store
	// refuses writes (store.ErrUnavailable) and Open refuses to start,
	// because Badger would die of SIGBUS on a full filesystem (space.go);
	// zero means DefaultMinFreeSpace. Ignored if InMemory.
	MinFreeSpace uint64
	// SpaceCheckInterval is how long a measure of the free space is
	// trusted; zero means DefaultSpaceCheckInterval.
	SpaceCheckInterval time.Duration
}

// Store is a store.Store kept in badger. It is safe for concurrent use.
type Store struct {
	db    *bdg.DB
	log   *slog.Logger
	space *spaceGuard   // nil in memory
	stop  chan struct{} // closed by Close to stop the value-log GC
	done  chan struct{} // closed when the value-log GC has stopped

	closeOnce sync.Once
	closeErr  error
	// closed is set by Close: when Close leaves the database open (no
	// room to flush it), the store must still stop serving.
	closed atomic.Bool
	group  committer // group commit (group.go)
	// sync: badger runs without SyncWrites and the group commit syncs
	// once a group is applied (group.go: reads wait for no sync).
	sync bool
	// syncMu keeps badger's own writes (value-log GC) from starting a
	// memtable between a group's commit and its sync: DB.Sync syncs the
	// current memtable's log only.
	syncMu sync.Mutex
	// Group numbers, with sync: pending is the newest group that may be
	// applied (set before its commit), synced the newest that ended
	// durable. A read while pending > synced may have seen a write not
	// yet durable (store.ReadMark). syncEnd is closed, and replaced, when
	// a group ends (under syncEndMu).
	pending, synced atomic.Uint64
	syncEndMu       sync.Mutex
	syncEnd         chan struct{}
	// broken is the first failed sync: sticky, since after a failed fsync
	// Linux may report the next one clean without the data on disk (as
	// PostgreSQL, which stops), so nothing is trusted to be durable again
	// until a restart replays the log.
	broken atomic.Pointer[error]
}

var _ store.Syncer = (*Store)(nil)

// WaitDurable implements store.Syncer: it waits for the end of the group
// in flight, which every group reaches, synced, before its leader hands
// on; it commits nothing of its own.
func (s *Store) WaitDurable(ctx context.Context, seq uint64) error {
	for {
		if err := s.syncFailed(); err != nil {
			return err
		}
		s.syncEndMu.Lock()
		if s.synced.Load() >= seq {
			s.syncEndMu.Unlock()
			return nil
		}
		end := s.syncEnd
		s.syncEndMu.Unlock()
		select {
		case <-end:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// groupEnded records the end of group seq: durable unless a sync failed.
func (s *Store) groupEnded(seq uint64) {
	s.syncEndMu.Lock()
	defer s.syncEndMu.Unlock()
	if s.broken.Load() == nil {
		s.synced.Store(seq)
	}
	close(s.syncEnd)
	s.syncEnd = make(chan struct{})
}

// syncFailed is the failed sync that stopped the store's writes, or nil.
func (s *Store) syncFailed() error {
	if p := s.broken.Load(); p != nil {
		return fmt.Errorf("%w: badger: a sync failed, nothing written since is trusted to be on disk; restart portico: %w",
			store.ErrUnavailable, *p)
	}
	return nil
}

// dbSync syncs, and on failure stops the store's writes for good.
func (s *Store) dbSync() error {
	sync := s.db.Sync
	if h := s.group.syncErr; h != nil {
		sync = h
	}
	err := sync()
	if err != nil {
		err = fmt.Errorf("badger: sync: %w", err)
		if s.broken.CompareAndSwap(nil, &err) { // one line, however many groups fail
			s.log.Error("badger: a sync failed: refusing writes until a restart", "err", err)
		}
	}
	return err
}

// errClosed is the error of an operation after Close.
var errClosed = errors.New("store closed")

var _ store.Store = (*Store)(nil)

const (
	// Sizes for a small server. Badger's defaults reached 205 MB RSS on
	// Portico's test machines; these stayed near 100 MB.
	memTableSize     = 8 << 20
	numMemTables     = 2
	blockCacheSize   = 16 << 20
	indexCacheSize   = 8 << 20
	valueLogFileSize = 64 << 20
	// Badger's defaults, set explicitly because the free-space floor is
	// computed from them (space.go).
	numLevelZeroTables = 5
	baseLevelSize      = 10 << 20

	gcInterval = 5 * time.Minute
	// gcDiscardRatio: rewrite a value-log file once half of it is garbage.
	gcDiscardRatio = 0.5
	// maxAttempts bounds re-runs of a transaction that keeps conflicting;
	// each conflict means another writer committed, so giving up then is
	// losing a race: store.ErrConflict.
	maxAttempts = 64
)

// Open opens (creating if needed) the store in opts.Dir, or in memory.
//
// Opening writes: a new write-ahead log and value-log file, and a table for
// each memtable left by the last run, all through mmap. On a filesystem
// below the free-space floor that could kill the process, so Open refuses
// instead, with an error wrapping store.ErrUnavailable that says how much
// is free: the server does not start until there is room.
func Open(opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	dir := opts.Dir
	if opts.InMemory {
		dir = "" // badger refuses a directory in memory mode
	} else if dir == "" {
		return nil, errors.New("badger: open: no data directory given")
	}
	var space *spaceGuard
	if !opts.InMemory {
		// Badger would create it; the free space is measured on it first.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("badger: open %s: %w", dir, err)
		}
		space = newSpaceGuard(dir, opts.MinFreeSpace, opts.SpaceCheckInterval, log)
		if err := space.check(); err != nil {
			return nil, fmt.Errorf("badger: open %s: not starting: %w", dir, err)
		}
	}
	bo := bdg.DefaultOptions(dir).
		WithInMemory(opts.InMemory).
		WithSyncWrites(false). // the group commit syncs (group.go)
		WithLogger(slogAdapter{log.With("component", "badger")}).
		WithMemTableSize(memTableSize).
		WithNumMemtables(numMemTables).
		WithBlockCacheSize(blockCacheSize).
		WithIndexCacheSize(indexCacheSize).
		WithValueLogFileSize(valueLogFileSize).
		WithNumLevelZeroTables(numLevelZeroTables).
		WithBaseLevelSize(baseLevelSize)
	db, err := bdg.Open(bo)
	if err != nil {
		// Badger formats the flock error into its message, losing the
		// error chain, so its text is all there is to recognise.
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("badger: open %s: %w", opts.Dir, ErrInUse)
		}
		return nil, fmt.Errorf("badger: open %s: %w", opts.Dir, err)
	}
	if space != nil {
		space.mu.Lock()
		space.compaction = levelRoom(db)
		space.mu.Unlock()
	}
	s := &Store{db: db, log: log, space: space, stop: make(chan struct{}), done: make(chan struct{}), sync: opts.SyncWrites && !opts.InMemory,
		syncEnd: make(chan struct{})}
	if opts.InMemory {
		close(s.done) // no value log to collect
	} else {
		go s.collectGarbage()
	}
	return s, nil
}

// Close stops the value-log GC and closes the database. Calling it again
// returns the first call's result.
//
// Badger's Close writes the active memtable out as a table, through mmap.
// Without room for that above the floor, Close leaves the database open
// instead (its files, lock and memory stay until the process exits) and
// returns nil: every committed write is in the write-ahead log, which the
// next Open replays, as after a kill.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		<-s.done
		if s.space != nil {
			// Only the flush's own room: below the floor writes have
			// stopped already, and a flush that fits is better than
			// leaving the log to replay.
			if err := s.space.room(flushRoom); err != nil {
				s.log.Error("badger: not closing the database, which would flush its memtable on a full disk; "+
					"the next start replays its write-ahead log", "err", err)
				return
			}
		}
		s.syncMu.Lock() // not while a group leader syncs
		defer s.syncMu.Unlock()
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("badger: close: %w", err)
		}
	})
	return s.closeErr
}

// CheckWrites returns nil while the store takes writes, or why it refuses
// them (store.ErrUnavailable): the readiness probe asks it, so that a
// full disk shows without a write having to fail first.
func (s *Store) CheckWrites(context.Context) error {
	if err := s.syncFailed(); err != nil {
		return err
	}
	if s.space == nil {
		return nil
	}
	return s.space.check()
}

// FreeSpace returns the free space of the data directory's filesystem, as
// last measured, and the floor below which writes are refused; ok is false
// in memory.
func (s *Store) FreeSpace() (free, floor uint64, ok bool) {
	if s.space == nil {
		return 0, 0, false
	}
	free, floor, _ = s.space.space()
	return free, floor, true
}

// collectGarbage reclaims value-log space, which badger never does by
// itself: overwritten and expired values stay on disk until rewritten.
func (s *Store) collectGarbage() {
	defer close(s.done)
	tick := time.NewTicker(gcInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		// Each successful run rewrites one file; repeat while there is more.
		for {
			// A run rewrites a file's live values before deleting it,
			// through the write path the guard does not see.
			if err := s.space.room(s.space.floor + gcRoom); err != nil {
				s.log.Info("badger: value-log garbage collection skipped", "err", err)
				break
			}
			s.syncMu.Lock()
			err := s.db.RunValueLogGC(gcDiscardRatio)
			s.syncMu.Unlock()
			if err == nil {
				select {
				case <-s.stop:
					return
				default:
					continue
				}
			}
			if !errors.Is(err, bdg.ErrNoRewrite) && !errors.Is(err, bdg.ErrRejected) {
				s.log.Warn("badger: value-log garbage collection failed", "err", err)
			}
			break
		}
	}
}

// slogAdapter passes badger's warnings and errors to slog and drops its
// info and debug lines, which narrate every compaction and replay.
type slogAdapter struct{ log *slog.Logger }

func (l slogAdapter) Errorf(format string, args ...any) {
	l.log.Error(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (l slogAdapter) Warningf(format string, args ...any) {
	l.log.Warn(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (slogAdapter) Infof(string, ...any)  {}
func (slogAdapter) Debugf(string, ...any) {}

// update runs fn in a read-write transaction and commits it. When the commit
// conflicts with another transaction, fn runs again from scratch on fresh
// reads, so fn must not carry state from one run to the next.
//
// Every write of the store comes here, so this is where the free-space
// floor is kept: below it, update returns store.ErrUnavailable before
// badger writes anything.
//
// Concurrent updates commit together, one sync for all (group.go).
func (s *Store) update(ctx context.Context, fn func(txn *bdg.Txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return errClosed
	}
	if err := s.syncFailed(); err != nil {
		return err
	}
	if s.space != nil {
		if err := s.space.check(); err != nil {
			return err
		}
	}
	err := s.commit(fn)
	if err != nil && s.space != nil && !answer(err) {
		s.space.recheck()
	}
	return err
}

func (s *Store) view(ctx context.Context, fn func(txn *bdg.Txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return errClosed
	}
	err := s.db.View(fn)
	// Loaded after the read: pending is set before a group's commit, so
	// it covers every group the read could have seen.
	if p := s.pending.Load(); p > s.synced.Load() {
		store.NoteRead(ctx, p)
	}
	return err
}

// key joins prefix and the path-escaped parts with '/'. Escaping keeps keys
// unambiguous whatever the parts hold (connector "a/b", subject "c" is not
// connector "a", subject "b/c"), and makes a scan of prefix(...) match one
// owner's entries exactly (user "u1" does not scan user "u10").
func key(prefix string, parts ...string) []byte {
	b := []byte(prefix)
	for _, p := range parts {
		b = append(b, '/')
		b = append(b, url.PathEscape(p)...)
	}
	return b
}

// under is the scan prefix of the keys key(prefix, parts..., more...).
func under(prefix string, parts ...string) []byte { return append(key(prefix, parts...), '/') }

// denial is the record of a denied access-token id.
type denial struct {
	Expiry time.Time `json:"expiry"`
}

// expiryOf returns the Expiry of the record kinds that have one. get hides
// such a record once it has passed; set gives it a badger TTL so that
// badger deletes it.
func expiryOf(v any) (time.Time, bool) {
	switch r := v.(type) {
	case *store.AuthRequest:
		return r.Expiry, true
	case *store.AuthCode:
		return r.Expiry, true
	case *store.RefreshFamily:
		return r.Expiry, true
	case *store.RefreshToken:
		return r.Expiry, true
	case *denial:
		return r.Expiry, true
	case *store.OpaqueToken:
		return r.Expiry, true
	case *store.AuditEvent:
		return r.Expiry, true
	case *store.Record:
		return r.Expiry, !r.Expiry.IsZero()
	}
	return time.Time{}, false
}

// expired: a record is gone from its Expiry on.
func expired(t time.Time) bool { return !time.Now().Before(t) }

// expiresAt is badger's TTL for expiry. Badger counts whole seconds, so it
// rounds up: badger never drops a record early, and get hides one that
// expired within the last second.
func expiresAt(t time.Time) uint64 {
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return uint64(max(sec, 1)) // 0 would mean "never"
}

// get decodes the record at k: store.ErrNotFound if absent or expired.
func get[R any](txn *bdg.Txn, k []byte) (R, error) {
	var r R
	item, err := txn.Get(k)
	if errors.Is(err, bdg.ErrKeyNotFound) {
		return r, store.ErrNotFound
	}
	if err != nil {
		return r, err
	}
	if err := item.Value(func(b []byte) error { return json.Unmarshal(b, &r) }); err != nil {
		return r, fmt.Errorf("decode %q: %w", k, err)
	}
	if exp, ok := expiryOf(&r); ok && expired(exp) {
		var zero R
		return zero, store.ErrNotFound
	}
	return r, nil
}

// set stores r at k, with a TTL if the record kind expires.
func set[R any](txn *bdg.Txn, k []byte, r *R) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode %q: %w", k, err)
	}
	e := bdg.NewEntry(k, b)
	if exp, ok := expiryOf(r); ok {
		e.ExpiresAt = expiresAt(exp)
	}
	return txn.SetEntry(e)
}

// absent is store.ErrAlreadyExists if a live record is at k.
func absent[R any](txn *bdg.Txn, k []byte) error {
	_, err := get[R](txn, k)
	switch {
	case err == nil:
		return store.ErrAlreadyExists
	case errors.Is(err, store.ErrNotFound):
		return nil
	}
	return err
}

// getRaw returns a copy of the value at k (an index entry's target).
func getRaw(txn *bdg.Txn, k []byte) ([]byte, error) {
	item, err := txn.Get(k)
	if errors.Is(err, bdg.ErrKeyNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

// setIndex points index key k at target; a non-zero expiry is its TTL, so
// that the entry goes when the record it points at does.
func setIndex(txn *bdg.Txn, k, target []byte, expiry time.Time) error {
	e := bdg.NewEntry(k, target)
	if !expiry.IsZero() {
		e.ExpiresAt = expiresAt(expiry)
	}
	return txn.SetEntry(e)
}

// claim moves a unique index entry from oldKey to newKey (either nil for
// none), pointing at target: store.ErrAlreadyExists if newKey is taken.
func claim(txn *bdg.Txn, oldKey, newKey, target []byte) error {
	if string(oldKey) == string(newKey) {
		return nil
	}
	if newKey != nil {
		if _, err := getRaw(txn, newKey); err == nil {
			return store.ErrAlreadyExists
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := setIndex(txn, newKey, target, time.Time{}); err != nil {
			return err
		}
	}
	if oldKey != nil {
		return txn.Delete(oldKey)
	}
	return nil
}

// scan returns copies of the keys and values under prefix, in key order.
// It reads everything before returning, so the caller may then write.
func scan(txn *bdg.Txn, prefix []byte) (keys, values [][]byte, err error) {
	opts := bdg.DefaultIteratorOptions
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		v, err := item.ValueCopy(nil)
		if err != nil {
			return nil, nil, err
		}
		keys, values = append(keys, item.KeyCopy(nil)), append(values, v)
	}
	return keys, values, nil
}

// list decodes every live record under prefix.
func list[R any](txn *bdg.Txn, prefix []byte) ([]R, error) {
	_, values, err := scan(txn, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]R, 0, len(values))
	for _, v := range values {
		var r R
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, fmt.Errorf("decode under %q: %w", prefix, err)
		}
		if exp, ok := expiryOf(&r); ok && expired(exp) {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// listIndexed decodes the live records that the index entries under prefix
// point at and that keep pass (a check that the record still belongs).
func listIndexed[R any](txn *bdg.Txn, prefix []byte, keep func(*R) bool) ([]R, error) {
	_, targets, err := scan(txn, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]R, 0, len(targets))
	for _, k := range targets {
		r, err := get[R](txn, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if keep(&r) {
			out = append(out, r)
		}
	}
	return out, nil
}
