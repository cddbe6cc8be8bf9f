// Package wasm runs Portico connectors compiled to WebAssembly, in wazero:
// sandboxed (no file system, no sockets; the network only through the
// http_request host function, to the hosts the connector's config
// allows), bounded (memory per instance, a deadline per call that stops a
// runaway module) and replaceable while the broker runs. docs/wasm-abi.md
// describes the ABI a module implements and the config.
//
// A Module is one connector's module: compiled once (cached on disk), run
// as a pool of instances, each serving one call at a time. A call that
// fails at the boundary (a trap, the deadline, a memory limit, an answer
// that is not a wire.Response) fails that one login as
// sdk.ErrUnavailable and the instance is thrown away; the next call gets a
// fresh one.
package wasm

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/portico-idp/portico/plugins/internal/signing"
	"github.com/portico-idp/portico/sdk/wasm/abi"
	"github.com/portico-idp/portico/sdk/wire"
)

// Env is what a module gets from the broker besides its config.
type Env struct {
	Key []byte // the connector's 32-byte key (server.Env.Key); random when nil
	Log *slog.Logger
	// Cache is the compilation cache to use; nil means none (every load
	// compiles). Open makes one in config.cache_dir when this is nil.
	Cache wazero.CompilationCache
	// DataDir is where Open puts the compilation cache by default.
	DataDir string
}

// ErrRemoved is returned by calls while the module file is gone (hot
// reload saw it removed); they succeed again once a module is back.
var ErrRemoved = errors.New("wasm: the module was removed")

var errClosed = errors.New("wasm: the connector is closed")

// ErrRefused is wrapped by every load failure that is the module's fault:
// it does not match its SHA-256, is not valid WebAssembly, lacks an export
// or speaks another ABI version, imports what the broker does not offer,
// or traps or hangs before it is configured.
var ErrRefused = errors.New("wasm: module refused")

// refusedError is a load failure wrapping ErrRefused and its cause.
type refusedError struct{ err error }

func refuse(err error) error {
	if errors.Is(err, ErrRefused) || errors.Is(err, ErrConfig) {
		return err
	}
	return &refusedError{err}
}

func (e *refusedError) Error() string {
	return ErrRefused.Error() + ": " + strings.TrimPrefix(e.err.Error(), "wasm: ")
}

func (e *refusedError) Is(target error) bool { return target == ErrRefused }
func (e *refusedError) Unwrap() error        { return e.err }

// ErrConfig is wrapped when the module's factory rejected its config
// block: an operator's mistake, reported like a built-in connector's.
var ErrConfig = errors.New("wasm: the module rejected its config")

// Module is a loaded connector module. It is safe for concurrent use.
type Module struct {
	cfg  Config
	host *host
	log  *slog.Logger

	cache    wazero.CompilationCache
	ownCache bool
	cacheDir string       // this wazero version's entries of cache, when on disk
	keys     signing.Keys // set by Open; reloads are verified against them

	gen    atomic.Pointer[generation] // nil while removed
	closed atomic.Bool
	mu     sync.Mutex // serialises Replace, Remove and Close
	info   wire.Info  // capabilities, fixed at the first load
	conn   any

	stop, stopped chan struct{} // the reload watcher's
}

// New loads a module from its bytes. cfg is a parsed Config (its Path and
// reload settings are not used here); when cfg.SHA256 is set the bytes
// must match it. The module is instantiated and configured once before
// New returns, so a bad module or config fails here.
func New(ctx context.Context, wasm []byte, cfg Config, env Env) (*Module, error) {
	return newModule(ctx, wasm, cfg, env, "")
}

// newModule is New with the directory of env.Cache's entries, when Open
// made it on disk, so that a broken entry can be dropped.
func newModule(ctx context.Context, wasm []byte, cfg Config, env Env, cacheDir string) (*Module, error) {
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	if env.Key == nil {
		env.Key = make([]byte, 32)
		rand.Read(env.Key)
	}
	cfg.setDefaults()
	if err := cfg.checkLimits(); err != nil {
		return nil, err
	}
	h, err := newHost(cfg, env.Key, env.Log)
	if err != nil {
		return nil, err
	}
	m := &Module{cfg: cfg, host: h, log: env.Log, cache: env.Cache, cacheDir: cacheDir}
	sum := SHA256(wasm)
	if cfg.SHA256 != "" && cfg.SHA256 != sum {
		return nil, refuse(fmt.Errorf("it has SHA-256 %s, the config pins %s", sum, cfg.SHA256))
	}
	g, err := m.newGeneration(ctx, wasm, sum)
	if err != nil {
		return nil, err
	}
	m.gen.Store(g)
	remote, err := wire.Dial(ctx, m.Call)
	if err != nil {
		g.retire()
		return nil, refuse(err)
	}
	m.info = remote.Info()
	m.conn = withCloser(remote, m)
	return m, nil
}

// SHA256 is the hex SHA-256 of a module, as config.sha256 has it.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Connector is the module as the broker uses it: exactly the sdk
// interfaces the module implements, plus io.Closer.
func (m *Module) Connector() any { return m.conn }

// Info is what the module implements.
func (m *Module) Info() wire.Info { return m.info }

// SHA256 is the hex SHA-256 of the module serving new calls; "" while
// removed.
func (m *Module) SHA256() string {
	if g := m.gen.Load(); g != nil {
		return g.sha
	}
	return ""
}

// Replace swaps in another module: calls that start afterwards use it,
// calls in flight finish on the old one, whose instances are closed when
// the last of them ends. The new module must match sha (when not empty)
// and implement the same interfaces; otherwise the old one stays.
func (m *Module) Replace(ctx context.Context, wasm []byte, sha string) error {
	sum := SHA256(wasm)
	if sha != "" && !strings.EqualFold(sha, sum) {
		return refuse(fmt.Errorf("it has SHA-256 %s, want %s", sum, sha))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return errClosed
	}
	g, err := m.newGeneration(ctx, wasm, sum)
	if err != nil {
		return err
	}
	if old := m.gen.Swap(g); old != nil {
		old.retire()
	}
	return nil
}

// Remove takes the module out of service: calls fail with ErrRemoved
// until Replace; calls in flight finish.
func (m *Module) Remove() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.gen.Swap(nil); old != nil {
		old.retire()
	}
}

// Close stops the reload watcher and releases the module. Calls in flight
// fail.
func (m *Module) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	if m.stop != nil {
		close(m.stop)
		<-m.stopped
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if g := m.gen.Swap(nil); g != nil {
		// Retired, not closed under them: calls in flight end by their
		// deadline at the latest, and only then is memory unmapped.
		g.retire()
	}
	if m.ownCache && m.cache != nil {
		return m.cache.Close(context.Background())
	}
	return nil
}

// Call carries one request into an instance of the module: the
// wire.Transport behind Connector. It bounds the call by the configured
// timeout, waiting for a free instance included.
func (m *Module) Call(ctx context.Context, req wire.Request) (wire.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.timeout())
	defer cancel()
	g, err := m.acquire()
	if err != nil {
		return wire.Response{}, err
	}
	defer g.release()
	inst, err := g.get(ctx)
	if err != nil {
		return wire.Response{}, err
	}
	resp, err := inst.do(ctx, req)
	if err != nil {
		g.discard(inst)
		m.log.Warn("wasm: call failed; the instance is replaced", "op", req.Op, "err", err)
		return wire.Response{}, err
	}
	if size := inst.mod.Memory().Size(); uint64(size) > m.highWater() {
		// Linear memory never shrinks: an instance that needed this much
		// once would hold it while idle. A fresh one costs a few ms.
		g.discard(inst)
		m.log.Debug("wasm: instance past its memory high-water mark; replaced", "op", req.Op, "memory", size)
		return resp, nil
	}
	g.put(inst)
	return resp, nil
}

// highWater is the linear memory above which an instance is not kept
// idle: half the limit.
func (m *Module) highWater() uint64 { return uint64(m.cfg.memoryPages()) * pageSize / 2 }

// acquire returns the current generation, counted as in use.
func (m *Module) acquire() (*generation, error) {
	for {
		if m.closed.Load() {
			return nil, errClosed
		}
		g := m.gen.Load()
		if g == nil {
			return nil, ErrRemoved
		}
		if g.ref() {
			return g, nil
		}
		// Retired between Load and ref: its successor is in place.
	}
}

// Stats describes the instances of the module serving new calls.
type Stats struct {
	Idle        int    // instances waiting for a call
	IdleMemory  uint64 // their linear memory, in bytes
	MemoryLimit uint64 // per instance
}

// Stats reports on the idle instances (busy ones are not looked at).
func (m *Module) Stats() Stats {
	st := Stats{MemoryLimit: uint64(m.cfg.memoryPages()) * pageSize}
	g, err := m.acquire()
	if err != nil {
		return st
	}
	defer g.release()
	var back []*instance
	for {
		select {
		case inst := <-g.idle:
			back = append(back, inst)
			st.Idle++
			st.IdleMemory += uint64(inst.mod.Memory().Size())
			continue
		default:
		}
		break
	}
	for _, inst := range back {
		select {
		case g.idle <- inst:
		default: // calls made new instances meanwhile: the pool is full
			inst.close()
		}
	}
	return st
}

// instance is one instantiation of the module; one call at a time.
type instance struct {
	mod         api.Module
	alloc, call api.Function
}

// maxAnswer bounds a module's answer: an identity with many groups is
// kilobytes, SAML metadata tens of them.
const maxAnswer = 4 << 20

// do makes one call. Any error means the instance must not be used again.
func (i *instance) do(ctx context.Context, req wire.Request) (wire.Response, error) {
	ctx = withState(ctx)
	in, err := json.Marshal(req)
	if err != nil {
		return wire.Response{}, fmt.Errorf("wasm: encode %s request: %w", req.Op, err)
	}
	res, err := i.alloc.Call(ctx, uint64(len(in)))
	if err != nil {
		return wire.Response{}, &callError{op: req.Op + ": " + abi.ExportAlloc, err: err}
	}
	ptr := uint32(res[0])
	if !i.mod.Memory().Write(ptr, in) {
		return wire.Response{}, fmt.Errorf("wasm: %s returned a buffer out of bounds", abi.ExportAlloc)
	}
	if res, err = i.call.Call(ctx, uint64(ptr), uint64(len(in))); err != nil {
		return wire.Response{}, &callError{op: req.Op, err: err}
	}
	optr, n := abi.UnpackResult(res[0])
	if n > maxAnswer {
		return wire.Response{}, fmt.Errorf("wasm: %s: answer of %d bytes is larger than %d", req.Op, n, maxAnswer)
	}
	out, ok := i.mod.Memory().Read(optr, n)
	if !ok {
		return wire.Response{}, fmt.Errorf("wasm: %s: answer out of bounds", req.Op)
	}
	var resp wire.Response
	if err := json.Unmarshal(out, &resp); err != nil {
		return wire.Response{}, fmt.Errorf("wasm: %s: malformed answer: %w", req.Op, err)
	}
	return resp, nil
}

func (i *instance) close() { i.mod.Close(context.Background()) }

// callError is a call that did not return: a trap, an exit, the deadline.
// Its message is the first line of wazero's (the rest is a wasm stack
// trace, for debug logs); errors.Is(err, context.DeadlineExceeded) holds
// for the deadline.
type callError struct {
	op  string
	err error
}

func (e *callError) Error() string {
	msg, _, _ := strings.Cut(e.err.Error(), "\n")
	return "wasm: " + e.op + ": " + msg
}

func (e *callError) Unwrap() error { return e.err }

// lineLog writes a module's stdout or stderr to the broker's log, one
// record a line, cut at maxLogLine, at most maxStdLines per instance.
type lineLog struct {
	log    *slog.Logger
	level  slog.Level
	stream string
	mu     sync.Mutex
	buf    []byte
	lines  int
}

const maxStdLines = 1000

func (w *lineLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range p {
		if c == '\n' || len(w.buf) >= maxLogLine {
			w.flush()
			if c == '\n' {
				continue
			}
		}
		w.buf = append(w.buf, c)
	}
	return len(p), nil
}

func (w *lineLog) flush() {
	if w.lines++; w.lines <= maxStdLines {
		w.log.Log(context.Background(), w.level, printable(w.buf), "from", "module", "stream", w.stream)
	}
	w.buf = w.buf[:0]
}

var _ io.Writer = (*lineLog)(nil)
