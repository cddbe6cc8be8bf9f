package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// expiring are the tables with an expiry column, which the cleanup job
// empties of expired rows.
var expiring = []string{
	"auth_requests", "auth_codes", "refresh_families", "refresh_tokens",
	"denied_access_tokens", "opaque_tokens", "audit_events", "records",
}

// deleteExpiredSQL deletes at most $2 rows of table that expired by $1. The
// inner select finds them by the expiry index; the outer condition is
// checked again on the row it deletes, so a row that a create replaced
// meanwhile (same key, new expiry) stays. A NULL expiry never matches.
func deleteExpiredSQL(table string) string {
	return `DELETE FROM ` + table + ` WHERE ctid = ANY (ARRAY (
	SELECT ctid FROM ` + table + ` WHERE expiry <= $1 LIMIT $2)) AND expiry <= $1`
}

// cleanup deletes expired rows every interval until ctx ends.
func (s *Store) cleanup(ctx context.Context, interval time.Duration) {
	defer close(s.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n, ran, err := s.deleteExpired(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.Warn("postgres: deleting expired rows failed", "err", err, "deleted", n)
		case ran && n > 0:
			s.log.Debug("postgres: deleted expired rows", "deleted", n)
		}
	}
}

// deleteExpired deletes the rows that have expired, a batch per transaction
// so that no transaction holds many row locks or runs long. Each batch takes
// the schema's cleanup lock first, without waiting: if another replica
// holds it, that replica is cleaning up, and this one stops (ran false)
// until its next round. It returns the number of rows deleted.
func (s *Store) deleteExpired(ctx context.Context) (deleted int64, ran bool, err error) {
	now := time.Now()
	key := lockKey("cleanup", s.schema)
	for _, table := range expiring {
		sql := deleteExpiredSQL(table)
		for {
			var locked bool
			var n int64
			err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1, $2)`, lockSpace, key).Scan(&locked)
				if err != nil || !locked {
					return err
				}
				tag, err := tx.Exec(ctx, sql, now, s.batch)
				n = tag.RowsAffected()
				return err
			})
			if err != nil {
				return deleted, true, fmt.Errorf("%s: %w", table, err)
			}
			if !locked {
				return deleted, false, nil
			}
			deleted += n
			if n < int64(s.batch) {
				break
			}
		}
	}
	return deleted, true, nil
}
