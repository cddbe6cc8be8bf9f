package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/store"
)

// testRecords covers the generic records: create at Version 0, then
// compare-and-swap; kinds and keys do not collide; prefix lists; expiry.
func testRecords(t *testing.T, open opener) {
	rec := func(kind, key, v string) store.Record {
		return store.Record{Kind: kind, Key: key, Value: []byte(`{"v":"` + v + `"}`)}
	}
	t.Run("CreateThenCompareAndSwap", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		_, err := s.GetRecord(ctx, "k", "a")
		wantErr(t, err, store.ErrNotFound, "get missing")
		r := rec("k", "a", "1")
		r.Expiry = time.Now().Add(time.Hour).Truncate(time.Microsecond)
		must(t, s.PutRecord(ctx, r), "create")
		wantErr(t, s.PutRecord(ctx, r), store.ErrAlreadyExists, "create twice")
		got, err := s.GetRecord(ctx, "k", "a")
		must(t, err, "get")
		r.Version = 1
		same(t, "record", got, r)

		for _, v := range []int64{2, 7} {
			stale := rec("k", "a", "x")
			stale.Version = v
			wantErr(t, s.PutRecord(ctx, stale), store.ErrConflict, fmt.Sprintf("put at version %d of 1", v))
		}
		next := rec("k", "a", "2")
		next.Version = 1
		must(t, s.PutRecord(ctx, next), "put at version 1")
		got, err = s.GetRecord(ctx, "k", "a")
		must(t, err, "get")
		next.Version = 2
		same(t, "record after update", got, next) // Expiry cleared: the put is whole

		missing := rec("k", "b", "1")
		missing.Version = 1
		wantErr(t, s.PutRecord(ctx, missing), store.ErrNotFound, "put missing at version 1")
	})
	t.Run("Delete", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		wantErr(t, s.DeleteRecord(ctx, "k", "a"), store.ErrNotFound, "delete missing")
		must(t, s.PutRecord(ctx, rec("k", "a", "1")), "create")
		must(t, s.DeleteRecord(ctx, "k", "a"), "delete")
		_, err := s.GetRecord(ctx, "k", "a")
		wantErr(t, err, store.ErrNotFound, "get deleted")
		must(t, s.PutRecord(ctx, rec("k", "a", "again")), "create after delete")
	})
	t.Run("KindsAndKeysAreSeparate", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		// Keys with separators and escapes must not meet: "a/b" in kind "k"
		// is not "b" in kind "k/a".
		pairs := [][2]string{{"k", "a/b"}, {"k/a", "b"}, {"k", "a%2Fb"}, {"k", "a"}, {"k2", "a"}, {"k", "ä b"}}
		for i, p := range pairs {
			must(t, s.PutRecord(ctx, rec(p[0], p[1], fmt.Sprint(i))), "create "+p[0]+" "+p[1])
		}
		for i, p := range pairs {
			got, err := s.GetRecord(ctx, p[0], p[1])
			must(t, err, "get "+p[0]+" "+p[1])
			want := rec(p[0], p[1], fmt.Sprint(i))
			want.Version = 1
			same(t, "record "+p[0]+" "+p[1], got, want)
		}
	})
	t.Run("ListByPrefix", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		for _, k := range []string{"u1/c1", "u1/c2", "u10/c1", "u2/c1", "u1 x"} {
			must(t, s.PutRecord(ctx, rec("consent", k, k)), "create "+k)
		}
		must(t, s.PutRecord(ctx, rec("other", "u1/c1", "x")), "create other kind")
		gone := rec("consent", "u1/c3", "gone")
		gone.Expiry = time.Now().Add(-time.Millisecond).Truncate(time.Microsecond)
		must(t, s.PutRecord(ctx, gone), "create expired")
		for prefix, want := range map[string][]string{
			"u1/": {"u1/c1", "u1/c2"},
			"u1":  {"u1 x", "u1/c1", "u1/c2", "u10/c1"},
			"":    {"u1 x", "u1/c1", "u1/c2", "u10/c1", "u2/c1"},
			"u3":  nil,
		} {
			l, err := s.ListRecords(ctx, "consent", prefix)
			must(t, err, "list "+prefix)
			var keys []string
			for _, r := range l {
				if r.Kind != "consent" || string(r.Value) != `{"v":"`+r.Key+`"}` || r.Version != 1 {
					t.Errorf("list %q: record %+v", prefix, r)
				}
				keys = append(keys, r.Key)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, want) {
				t.Errorf("list %q = %q, want %q", prefix, keys, want)
			}
		}
	})
	// GetRecords reads several keys at one point in time, in the order
	// asked, leaving out missing and expired ones.
	t.Run("GetSeveral", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		for _, r := range []store.Record{rec("k", "a", "1"), rec("k", "b", "2"), rec("other", "c", "3")} {
			must(t, s.PutRecord(ctx, r), "create "+r.Key)
		}
		gone := rec("k", "gone", "4")
		gone.Expiry = time.Now().Add(-time.Millisecond).Truncate(time.Microsecond)
		must(t, s.PutRecord(ctx, gone), "create expired")
		got, err := s.GetRecords(ctx, "k", "b", "missing", "c", "gone", "a")
		must(t, err, "get several")
		var keys []string
		for _, r := range got {
			keys = append(keys, r.Key+"="+string(r.Value))
			if r.Kind != "k" || r.Version != 1 {
				t.Errorf("record %+v", r)
			}
		}
		if want := []string{`b={"v":"2"}`, `a={"v":"1"}`}; !slices.Equal(keys, want) {
			t.Errorf("GetRecords = %q, want %q", keys, want)
		}
		if got, err := s.GetRecords(ctx, "k"); err != nil || len(got) != 0 {
			t.Errorf("no keys: %v, %v", got, err)
		}
	})
	t.Run("Expiry", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		r := rec("k", "a", "1")
		r.Expiry = time.Now().Add(-time.Millisecond).Truncate(time.Microsecond)
		must(t, s.PutRecord(ctx, r), "create expired")
		_, err := s.GetRecord(ctx, "k", "a")
		wantErr(t, err, store.ErrNotFound, "get expired")
		r.Version = 1
		wantErr(t, s.PutRecord(ctx, r), store.ErrNotFound, "update expired")
		wantErr(t, s.DeleteRecord(ctx, "k", "a"), store.ErrNotFound, "delete expired")
		r.Version, r.Expiry = 0, time.Time{}
		must(t, s.PutRecord(ctx, r), "create over expired")
	})
	t.Run("RacingPutsOneWins", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, s.PutRecord(ctx, rec("n", "c", "0")), "create")
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				r := rec("n", "c", fmt.Sprint(i+1))
				r.Version = 1
				errs[i] = s.PutRecord(ctx, r)
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("losing put: %v, want ErrConflict", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d racing puts at version 1 won, want 1", won, n)
		}
	})
}
