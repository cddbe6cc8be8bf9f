package wasm_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/portico-idp/portico/connectors/github"
	"github.com/portico-idp/portico/plugins/wasm"
	"github.com/portico-idp/portico/plugins/wasm/wasmtest"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/testenv"
)

// BenchmarkWASM is what a WASM connector costs next to a built-in one
// (make bench runs it: go test -run '^$' -bench BenchmarkWASM ./plugins/wasm/):
//
//   - login/*: one password login on a warm pool: builtin (the same logic
//     as a Go value, no boundary), wasm-go (the Go-built test module) and
//     wasm-hand (the hand-written module): the boundary's cost.
//   - github-callback/*: the GitHub connector's callback (code exchange
//     and four API calls to testenv's fake GitHub on loopback), built in
//     and as a module, where the boundary includes http_request.
//   - coldstart/*: loading a module until it answers: nocache compiles
//     it, filecache reads the compiled code from a compilation cache
//     directory (a broker restart). BenchmarkWASMInstance is the cost of
//     one more instance in a pool (instantiate and configure).
//
// Metrics: B/instance is an instance's linear memory after a login,
// module-B the module's size.
func BenchmarkWASM(b *testing.B) {
	ctx := context.Background()
	small := wasmtest.Build(b, wasmtest.Misbehave, "")
	gh := wasmtest.Build(b, wasmtest.GitHub, "")

	b.Run("login/builtin", func(b *testing.B) {
		c := nativeUsers{"alice": "pw"}
		for b.Loop() {
			if _, err := c.Login(ctx, sdk.Scopes{}, "alice", "pw"); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, mod := range []struct {
		name string
		wasm []byte
		user string
		pw   string
	}{
		{"wasm-go", small, "alice", "pw"},
		{"wasm-hand", wasmtest.HandModule(wasmtest.HandOptions{Version: 1}), "alice", "letmein"},
	} {
		b.Run("login/"+mod.name, func(b *testing.B) {
			m := load(b, mod.wasm, config(b, users, nil), nil)
			pc := password(b, m)
			for b.Loop() {
				if _, err := pc.Login(ctx, sdk.Scopes{}, mod.user, mod.pw); err != nil {
					b.Fatal(err)
				}
			}
			reportInstance(b, m, mod.wasm)
		})
	}

	fake := testenv.StartGitHub(b, "gh-client", "gh-secret", testenv.GitHubUser{ID: 7, Login: "alice", Name: "Alice", Password: "pw",
		Emails: []testenv.GitHubEmail{{Email: "alice@example.com", Primary: true, Verified: true}}, Orgs: []string{"acme"}})
	block := map[string]any{"client_id": fake.ClientID, "client_secret": fake.ClientSecret, "base_url": fake.URL, "timeout": "5s"}
	b.Run("github-callback/builtin", func(b *testing.B) {
		raw, _ := json.Marshal(block)
		cfg, err := github.ParseConfig(raw)
		if err != nil {
			b.Fatal(err)
		}
		c, err := github.New(cfg, make([]byte, 32), nil)
		if err != nil {
			b.Fatal(err)
		}
		githubLogins(b, fake, c)
	})
	b.Run("github-callback/wasm", func(b *testing.B) {
		m := load(b, gh, config(b, block, func(c *wasm.Config) { c.AllowHosts = []string{"127.0.0.1"} }), nil)
		githubLogins(b, fake, m.Connector().(sdk.CallbackConnector))
		reportInstance(b, m, gh)
	})

	for _, mod := range []struct {
		name string
		wasm []byte
	}{{"small", small}, {"github", gh}} {
		cfg := config(b, users, nil)
		if mod.name == "github" {
			cfg = config(b, block, nil)
		}
		b.Run("coldstart/nocache/"+mod.name, func(b *testing.B) {
			for b.Loop() {
				coldStart(b, mod.wasm, cfg, nil)
			}
		})
		b.Run("coldstart/filecache/"+mod.name, func(b *testing.B) {
			for b.Loop() {
				cache, err := wazero.NewCompilationCacheWithDir(wasmtest.CacheDir())
				if err != nil {
					b.Fatal(err)
				}
				coldStart(b, mod.wasm, cfg, cache)
				cache.Close(ctx)
			}
		})
	}
}

// nativeUsers is the test module's login logic as a built-in connector.
type nativeUsers map[string]string

func (u nativeUsers) Login(_ context.Context, _ sdk.Scopes, name, pw string) (sdk.Identity, error) {
	if p, ok := u[name]; !ok || p != pw {
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	return sdk.Identity{Subject: "user-" + name, Username: name, Email: name + "@example.com", EmailVerified: true,
		Attributes: map[string][]string{"module_version": {"native"}}}, nil
}

func coldStart(b *testing.B, mod []byte, cfg wasm.Config, cache wazero.CompilationCache) {
	m, err := wasm.New(context.Background(), mod, cfg, wasm.Env{Cache: cache})
	if err != nil {
		b.Fatal(err)
	}
	m.Close()
}

func reportInstance(b *testing.B, m *wasm.Module, mod []byte) {
	if st := m.Stats(); st.Idle > 0 {
		b.ReportMetric(float64(st.IdleMemory)/float64(st.Idle), "B/instance")
	}
	b.ReportMetric(float64(len(mod)), "module-B")
}

// githubLogins times LoginURL and HandleCallback; the browser's part (the
// fake's login form, which hands out the code) is not timed.
func githubLogins(b *testing.B, fake *testenv.GitHub, c sdk.CallbackConnector) {
	ctx := context.Background()
	const callback = "http://127.0.0.1:1/callback/github"
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for b.Loop() {
		rd, err := c.LoginURL(ctx, sdk.Scopes{Groups: true}, callback, "st")
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		u, _ := url.Parse(rd.URL)
		form := u.Query()
		form.Set("username", "alice")
		form.Set("password", "pw")
		resp, err := noRedirect.Post(fake.URL+"/login/oauth/authorize", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			b.Fatalf("no redirect with a code: %s", resp.Status)
		}
		b.StartTimer()
		id, err := c.HandleCallback(ctx, sdk.Scopes{Groups: true}, sdk.CallbackRequest{Method: "GET", URL: callback,
			Query: loc.Query(), Data: rd.Data})
		if err != nil || id.Username != "alice" {
			b.Fatalf("callback: %+v %v", id, err)
		}
	}
}
