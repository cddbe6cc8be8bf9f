package wasm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/portico-idp/portico/sdk/upstream"
	"github.com/portico-idp/portico/sdk/wasm/abi"
	"github.com/portico-idp/portico/sdk/wire"
)

// generation is one module version with its runtime and its pool. Hot
// reload swaps generations; an old one is closed once the calls that
// started on it have ended.
type generation struct {
	m        *Module
	sha      string
	rt       wazero.Runtime
	compiled wazero.CompiledModule

	// slots holds one token per call in flight; an instance is made only
	// when a call holds a slot and none is idle, so at most pool_size
	// instances ever exist.
	slots chan struct{}
	idle  chan *instance // configured instances waiting for a call

	mu      sync.Mutex
	refs    int // calls in flight
	retired bool
	closed  bool
}

// wasiModule is the WASI import module name; Go's wasip1 runtime needs
// it (clocks, random, fd_write for panics, proc_exit).
const wasiModule = wasi_snapshot_preview1.ModuleName

// newGeneration compiles wasm, checks it is a Portico module, and makes
// and configures its first instance.
func (m *Module) newGeneration(ctx context.Context, wasm []byte, sha string) (*generation, error) {
	rt, compiled, err := m.compile(ctx, wasm, m.cache)
	if err != nil && m.cache != nil {
		// wazero fails the compilation itself when a cache entry cannot
		// be read back (cut short by a full disk, overwritten) or written.
		// Then the module is not at fault: compile it without the cache.
		if rt2, c2, err2 := m.compile(ctx, wasm, nil); err2 == nil {
			m.log.Warn("wasm: the compilation cache failed; the module was compiled without it", "err", err)
			m.dropCache()
			rt, compiled, err = rt2, c2, nil
		}
	}
	if err != nil {
		return nil, err
	}
	g := &generation{m: m, sha: sha, rt: rt, compiled: compiled,
		slots: make(chan struct{}, m.cfg.PoolSize), idle: make(chan *instance, m.cfg.PoolSize)}
	fail := func(err error) (*generation, error) {
		rt.Close(context.Background())
		return nil, err
	}
	if err := checkShape(g.compiled); err != nil {
		return fail(refuse(err))
	}
	ictx, cancel := context.WithTimeout(ctx, m.cfg.timeout())
	defer cancel()
	inst, err := g.newInstance(ictx)
	if err != nil {
		return fail(refuse(err)) // ErrConfig stays ErrConfig
	}
	if m.conn != nil { // a replacement: same capabilities, or the broker's view would lie
		resp, err := inst.do(ictx, wire.Request{Op: wire.OpInfo})
		switch {
		case err != nil:
			inst.close()
			return fail(refuse(err))
		case resp.Info == nil || *resp.Info != m.info:
			inst.close()
			return fail(refuse(fmt.Errorf("the new module implements %s, the loaded one %s; a change of capabilities needs a restart",
				describe(resp.Info), describe(&m.info))))
		}
	}
	g.idle <- inst
	return g, nil
}

// compile makes a runtime, with cache if not nil, WASI and the host
// functions, and compiles wasm in it.
func (m *Module) compile(ctx context.Context, wasm []byte, cache wazero.CompilationCache) (wazero.Runtime, wazero.CompiledModule, error) {
	rc := wazero.NewRuntimeConfigCompiler().
		WithCloseOnContextDone(true). // the per-call deadline stops loops
		WithMemoryLimitPages(m.cfg.memoryPages())
	if cache != nil {
		rc = rc.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	fail := func(err error) (wazero.Runtime, wazero.CompiledModule, error) {
		rt.Close(context.Background())
		return nil, nil, err
	}
	// WASI without preopened directories, environment or arguments: the
	// file functions answer EBADF, and there is no socket.
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fail(fmt.Errorf("wasm: WASI: %w", err))
	}
	if err := m.host.instantiate(ctx, rt); err != nil {
		return fail(fmt.Errorf("wasm: host functions: %w", err))
	}
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return fail(refuse(fmt.Errorf("not a valid WebAssembly module: %w", err)))
	}
	return rt, compiled, nil
}

func describe(i *wire.Info) string {
	if i == nil {
		return "nothing (no info)"
	}
	var caps []string
	for _, c := range []struct {
		ok   bool
		name string
	}{{i.Password, "password"}, {i.Callback, "callback"}, {i.Refresh, "refresh"}, {i.Metadata, "metadata"}} {
		if c.ok {
			caps = append(caps, c.name)
		}
	}
	return fmt.Sprintf("version %d [%s]", i.Version, strings.Join(caps, " "))
}

// checkShape refuses, with a message saying what is wrong, a module that
// is not a Portico connector module or imports what the broker does not
// offer.
func checkShape(c wazero.CompiledModule) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	exports := c.ExportedFunctions()
	if _, ok := exports[abi.ExportVersion]; !ok {
		return fmt.Errorf("it exports no %s: not a Portico connector module (see docs/wasm-abi.md)", abi.ExportVersion)
	}
	want := []struct {
		name            string
		params, results []api.ValueType
	}{
		{abi.ExportVersion, nil, []api.ValueType{i32}},
		{abi.ExportAlloc, []api.ValueType{i32}, []api.ValueType{i32}},
		{abi.ExportCall, []api.ValueType{i32, i32}, []api.ValueType{i64}},
	}
	for _, w := range want {
		f, ok := exports[w.name]
		if !ok {
			return fmt.Errorf("it lacks the export %s (a connector module exports %s, %s, %s and memory)",
				w.name, abi.ExportVersion, abi.ExportAlloc, abi.ExportCall)
		}
		if !slices.Equal(f.ParamTypes(), w.params) || !slices.Equal(f.ResultTypes(), w.results) {
			return fmt.Errorf("its export %s has type %s, want %s", w.name,
				signature(f.ParamTypes(), f.ResultTypes()), signature(w.params, w.results))
		}
	}
	if _, ok := c.ExportedMemories()[abi.ExportMemory]; !ok {
		return fmt.Errorf("it exports no memory named %q", abi.ExportMemory)
	}
	if _, ok := exports["_start"]; ok {
		if _, ok := exports[abi.ExportInitialize]; !ok {
			return errors.New("it is a WASI command (it exports _start); build a reactor: with Go, go build -buildmode=c-shared")
		}
	}
	var bad []string
	for _, f := range c.ImportedFunctions() {
		mod, name, _ := f.Import()
		if !(mod == wasiModule || (mod == abi.HostModule && hostFuncs[name])) {
			bad = append(bad, mod+"."+name)
		}
	}
	if len(c.ImportedMemories()) > 0 {
		bad = append(bad, "a memory")
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("it imports %s, which the broker does not offer (only %s.* host functions and %s)",
			strings.Join(bad, ", "), abi.HostModule, wasiModule)
	}
	return nil
}

func signature(params, results []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		var s []string
		for _, t := range ts {
			s = append(s, api.ValueTypeName(t))
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return names(params) + " -> " + names(results)
}

// sleepSlice bounds one sleep of the module (WASI poll_oneoff), which
// wazero cannot interrupt: Go's runtime sleeps again for the rest, and
// between slices the call's deadline can stop it.
const sleepSlice = 10 * time.Millisecond

// newInstance instantiates the module (running its _initialize), checks
// its ABI version and configures it.
func (g *generation) newInstance(ctx context.Context) (*instance, error) {
	m := g.m
	mc := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module
		WithStartFunctions(abi.ExportInitialize).
		WithSysWalltime(). // tokens expire: modules need the real time
		WithSysNanotime().
		WithNanosleep(func(ns int64) { time.Sleep(min(time.Duration(ns), sleepSlice)) }).
		WithOsyield(runtime.Gosched).
		WithRandSource(rand.Reader). // PKCE verifiers, nonces
		WithStdout(&lineLog{log: m.log, level: slog.LevelInfo, stream: "stdout"}).
		WithStderr(&lineLog{log: m.log, level: slog.LevelWarn, stream: "stderr"})
	mod, err := g.rt.InstantiateModule(experimental.WithMemoryAllocator(withState(ctx), memoryAllocator), g.compiled, mc)
	if err != nil {
		return nil, &callError{op: "instantiate", err: err}
	}
	inst := &instance{mod: mod, alloc: mod.ExportedFunction(abi.ExportAlloc), call: mod.ExportedFunction(abi.ExportCall)}
	res, err := mod.ExportedFunction(abi.ExportVersion).Call(withState(ctx))
	if err != nil {
		inst.close()
		return nil, &callError{op: abi.ExportVersion, err: err}
	}
	if v := int32(res[0]); v != abi.Version {
		inst.close()
		return nil, refuse(fmt.Errorf("it speaks Portico ABI version %d; this broker speaks %d", v, abi.Version))
	}
	resp, err := inst.do(ctx, wire.Request{Op: wire.OpConfigure, Config: m.cfg.Config})
	if err == nil && resp.Error != nil {
		err = fmt.Errorf("%w: %w", ErrConfig, resp.Error)
	}
	if err != nil {
		inst.close()
		return nil, err
	}
	return inst, nil
}

// ref counts a call in; false when the generation is retired.
func (g *generation) ref() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.retired {
		return false
	}
	g.refs++
	return true
}

func (g *generation) release() {
	g.mu.Lock()
	g.refs--
	done := g.retired && g.refs == 0
	g.mu.Unlock()
	if done {
		g.close()
	}
}

// retire takes the generation out of service; it closes when its last
// call ends.
func (g *generation) retire() {
	g.mu.Lock()
	g.retired = true
	done := g.refs == 0
	g.mu.Unlock()
	if done {
		g.close()
	}
}

// close closes the runtime and with it every instance.
func (g *generation) close() {
	g.mu.Lock()
	g.retired = true
	already := g.closed
	g.closed = true
	g.mu.Unlock()
	if !already {
		g.rt.Close(context.Background())
	}
}

// get returns an instance for one call: an idle one, or a new one while
// the pool has room; otherwise it waits until ctx ends.
func (g *generation) get(ctx context.Context) (*instance, error) {
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wasm: all %d instances stayed busy: %w", cap(g.slots), ctx.Err())
	}
	select {
	case inst := <-g.idle:
		return inst, nil
	default:
	}
	inst, err := g.newInstance(ctx)
	if err != nil {
		<-g.slots
		return nil, err
	}
	return inst, nil
}

// put returns a healthy instance to the pool.
func (g *generation) put(inst *instance) {
	g.idle <- inst // never blocks: idle has room for every slot
	<-g.slots
}

// discard throws away an instance that failed; the next call makes a new
// one.
func (g *generation) discard(inst *instance) {
	inst.close()
	<-g.slots
}

// printable cuts what a module wrote for a log line.
func printable(b []byte) string { return upstream.Printable(string(b), maxLogLine) }
