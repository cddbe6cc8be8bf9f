package wasm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/portico-idp/portico/plugins/wasm"
	"github.com/portico-idp/portico/plugins/wasm/wasmtest"
	"github.com/portico-idp/portico/sdk"
)

// sharedCache is the compilation cache wasmtest.Build fills outside the
// race detector: compiling a Go-built module under it takes tens of
// seconds.
var sharedCache = sync.OnceValue(func() wazero.CompilationCache {
	c, err := wazero.NewCompilationCacheWithDir(wasmtest.CacheDir())
	if err != nil {
		panic(err)
	}
	return c
})

func TestMain(m *testing.M) {
	// Open's default cache, without a data dir, is the user's cache dir:
	// not the real one.
	home, err := os.MkdirTemp("", "portico-wasm-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CACHE_HOME", home)
	code := m.Run()
	os.RemoveAll(home)
	sharedCache().Close(context.Background())
	os.Exit(code)
}

// logBuf collects a module's log lines.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// config returns a parsed config for a module loaded from bytes, with the
// connector's own config block.
func config(t testing.TB, block any, tweak func(*wasm.Config)) wasm.Config {
	t.Helper()
	raw, err := json.Marshal(block)
	if err != nil {
		t.Fatal(err)
	}
	c := wasm.Config{Path: "unused.wasm", Reload: true, Config: raw}
	if tweak != nil {
		tweak(&c)
	}
	full, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := wasm.ParseConfig(full)
	if err != nil {
		t.Fatal(err)
	}
	return parsed
}

// load loads wasm with cfg, closing it when the test ends.
func load(t testing.TB, wasmBytes []byte, cfg wasm.Config, log *slog.Logger) *wasm.Module {
	t.Helper()
	m, err := wasm.New(context.Background(), wasmBytes, cfg, wasm.Env{Log: log, Cache: sharedCache()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// misbehave is the misbehaving test module (version v1, or v2).
func misbehave(t testing.TB, version string) []byte {
	t.Helper()
	flags := ""
	if version != "" && version != "v1" {
		flags = "-X main.version=" + version
	}
	return wasmtest.Build(t, wasmtest.Misbehave, flags)
}

var users = map[string]any{"users": map[string]any{"alice": "pw", "bob": "pw2"}}

func password(t testing.TB, m *wasm.Module) sdk.PasswordConnector {
	t.Helper()
	pc, ok := m.Connector().(sdk.PasswordConnector)
	if !ok {
		t.Fatalf("the module is not a password connector: %+v", m.Info())
	}
	return pc
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
