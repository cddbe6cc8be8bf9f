package wasm_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-idp/portico/plugins/wasm"
	"github.com/portico-idp/portico/plugins/wasm/wasmtest"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
)

// TestSandbox is acceptance 2 at the runtime: a module that loops, sleeps,
// allocates without bound or panics fails that one login as unavailable,
// within the deadline, and the next login works on a fresh instance.
func TestSandbox(t *testing.T) {
	ctx := context.Background()
	const timeout = time.Second
	m := load(t, misbehave(t, "v1"), config(t, users, func(c *wasm.Config) {
		c.Timeout = upstream.Duration(timeout)
		c.MemoryLimit = 32 << 20
		c.PoolSize = 1 // every call after a failure needs the replacement
	}), nil)
	pc := password(t, m)
	for _, tt := range []struct {
		user string
		want string // in the error
	}{
		{"loop", "deadline exceeded"},
		{"sleep", "deadline exceeded"},
		{"alloc", "wasm: login"},
		{"panic", "unreachable"},
	} {
		t.Run(tt.user, func(t *testing.T) {
			start := time.Now()
			_, err := pc.Login(ctx, sdk.Scopes{}, tt.user, "x")
			if !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("login: %v, want unavailable with %q", err, tt.want)
			}
			if d := time.Since(start); d > timeout+3*time.Second {
				t.Errorf("stopping the module took %v", d)
			}
			if _, err := pc.Login(ctx, sdk.Scopes{}, "alice", "pw"); err != nil {
				t.Errorf("the next login: %v", err)
			}
		})
	}
}

// TestHTTPAllowList: http_request reaches a host on the allow-list and
// nothing else; a refused request is never sent.
func TestHTTPAllowList(t *testing.T) {
	ctx := context.Background()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "hello from the upstream")
	}))
	defer srv.Close()
	for _, tt := range []struct {
		name  string
		allow []string
		ok    bool
	}{
		{"allowed", []string{"127.0.0.1"}, true},
		{"allowed with port", []string{srv.Listener.Addr().String()}, true},
		{"other host", []string{"example.com"}, false},
		{"other port", []string{"127.0.0.1:1"}, false},
		{"no network", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := hits.Load()
			m := load(t, misbehave(t, "v1"), config(t, map[string]any{"probe_url": srv.URL + "/probe"},
				func(c *wasm.Config) { c.AllowHosts = tt.allow }), nil)
			id, err := password(t, m).Login(ctx, sdk.Scopes{}, "http", "")
			sent := hits.Load() - before
			if tt.ok {
				if err != nil || id.Name != "hello from the upstream" || sent != 1 {
					t.Errorf("login: %+v %v; %d requests sent", id, err, sent)
				}
				return
			}
			if !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), "allow_hosts") {
				t.Errorf("login: %v, want unavailable naming allow_hosts", err)
			}
			if sent != 0 {
				t.Errorf("%d requests reached the server", sent)
			}
		})
	}
}

// TestRefusedAtLoad: a module that is not a Portico module, speaks
// another ABI version, lacks an export or imports what the broker does not
// offer is refused with a message saying so.
func TestRefusedAtLoad(t *testing.T) {
	ctx := context.Background()
	hand := func(o wasmtest.HandOptions) []byte { return wasmtest.HandModule(o) }
	for _, tt := range []struct {
		name string
		wasm []byte
		sha  string
		want string
	}{
		{"no ABI version", hand(wasmtest.HandOptions{}), "", "exports no portico_abi_version: not a Portico connector module"},
		{"wrong ABI version", hand(wasmtest.HandOptions{Version: 2}), "", "speaks Portico ABI version 2; this broker speaks 1"},
		{"missing portico_call", hand(wasmtest.HandOptions{Version: 1, NoCall: true}), "", "lacks the export portico_call"},
		{"foreign import", hand(wasmtest.HandOptions{Version: 1, Import: "env.system"}), "", "imports env.system, which the broker does not offer"},
		{"not wasm", []byte("#!/bin/sh\necho hi\n"), "", "not a valid WebAssembly module"},
		{"wrong sha256", hand(wasmtest.HandOptions{Version: 1}), strings.Repeat("ab", 32), "the config pins abab"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(t, nil, nil)
			cfg.SHA256 = tt.sha
			_, err := wasm.New(ctx, tt.wasm, cfg, wasm.Env{})
			if !errors.Is(err, wasm.ErrRefused) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("load: %v, want refused with %q", err, tt.want)
			}
		})
	}
	t.Run("config rejected", func(t *testing.T) {
		_, err := wasm.New(ctx, misbehave(t, "v1"), config(t, map[string]any{"hold": "soon"}, nil), wasm.Env{Cache: sharedCache()})
		if !errors.Is(err, wasm.ErrConfig) || errors.Is(err, wasm.ErrRefused) || !strings.Contains(err.Error(), "config.hold") {
			t.Errorf("load: %v, want ErrConfig naming config.hold", err)
		}
	})
}

// TestConcurrentLogins is acceptance 3 at the runtime: 64 logins at once
// through a pool of 4 are all answered, each with its own user (the module
// notices if a call enters an instance that is serving another).
func TestConcurrentLogins(t *testing.T) {
	ctx := context.Background()
	block := map[string]any{"users": map[string]any{}, "hold": "2ms"}
	for i := range 64 {
		block["users"].(map[string]any)[fmt.Sprintf("u%d", i)] = fmt.Sprintf("pw%d", i)
	}
	m := load(t, misbehave(t, "v1"), config(t, block, func(c *wasm.Config) { c.PoolSize = 4 }), nil)
	pc := password(t, m)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			u := fmt.Sprintf("u%d", i)
			id, err := pc.Login(ctx, sdk.Scopes{}, u, fmt.Sprintf("pw%d", i))
			if err != nil || id.Subject != "user-"+u {
				t.Errorf("%s: %+v %v", u, id, err)
			}
		})
	}
	wg.Wait()
	if st := m.Stats(); st.Idle < 1 || st.Idle > 4 {
		t.Errorf("idle instances %d, want 1..4", st.Idle)
	}
}

// TestReplaceUnderLoad is acceptance 4 at the runtime: Replace while
// logins run; none fails, and the ones after use the new module. A module
// with other capabilities is refused and the old one stays.
func TestReplaceUnderLoad(t *testing.T) {
	ctx := context.Background()
	m := load(t, misbehave(t, "v1"), config(t, map[string]any{"users": map[string]any{"alice": "pw"}, "hold": "1ms"}, nil), nil)
	pc := password(t, m)
	v2 := misbehave(t, "v2")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var logins atomic.Int32
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := pc.Login(ctx, sdk.Scopes{}, "alice", "pw"); err != nil {
					t.Errorf("login during the swap: %v", err)
				}
				logins.Add(1)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if err := m.Replace(ctx, v2, wasm.SHA256(v2)); err != nil {
		t.Fatal(err)
	}
	t.Logf("replace took %v", time.Since(start))
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	id, err := pc.Login(ctx, sdk.Scopes{}, "alice", "pw")
	if err != nil || id.Attributes["module_version"][0] != "v2" {
		t.Errorf("after the swap: %+v %v", id, err)
	}
	t.Logf("%d logins during the test", logins.Load())

	if err := m.Replace(ctx, v2, strings.Repeat("0", 64)); !errors.Is(err, wasm.ErrRefused) {
		t.Errorf("replace with a wrong sha256: %v", err)
	}
	err = m.Replace(ctx, wasmtest.HandModule(wasmtest.HandOptions{Version: 1, Callback: true}), "")
	if !errors.Is(err, wasm.ErrRefused) || !strings.Contains(err.Error(), "a change of capabilities needs a restart") {
		t.Errorf("replace with a callback connector: %v", err)
	}
	if m.SHA256() != wasm.SHA256(v2) {
		t.Error("a refused replacement took the old module's place")
	}
	m.Remove()
	if _, err := pc.Login(ctx, sdk.Scopes{}, "alice", "pw"); !errors.Is(err, sdk.ErrUnavailable) || !errors.Is(err, wasm.ErrRemoved) {
		t.Errorf("login with the module removed: %v", err)
	}
}
