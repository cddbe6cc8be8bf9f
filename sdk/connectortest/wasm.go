package connectortest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/portico-idp/portico/sdk/wasm/abi"
	"github.com/portico-idp/portico/sdk/wire"
)

// The kit's WASM host is a small one: the exports, the host functions and
// WASI as docs/wasm-abi.md defines them, with the broker's memory limit
// and one instance. It is not the broker's runtime (plugins/wasm), which
// the sdk module cannot import; what it leaves out is the broker's
// policy: allow_hosts (http_request reaches any host: the test chooses
// the store's address), the size caps and the instance pool.
const (
	memoryPages = 64 << 20 >> 16 // 64 MiB, the broker's default memory_limit
	maxAnswer   = 4 << 20        // the broker's cap on an answer
)

// wasmConn runs one instance of a module at a time, replacing it after a
// failed call as the broker does.
type wasmConn struct {
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	log      *slog.Logger
	key      [32]byte

	mu      sync.Mutex
	mod     api.Module
	config  json.RawMessage // sent to every new instance
	pending []byte          // http_request's result until take_result
}

// cacheDir is a compilation cache for the kit's modules, or "" for none.
// Compiling a Go-built module takes seconds (a minute under -race); the
// cache makes the next run take milliseconds. wazero keys its entries by
// its own version, which it reads from the build information, and a test
// binary has none: so the directory is named after the version of wazero
// in the module of pkg, which is the one this test was built with.
func cacheDir(pkg string) string {
	base, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/tetratelabs/wazero")
	cmd.Dir = pkg
	out, err := cmd.Output()
	v := strings.TrimSpace(string(out))
	if err != nil || !strings.HasPrefix(v, "v") {
		return ""
	}
	return filepath.Join(base, "portico-connectortest", v+"-"+runtime.GOOS+"-"+runtime.GOARCH)
}

// precompile compiles the module at path into the cache dir in a process
// of its own, built without the race detector: under -race, wazero's
// compiler takes about ten times longer (a minute for a Go-built module).
// wazero marks entries with its version, which it reads from the build
// information; a test binary has none, so the tool is linked to say the
// version this process says.
func precompile(pkg, dir, path string) error {
	v, err := wazeroVersion()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "run", "-ldflags=-X=github.com/tetratelabs/wazero/internal/version.version="+v,
		"github.com/portico-idp/portico/sdk/connectortest/internal/precompile", "-dir", dir, path)
	cmd.Dir = pkg
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	return nil
}

// wazeroVersion is the version this process's wazero names its cache
// entries after, read from the directory a cache makes.
var wazeroVersion = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "connectortest-wazero-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return "", err
	}
	c.Close(context.Background())
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		return "", fmt.Errorf("wazero's cache layout: %v %v", entries, err)
	}
	v := strings.TrimPrefix(entries[0].Name(), "wazero-")
	return strings.TrimSuffix(v, "-"+runtime.GOARCH+"-"+runtime.GOOS), nil
})

func startWASM(t *testing.T, pkg, path string, config json.RawMessage, log *slog.Logger) (any, error) {
	ctx := t.Context()
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rc := wazero.NewRuntimeConfig().WithCloseOnContextDone(true).WithMemoryLimitPages(memoryPages)
	if dir := cacheDir(pkg); dir != "" {
		if cache, err := wazero.NewCompilationCacheWithDir(dir); err == nil {
			rc = rc.WithCompilationCache(cache)
			if err := precompile(pkg, dir, path); err != nil {
				// Not fatal: this process compiles it then, only slower.
				t.Logf("connectortest: precompile (the module is compiled in the test instead): %v", err)
			}
		}
	}
	c := &wasmConn{rt: wazero.NewRuntimeWithConfig(ctx, rc), log: log}
	t.Cleanup(func() { c.rt.Close(context.Background()) })
	if _, err := rand.Read(c.key[:]); err != nil {
		return nil, err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, c.rt); err != nil {
		return nil, err
	}
	if err := c.hostModule(ctx); err != nil {
		return nil, err
	}
	if c.compiled, err = c.rt.CompileModule(ctx, bin); err != nil {
		return nil, fmt.Errorf("compile %s: %w", path, err)
	}
	return dial(ctx, c.call, config)
}

func (c *wasmConn) hostModule(ctx context.Context) error {
	b := c.rt.NewHostModuleBuilder(abi.HostModule)
	b.NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module, level int32, ptr, n uint32) {
		if p, ok := m.Memory().Read(ptr, n); ok {
			c.log.Log(ctx, slog.Level(level), string(p))
		}
	}).Export(abi.FuncLog)
	b.NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module, ptr, n uint32) int32 {
		p, ok := m.Memory().Read(ptr, n)
		if !ok {
			panic("http_request: out of bounds")
		}
		c.pending, _ = json.Marshal(httpRequest(ctx, p))
		return int32(len(c.pending))
	}).Export(abi.FuncHTTPRequest)
	b.NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, ptr, n uint32) int32 {
		if c.pending == nil || int(n) < len(c.pending) || !m.Memory().Write(ptr, c.pending) {
			return -1
		}
		l := len(c.pending)
		c.pending = nil
		return int32(l)
	}).Export(abi.FuncTakeResult)
	b.NewFunctionBuilder().WithFunc(func() int64 { return time.Now().UnixNano() }).Export(abi.FuncNow)
	b.NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, ptr, n uint32) int32 {
		p, ok := m.Memory().Read(ptr, n)
		if !ok || n > 64<<10 {
			return -1
		}
		rand.Read(p)
		return 0
	}).Export(abi.FuncRandom)
	b.NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, ptr, n uint32) int32 {
		m.Memory().Write(ptr, c.key[:min(int(n), len(c.key))])
		return int32(len(c.key))
	}).Export(abi.FuncKey)
	_, err := b.Instantiate(ctx)
	return err
}

// httpRequest sends what a module asked for, with the call's context.
func httpRequest(ctx context.Context, raw []byte) abi.HTTPResponse {
	var r abi.HTTPRequest
	if err := json.Unmarshal(raw, &r); err != nil {
		return abi.HTTPResponse{Error: "http_request: " + err.Error()}
	}
	if r.TimeoutMS > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(r.TimeoutMS)*time.Millisecond)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return abi.HTTPResponse{Error: err.Error()}
	}
	for k, vs := range r.Headers {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	client := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return abi.HTTPResponse{Error: err.Error()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return abi.HTTPResponse{Error: err.Error()}
	}
	return abi.HTTPResponse{Status: resp.StatusCode, Headers: resp.Header, Body: body}
}

// instance returns the live instance, making and configuring one if
// there is none.
func (c *wasmConn) instance(ctx context.Context) (api.Module, error) {
	if c.mod != nil {
		return c.mod, nil
	}
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions(abi.ExportInitialize).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().WithRandSource(rand.Reader).
		WithStdout(logWriter{c.log, slog.LevelInfo}).WithStderr(logWriter{c.log, slog.LevelWarn})
	m, err := c.rt.InstantiateModule(ctx, c.compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	if v, err := m.ExportedFunction(abi.ExportVersion).Call(ctx); err != nil || len(v) != 1 || uint32(v[0]) != abi.Version {
		m.Close(ctx)
		return nil, fmt.Errorf("%s: got %v (%v), want %d", abi.ExportVersion, v, err, abi.Version)
	}
	c.mod = m
	if c.config != nil {
		resp, err := c.send(ctx, wire.Request{Op: wire.OpConfigure, Config: c.config})
		if err == nil && resp.Error != nil {
			err = resp.Error
		}
		if err != nil {
			c.drop(ctx)
			return nil, fmt.Errorf("configure a new instance: %w", err)
		}
	}
	return m, nil
}

func (c *wasmConn) drop(ctx context.Context) {
	if c.mod != nil {
		c.mod.Close(ctx)
		c.mod = nil
	}
}

// call is the wire.Transport: one request, one instance at a time.
func (c *wasmConn) call(ctx context.Context, req wire.Request) (wire.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return wire.Response{}, err
	}
	if req.Op == wire.OpConfigure {
		c.config = req.Config
	}
	if _, err := c.instance(ctx); err != nil {
		return wire.Response{}, err
	}
	resp, err := c.send(ctx, req)
	if err != nil {
		// A trap, an exit, the context: the instance is not to be trusted.
		c.drop(context.Background())
	}
	return resp, err
}

func (c *wasmConn) send(ctx context.Context, req wire.Request) (wire.Response, error) {
	in, err := json.Marshal(req)
	if err != nil {
		return wire.Response{}, err
	}
	m := c.mod
	p, err := m.ExportedFunction(abi.ExportAlloc).Call(ctx, uint64(len(in)))
	if err != nil {
		return wire.Response{}, fmt.Errorf("%s: %w", abi.ExportAlloc, err)
	}
	if !m.Memory().Write(uint32(p[0]), in) {
		return wire.Response{}, fmt.Errorf("%s returned %d, out of the module's memory", abi.ExportAlloc, p[0])
	}
	r, err := m.ExportedFunction(abi.ExportCall).Call(ctx, p[0], uint64(len(in)))
	if err != nil {
		return wire.Response{}, fmt.Errorf("%s: %w", abi.ExportCall, err)
	}
	ptr, n := abi.UnpackResult(r[0])
	if n > maxAnswer {
		return wire.Response{}, fmt.Errorf("the answer is %d bytes, more than %d", n, maxAnswer)
	}
	out, ok := m.Memory().Read(ptr, n)
	if !ok {
		return wire.Response{}, errors.New("the answer is out of the module's memory")
	}
	var resp wire.Response
	if err := json.Unmarshal(out, &resp); err != nil {
		return wire.Response{}, fmt.Errorf("the answer is not a wire.Response: %w", err)
	}
	return resp, nil
}

// logWriter logs a module's stdout and stderr.
type logWriter struct {
	log   *slog.Logger
	level slog.Level
}

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Log(context.Background(), w.level, string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
