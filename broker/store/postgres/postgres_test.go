package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/store/storetest"
)

// The tests need a PostgreSQL server: PORTICO_TEST_POSTGRES_DSN, or a local
// one with trust authentication. Without one they skip, loudly, except on CI
// (CI=true), where they fail. Each test works in schemas of its own, which
// it drops at the end.

const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func testDSN() string {
	if dsn := os.Getenv("PORTICO_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return defaultDSN
}

var (
	adminOnce sync.Once
	adminPool *pgxpool.Pool
	adminErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if adminPool != nil {
		adminPool.Close()
	}
	os.Exit(code)
}

// admin returns a pool on the test database, for the tests' own queries;
// it skips or fails the test when there is no server.
func admin(t *testing.T) *pgxpool.Pool {
	t.Helper()
	adminOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		adminPool, adminErr = pgxpool.New(ctx, testDSN())
		if adminErr == nil {
			if adminErr = adminPool.Ping(ctx); adminErr != nil {
				adminPool.Close()
				adminPool = nil
			}
		}
	})
	if adminErr != nil {
		msg := fmt.Sprintf("no PostgreSQL at %s: %v (set PORTICO_TEST_POSTGRES_DSN to a database the tests may create schemas in)",
			redacted(testDSN()), adminErr)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPING THE POSTGRES STORE TESTS: " + msg)
	}
	return adminPool
}

func redacted(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dsn
}

// newSchema returns the name of a schema that does not exist yet, and drops
// it when the test ends.
func newSchema(t *testing.T) string {
	t.Helper()
	pool := admin(t)
	name := "portico_test_" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// open opens a Store on schema, without the cleanup job unless opts asks.
func open(t *testing.T, schema string, opts ...func(*Options)) *Store {
	t.Helper()
	o := Options{DSN: testDSN(), Schema: schema, Logger: testLogger(t), CleanupInterval: -1}
	for _, f := range opts {
		f(&o)
	}
	s, err := Open(t.Context(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	admin(t) // skip here, not in every subtest
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, newSchema(t)) })
}

// TestConcurrentMigrate starts replicas on a fresh schema at once: every
// one succeeds, and each migration is applied once.
func TestConcurrentMigrate(t *testing.T) {
	schema := newSchema(t)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	const replicas = 4
	var appliedLogs atomic.Int64
	log := slog.New(countingHandler{msg: "postgres: applied migration", n: &appliedLogs})
	opts := Options{DSN: testDSN(), Schema: schema, Logger: log, CleanupInterval: -1}
	start := make(chan struct{})
	errs := make([]error, replicas)
	applied := make([][]string, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			<-start
			if i%2 == 0 { // half run portico migrate, half just start
				applied[i], errs[i] = Migrate(t.Context(), opts)
				return
			}
			s, err := Open(t.Context(), opts)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	if got := appliedLogs.Load(); got != int64(len(ms)) {
		t.Errorf("%d migrations applied, want %d", got, len(ms))
	}
	var rows int
	if err := admin(t).QueryRow(t.Context(), `SELECT count(*) FROM `+pgx.Identifier{schema, "schema_migrations"}.Sanitize()).
		Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", rows, len(ms))
	}
	for i, a := range applied {
		if len(a) != 0 && len(a) != len(ms) {
			t.Errorf("migrate %d applied %v: a part of the migrations", i, a)
		}
	}
}

type countingHandler struct {
	msg string
	n   *atomic.Int64
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h countingHandler) WithGroup(string) slog.Handler            { return h }
func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}

func TestMigrateThenOpenWithoutMigrating(t *testing.T) {
	schema, ctx := newSchema(t), t.Context()
	opts := Options{DSN: testDSN(), Schema: schema, Logger: testLogger(t), NoMigrate: true}
	if _, err := Open(ctx, opts); !errors.Is(err, ErrNotMigrated) {
		t.Fatalf("Open of an empty schema without migrating: %v, want %v", err, ErrNotMigrated)
	}
	ms, _ := migrations()
	var names []string
	for _, m := range ms {
		names = append(names, m.name)
	}
	applied, err := Migrate(ctx, opts)
	if err != nil || !slices.Equal(applied, names) {
		t.Fatalf("Migrate = %v, %v; want %v", applied, err, names)
	}
	if applied, err := Migrate(ctx, opts); err != nil || len(applied) != 0 {
		t.Fatalf("Migrate again = %v, %v; want nothing applied", applied, err)
	}
	s, err := Open(ctx, opts)
	if err != nil {
		t.Fatalf("Open after Migrate: %v", err)
	}
	defer s.Close()
	if err := s.CreateUser(ctx, store.User{ID: "u1"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
}

// TestSchemaFromDSN: without Options.Schema the store uses the DSN's
// search_path.
func TestSchemaFromDSN(t *testing.T) {
	schema, ctx := newSchema(t), t.Context()
	if _, err := admin(t).Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(testDSN())
	if err != nil {
		t.Skipf("DSN is not a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := Open(ctx, Options{DSN: u.String(), Logger: testLogger(t), CleanupInterval: -1})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if s.schema != schema {
		t.Errorf("schema in use %q, want %q", s.schema, schema)
	}
	if err := s.CreateClient(ctx, store.Client{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := admin(t).QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema, "clients"}.Sanitize()).Scan(&n); err != nil || n != 1 {
		t.Fatalf("clients in %s: %d, %v", schema, n, err)
	}
}

func TestErrorsSayWhatFailed(t *testing.T) {
	s, ctx := open(t, newSchema(t)), t.Context()
	defer s.Close()
	_, err := s.GetUser(ctx, "u1")
	if want := "postgres: get user u1: store: not found"; err == nil || err.Error() != want {
		t.Errorf("GetUser: %v, want %q", err, want)
	}
	a := store.LocalAccount{ID: "l1", Username: "alice", Email: "alice@example.com"}
	if err := s.CreateLocalAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	a.ID = "l2"
	err = s.CreateLocalAccount(ctx, a)
	if want := "postgres: create local account l2: username taken: store: already exists"; err == nil || err.Error() != want {
		t.Errorf("CreateLocalAccount: %v, want %q", err, want)
	}
	err = s.CreateIdentity(ctx, store.Identity{ConnectorID: "gh", Subject: "1", UserID: "nobody"})
	if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "no such user") {
		t.Errorf("CreateIdentity for a missing user: %v", err)
	}
	// Token hashes are credentials' digests: never in a message.
	const hash = "secret-token-hash"
	f := store.RefreshFamily{ID: "f1", Current: hash, Expiry: time.Now().Add(time.Hour)}
	tok := store.RefreshToken{Hash: hash, FamilyID: "f1", Expiry: f.Expiry}
	if err := s.CreateRefreshFamily(ctx, f, tok); err != nil {
		t.Fatal(err)
	}
	f.ID = "f2"
	err = s.CreateRefreshFamily(ctx, f, tok)
	if !errors.Is(err, store.ErrAlreadyExists) || strings.Contains(err.Error(), hash) {
		t.Errorf("CreateRefreshFamily with a taken token: %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	s := open(t, newSchema(t), func(o *Options) { o.CleanupInterval = time.Hour })
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.GetUser(t.Context(), "u1"); err == nil || !strings.HasPrefix(err.Error(), "postgres: get user u1: ") {
		t.Errorf("GetUser after Close: %v, want a wrapped error", err)
	}
}

// TestRecordKeysAreBytes: kinds and keys hold any bytes, and prefixes
// match byte-wise, 0xff and NUL included.
func TestRecordKeysAreBytes(t *testing.T) {
	s, ctx := open(t, newSchema(t)), t.Context()
	defer s.Close()
	keys := []string{"a\x00b", "a\xff", "a\xff\xff", "a\xff\x00", "b", "\xff"}
	for _, k := range keys {
		if err := s.PutRecord(ctx, store.Record{Kind: "k\x00\xfe", Key: k, Value: []byte{0, 1, 0xff}}); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	for prefix, want := range map[string][]string{
		"a\xff": {"a\xff", "a\xff\x00", "a\xff\xff"},
		"a":     {"a\x00b", "a\xff", "a\xff\x00", "a\xff\xff"},
		"\xff":  {"\xff"},
		"":      keys,
	} {
		l, err := s.ListRecords(ctx, "k\x00\xfe", prefix)
		if err != nil {
			t.Fatalf("list %q: %v", prefix, err)
		}
		var got []string
		for _, r := range l {
			got = append(got, r.Key)
			if string(r.Value) != "\x00\x01\xff" {
				t.Errorf("value of %q: %q", r.Key, r.Value)
			}
		}
		slices.Sort(got)
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Errorf("list %q = %q, want %q", prefix, got, want)
		}
	}
}

// TestNULInRecords: a NUL in a string field (a client's state parameter)
// is stored like any character. (jsonb would refuse it.)
func TestNULInRecords(t *testing.T) {
	s, ctx := open(t, newSchema(t)), t.Context()
	defer s.Close()
	r := store.AuthRequest{ID: "r1", State: "a\x00b", Nonce: "\x00", Expiry: time.Now().Add(time.Hour)}
	if err := s.CreateAuthRequest(ctx, r); err != nil {
		t.Fatalf("create: %v", err)
	}
	got, err := s.GetAuthRequest(ctx, r.ID)
	if err != nil || got.State != r.State || got.Nonce != r.Nonce {
		t.Fatalf("get = %+v, %v", got, err)
	}
}

func TestPrefixEnd(t *testing.T) {
	for in, want := range map[string]string{"": "", "a": "b", "a\xff": "b", "\xff\xff": "", "ab\x00": "ab\x01"} {
		if got := string(prefixEnd([]byte(in))); got != want {
			t.Errorf("prefixEnd(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMigrationNames(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.version != i+1 {
			t.Errorf("migration %s is number %d, want %d: numbers run from 1 without gaps", m.name, m.version, i+1)
		}
	}
}

// TestPoolSize: without pool_max_conns in the DSN the pool is Portico's
// size, not pgxpool's smaller default; the DSN and Options.MaxConns still
// set it.
func TestPoolSize(t *testing.T) {
	if DefaultMaxConns() < 8 {
		t.Errorf("DefaultMaxConns %d, want at least 8", DefaultMaxConns())
	}
	for _, tc := range []struct {
		dsn  string
		want int32
	}{
		{"postgres://portico@db:5432/portico?sslmode=disable", DefaultMaxConns()},
		{"postgres://portico@db:5432/portico?sslmode=disable&pool_max_conns=3", 3},
		{"host=db user=portico pool_max_conns=5", 5},
		{"host=db user=portico", DefaultMaxConns()},
	} {
		if got, err := PoolSize(tc.dsn); err != nil || got != tc.want {
			t.Errorf("PoolSize(%q) = %d, %v; want %d", tc.dsn, got, err, tc.want)
		}
	}
	if _, err := PoolSize("postgres://a b@:x"); err == nil {
		t.Error("PoolSize of a bad DSN: no error")
	}
	if strings.Contains(testDSN(), "pool_max_conns") {
		t.Skip("the test DSN sets pool_max_conns")
	}
	s := open(t, newSchema(t))
	defer s.Close()
	if got := s.pool.Config().MaxConns; got != DefaultMaxConns() {
		t.Errorf("Open's pool holds %d connections, want %d", got, DefaultMaxConns())
	}
	s2 := open(t, newSchema(t), func(o *Options) { o.MaxConns = 2 })
	defer s2.Close()
	if got := s2.pool.Config().MaxConns; got != 2 {
		t.Errorf("with MaxConns 2 the pool holds %d", got)
	}
}
