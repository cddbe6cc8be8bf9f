package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/portico-idp/portico/broker/store"
)

// liveness bounds waits for something that happens in the background: a
// slow machine waits longer, a broken one fails.
const liveness = time.Minute

// TestNotifyTriggers: migration 0002 notifies a change of the signing keys,
// of a client or of a connector record, tagged with its schema, and nothing for other
// records (they change on hot paths).
func TestNotifyTriggers(t *testing.T) {
	schemaA, schemaB := newSchema(t), newSchema(t)
	a, b := open(t, schemaA), open(t, schemaB)
	t.Cleanup(func() { a.Close(); b.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), liveness)
	defer cancel()
	conn, err := pgx.Connect(ctx, testDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.PutRecord(ctx, store.Record{Kind: "throttle", Key: "k", Value: []byte("1")}))
	must(a.PutRecord(ctx, store.Record{Kind: "connector", Key: "c", Value: []byte("{}")}))
	must(b.UpdateKeys(ctx, store.KeySet{}))
	must(a.PutRecord(ctx, store.Record{Kind: "throttle", Key: "k", Value: []byte("2"), Version: 1}))
	must(a.DeleteRecord(ctx, "connector", "c"))
	must(a.UpdateKeys(ctx, store.KeySet{}))
	must(b.CreateClient(ctx, store.Client{ID: "app"}))
	want := []string{schemaA + "/records", schemaB + "/signing_keys", schemaA + "/records", schemaA + "/signing_keys", schemaB + "/clients"}
	var got []string
	for len(got) < len(want) {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		if n.Channel == notifyChannel && (strings.HasPrefix(n.Payload, schemaA+"/") || strings.HasPrefix(n.Payload, schemaB+"/")) {
			got = append(got, n.Payload) // other tests' schemas share the database
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("notifications %q, want %q", got, want)
	}
}

// TestWatch: a watch signals once it listens, at each change of keys or
// connectors made by another Store on its schema, and listens again after
// its connection is killed, signalling then too.
func TestWatch(t *testing.T) {
	schema := newSchema(t)
	a, b := open(t, schema), open(t, schema)
	// Close must end the watch itself: its context never ends.
	t.Cleanup(func() { a.Close(); b.Close() })
	ch := b.Watch(context.Background())
	next := func(what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(liveness):
			t.Fatalf("no signal %s", what)
		}
	}
	next("once listening")
	ctx := t.Context()
	if err := a.UpdateKeys(ctx, store.KeySet{}); err != nil {
		t.Fatal(err)
	}
	next("for a key change")
	if err := a.PutRecord(ctx, store.Record{Kind: "connector", Key: "c", Value: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	next("for a connector change")

	var killed int
	if err := admin(t).QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE application_name = $1) k`, "portico listen "+schema).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("killed %d listening connections (%v), want 1", killed, err)
	}
	next("once listening again")
	if err := a.DeleteRecord(ctx, "connector", "c"); err != nil {
		t.Fatal(err)
	}
	next("for a change after the connection was lost")
}
