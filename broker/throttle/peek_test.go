package throttle

import (
	"context"
	"testing"

	"github.com/portico-idp/portico/broker/store"
)

// singleReads is a store that can read one record at a time only, and
// counts the reads of either kind.
type singleReads struct {
	Records
	one int
}

func (s *singleReads) GetRecord(ctx context.Context, kind, key string) (store.Record, error) {
	s.one++
	return s.Records.GetRecord(ctx, kind, key)
}

// severalReads adds GetRecords, as the store has.
type severalReads struct {
	*singleReads
	several int
}

func (s *severalReads) GetRecords(ctx context.Context, kind string, keys ...string) ([]store.Record, error) {
	s.several++
	return s.Records.(multiGetter).GetRecords(ctx, kind, keys...)
}

// TestPeekReadsOnce: Peek reads all its keys in one read when the store
// can (each read transaction waits for the commits in flight), one by one
// otherwise, and decides the same either way.
func TestPeekReadsOnce(t *testing.T) {
	c := newClock()
	st := openStore(t, "")
	locked, free := Login("locked"), IP("192.0.2.1")
	fail(t, newLimiter(t, st, Policy{}, c), 20, locked)
	one := &singleReads{Records: st}
	several := &severalReads{singleReads: &singleReads{Records: st}}
	var ds []Decision
	for _, recs := range []Records{one, several} {
		d, err := newLimiter(t, recs, Policy{}, c).Peek(t.Context(), free, locked)
		must(t, err, "Peek")
		ds = append(ds, d)
	}
	if one.one != 2 || several.several != 1 || several.singleReads.one != 0 {
		t.Errorf("reads: one by one %d (want 2); several %d in GetRecords (want 1), %d alone (want 0)",
			one.one, several.several, several.singleReads.one)
	}
	if ds[0] != ds[1] || ds[0].Allowed {
		t.Errorf("decisions %+v and %+v, want the same refusal", ds[0], ds[1])
	}
}
