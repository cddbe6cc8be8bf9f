package postgres

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/portico-idp/portico/broker/store"
)

// TestWrapUnavailable: PostgreSQL out of a resource (SQLSTATE class 53,
// a full disk first of all) is store.ErrUnavailable, which the broker
// answers with 503 and the readiness probe reports; the server's error
// stays in the chain for the log. Other errors keep their meaning.
func TestWrapUnavailable(t *testing.T) {
	diskFull := &pgconn.PgError{Severity: "ERROR", Code: "53100", Message: `could not extend file "base/16384/16999": No space left on device`}
	tests := []struct {
		name        string
		err         error
		unavailable bool
		is          error // must still match
	}{
		{name: "disk full", err: diskFull, unavailable: true, is: diskFull},
		{name: "disk full inside a transaction's error", err: fmt.Errorf("commit: %w", diskFull), unavailable: true, is: diskFull},
		{name: "out of memory", err: &pgconn.PgError{Code: "53200"}, unavailable: true},
		{name: "too many connections", err: &pgconn.PgError{Code: "53300"}, unavailable: true},
		{name: "read-only (a hot standby)", err: &pgconn.PgError{Code: "25006"}, unavailable: true},
		{name: "shutting down", err: &pgconn.PgError{Code: "57P01"}, unavailable: true},
		{name: "starting up", err: &pgconn.PgError{Code: "57P03"}, unavailable: true},
		{name: "other invalid transaction state", err: &pgconn.PgError{Code: "25001"}},
		{name: "unique violation", err: translate(&pgconn.PgError{Code: "23505", ConstraintName: "users_pkey"}), is: store.ErrAlreadyExists},
		{name: "serialization failure", err: &pgconn.PgError{Code: "40001"}},
		{name: "not a server error", err: errors.New("connection reset")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := wrap(tc.err, "create user %s", "u1")
			if got := errors.Is(err, store.ErrUnavailable); got != tc.unavailable {
				t.Errorf("errors.Is(%v, store.ErrUnavailable) = %v, want %v", err, got, tc.unavailable)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v no longer matches %v", err, tc.is)
			}
		})
	}
	if got, want := wrap(diskFull, "create user %s", "u1").Error(),
		`postgres: create user u1: store: unavailable: ERROR: could not extend file "base/16384/16999": No space left on device (SQLSTATE 53100)`; got != want {
		t.Errorf("message:\n got  %s\n want %s", got, want)
	}
}

// TestReadOnlyConnectionReplaced: a connection whose session was started
// read-only (a database with default_transaction_read_only set, since
// turned off) is closed at its first refused write, so that the next write
// gets a new connection and succeeds once the database takes writes;
// before, the pool kept the read-only connection (found by a black-box
// attack). One connection in the pool makes the next write reuse it.
func TestReadOnlyConnectionReplaced(t *testing.T) {
	s := open(t, newSchema(t), func(o *Options) { o.MaxConns = 1 })
	defer s.Close()
	ctx := t.Context()
	if _, err := s.pool.Exec(ctx, "SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	rec := store.Record{Kind: "k", Key: "a", Value: []byte("1")}
	if err := s.PutRecord(ctx, rec); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a write on the read-only session: %v, want store.ErrUnavailable", err)
	}
	if err := s.PutRecord(ctx, rec); err != nil {
		t.Errorf("the next write, on a new connection: %v", err)
	}
}
