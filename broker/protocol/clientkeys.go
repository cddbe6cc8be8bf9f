package protocol

// The public keys of private_key_jwt clients that publish them at a
// jwks_uri. Fetching is bounded every way a client's server could abuse
// it: a timeout, a size limit, a maximum number of keys, no redirects, and
// a floor between fetches of one URI, so that assertions naming unknown
// key ids cannot make Portico hammer it. Concurrent requests for one URI
// share one fetch.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-idp/portico/broker/config"
)

// ClientKeysOptions tune the jwks_uri cache; zero values take the
// defaults in brackets.
type ClientKeysOptions struct {
	// HTTPClient fetches (a client with Timeout and no redirects).
	HTTPClient *http.Client
	// Timeout bounds one fetch, connection and body included [5s].
	Timeout time.Duration
	// MinTTL and MaxTTL bound how long a fetched set is used, whatever
	// its Cache-Control max-age says [1m, 24h]; DefaultTTL is for an
	// answer without max-age [1h].
	MinTTL, MaxTTL, DefaultTTL time.Duration
	// RefetchAfter is the least time between two fetches of one URI,
	// also after a failure [1m].
	RefetchAfter time.Duration
}

// maxCachedURIs bounds the cache; past it, the entries are dropped.
const maxCachedURIs = 4096

// errKeysUnavailable: the URI gave no usable keys (the reason is logged).
var errKeysUnavailable = errors.New("the client's jwks_uri gave no usable keys")

type clientKeys struct {
	opts ClientKeysOptions
	now  func() time.Time
	// guard fetches for dynamically registered clients (outbound.go).
	guard *http.Client

	mu      sync.Mutex
	entries map[string]*keysEntry
}

type keysEntry struct {
	keys    []config.JWK  // nil: none yet
	expires time.Time     // when keys must be fetched again
	tried   time.Time     // the last fetch's start
	err     error         // the last fetch's failure
	done    chan struct{} // non-nil while a fetch runs
}

func newClientKeys(o ClientKeysOptions, now func() time.Time) *clientKeys {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Timeout, 5*time.Second)
	def(&o.MinTTL, time.Minute)
	def(&o.MaxTTL, 24*time.Hour)
	def(&o.DefaultTTL, time.Hour)
	def(&o.RefetchAfter, time.Minute)
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: o.Timeout}
	}
	// Whatever client is given: no redirects, which could lead the fetch
	// anywhere CheckJWKSURI would not let it go.
	hc := *o.HTTPClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	o.HTTPClient = &hc
	return &clientKeys{opts: o, now: now, guard: withGuard(&hc, o.Timeout), entries: map[string]*keysEntry{}}
}

// get returns the keys published at uri: cached while fresh, else fetched.
// refresh asks for a fetch even so (an assertion named a key id the cached
// set lacks); it is honoured at most once per RefetchAfter. When a fetch
// fails, keys fetched before are used until a later fetch succeeds.
// guarded fetches through the guard against non-public addresses, and
// apart from unguarded fetches of the same URI.
func (k *clientKeys) get(ctx context.Context, uri string, refresh, guarded bool) ([]config.JWK, error) {
	hc, key := k.opts.HTTPClient, uri
	if guarded {
		hc, key = k.guard, "guarded "+uri
	}
	k.mu.Lock()
	e := k.entries[key]
	if e == nil {
		if len(k.entries) >= maxCachedURIs {
			k.entries = map[string]*keysEntry{}
		}
		e = &keysEntry{}
		k.entries[key] = e
	}
	now := k.now()
	if e.done == nil {
		stale := e.keys == nil || !now.Before(e.expires) || refresh
		if stale && (e.tried.IsZero() || now.Sub(e.tried) >= k.opts.RefetchAfter) {
			e.tried, e.done = now, make(chan struct{})
			go k.fetch(context.WithoutCancel(ctx), hc, uri, e)
		}
	}
	done := e.done
	k.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if e.keys == nil {
		if e.err == nil {
			return nil, errKeysUnavailable
		}
		return nil, e.err
	}
	return e.keys, nil
}

// fetch reads uri into e, then closes e.done.
func (k *clientKeys) fetch(ctx context.Context, hc *http.Client, uri string, e *keysEntry) {
	keys, ttl, err := k.download(ctx, hc, uri)
	k.mu.Lock()
	defer k.mu.Unlock()
	e.err = err
	if err == nil {
		e.keys, e.expires = keys, k.now().Add(ttl)
	}
	close(e.done)
	e.done = nil
}

func (k *clientKeys) download(ctx context.Context, hc *http.Client, uri string) ([]config.JWK, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, k.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("jwks_uri: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("jwks_uri: status %d", resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil &&
		mt != "application/json" && mt != "application/jwk-set+json" {
		return nil, 0, fmt.Errorf("jwks_uri: content type %q", mt)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, config.MaxJWKSBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("jwks_uri: read: %w", err)
	}
	if len(body) > config.MaxJWKSBytes {
		return nil, 0, fmt.Errorf("jwks_uri: the JWK Set is larger than %d KiB", config.MaxJWKSBytes>>10)
	}
	keys, msg := config.ParseJWKS(body)
	if msg != "" {
		return nil, 0, errors.New("jwks_uri: the JWK Set " + msg)
	}
	return keys, k.ttl(resp.Header.Get("Cache-Control")), nil
}

// ttl is how long an answer with this Cache-Control is used.
func (k *clientKeys) ttl(cc string) time.Duration {
	d := k.opts.DefaultTTL
	for _, dir := range strings.Split(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return k.opts.MinTTL
		case "max-age":
			if s, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && s >= 0 {
				d = time.Duration(min(s, int64(k.opts.MaxTTL/time.Second))) * time.Second
			}
		}
	}
	return min(max(d, k.opts.MinTTL), k.opts.MaxTTL)
}
