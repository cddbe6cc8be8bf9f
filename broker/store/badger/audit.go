package badger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bdg "github.com/dgraph-io/badger/v4"

	"github.com/portico-idp/portico/broker/store"
)

// Audit events are keyed by time, so a listing from a time is one seek and
// a scan in order: audit/<microseconds since 1970, 20 digits>/<id>.
func auditKey(e *store.AuditEvent) []byte {
	return key("audit", auditTime(e.Time), e.ID)
}

func auditTime(t time.Time) string { return fmt.Sprintf("%020d", max(t.UnixMicro(), 0)) }

func (s *Store) CreateAuditEvents(ctx context.Context, events ...store.AuditEvent) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		for i := range events {
			k := auditKey(&events[i])
			if err := absent[store.AuditEvent](txn, k); err != nil {
				return fmt.Errorf("event %s: %w", events[i].ID, err)
			}
			if err := set(txn, k, &events[i]); err != nil {
				return err
			}
		}
		return nil
	}), "create %d audit events", len(events))
}

func (s *Store) ListAuditEvents(ctx context.Context, since time.Time, limit int) ([]store.AuditEvent, error) {
	var out []store.AuditEvent
	err := s.view(ctx, func(txn *bdg.Txn) error {
		opts := bdg.DefaultIteratorOptions
		opts.Prefix = under("audit")
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(key("audit", auditTime(since))); it.Valid(); it.Next() {
			var e store.AuditEvent
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &e) }); err != nil {
				return fmt.Errorf("decode %q: %w", it.Item().Key(), err)
			}
			if expired(e.Expiry) || e.Time.Before(since) {
				continue
			}
			out = append(out, e)
			if limit > 0 && len(out) == limit {
				break
			}
		}
		return nil
	})
	return out, wrap(err, "list audit events")
}
