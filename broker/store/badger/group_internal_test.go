package badger

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bdg "github.com/dgraph-io/badger/v4"

	"github.com/portico-idp/portico/broker/store"
)

// TestGroupCommit: writes that arrive while a commit is in flight commit
// together, as one transaction; one that fails in the group (a taken
// name) gets its own error and the others still commit, each exactly once.
func TestGroupCommit(t *testing.T) {
	s := openGroupTest(t, true)
	ctx := context.Background()
	if err := s.PutRecord(ctx, store.Record{Kind: "k", Key: "taken", Value: []byte("0")}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var sizes []int
	hold, held := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.group.testHook = func(n int) {
		mu.Lock()
		sizes = append(sizes, n)
		mu.Unlock()
		once.Do(func() { close(held); <-hold }) // the first commit waits
	}
	errs := make([]error, 6)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = s.PutRecord(ctx, store.Record{Kind: "k", Key: "first", Value: []byte("1")}) })
	<-held
	for i := 1; i < 6; i++ {
		key := strconv.Itoa(i)
		if i == 3 {
			key = "taken" // Version 0 creates: the name is taken
		}
		wg.Go(func() { errs[i] = s.PutRecord(ctx, store.Record{Kind: "k", Key: key, Value: []byte("1")}) })
	}
	queued := func() int { s.group.mu.Lock(); defer s.group.mu.Unlock(); return len(s.group.queue) }
	for deadline := time.Now().Add(time.Minute); queued() < 5; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued behind the held commit, want 5", queued())
		}
	}
	close(hold)
	wg.Wait()
	if len(sizes) < 2 || sizes[0] != 1 || sizes[1] != 5 {
		t.Errorf("group sizes %v, want [1 5 ...]", sizes)
	}
	for i, err := range errs {
		if want := i == 3; errors.Is(err, store.ErrAlreadyExists) != want || (!want && err != nil) {
			t.Errorf("write %d: %v", i, err)
		}
	}
	recs, err := s.ListRecords(ctx, "k", "")
	if err != nil || len(recs) != 6 { // taken, first, 1, 2, 4, 5
		t.Fatalf("%d records (%v), want 6", len(recs), err)
	}
	for _, r := range recs {
		if r.Version != 1 {
			t.Errorf("record %s at version %d, want 1 (written once)", r.Key, r.Version)
		}
	}
}

// TestGroupCommitCompareAndSwap: concurrent compare-and-swap increments
// of one record, committed in groups, lose none: each in a group sees the
// writes of those before it.
func TestGroupCommitCompareAndSwap(t *testing.T) {
	s := openGroupTest(t, true)
	ctx := context.Background()
	if err := s.PutRecord(ctx, store.Record{Kind: "n", Key: "c", Value: []byte("0")}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				for {
					r, err := s.GetRecord(ctx, "n", "c")
					if err != nil {
						t.Error(err)
						return
					}
					n, _ := strconv.Atoi(string(r.Value))
					r.Value = []byte(strconv.Itoa(n + 1))
					if err := s.PutRecord(ctx, r); err == nil {
						break
					} else if !errors.Is(err, store.ErrConflict) {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	r, err := s.GetRecord(ctx, "n", "c")
	if err != nil || string(r.Value) != strconv.Itoa(workers*each) || r.Version != workers*each+1 {
		t.Errorf("counter %s at version %d (%v), want %d at %d", r.Value, r.Version, err, workers*each, workers*each+1)
	}
}

// TestGroupCommitPanic: a function that panics fails its group with an
// error instead of leaving the lead taken: later writes still commit.
func TestGroupCommitPanic(t *testing.T) {
	s, err := Open(Options{InMemory: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.commit(func(*bdg.Txn) error { panic("boom") }); err == nil {
		t.Fatal("a panicking write succeeded")
	}
	if err := s.PutRecord(context.Background(), store.Record{Kind: "k", Key: "after", Value: []byte("1")}); err != nil {
		t.Fatalf("write after the panic: %v", err)
	}
}

// TestGroupSyncsBeforeAnswer: with SyncWrites, a write is answered only
// after the sync that follows its group's commit, while reads do not wait
// for that sync (they see the committed write at once: the group commit
// syncs, not badger's commit, so a read transaction's start waits for no
// fsync). Without SyncWrites there is no sync to wait for.
func TestGroupSyncsBeforeAnswer(t *testing.T) {
	for _, syncWrites := range []bool{true, false} {
		s := openGroupTest(t, syncWrites)
		ctx := context.Background()
		syncing, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		s.group.syncHook = func() { once.Do(func() { close(syncing); <-release }) }
		var groups atomic.Int32
		s.group.testHook = func(int) { groups.Add(1) }
		done := make(chan error, 1)
		go func() { done <- s.PutRecord(ctx, store.Record{Kind: "k", Key: "a", Value: []byte("1")}) }()
		if !syncWrites {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			select {
			case <-syncing:
				t.Fatal("SyncWrites off: the group was synced")
			default:
			}
			continue
		}
		select {
		case <-syncing:
		case err := <-done:
			t.Fatalf("the write was answered (%v) without its group being synced", err)
		case <-time.After(time.Minute): // liveness only
			t.Fatal("no sync within a minute")
		}
		rctx, mark := store.WithReadMark(ctx)
		if r, err := s.GetRecord(rctx, "k", "a"); err != nil || string(r.Value) != "1" {
			t.Fatalf("read during the sync: %q, %v; want the committed write", r.Value, err)
		}
		if mark.Seq() == 0 {
			t.Fatal("the read during the sync left no mark: its answer would not wait for the sync")
		}
		waited := make(chan error, 1)
		go func() { waited <- s.WaitDurable(ctx, mark.Seq()) }()
		select {
		case err := <-done:
			t.Fatalf("the write was answered (%v) before its sync ended", err)
		case err := <-waited:
			t.Fatalf("WaitDurable returned (%v) before the sync ended", err)
		default:
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := <-waited; err != nil {
			t.Fatal(err)
		}
		if n := groups.Load(); n != 1 {
			t.Errorf("%d groups committed, want 1: WaitDurable waits for the sync in flight, it needs no commit of its own", n)
		}
		rctx, mark = store.WithReadMark(ctx)
		if _, err := s.GetRecord(rctx, "k", "a"); err != nil || mark.Seq() != 0 {
			t.Fatalf("a read after the sync: mark %d, %v; want none", mark.Seq(), err)
		}
	}
}

// TestFailedSyncStopsWrites: after a failed sync nothing is trusted to be
// on disk (Linux may report the next fsync clean without the data): the
// write whose sync failed gets the error, reads that saw it cannot be
// answered, and every later write is refused, until a restart.
func TestFailedSyncStopsWrites(t *testing.T) {
	s := openGroupTest(t, true)
	ctx := context.Background()
	if err := s.PutRecord(ctx, store.Record{Kind: "k", Key: "a", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	var mark *store.ReadMark
	s.group.syncHook = func() {
		var rctx context.Context
		rctx, mark = store.WithReadMark(ctx)
		if _, err := s.GetRecord(rctx, "k", "b"); err != nil {
			t.Errorf("read during the sync: %v", err)
		}
	}
	s.group.syncErr = func() error { return errors.New("EIO") }
	if err := s.PutRecord(ctx, store.Record{Kind: "k", Key: "b", Value: []byte("1")}); err == nil {
		t.Fatal("the write whose sync failed succeeded")
	}
	if mark == nil || mark.Seq() == 0 {
		t.Fatal("the read during the sync left no mark")
	}
	s.group.syncHook, s.group.syncErr = nil, nil // the disk "recovers"
	if err := s.WaitDurable(ctx, mark.Seq()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("WaitDurable after the failed sync: %v, want ErrUnavailable", err)
	}
	if err := s.PutRecord(ctx, store.Record{Kind: "k", Key: "c", Value: []byte("1")}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a write after the failed sync: %v, want ErrUnavailable", err)
	}
	if err := s.CheckWrites(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("CheckWrites after the failed sync: %v, want ErrUnavailable (readiness)", err)
	}
	if r, err := s.GetRecord(ctx, "k", "a"); err != nil || string(r.Value) != "1" {
		t.Errorf("a read of what was synced before: %q, %v", r.Value, err)
	}
	// The write whose sync failed is visible to reads, so a read after
	// the failure is marked, and its answer is held (docs/deployment.md,
	// "A failed sync").
	rctx, after := store.WithReadMark(ctx)
	if _, err := s.GetRecord(rctx, "k", "b"); err != nil {
		t.Fatalf("the unsynced write: %v", err)
	}
	if err := s.WaitDurable(ctx, after.Seq()); after.Seq() == 0 || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a read after the failed sync: mark %d, WaitDurable %v; want a mark and ErrUnavailable", after.Seq(), err)
	}
}

// TestFailedSyncLogsOnce: one error line, however many syncs fail.
func TestFailedSyncLogsOnce(t *testing.T) {
	var buf bytes.Buffer
	s, err := Open(Options{Dir: t.TempDir(), SyncWrites: true, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.group.syncErr = func() error { return errors.New("EIO") }
	for range 3 {
		if err := s.dbSync(); err == nil {
			t.Fatal("dbSync: no error")
		}
	}
	if n := strings.Count(buf.String(), "a sync failed"); n != 1 {
		t.Errorf("%d error lines, want 1:\n%s", n, buf.String())
	}
}

// openGroupTest opens a store in a temporary directory, closed with t.
func openGroupTest(t *testing.T, syncWrites bool) *Store {
	t.Helper()
	s, err := Open(Options{Dir: t.TempDir(), SyncWrites: syncWrites, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
