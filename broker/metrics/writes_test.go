package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/metrics"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/store/badger"
	"github.com/portico-idp/portico/testenv"
)

// TestStoreFullDisk: a Badger store on a full filesystem (a tmpfs the test
// fills) makes the readiness probe fail, saying why, and the gauges show
// it; freeing the space makes it ready again, with no write needed.
func TestStoreFullDisk(t *testing.T) {
	const floor = 16 << 20
	fs := testenv.TmpFS(t, 40<<20)
	bs, err := badger.Open(badger.Options{Dir: filepath.Join(fs, "data"), MinFreeSpace: floor,
		SpaceCheckInterval: time.Nanosecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	st := m.WrapStore(bs)
	defer st.Close()
	m.WatchStore(st)
	readyz := metrics.Health{}.Readyz(metrics.StoreCheck(st))

	fams := scrape(t, m)
	wantValue(t, fams, "portico_store_refusing_writes", nil, 0)
	wantValue(t, fams, "portico_store_min_free_bytes", nil, floor)
	if free := value(t, fams, "portico_store_free_bytes", nil); free < floor {
		t.Errorf("portico_store_free_bytes = %v on an empty filesystem", free)
	}
	if code, _, raw := ready(t, readyz); code != http.StatusOK {
		t.Fatalf("readyz before the fill = %d %s", code, raw)
	}

	filler := testenv.FillFS(t, fs)
	code, b, raw := ready(t, readyz)
	if code != http.StatusServiceUnavailable || b.Checks[0].Name != "store" || b.Checks[0].Status != "failed" ||
		!strings.Contains(b.Checks[0].Error, "writes refused") || !strings.Contains(b.Checks[0].Error, "below the floor of 16.0 MiB") {
		t.Fatalf("readyz on a full disk = %d %s, want 503 with the store failed and why", code, raw)
	}
	fams = scrape(t, m)
	wantValue(t, fams, "portico_store_refusing_writes", nil, 1)
	if free := value(t, fams, "portico_store_free_bytes", nil); free >= floor {
		t.Errorf("portico_store_free_bytes = %v on a full disk", free)
	}
	err = st.CreateClient(t.Context(), store.Client{ID: "c1"})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("CreateClient on a full disk: %v", err)
	}
	wantValue(t, scrape(t, m), "portico_store_errors_total", map[string]string{"op": "CreateClient"}, 1)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if code, _, raw := ready(t, readyz); code != http.StatusOK {
		t.Fatalf("readyz with space back = %d %s", code, raw)
	}
	wantValue(t, scrape(t, m), "portico_store_refusing_writes", nil, 0)
}

// flaky is a real store whose writes the test can make fail as a full
// PostgreSQL fails them: store.ErrUnavailable, which only a write
// reveals. Embedding the interface hides the Badger store's own
// CheckWrites, as PostgreSQL has none.
type flaky struct {
	store.Store
	mu   sync.Mutex
	full bool
}

func (f *flaky) setFull(full bool) {
	f.mu.Lock()
	f.full = full
	f.mu.Unlock()
}

func (f *flaky) PutRecord(ctx context.Context, r store.Record) error {
	f.mu.Lock()
	full := f.full
	f.mu.Unlock()
	if full {
		return fmt.Errorf("postgres: put record: %w: ERROR: could not extend file: No space left on device (SQLSTATE 53100)", store.ErrUnavailable)
	}
	return f.Store.PutRecord(ctx, r)
}

// TestStoreRefusedWrite: for a store that cannot tell beforehand whether it
// takes writes (PostgreSQL), a write refused as unavailable makes the
// store unready, saying why, until a write succeeds or refusalHold passes
// (a replica taken out of traffic writes nothing, and must come back to
// try). Reads and other failures do not count.
func TestStoreRefusedWrite(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	m := metrics.New()
	metrics.SetNow(m, func() time.Time { return now })
	backend := &flaky{Store: openBadger(t)}
	st := m.WrapStore(backend)
	defer st.Close()
	m.WatchStore(st)
	readyz := metrics.Health{}.Readyz(metrics.StoreCheck(st))
	put := func(key string) error { return st.PutRecord(ctx, store.Record{Kind: "k", Key: key}) }

	fams := scrape(t, m)
	wantValue(t, fams, "portico_store_refusing_writes", nil, 0)
	if fams["portico_store_free_bytes"] != nil {
		t.Error("portico_store_free_bytes exists for a store without a free-space floor")
	}

	steps := []struct {
		name    string
		full    bool
		advance time.Duration
		write   string // a key to put, or none
		ready   bool
	}{
		{name: "ready at first", ready: true},
		{name: "a refused write makes it unready", full: true, write: "a"},
		{name: "and it stays so", full: true, advance: metrics.RefusalHold - time.Second},
		{name: "a read changes nothing", full: true, write: ""},
		{name: "a write that succeeds makes it ready", write: "b", ready: true},
		{name: "refused again", full: true, write: "c"},
		{name: "ready once the hold has passed, to be tried again", full: true, advance: metrics.RefusalHold, ready: true},
		{name: "a lost race is no refusal", write: "b", ready: true},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		backend.setFull(s.full)
		if s.write != "" {
			err := put(s.write)
			if s.full != errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("%s: put: %v", s.name, err)
			}
		} else if _, err := st.GetKeys(ctx); err != nil {
			t.Fatal(err)
		}
		code, b, raw := ready(t, readyz)
		if s.ready != (code == http.StatusOK) {
			t.Fatalf("%s: readyz = %d %s", s.name, code, raw)
		}
		if !s.ready && (!strings.Contains(b.Checks[0].Error, "writes refused: a write was refused") ||
			!strings.Contains(b.Checks[0].Error, "No space left on device")) {
			t.Errorf("%s: the store check does not say why: %s", s.name, raw)
		}
		refusing := 0.0
		if !s.ready {
			refusing = 1
		}
		wantValue(t, scrape(t, m), "portico_store_refusing_writes", nil, refusing)
	}
}
