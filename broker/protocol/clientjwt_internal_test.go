package protocol

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzClientAssertion: parsing an untrusted client_assertion never panics,
// and what it accepts names a client (iss = sub, not empty) with one of the
// allowed algorithms.
func FuzzClientAssertion(f *testing.F) {
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJhIiwic3ViIjoiYSJ9.")
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJhIiwic3ViIjoiYSJ9.c2ln")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		a, err := parseClientAssertion(raw)
		if err != nil {
			return
		}
		if a.claims.Issuer == "" || a.claims.Issuer != a.claims.Subject {
			t.Fatalf("accepted iss %q sub %q", a.claims.Issuer, a.claims.Subject)
		}
		ok := false
		for _, alg := range assertionAlgs {
			ok = ok || string(alg) == a.alg
		}
		if !ok {
			t.Fatalf("accepted alg %q", a.alg)
		}
	})
}

// TestClientKeysCache: concurrent requests share one fetch; a set is kept
// for its max-age, bounded by MaxTTL, and fetched again after it.
func TestClientKeysCache(t *testing.T) {
	release := make(chan struct{})
	var fetches atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		<-release
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=864000") // ten days: more than MaxTTL
		w.Write([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a"}]}`))
	}))
	defer hs.Close()
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	k := newClientKeys(ClientKeysOptions{MaxTTL: time.Hour, Timeout: 10 * time.Second}, clock)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			keys, err := k.get(context.Background(), hs.URL, false, false)
			if err == nil && (len(keys) != 1 || !keys[0].Usable()) {
				t.Errorf("keys %v", keys)
			}
			errs <- err
		})
	}
	// Let the waiters queue on the one fetch, then answer it.
	for fetches.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 8 concurrent requests, want 1", n)
	}
	mu.Lock()
	now = now.Add(59 * time.Minute)
	mu.Unlock()
	if _, err := k.get(context.Background(), hs.URL, false, false); err != nil || fetches.Load() != 1 {
		t.Fatalf("within MaxTTL: %v, %d fetches", err, fetches.Load())
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if _, err := k.get(context.Background(), hs.URL, false, false); err != nil || fetches.Load() != 2 {
		t.Fatalf("after MaxTTL: %v, %d fetches", err, fetches.Load())
	}
}
