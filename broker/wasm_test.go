package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/plugins/wasm"
	"github.com/portico-idp/portico/plugins/wasm/wasmtest"
	"github.com/portico-idp/portico/testenv"
)

// WASM connector modules through a whole broker (issue 8). The modules
// are built from source in the test (wasmtest.Build caches them per test
// process and compiles them into a shared wazero cache outside the race
// detector); every connector uses that cache through cache_dir.

// wasmModule writes a module into a temporary directory and returns the
// wasm connector config for it; extra adds to the wasm config (timeout,
// allow_hosts...), block is the module's own config.
func wasmModule(t *testing.T, id string, mod []byte, block any, extra map[string]any) config.Connector {
	t.Helper()
	c := map[string]any{
		"path":      wasmtest.WriteModule(t, t.TempDir(), id+".wasm", mod, false),
		"sha256":    wasm.SHA256(mod),
		"cache_dir": wasmtest.CacheDir(),
		"timeout":   "10s",
		"config":    block,
	}
	for k, v := range extra {
		c[k] = v
	}
	return config.Connector{ID: id, Type: "wasm", Name: "WASM " + id, Config: c}
}

// rpFor is a relying party that picks connector on the login page, with a
// browser of its own (so logins can run at once).
func rpFor(t *testing.T, b *testenv.Broker, connector string) *testenv.RP {
	t.Helper()
	rp := newRP(t, b)
	rp.Connector = connector
	return rp
}

type wasmClaims struct {
	Email             string   `json:"email"`
	EmailVerified     bool     `json:"email_verified"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
	Groups            []string `json:"groups"`
}

// userStore is a REST user store: the fileusers document at /users.
func userStore(t *testing.T, hits *atomic.Int32) *httptest.Server {
	t.Helper()
	hash, err := local.Hash("fiona-password", testenv.FastParams)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(map[string]any{"users": []any{map[string]any{
		"id": "u-fiona", "username": "fiona", "email": "fiona@example.org", "email_verified": true,
		"name": "Fiona File", "groups": []any{"staff", "wasm"}, "password_hash": hash}}})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/users" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestWASMExamples is acceptance 1: an OIDC code flow through each example
// module (the REST-backed fileusers calling a loopback user store through
// http_request, the OAuth 2 example against another Portico), through the
// hand-written module, and through the GitHub connector built as a module
// next to the built-in one, with the same claims.
func TestWASMExamples(t *testing.T) {
	ctx := context.Background()
	var storeHits atomic.Int32
	store := userStore(t, &storeHits)
	gh := testenv.StartGitHub(t, "gh-client", "gh-secret",
		testenv.GitHubUser{ID: 583231, Login: "alice", Name: "Alice Example", Password: "alice-gh",
			Emails: []testenv.GitHubEmail{{Email: testenv.UserEmail, Primary: true, Verified: true}},
			Orgs:   []string{"acme", "globex", "initech"},
			Teams:  []testenv.GitHubTeam{{Org: "acme", Slug: "dev"}, {Org: "acme", Slug: "ops"}, {Org: "globex", Slug: "sre"}}})
	gh.SetMaxPerPage(2)
	p := startUpstreamA(t, "", "oauth2")
	var disco map[string]any
	if resp, err := http.Get(p.A.URL + "/.well-known/openid-configuration"); err != nil {
		t.Fatal(err)
	} else {
		json.NewDecoder(resp.Body).Decode(&disco)
		resp.Body.Close()
	}
	ghBlock := map[string]any{"client_id": gh.ClientID, "client_secret": gh.ClientSecret, "base_url": gh.URL, "timeout": "2s"}
	loopback := map[string]any{"allow_hosts": []any{"127.0.0.1"}}
	b := p.startB(t,
		wasmModule(t, "fileusers", wasmtest.Build(t, wasmtest.FileUsers, ""),
			map[string]any{"users_url": store.URL + "/users", "timeout": "2s"}, loopback),
		wasmModule(t, "oauth2", wasmtest.Build(t, wasmtest.OAuth2, ""), map[string]any{
			"authorization_url": disco["authorization_endpoint"], "token_url": disco["token_endpoint"],
			"userinfo_url": disco["userinfo_endpoint"], "client_id": upClientID, "client_secret": upClientSecret,
			"scopes": []any{"openid", "profile", "email", "groups"}, "timeout": "2s"}, loopback),
		wasmModule(t, "hand", wasmtest.HandModule(wasmtest.HandOptions{Version: 1}), nil, nil),
		wasmModule(t, "github-wasm", wasmtest.Build(t, wasmtest.GitHub, ""), ghBlock, loopback),
		config.Connector{ID: "github", Type: "github", Name: "GitHub", Config: ghBlock},
	)

	for _, tt := range []struct {
		connector, user, password string
		want                      wasmClaims
	}{
		{"fileusers", "fiona", "fiona-password", wasmClaims{"fiona@example.org", true, "Fiona File", "fiona", []string{"staff", "wasm"}}},
		{"oauth2", testenv.UserName, testenv.UserPassword, wasmClaims{testenv.UserEmail, true, "Alice Example", testenv.UserName, []string{"admins", "staff"}}},
		{"hand", "anyone", "letmein", wasmClaims{wasmtest.HandEmail, true, wasmtest.HandName, "hand", nil}},
		{"github-wasm", "alice", "alice-gh", wasmClaims{testenv.UserEmail, true, "Alice Example", "alice",
			[]string{"acme", "globex", "initech", "acme:dev", "acme:ops", "globex:sre"}}},
	} {
		t.Run(tt.connector, func(t *testing.T) {
			_, idt, err := rpFor(t, b, tt.connector).Login(ctx, tt.user, tt.password)
			if err != nil {
				t.Fatal(err)
			}
			var c wasmClaims
			idt.Claims(&c)
			if !equalClaims(c, tt.want) {
				t.Errorf("claims %+v, want %+v", c, tt.want)
			}
		})
	}
	if storeHits.Load() == 0 {
		t.Error("the fileusers module never asked the user store")
	}

	// The module and the built-in GitHub connector give the same claims,
	// and refresh alike (the module re-reads GitHub with the token it
	// sealed under the key the broker gave it).
	t.Run("github as the built-in", func(t *testing.T) {
		var got []wasmClaims
		for _, id := range []string{"github", "github-wasm"} {
			tok, idt, err := rpFor(t, b, id).Login(ctx, "alice", "alice-gh")
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			var c wasmClaims
			idt.Claims(&c)
			got = append(got, c)
			if r := refreshAt(t, b.URL, testenv.ClientID, testenv.ClientSecret, tok.RefreshToken); r.Status != 200 {
				t.Errorf("%s: refresh: %d %v", id, r.Status, r.Body)
			}
		}
		if !equalClaims(got[0], got[1]) {
			t.Errorf("built-in %+v, module %+v", got[0], got[1])
		}
	})
}

func equalClaims(a, b wasmClaims) bool {
	return a.Email == b.Email && a.EmailVerified == b.EmailVerified && a.Name == b.Name &&
		a.PreferredUsername == b.PreferredUsername && slices.Equal(a.Groups, b.Groups)
}

// TestWASMSandbox is acceptance 2 through the broker: a module looping,
// allocating without bound, or calling a host not on its allow-list fails
// that login with 503 in time, and nothing is sent; modules that are not
// Portico modules are refused at load with a clear message and their
// logins answer 503; the broker serves its other connectors throughout.
func TestWASMSandbox(t *testing.T) {
	ctx := context.Background()
	var probeHits atomic.Int32
	probe := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { probeHits.Add(1) }))
	defer probe.Close()
	cfg := testenv.Config(t)
	hand := func(o wasmtest.HandOptions) []byte { return wasmtest.HandModule(o) }
	cfg.Connectors = append(cfg.Connectors,
		wasmModule(t, "bad", wasmtest.Build(t, wasmtest.Misbehave, ""),
			map[string]any{"users": map[string]any{"mallory": "pw"}, "probe_url": probe.URL},
			map[string]any{"timeout": "1s", "memory_limit": "32MiB", "pool_size": 2, "allow_hosts": []any{"example.com"}}),
		wasmModule(t, "no-abi", hand(wasmtest.HandOptions{}), nil, nil),
		wasmModule(t, "wrong-abi", hand(wasmtest.HandOptions{Version: 7}), nil, nil),
		wasmModule(t, "no-call", hand(wasmtest.HandOptions{Version: 1, NoCall: true}), nil, nil),
	)
	b := testenv.Start(t, cfg)
	localLogin := func(t *testing.T) {
		t.Helper()
		if _, _, err := rpFor(t, b, "local").Login(ctx, testenv.UserName, testenv.UserPassword); err != nil {
			t.Errorf("the local connector stopped serving: %v", err)
		}
	}
	for _, tt := range []struct{ connector, user string }{
		{"bad", "loop"}, {"bad", "alloc"}, {"bad", "http"}, {"bad", "panic"},
		{"no-abi", "x"}, {"wrong-abi", "x"}, {"no-call", "x"},
	} {
		t.Run(tt.connector+"/"+tt.user, func(t *testing.T) {
			rp := rpFor(t, b, tt.connector)
			start := time.Now()
			cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, tt.user, "pw")
			if err != nil {
				t.Fatal(err)
			}
			if cb.Status != http.StatusServiceUnavailable || cb.Query != nil {
				t.Errorf("status %d, query %v; want a 503 page", cb.Status, cb.Query)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("the failed login took %v", d)
			}
			localLogin(t)
			if _, _, err := rpFor(t, b, "bad").Login(ctx, "mallory", "pw"); tt.connector == "bad" && err != nil {
				t.Errorf("the module's next login: %v", err)
			}
		})
	}
	if n := probeHits.Load(); n != 0 {
		t.Errorf("%d requests to a host not on the allow-list were sent", n)
	}
	logs := b.Logs()
	for _, want := range []string{
		"exports no portico_abi_version: not a Portico connector module",
		"speaks Portico ABI version 7; this broker speaks 1",
		"lacks the export portico_call",
		"host not on the connector's allow_hosts",
		"misbehave: asked to panic", // the module's stderr, in the broker's log
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the broker's log does not say %q", want)
		}
	}
}

// TestWASMConcurrentLogins is acceptance 3: 64 code flows at once through
// one module with a pool of 4 instances all end with the right person.
func TestWASMConcurrentLogins(t *testing.T) {
	ctx := context.Background()
	users := map[string]any{}
	for i := range 64 {
		users[fmt.Sprintf("u%02d", i)] = fmt.Sprintf("pw%02d", i)
	}
	cfg := testenv.Config(t)
	cfg.Connectors = []config.Connector{wasmModule(t, "mod", wasmtest.Build(t, wasmtest.Misbehave, ""),
		map[string]any{"users": users, "hold": "1ms"}, map[string]any{"pool_size": 4})}
	b := testenv.Start(t, cfg)
	rp := newRP(t, b)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			r := *rp
			r.Browser = testenv.NewBrowser(testenv.RedirectURI)
			u := fmt.Sprintf("u%02d", i)
			_, idt, err := r.Login(ctx, u, fmt.Sprintf("pw%02d", i))
			if err != nil {
				t.Errorf("%s: %v", u, err)
				return
			}
			var c wasmClaims
			idt.Claims(&c)
			if c.Email != u+"@example.com" || c.Name != u+" v1" {
				t.Errorf("%s got %+v", u, c)
			}
		})
	}
	wg.Wait()
}

// TestWASMHotReplace is acceptance 4: with reload on, a new module (and
// its digest file) swapped in under load takes over without a restart; no
// login fails, and later logins use the new module. A module whose digest
// file does not match is not loaded; a removed module makes logins answer
// 503 until it is back.
func TestWASMHotReplace(t *testing.T) {
	ctx := context.Background()
	v1, v2 := wasmtest.Build(t, wasmtest.Misbehave, ""), wasmtest.Build(t, wasmtest.Misbehave, "-X main.version=v2")
	dir := t.TempDir()
	path := wasmtest.WriteModule(t, dir, "mod.wasm", v1, true)
	cfg := testenv.Config(t)
	cfg.Connectors = []config.Connector{{ID: "mod", Type: "wasm", Config: map[string]any{
		"path": path, "reload": true, "reload_interval": "50ms", "cache_dir": wasmtest.CacheDir(),
		"config": map[string]any{"users": map[string]any{"alice": "pw"}, "hold": "1ms"}}}}
	// The loops log in as fast as the machine allows, for as long as the
	// swap takes: the address rate would refuse them on a fast machine
	// with a slow swap, and it is not what this test is about.
	cfg.Login.Throttle.AuthorizeRate = -1
	// Four loops log in as alice at once: each holds one of her account's
	// attempts while the password is checked, which a loaded machine can
	// stretch past the free ones (a 429 once in CI).
	cfg.Login.Throttle.FreeFailures = 1000
	b := testenv.Start(t, cfg)
	rp := newRP(t, b)
	version := func() (string, error) {
		r := *rp
		r.Browser = testenv.NewBrowser(testenv.RedirectURI)
		_, idt, err := r.Login(ctx, "alice", "pw")
		if err != nil {
			return "", err
		}
		var c wasmClaims
		idt.Claims(&c)
		return strings.TrimPrefix(c.Name, "alice "), nil
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var logins, failures atomic.Int32
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := version(); err != nil {
					failures.Add(1)
					t.Errorf("login during the swap: %v", err)
				}
				logins.Add(1)
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	wasmtest.WriteModule(t, dir, "mod.wasm", v2, true)
	deadline := time.Now().Add(time.Minute)
	for {
		v, err := version()
		if err == nil && v == "v2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new module never took over: %q %v", v, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d logins during the swap, %d failed", logins.Load(), failures.Load())
	for range 3 {
		if v, err := version(); err != nil || v != "v2" {
			t.Errorf("after the swap: %q %v", v, err)
		}
	}

	// A module whose digest file says otherwise is not loaded.
	if err := os.WriteFile(path, v1, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if v, err := version(); err != nil || v != "v2" {
		t.Errorf("a module not matching its digest file was loaded: %q %v", v, err)
	}
	// Removed: 503 until it is back.
	// Polled, not slept: the watcher notices the removal when it next
	// looks, later on a loaded machine; the bound is liveness only.
	os.Remove(path)
	r := *rp
	r.Connector = "mod"
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		cb, err := r.Authorize(ctx, r.NewFlow().AuthURL, "alice", "pw")
		if err == nil && cb.Status == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("login with the module removed: %d %v", cb.Status, err)
		}
	}
	wasmtest.WriteModule(t, dir, "mod.wasm", v1, true)
	deadline = time.Now().Add(time.Minute)
	for {
		if v, err := version(); err == nil && v == "v1" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the module never came back: %q %v", v, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
