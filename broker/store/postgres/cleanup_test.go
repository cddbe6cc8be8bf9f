package postgres

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/portico-idp/portico/broker/store"
)

// eventTime is the time of fill's events, so that a second fill with a tag
// hits the event of the first.
var eventTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fill stores one row in every table with an expiry, expiring at expiry,
// with keys made of tag.
func fill(t *testing.T, s *Store, tag string, expiry time.Time) {
	t.Helper()
	ctx := t.Context()
	f := store.RefreshFamily{ID: tag, UserID: "u", Current: tag, Expiry: expiry}
	for what, err := range map[string]error{
		"auth request": s.CreateAuthRequest(ctx, store.AuthRequest{ID: tag, Expiry: expiry}),
		"auth code":    s.CreateAuthCode(ctx, store.AuthCode{ID: tag, Expiry: expiry}),
		"family":       s.CreateRefreshFamily(ctx, f, store.RefreshToken{Hash: tag, FamilyID: tag, Expiry: expiry}),
		"denial":       s.DenyAccessToken(ctx, tag, expiry),
		"opaque token": s.CreateOpaqueToken(ctx, store.OpaqueToken{Hash: tag, Expiry: expiry}),
		"audit event":  s.CreateAuditEvents(ctx, store.AuditEvent{ID: tag, Time: eventTime, Expiry: expiry}),
		"record":       s.PutRecord(ctx, store.Record{Kind: "k", Key: tag, Expiry: expiry}),
	} {
		if err != nil {
			t.Fatalf("create %s %s: %v", what, tag, err)
		}
	}
}

// rows counts the rows of every table with an expiry in schema.
func rows(t *testing.T, schema string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range expiring {
		var n int
		err := admin(t).QueryRow(t.Context(), `SELECT count(*) FROM `+pgx.Identifier{schema, table}.Sanitize()).Scan(&n)
		if err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

func wantRows(t *testing.T, schema string, want map[string]int) {
	t.Helper()
	got := rows(t, schema)
	for _, table := range expiring {
		if got[table] != want[table] {
			t.Errorf("%s has %d rows, want %d", table, got[table], want[table])
		}
	}
}

func each(n int) map[string]int {
	m := map[string]int{}
	for _, table := range expiring {
		m[table] = n
	}
	return m
}

func TestCleanupDeletesOnlyExpiredRows(t *testing.T) {
	schema, ctx := newSchema(t), t.Context()
	const batch, expired = 2, 5 // more than two batches a table
	s := open(t, schema, func(o *Options) { o.CleanupBatch = batch })
	defer s.Close()
	fill(t, s, "live", time.Now().Add(time.Hour))
	if err := s.PutRecord(ctx, store.Record{Kind: "k", Key: "forever"}); err != nil {
		t.Fatal(err)
	}
	for i := range expired {
		fill(t, s, fmt.Sprint("gone-", i), time.Now().Add(-time.Minute))
	}
	// A create over an expired row makes it live again: it stays.
	fill(t, s, "gone-0", time.Now().Add(time.Hour))
	live := each(2)
	live["records"] = 3
	all := each(1 + expired)
	all["records"] = 2 + expired
	wantRows(t, schema, all)

	// Another replica holds the lock: this one leaves the rows to it.
	conn, err := admin(t).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	key := lockKey("cleanup", schema)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, lockSpace, key); err != nil {
		t.Fatal(err)
	}
	n, ran, err := s.deleteExpired(ctx)
	if err != nil || ran || n != 0 {
		t.Fatalf("deleteExpired while another holds the lock = %d, %v, %v; want 0, false, nil", n, ran, err)
	}
	wantRows(t, schema, all)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, lockSpace, key); err != nil {
		t.Fatal(err)
	}

	n, ran, err = s.deleteExpired(ctx)
	if err != nil || !ran || n != int64(len(expiring)*(expired-1)) {
		t.Fatalf("deleteExpired = %d, %v, %v; want %d, true, nil", n, ran, err, len(expiring)*(expired-1))
	}
	wantRows(t, schema, live)
	for _, id := range []string{"live", "gone-0"} {
		if _, err := s.GetAuthRequest(ctx, id); err != nil {
			t.Errorf("get live auth request %s: %v", id, err)
		}
		if _, err := s.GetRefreshToken(ctx, id); err != nil {
			t.Errorf("get live refresh token %s: %v", id, err)
		}
	}
	if _, err := s.GetRecord(ctx, "k", "forever"); err != nil {
		t.Errorf("get the record without expiry: %v", err)
	}
}

// TestCleanupJob runs the job of two replicas on one schema: the expired
// rows go, and neither replica reports a failure.
func TestCleanupJob(t *testing.T) {
	schema := newSchema(t)
	var failures atomic.Int64
	withJob := func(o *Options) {
		o.CleanupInterval = 10 * time.Millisecond
		o.Logger = slog.New(countingHandler{msg: "postgres: deleting expired rows failed", n: &failures})
	}
	a, b := open(t, schema, withJob), open(t, schema, withJob)
	fill(t, a, "live", time.Now().Add(time.Hour))
	for i := range 3 {
		fill(t, b, fmt.Sprint("gone-", i), time.Now().Add(-time.Second))
	}
	deadline := time.Now().Add(time.Minute)
	for {
		got, done := rows(t, schema), true
		for _, table := range expiring {
			done = done && got[table] == 1
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired rows still there after 10s: %v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, s := range []*Store{a, b} {
		start := time.Now()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Close took %v: the job did not stop", d)
		}
	}
	if n := failures.Load(); n > 0 {
		t.Errorf("the jobs reported %d failures", n)
	}
}
