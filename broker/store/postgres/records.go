package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/portico-idp/portico/broker/store"
)

// Generic records. Kind and key are bytea, so any bytes are kept and
// compared as bytes; a NULL expiry never expires.

var (
	createRecordSQL = `INSERT INTO records (kind, key, value, expiry, version) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value, expiry = EXCLUDED.expiry, version = EXCLUDED.version
WHERE records.expiry <= $6 RETURNING 1`
	updateRecordSQL = casSQL("records", "kind = $2 AND key = $3 AND (expiry IS NULL OR expiry > $4)",
		"value = $5, expiry = $6")
)

func (s *Store) GetRecord(ctx context.Context, kind, key string) (store.Record, error) {
	r := store.Record{Kind: kind, Key: key}
	var expiry *time.Time
	err := s.pool.QueryRow(ctx, `SELECT value, expiry, version FROM records
WHERE kind = $1 AND key = $2 AND (expiry IS NULL OR expiry > $3)`,
		[]byte(kind), []byte(key), time.Now()).Scan(&r.Value, &expiry, &r.Version)
	if err != nil {
		return store.Record{}, wrap(translate(err), "get %s record", kind)
	}
	if expiry != nil {
		r.Expiry = *expiry
	}
	return r, nil
}

func (s *Store) GetRecords(ctx context.Context, kind string, keys ...string) ([]store.Record, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	bkeys := make([][]byte, len(keys))
	for i, k := range keys {
		bkeys[i] = []byte(k)
	}
	// One statement, so one snapshot; WITH ORDINALITY keeps keys' order.
	rows, err := s.pool.Query(ctx, `SELECT r.key, r.value, r.expiry, r.version
FROM unnest($2::bytea[]) WITH ORDINALITY AS k(key, n)
JOIN records r ON r.kind = $1 AND r.key = k.key AND (r.expiry IS NULL OR r.expiry > $3)
ORDER BY k.n`, []byte(kind), bkeys, time.Now())
	if err != nil {
		return nil, wrap(translate(err), "get %s records", kind)
	}
	defer rows.Close()
	var out []store.Record
	for rows.Next() {
		r := store.Record{Kind: kind}
		var key []byte
		var expiry *time.Time
		if err := rows.Scan(&key, &r.Value, &expiry, &r.Version); err != nil {
			return nil, wrap(err, "get %s records", kind)
		}
		r.Key = string(key)
		if expiry != nil {
			r.Expiry = *expiry
		}
		out = append(out, r)
	}
	return out, wrap(rows.Err(), "get %s records", kind)
}

// PutRecord at Version 0 creates the record, replacing an expired one; at
// another Version it is a compare-and-swap of the live record. Either way
// the record is stored whole, its Expiry included.
func (s *Store) PutRecord(ctx context.Context, r store.Record) error {
	value := r.Value
	if value == nil {
		value = []byte{}
	}
	var err error
	if r.Version == 0 {
		err = insert(ctx, s.pool, createRecordSQL,
			[]byte(r.Kind), []byte(r.Key), value, nullTime(r.Expiry), r.Version+1, time.Now())
	} else {
		err = cas(ctx, s.pool, updateRecordSQL,
			r.Version, []byte(r.Kind), []byte(r.Key), time.Now(), value, nullTime(r.Expiry))
	}
	return wrap(err, "put %s record", r.Kind)
}

func (s *Store) DeleteRecord(ctx context.Context, kind, key string) error {
	return wrap(exec(ctx, s.pool, `DELETE FROM records
WHERE kind = $1 AND key = $2 AND (expiry IS NULL OR expiry > $3)`, []byte(kind), []byte(key), time.Now()),
		"delete %s record", kind)
}

// ListRecords scans the keys from prefix up to the first key past every
// key that starts with it, which is byte-wise prefix matching.
func (s *Store) ListRecords(ctx context.Context, kind, prefix string) ([]store.Record, error) {
	sql := `SELECT key, value, expiry, version FROM records
WHERE kind = $1 AND key >= $2 AND (expiry IS NULL OR expiry > $3)`
	args := []any{[]byte(kind), []byte(prefix), time.Now()}
	if end := prefixEnd([]byte(prefix)); end != nil {
		sql += ` AND key < $4`
		args = append(args, end)
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap(translate(err), "list %s records", kind)
	}
	var (
		out    []store.Record
		key    []byte
		value  []byte
		expiry *time.Time
		ver    int64
	)
	_, err = pgx.ForEachRow(rows, []any{&key, &value, &expiry, &ver}, func() error {
		r := store.Record{Kind: kind, Key: string(key), Value: value, Version: ver}
		if expiry != nil {
			r.Expiry = *expiry
		}
		out = append(out, r)
		return nil
	})
	return out, wrap(translate(err), "list %s records", kind)
}

// prefixEnd is the least byte string greater than every string that starts
// with prefix, or nil if there is none (prefix empty or all 0xff).
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Audit events.

const createAuditSQL = `INSERT INTO audit_events (time, id, expiry, data) VALUES ($1, $2, $3, $4)
ON CONFLICT (time, id) DO UPDATE SET expiry = EXCLUDED.expiry, data = EXCLUDED.data
WHERE audit_events.expiry <= $5 RETURNING 1`

// CreateAuditEvents stores every event or, if one has the time and id of a
// live event (stored or earlier in events), none.
func (s *Store) CreateAuditEvents(ctx context.Context, events ...store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	data := make([][]byte, len(events))
	for i := range events {
		var err error
		if data[i], err = encode(events[i]); err != nil {
			return wrap(err, "create %d audit events", len(events))
		}
	}
	if len(events) == 1 {
		e := events[0]
		return wrap(insert(ctx, s.pool, createAuditSQL, e.Time, e.ID, e.Expiry, data[0], time.Now()),
			"create audit event %s", e.ID)
	}
	times, ids, expiries := make([]time.Time, len(events)), make([]string, len(events)), make([]time.Time, len(events))
	for i, e := range events {
		times[i], ids[i], expiries[i] = e.Time, e.ID, e.Expiry
	}
	var one int
	err := s.pool.QueryRow(ctx, createAuditBatchSQL, times, ids, expiries, data, time.Now(), len(events)).Scan(&one)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == errAuditTaken || pgErr.Code == errAuditRepeated) {
		err = fmt.Errorf("audit event: %s: %w", constraints["audit_events_pkey"], store.ErrAlreadyExists)
	} else {
		err = translate(err)
	}
	return wrap(err, "create %d audit events", len(events))
}

// createAuditBatchSQL is CreateAuditEvents of several events in one
// statement (issue 24: the trail of a busy server was one round trip per
// event). Like rotateSQL, it fails on purpose, dividing by zero, when an
// event's time and id are a live event's, so that none is stored; two
// events of the batch with the same time and id fail it too (SQLSTATE
// 21000: ON CONFLICT cannot change a row twice).
const createAuditBatchSQL = `WITH ins AS (
	INSERT INTO audit_events (time, id, expiry, data)
	SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::timestamptz[], $4::json[])
	ON CONFLICT (time, id) DO UPDATE SET expiry = EXCLUDED.expiry, data = EXCLUDED.data
	WHERE audit_events.expiry <= $5 RETURNING 1)
SELECT 1 / (CASE WHEN count(*) = $6::bigint THEN 1 ELSE 0 END) FROM ins`

// SQLSTATEs of createAuditBatchSQL's refusals: division_by_zero and
// cardinality_violation.
const (
	errAuditTaken    = "22012"
	errAuditRepeated = "21000"
)

// ListAuditEvents compares times at PostgreSQL's precision, microseconds.
func (s *Store) ListAuditEvents(ctx context.Context, since time.Time, limit int) ([]store.AuditEvent, error) {
	var lim any // NULL: no limit
	if limit > 0 {
		lim = limit
	}
	es, err := listRecords[store.AuditEvent](ctx, s.pool, nil, `SELECT data FROM audit_events
WHERE time >= $1 AND expiry > $2 ORDER BY time, id LIMIT $3`, since, time.Now(), lim)
	return es, wrap(err, "list audit events")
}
