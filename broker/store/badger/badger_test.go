package badger_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/store/badger"
	"github.com/portico-idp/portico/broker/store/storetest"
	"github.com/portico-idp/portico/testenv"
)

func open(t *testing.T, dir string) *badger.Store {
	t.Helper()
	s, err := badger.Open(badger.Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, t.TempDir()) })
}

func TestConformanceInMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("the on-disk run covers the same code")
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := badger.Open(badger.Options{InMemory: true, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestDataSurvivesReopen(t *testing.T) {
	dir, ctx := t.TempDir(), t.Context()
	created := time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)
	u := store.User{ID: "u1", Username: "alice", Groups: []string{"admins"}, CreatedAt: created}
	id := store.Identity{ConnectorID: "github", Subject: "42", UserID: "u1", LastSeen: created}
	a := store.LocalAccount{ID: "l1", Username: "alice", Email: "Alice@Example.com", PasswordHash: "h", CreatedAt: created}
	ks := store.KeySet{Keys: []store.SigningKey{{ID: "k1", Alg: "ES256", PrivateJWK: []byte(`{}`), CreatedAt: created, ActiveFrom: created}}}
	f := store.RefreshFamily{ID: "f1", UserID: "u1", Current: "h1", Expiry: time.Now().Add(time.Hour)}

	s := open(t, dir)
	for what, err := range map[string]error{
		"create user":   s.CreateUser(ctx, u, id),
		"create local":  s.CreateLocalAccount(ctx, a),
		"create keys":   s.UpdateKeys(ctx, ks),
		"create family": s.CreateRefreshFamily(ctx, f, store.RefreshToken{Hash: "h1", FamilyID: "f1", Expiry: f.Expiry}),
	} {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t, dir)
	defer s.Close()
	gotU, err := s.GetUser(ctx, "u1")
	if err != nil || gotU.Username != "alice" || !gotU.CreatedAt.Equal(created) || len(gotU.Groups) != 1 {
		t.Errorf("user after reopen: %+v, %v", gotU, err)
	}
	if ids, err := s.ListIdentities(ctx, "u1"); err != nil || len(ids) != 1 || ids[0].Subject != "42" {
		t.Errorf("identities after reopen: %+v, %v", ids, err)
	}
	if got, err := s.GetLocalAccountByLogin(ctx, "alice@example.com"); err != nil || got.ID != "l1" {
		t.Errorf("local account after reopen: %+v, %v", got, err)
	}
	if got, err := s.GetKeys(ctx); err != nil || got.Version != 1 || len(got.Keys) != 1 || got.Keys[0].ID != "k1" {
		t.Errorf("keys after reopen: %+v, %v", got, err)
	}
	if got, err := s.GetRefreshToken(ctx, "h1"); err != nil || got.FamilyID != "f1" {
		t.Errorf("refresh token after reopen: %+v, %v", got, err)
	}
	if fs, err := s.ListRefreshFamilies(ctx, "u1"); err != nil || len(fs) != 1 {
		t.Errorf("refresh families after reopen: %+v, %v", fs, err)
	}
}

func TestOpenDirectoryInUse(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	_, err := badger.Open(badger.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, badger.ErrInUse) {
		t.Fatalf("second Open: %v, want %v", err, badger.ErrInUse)
	}
	want := "badger: open " + dir + ": data directory is in use by another portico process"
	if err.Error() != want {
		t.Errorf("second Open:\n got  %q\n want %q", err, want)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Closing releases the directory.
	if err := open(t, dir).Close(); err != nil {
		t.Fatalf("Close after reopen: %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	s := open(t, t.TempDir())
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.GetUser(t.Context(), "u1"); err == nil || !strings.Contains(err.Error(), "badger: get user u1") {
		t.Errorf("GetUser after Close: %v, want a wrapped error", err)
	}
}

// TestFullDisk fills a real filesystem under a store, one of its own (a
// small tmpfs): Badger writes through mmap and would die of SIGBUS there,
// so the store must refuse writes before they reach it, keep serving
// reads, take writes again when space returns, and refuse to open on a
// full disk rather than fault while opening.
func TestFullDisk(t *testing.T) {
	const floor = 16 << 20
	fs := testenv.TmpFS(t, 48<<20)
	dir := filepath.Join(fs, "data")
	ctx := t.Context()
	var logs bytes.Buffer
	var logMu sync.Mutex
	opts := badger.Options{Dir: dir, MinFreeSpace: floor,
		// Measured at every write: the filler takes all the space at
		// once, which a cached measure would miss.
		SpaceCheckInterval: time.Nanosecond,
		Logger:             slog.New(slog.NewTextHandler(&lockedWriter{&logMu, &logs}, nil))}
	s, err := badger.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	for i := range 50 {
		id := fmt.Sprint("u", i)
		if err := s.CreateUser(ctx, store.User{ID: id, Username: id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateRefreshFamily(ctx, store.RefreshFamily{ID: "f1", UserID: "u1", Current: "h1", Expiry: later},
		store.RefreshToken{Hash: "h1", FamilyID: "f1", Expiry: later}); err != nil {
		t.Fatal(err)
	}

	filler := testenv.FillFS(t, fs)
	if err := s.CheckWrites(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("CheckWrites on a full disk: %v", err)
	}
	if free, min, ok := s.FreeSpace(); !ok || free >= min || min != floor {
		t.Errorf("FreeSpace on a full disk = %d, %d, %v", free, min, ok)
	}
	for what, err := range map[string]error{
		"create user":    s.CreateUser(ctx, store.User{ID: "new"}),
		"rotate refresh": s.RotateRefresh(ctx, store.RefreshFamily{ID: "f1", UserID: "u1", Current: "h2", Expiry: later}, store.RefreshToken{Hash: "h2", FamilyID: "f1", Expiry: later}),
		"audit":          s.CreateAuditEvents(ctx, store.AuditEvent{ID: "e1", Time: time.Now(), Expiry: later}),
		"keys":           s.UpdateKeys(ctx, store.KeySet{}),
	} {
		if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "below the floor of 16.0 MiB") {
			t.Errorf("%s on a full disk: %v, want store.ErrUnavailable saying why", what, err)
		}
	}
	// Enough to cross into pages of the write-ahead log that the
	// filesystem has not allocated: unguarded, this dies of SIGBUS.
	for i := range 2000 {
		if err := s.PutRecord(ctx, store.Record{Kind: "fill", Key: fmt.Sprint(i), Value: bytes.Repeat([]byte("x"), 1024)}); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("write %d on a full disk: %v", i, err)
		}
	}
	if users, err := s.ListUsers(ctx); err != nil || len(users) != 50 {
		t.Errorf("ListUsers on a full disk: %d users, %v", len(users), err)
	}
	if tok, err := s.GetRefreshToken(ctx, "h1"); err != nil || tok.FamilyID != "f1" {
		t.Errorf("GetRefreshToken on a full disk: %+v, %v", tok, err)
	}
	logMu.Lock()
	if !strings.Contains(logs.String(), "refusing writes") {
		t.Errorf("no log line says writes are refused:\n%s", &logs)
	}
	logMu.Unlock()

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckWrites(ctx); err != nil {
		t.Fatalf("CheckWrites with space back: %v", err)
	}
	if err := s.CreateUser(ctx, store.User{ID: "new"}); err != nil {
		t.Fatalf("CreateUser with space back: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart on a full disk: Open writes through mmap, so it refuses.
	filler = testenv.FillFS(t, fs)
	if _, err := badger.Open(opts); !errors.Is(err, store.ErrUnavailable) ||
		!strings.Contains(err.Error(), "not starting") || !strings.Contains(err.Error(), "below the floor") {
		t.Fatalf("Open on a full disk: %v, want store.ErrUnavailable saying why", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s, err = badger.Open(opts)
	if err != nil {
		t.Fatalf("Open with space back: %v", err)
	}
	if users, err := s.ListUsers(ctx); err != nil || len(users) != 51 {
		t.Errorf("after the restart: %d users, %v; want the 51 committed", len(users), err)
	}

	// Closing on a full disk leaves the memtable unflushed, in its log.
	if err := s.CreateUser(ctx, store.User{ID: "last"}); err != nil {
		t.Fatal(err)
	}
	testenv.FillFS(t, fs)
	if err := s.Close(); err != nil {
		t.Errorf("Close on a full disk: %v", err)
	}
}

// lockedWriter serializes writes to w, for a log read while written.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
