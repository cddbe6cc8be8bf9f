package badger

import (
	"context"
	"errors"
	"net/url"

	bdg "github.com/dgraph-io/badger/v4"

	"github.com/portico-idp/portico/broker/store"
)

func recordKey(kind, k string) []byte { return key("rec", kind, k) }

func (s *Store) GetRecord(ctx context.Context, kind, k string) (store.Record, error) {
	r, err := getOne[store.Record](s, ctx, recordKey(kind, k))
	return r, wrap(err, "get %s record", kind)
}

func (s *Store) GetRecords(ctx context.Context, kind string, keys ...string) ([]store.Record, error) {
	var out []store.Record
	err := s.view(ctx, func(txn *bdg.Txn) error {
		for _, k := range keys {
			r, err := get[store.Record](txn, recordKey(kind, k))
			if errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, wrap(err, "get %s records", kind)
}

func (s *Store) PutRecord(ctx context.Context, r store.Record) error {
	k := recordKey(r.Kind, r.Key)
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		next := r
		next.Version++
		if r.Version == 0 {
			if err := absent[store.Record](txn, k); err != nil {
				return err
			}
			return set(txn, k, &next)
		}
		cur, err := get[store.Record](txn, k)
		if err != nil {
			return err
		}
		if cur.Version != r.Version {
			return store.ErrConflict
		}
		return set(txn, k, &next)
	}), "put %s record", r.Kind)
}

func (s *Store) DeleteRecord(ctx context.Context, kind, k string) error {
	key := recordKey(kind, k)
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		if _, err := get[store.Record](txn, key); err != nil {
			return err
		}
		return txn.Delete(key)
	}), "delete %s record", kind)
}

func (s *Store) ListRecords(ctx context.Context, kind, prefix string) ([]store.Record, error) {
	// Escaping works a character at a time, so the escaped prefix is a
	// prefix of every escaped key that starts with it.
	p := append(under("rec", kind), url.PathEscape(prefix)...)
	var out []store.Record
	err := s.view(ctx, func(txn *bdg.Txn) (err error) {
		out, err = list[store.Record](txn, p)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return out, wrap(err, "list %s records", kind)
}
