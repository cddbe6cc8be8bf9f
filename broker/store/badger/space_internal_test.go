package badger

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/store"
)

// fakeDisk is a filesystem whose free space the test sets, counting how
// often it is measured.
type fakeDisk struct {
	mu    sync.Mutex
	free  uint64
	err   error
	calls int
}

func (d *fakeDisk) statfs(string) (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	return d.free, d.err
}

func (d *fakeDisk) set(free uint64, err error) {
	d.mu.Lock()
	d.free, d.err = free, err
	d.mu.Unlock()
}

func (d *fakeDisk) measures() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}

// TestSpaceGuard drives the guard through a day of its life with a fake
// disk and clock: the verdict follows the free space, a measure is reused
// for the interval and no longer, a failed write or a clock that went back
// measures again, a statfs failure refuses, and each turn of the verdict
// is logged once.
func TestSpaceGuard(t *testing.T) {
	const floor, interval = 100, 10 * time.Second
	var logs bytes.Buffer
	disk := &fakeDisk{free: 1000}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	g := newSpaceGuard("/data", floor, interval, slog.New(slog.NewTextHandler(&logs, nil)))
	g.now, g.statfs = func() time.Time { return now }, disk.statfs

	steps := []struct {
		name     string
		advance  time.Duration
		free     uint64
		statErr  error
		recheck  bool   // a write failed before this check
		refused  string // "" when writes are allowed, else in the error
		measures int    // statfs calls so far
	}{
		{name: "first check measures", free: 1000, measures: 1},
		{name: "within the interval the measure stands", advance: 9 * time.Second, free: 10, measures: 1},
		{name: "after the interval it measures again", advance: time.Second, free: 10, refused: "10 B free on the filesystem of /data, below the floor of 100 B", measures: 2},
		{name: "a refusal is cached too", advance: time.Second, free: 5000, refused: "below the floor", measures: 2},
		{name: "space back after the interval", advance: 9 * time.Second, free: 5000, measures: 3},
		{name: "at the floor exactly writes go on", advance: interval, free: floor, measures: 4},
		{name: "a failed write measures at once", free: floor - 1, recheck: true, refused: "99 B free", measures: 5},
		{name: "a clock gone back measures at once", advance: -time.Minute, free: 1000, measures: 6},
		{name: "no measure, no writes", advance: interval, statErr: errors.New("statfs /data: no such file or directory"), refused: "cannot measure the free space: statfs /data", measures: 7},
		{name: "measure back", advance: interval, free: 1000, measures: 8},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		disk.set(s.free, s.statErr)
		if s.recheck {
			g.recheck()
		}
		err := g.check()
		switch {
		case s.refused == "" && err != nil:
			t.Errorf("%s: refused: %v", s.name, err)
		case s.refused != "" && (!errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), s.refused)):
			t.Errorf("%s: %v, want store.ErrUnavailable with %q", s.name, err, s.refused)
		}
		if got := disk.measures(); got != s.measures {
			t.Errorf("%s: %d measures, want %d", s.name, got, s.measures)
		}
	}
	// Refused at steps 3, 7 and 9; allowed again at 5, 8 and 10.
	if n := strings.Count(logs.String(), "refusing writes"); n != 3 {
		t.Errorf("%d lines say writes are refused, want one per turn (3):\n%s", n, &logs)
	}
	if n := strings.Count(logs.String(), "taking writes again"); n != 3 {
		t.Errorf("%d lines say writes resume, want one per turn (3):\n%s", n, &logs)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "min_free_bytes=100") {
		t.Errorf("the refusal is not logged as an error with the floor:\n%s", &logs)
	}
}

// TestSpaceRoom: work that needs room of its own (a value-log GC, the
// flush at Close) always measures afresh and needs that much free.
func TestSpaceRoom(t *testing.T) {
	disk := &fakeDisk{free: 500}
	g := newSpaceGuard("/data", 100, time.Hour, slog.New(slog.DiscardHandler))
	g.statfs = disk.statfs
	tests := []struct {
		free uint64
		need uint64
		ok   bool
	}{
		{free: 500, need: 500, ok: true},
		{free: 499, need: 500},
		{free: 50, need: 40, ok: true}, // below the floor, but room for this
		{free: 0, need: 1},
	}
	for i, tc := range tests {
		disk.set(tc.free, nil)
		err := g.room(tc.need)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, store.ErrUnavailable)) {
			t.Errorf("room(%d) with %d free: %v, want ok %v", tc.need, tc.free, err, tc.ok)
		}
		if disk.measures() != i+1 {
			t.Errorf("room(%d) did not measure afresh", tc.need)
		}
	}
}

// TestDefaultMinFreeSpace pins the numbers the documentation gives
// (docs/deployment.md) and that the default covers what Badger may write
// without asking.
func TestDefaultMinFreeSpace(t *testing.T) {
	for what, tc := range map[string]struct {
		n    uint64
		want string
	}{
		"write-ahead log": {walRoom, "16.0 MiB"},
		"memtable flush":  {flushRoom, "9.2 MiB"},
		"L0 compaction":   {compactionRoom, "56.0 MiB"},
		"total":           {minSafeFreeSpace, "81.2 MiB"},
		"default":         {DefaultMinFreeSpace, "96.0 MiB"},
	} {
		if got := formatBytes(tc.n); got != tc.want {
			t.Errorf("%s: %s, want %s", what, got, tc.want)
		}
	}
	if DefaultMinFreeSpace < minSafeFreeSpace+walRoom/2 {
		t.Errorf("the default floor %d leaves less than a memtable's worth of Portico's writes above Badger's %d",
			DefaultMinFreeSpace, minSafeFreeSpace)
	}
}

// writeCalls calls every writing method of store.Store on s with
// arguments it would accept, keyed by method name.
func writeCalls(s *Store) map[string]func(ctx context.Context) error {
	later := time.Now().Add(time.Hour)
	return map[string]func(ctx context.Context) error{
		"CreateUser": func(ctx context.Context) error { return s.CreateUser(ctx, store.User{ID: "u2"}) },
		"UpdateUser": func(ctx context.Context) error { return s.UpdateUser(ctx, store.User{ID: "u1"}) },
		"DeleteUser": func(ctx context.Context) error { return s.DeleteUser(ctx, "u1") },
		"CreateIdentity": func(ctx context.Context) error {
			return s.CreateIdentity(ctx, store.Identity{ConnectorID: "c", Subject: "2", UserID: "u1"})
		},
		"UpdateIdentity": func(ctx context.Context) error {
			return s.UpdateIdentity(ctx, store.Identity{ConnectorID: "c", Subject: "1", UserID: "u1"})
		},
		"DeleteIdentity": func(ctx context.Context) error { return s.DeleteIdentity(ctx, "c", "1") },
		"CreateLocalAccount": func(ctx context.Context) error {
			return s.CreateLocalAccount(ctx, store.LocalAccount{ID: "l2", Username: "bob"})
		},
		"UpdateLocalAccount": func(ctx context.Context) error {
			return s.UpdateLocalAccount(ctx, store.LocalAccount{ID: "l1", Username: "alice"})
		},
		"DeleteLocalAccount": func(ctx context.Context) error { return s.DeleteLocalAccount(ctx, "l1") },
		"CreateClient":       func(ctx context.Context) error { return s.CreateClient(ctx, store.Client{ID: "c2"}) },
		"UpdateClient":       func(ctx context.Context) error { return s.UpdateClient(ctx, store.Client{ID: "c1"}) },
		"DeleteClient":       func(ctx context.Context) error { return s.DeleteClient(ctx, "c1") },
		"CreateAuthRequest": func(ctx context.Context) error {
			return s.CreateAuthRequest(ctx, store.AuthRequest{ID: "r2", Expiry: later})
		},
		"UpdateAuthRequest": func(ctx context.Context) error {
			return s.UpdateAuthRequest(ctx, store.AuthRequest{ID: "r1", Expiry: later})
		},
		"DeleteAuthRequest": func(ctx context.Context) error { return s.DeleteAuthRequest(ctx, "r1") },
		"CreateAuthCode":    func(ctx context.Context) error { return s.CreateAuthCode(ctx, store.AuthCode{ID: "a2", Expiry: later}) },
		"UpdateAuthCode":    func(ctx context.Context) error { return s.UpdateAuthCode(ctx, store.AuthCode{ID: "a1", Expiry: later}) },
		"CreateRefreshFamily": func(ctx context.Context) error {
			return s.CreateRefreshFamily(ctx, store.RefreshFamily{ID: "f2", UserID: "u1", Expiry: later}, store.RefreshToken{})
		},
		"RotateRefresh": func(ctx context.Context) error {
			return s.RotateRefresh(ctx, store.RefreshFamily{ID: "f1", UserID: "u1", Expiry: later}, store.RefreshToken{Hash: "h2", FamilyID: "f1", Expiry: later})
		},
		"UpdateRefreshFamily": func(ctx context.Context) error {
			return s.UpdateRefreshFamily(ctx, store.RefreshFamily{ID: "f1", UserID: "u1", Expiry: later})
		},
		"DenyAccessToken": func(ctx context.Context) error { return s.DenyAccessToken(ctx, "j1", later) },
		"CreateOpaqueToken": func(ctx context.Context) error {
			return s.CreateOpaqueToken(ctx, store.OpaqueToken{Hash: "o2", Expiry: later})
		},
		"DeleteOpaqueToken": func(ctx context.Context) error { return s.DeleteOpaqueToken(ctx, "o1") },
		"CreateAuditEvents": func(ctx context.Context) error {
			return s.CreateAuditEvents(ctx, store.AuditEvent{ID: "e2", Time: time.Now(), Expiry: later})
		},
		"PutRecord":    func(ctx context.Context) error { return s.PutRecord(ctx, store.Record{Kind: "k", Key: "2"}) },
		"DeleteRecord": func(ctx context.Context) error { return s.DeleteRecord(ctx, "k", "1") },
		"UpdateKeys":   func(ctx context.Context) error { return s.UpdateKeys(ctx, store.KeySet{}) },
	}
}

// TestEveryWriteGuarded: below the floor every writing method of the
// store, those the broker's background work uses included (key rotation:
// UpdateKeys; the audit trail: CreateAuditEvents), fails with
// store.ErrUnavailable and changes nothing, while every read still
// answers; back above it, every one of them works. A method added to
// store.Store must be listed here or in reads.
func TestEveryWriteGuarded(t *testing.T) {
	ctx := t.Context()
	s, err := Open(Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	disk := &fakeDisk{free: DefaultMinFreeSpace}
	s.space.statfs = disk.statfs
	s.space.recheck()

	later := time.Now().Add(time.Hour)
	seed := []error{
		s.CreateUser(ctx, store.User{ID: "u1"}, store.Identity{ConnectorID: "c", Subject: "1", UserID: "u1"}),
		s.CreateLocalAccount(ctx, store.LocalAccount{ID: "l1", Username: "alice"}),
		s.CreateClient(ctx, store.Client{ID: "c1"}),
		s.CreateAuthRequest(ctx, store.AuthRequest{ID: "r1", Expiry: later}),
		s.CreateAuthCode(ctx, store.AuthCode{ID: "a1", Expiry: later}),
		s.CreateRefreshFamily(ctx, store.RefreshFamily{ID: "f1", UserID: "u1", Current: "h1", Expiry: later},
			store.RefreshToken{Hash: "h1", FamilyID: "f1", Expiry: later}),
		s.CreateOpaqueToken(ctx, store.OpaqueToken{Hash: "o1", Expiry: later}),
		s.CreateAuditEvents(ctx, store.AuditEvent{ID: "e1", Time: time.Now(), Expiry: later}),
		s.PutRecord(ctx, store.Record{Kind: "k", Key: "1"}),
	}
	if err := errors.Join(seed...); err != nil {
		t.Fatalf("seed: %v", err)
	}

	reads := map[string]func() error{
		"GetUser":                       func() error { _, err := s.GetUser(ctx, "u1"); return err },
		"ListUsers":                     func() error { _, err := s.ListUsers(ctx); return err },
		"GetIdentity":                   func() error { _, err := s.GetIdentity(ctx, "c", "1"); return err },
		"ListIdentities":                func() error { _, err := s.ListIdentities(ctx, "u1"); return err },
		"GetUserIdentities":             func() error { _, _, err := s.GetUserIdentities(ctx, "u1"); return err },
		"ListIdentitiesByVerifiedEmail": func() error { _, err := s.ListIdentitiesByVerifiedEmail(ctx, "a@b"); return err },
		"GetLocalAccount":               func() error { _, err := s.GetLocalAccount(ctx, "l1"); return err },
		"GetLocalAccountByLogin":        func() error { _, err := s.GetLocalAccountByLogin(ctx, "alice"); return err },
		"ListLocalAccounts":             func() error { _, err := s.ListLocalAccounts(ctx); return err },
		"GetClient":                     func() error { _, err := s.GetClient(ctx, "c1"); return err },
		"ListClients":                   func() error { _, err := s.ListClients(ctx); return err },
		"GetAuthRequest":                func() error { _, err := s.GetAuthRequest(ctx, "r1"); return err },
		"GetAuthCode":                   func() error { _, err := s.GetAuthCode(ctx, "a1"); return err },
		"GetRefreshFamily":              func() error { _, err := s.GetRefreshFamily(ctx, "f1"); return err },
		"GetRefreshToken":               func() error { _, err := s.GetRefreshToken(ctx, "h1"); return err },
		"GetRefreshTokenFamily":         func() error { _, _, err := s.GetRefreshTokenFamily(ctx, "h1"); return err },
		"ListRefreshFamilies":           func() error { _, err := s.ListRefreshFamilies(ctx, "u1"); return err },
		"AccessTokenDenied":             func() error { _, err := s.AccessTokenDenied(ctx, "j1"); return err },
		"GetOpaqueToken":                func() error { _, err := s.GetOpaqueToken(ctx, "o1"); return err },
		"ListAuditEvents":               func() error { _, err := s.ListAuditEvents(ctx, time.Time{}, 0); return err },
		"GetRecord":                     func() error { _, err := s.GetRecord(ctx, "k", "1"); return err },
		"GetRecords":                    func() error { _, err := s.GetRecords(ctx, "k", "1"); return err },
		"ListRecords":                   func() error { _, err := s.ListRecords(ctx, "k", ""); return err },
		"GetKeys":                       func() error { _, err := s.GetKeys(ctx); return err },
	}
	writes := writeCalls(s)
	iface := reflect.TypeFor[store.Store]()
	for i := range iface.NumMethod() {
		name := iface.Method(i).Name
		if _, ok := writes[name]; !ok && reads[name] == nil && name != "Close" {
			t.Errorf("store.Store.%s is neither a read nor a write of this test", name)
		}
	}

	disk.set(DefaultMinFreeSpace-1, nil)
	s.space.recheck()
	if err := s.CheckWrites(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("CheckWrites below the floor: %v", err)
	}
	for _, name := range slices.Sorted(maps.Keys(writes)) {
		if err := writes[name](ctx); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s below the floor: %v, want store.ErrUnavailable", name, err)
		} else if !strings.Contains(err.Error(), "below the floor of 96.0 MiB") {
			t.Errorf("%s below the floor does not say why: %v", name, err)
		}
	}
	for name, read := range reads {
		if err := read(); err != nil {
			t.Errorf("%s below the floor: %v", name, err)
		}
	}
	if u, err := s.GetUser(ctx, "u1"); err != nil || u.Version != 0 {
		t.Errorf("a refused update changed the user: %+v, %v", u, err)
	}

	disk.set(DefaultMinFreeSpace, nil)
	s.space.recheck()
	for name, write := range writes {
		// Answers (a lost compare-and-swap, a missing record) mean the
		// write reached badger; only a refusal is wrong here.
		if err := write(ctx); errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s back above the floor: %v", name, err)
		}
	}
}

// TestCloseWithoutRoom: Close does not flush the memtable, which Badger
// writes through mmap, when there is no room for it, and the store
// refuses to serve after Close all the same.
func TestCloseWithoutRoom(t *testing.T) {
	ctx := t.Context()
	s, err := Open(Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, store.User{ID: "u1"}); err != nil {
		t.Fatal(err)
	}
	disk := &fakeDisk{free: flushRoom - 1}
	s.space.statfs = disk.statfs
	if err := s.Close(); err != nil {
		t.Fatalf("Close without room: %v, want nil (the log keeps the writes)", err)
	}
	if _, err := s.GetUser(ctx, "u1"); !errors.Is(err, errClosed) {
		t.Errorf("GetUser after Close: %v, want %v", err, errClosed)
	}
	if err := s.CreateUser(ctx, store.User{ID: "u2"}); !errors.Is(err, errClosed) {
		t.Errorf("CreateUser after Close: %v, want %v", err, errClosed)
	}
	// The database was left open: close it for the test's own cleanup,
	// on the real disk.
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSpaceFloorGrowsWithLevels: the floor in force is the configured one
// plus the room a compaction of the store's level 0 and base level needs,
// so a store grown fast is not written into the space its own compaction
// will want.
func TestSpaceFloorGrowsWithLevels(t *testing.T) {
	disk := &fakeDisk{free: 1000}
	g := newSpaceGuard("/data", 100, time.Hour, slog.New(slog.DiscardHandler))
	g.statfs = disk.statfs
	var levels uint64
	g.compaction = func() uint64 { return levels }
	for _, tc := range []struct {
		levels, free uint64
		ok           bool
	}{
		{0, 101, true},
		{500, 601, true},
		{500, 599, false}, // above the configured floor, not above floor + levels
		{900, 999, false},
	} {
		levels = tc.levels
		disk.set(tc.free, nil)
		g.recheck()
		if err := g.check(); (err == nil) != tc.ok {
			t.Errorf("levels %d, free %d: %v, want ok=%v", tc.levels, tc.free, err, tc.ok)
		}
		if _, floor, _ := g.space(); floor != 100+tc.levels {
			t.Errorf("levels %d: floor in force %d, want %d", tc.levels, floor, 100+tc.levels)
		}
	}
}
