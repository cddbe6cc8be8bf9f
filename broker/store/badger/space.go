package badger

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bdg "github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"

	"github.com/portico-idp/portico/broker/store"
)

// Badger writes its write-ahead logs, its tables and its value log through
// mmap: a file is extended sparsely (ftruncate) and then written through
// memory, so the filesystem allocates its blocks only when a page is first
// written. On a full filesystem that write cannot fail with an error; the
// kernel sends SIGBUS and the Go runtime dies with "unexpected fault
// address" (dgraph-io/badger#1682, #1801). Nothing can catch that after the
// fact, so the store stops writing while it still has room for what Badger
// may write without asking: the free-space floor.
//
// What Badger may write after the store's last accepted write, with the
// sizes Open sets (M = memTableSize = 8 MiB, a batch at most 15% of M, the
// most Badger commits at once):
//
//   - walRoom: the active memtable's write-ahead log, created sparse at 2·M
//     and filled through mmap until it holds M and a batch: 16 MiB.
//   - flushRoom: a full memtable becomes a level-0 table of at most M and a
//     batch, written before its log is deleted; flushes run one at a time:
//     9.2 MiB. Close flushes the active memtable the same way.
//   - compactionRoom: compacting level 0 into the base level reads every
//     level-0 table (compaction starts at numLevelZeroTables, 5, of them)
//     and the base level (at most baseLevelSize, 10 MiB, while the store is
//     small enough for level 0 to compact into a level that size), and
//     writes their merge before deleting them: 5 × 9.2 + 10 = 56 MiB.
//
// That is minSafeFreeSpace, 81.2 MiB. The value log adds nothing here:
// values under Badger's ValueThreshold (1 MiB) stay in the LSM tree, and
// Portico's records are a few kilobytes, so value-log files (created
// sparse at 2 × valueLogFileSize, 128 MiB) hold their 20-byte header and
// rarely anything else; a larger value is one commit, at most a batch,
// which passed the guard like any write. The value log's garbage
// collection, which rewrites a file's live values before deleting it, runs
// only with gcRoom to spare above the floor.
const (
	maxBatch         = memTableSize * 15 / 100
	walRoom          = 2 * memTableSize
	flushRoom        = memTableSize + maxBatch
	compactionRoom   = numLevelZeroTables*flushRoom + baseLevelSize
	minSafeFreeSpace = walRoom + flushRoom + compactionRoom
	// gcRoom: one value-log garbage collection rewrites at most one
	// file's live values.
	gcRoom = valueLogFileSize
)

// DefaultMinFreeSpace is Options.MinFreeSpace unless set: 96 MiB, the
// 81.2 MiB of minSafeFreeSpace with room for Portico's own writes between
// two measures of the free space (DefaultSpaceCheckInterval; a few MB at
// the rate of fsynced writes Badger sustains) and for slack.
const DefaultMinFreeSpace = 96 << 20

// DefaultSpaceCheckInterval is how long a measure of the free space is
// trusted unless Options.SpaceCheckInterval says otherwise: at most one
// statfs a second, whatever the rate of writes.
const DefaultSpaceCheckInterval = time.Second

// spaceGuard decides whether the store may write: whether the data
// directory's filesystem has at least floor bytes free. It caches the
// measure for interval, so that a write costs a mutex, not a system call;
// a failed write, and Close, measure again at once.
type spaceGuard struct {
	dir      string
	floor    uint64
	interval time.Duration
	log      *slog.Logger
	// now and statfs are time.Now and freeSpace, replaced by tests.
	now    func() time.Time
	statfs func(dir string) (uint64, error)
	// compaction, once the database is open, is the room its next large
	// compaction may need on top of the floor (levelRoom); nil: none.
	compaction func() uint64

	mu         sync.Mutex
	measured   time.Time // zero: measure at the next call
	free       uint64
	measureErr error  // statfs's
	verdict    error  // nil, or why writes are refused (wraps store.ErrUnavailable)
	inForce    uint64 // the floor of the last measure, compaction room included
}

func newSpaceGuard(dir string, floor uint64, interval time.Duration, log *slog.Logger) *spaceGuard {
	if floor == 0 {
		floor = DefaultMinFreeSpace
	}
	if interval <= 0 {
		interval = DefaultSpaceCheckInterval
	}
	return &spaceGuard{dir: dir, floor: floor, interval: interval, log: log, now: time.Now, statfs: freeSpace}
}

// freeSpace is the space on dir's filesystem that an unprivileged process
// may still use. Root may use the blocks the filesystem reserves too
// (ext4: 5%); leaving them out errs on the safe side.
func freeSpace(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// check returns nil when writes may go ahead, or why not.
func (g *spaceGuard) check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refreshLocked(false)
	return g.verdict
}

// room returns nil when at least need bytes are free, on a fresh measure:
// for work that writes much at once and that the floor does not cover by
// itself (a value-log garbage collection, the flush at Close), which is
// rare enough to pay for a statfs.
func (g *spaceGuard) room(need uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refreshLocked(true)
	if g.measureErr != nil {
		return g.verdict
	}
	if g.free < need {
		return fmt.Errorf("%w: %s free on the filesystem of %s, %s needed",
			store.ErrUnavailable, formatBytes(g.free), g.dir, formatBytes(need))
	}
	return nil
}

// space returns the last measure of free space (refreshed if stale) and
// the floor, for metrics.
func (g *spaceGuard) space() (free, floor uint64, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refreshLocked(false)
	return g.free, max(g.inForce, g.floor), g.verdict
}

// recheck makes the next check measure again: a write failed, perhaps
// because space ran out faster than the cached measure knows.
func (g *spaceGuard) recheck() {
	g.mu.Lock()
	g.measured = time.Time{}
	g.mu.Unlock()
}

// refreshLocked measures the free space if the last measure is older than
// the interval (or always, with force), and logs when the verdict turns.
func (g *spaceGuard) refreshLocked(force bool) {
	now := g.now()
	if !force && !g.measured.IsZero() && !now.Before(g.measured) && now.Sub(g.measured) < g.interval {
		return
	}
	free, err := g.statfs(g.dir)
	g.measured, g.free, g.measureErr = now, free, err
	was := g.verdict
	floor := g.floor
	if g.compaction != nil {
		floor += g.compaction()
	}
	g.inForce = floor
	switch {
	case err != nil:
		// Without a measure the store cannot know it is safe to write.
		g.verdict = fmt.Errorf("%w: cannot measure the free space: %w", store.ErrUnavailable, err)
	case free < floor:
		g.verdict = fmt.Errorf("%w: %s free on the filesystem of %s, below the floor of %s (%s, and %s for compacting what the store holds now)",
			store.ErrUnavailable, formatBytes(free), g.dir, formatBytes(floor), formatBytes(g.floor), formatBytes(floor-g.floor))
	default:
		g.verdict = nil
	}
	switch {
	case was == nil && g.verdict != nil:
		g.log.Error("badger: refusing writes until the data directory's filesystem has more free space; reads go on",
			"dir", g.dir, "free_bytes", free, "min_free_bytes", floor, "err", g.verdict)
	case was != nil && g.verdict == nil:
		g.log.Warn("badger: free space is back above the floor; taking writes again",
			"dir", g.dir, "free_bytes", free, "min_free_bytes", floor)
	}
}

// levelRoom is what Badger may write on its own beyond the fixed
// floor's allowance for a small store: compacting level 0 into the base
// level rewrites both before the old tables go, so a store grown fast
// (a flood of stored requests) needs that much again. Without it a
// compaction ran out of room under the fixed floor and died of SIGBUS.
func levelRoom(db *bdg.DB) func() uint64 {
	return func() uint64 {
		var n int64
		for _, l := range db.Levels() {
			if l.Level == 0 || l.IsBaseLevel {
				n += l.Size
			}
		}
		return uint64(max(n, 0))
	}
}

// answer reports whether err is one of the store's answers (not found,
// taken, lost race) or the guard's own refusal, rather than a failure of
// badger's, after which the free space is measured again.
func answer(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrAlreadyExists) ||
		errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrUnavailable)
}

// formatBytes writes n for a person: "3.0 MiB".
func formatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
