//go:build wasip1

package wasm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"unsafe"

	"github.com/portico-idp/portico/sdk/internal/wirejson"
	"github.com/portico-idp/portico/sdk/wasm/abi"
	"github.com/portico-idp/portico/sdk/wire"
)

// This package does not import sdk/upstream, whose wasip1 transport sends
// net/http requests through the broker's http_request: a module that
// makes none stays free of net/http (about 3 MB instead of 11). A
// connector using net/http imports sdk/upstream anyway (for NewClient);
// one that does not must import it for its side effect.

var (
	factory Factory
	conn    any // the configured connector; nil until configure

	// in is the request buffer portico_alloc hands out call after call:
	// the broker allocates once per call, so one buffer saves an
	// allocation and a map entry per call (the boundary's cost is mostly
	// the module's own work, see docs/performance.md). inBusy is set
	// between portico_alloc and the end of portico_call.
	in     []byte
	inBusy bool
	// pending keeps the other buffers portico_alloc handed out (larger
	// than maxReused, or asked for while in is busy) reachable until
	// portico_call takes them; Go's collector does not move memory, so
	// the address stays valid.
	pending = map[uintptr][]byte{}
	// out is the last answer, kept reachable until the next call, and
	// its buffer reused by it.
	out []byte
)

// Handle registers the module's connector factory. Call it from an init
// function: the broker configures the module right after start-up.
func Handle(f Factory) { factory = f }

// Key returns the connector's 32-byte secret key, for sealing what it
// keeps in ConnectorData (the key server.Env.Key gives a built-in one).
func Key() []byte { return abi.Key() }

// Logger returns a logger writing to the broker's log; the factory is
// given one too.
func Logger() *slog.Logger { return logger }

var logger = slog.New(&hostHandler{shared: &hostShared{}, level: slog.LevelDebug})

//go:wasmexport portico_abi_version
func abiVersion() int32 { return abi.Version }

//go:wasmexport portico_alloc
func alloc(size uint32) uint32 {
	n := int(max(size, 1))
	if !inBusy && n <= maxReused {
		if cap(in) < n {
			in = make([]byte, max(n, 4<<10))
		}
		inBusy = true
		return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(in))))
	}
	b := make([]byte, n)
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	pending[p] = b
	return uint32(p)
}

// maxReused bounds the request buffer kept between calls: a larger
// request (a callback with a large form) gets a buffer of its own, which
// the collector takes back, so that an instance's heap does not keep the
// largest request it ever saw.
const maxReused = 64 << 10

//go:wasmexport portico_call
func call(ptr, n uint32) uint64 {
	var b []byte
	ok, reused := false, inBusy && uintptr(ptr) == uintptr(unsafe.Pointer(unsafe.SliceData(in)))
	if reused {
		b, ok = in[:cap(in)], true
	} else if b, ok = pending[uintptr(ptr)]; ok {
		delete(pending, uintptr(ptr))
	}
	var resp wire.Response
	if !ok || int(n) > len(b) {
		resp = failed(errors.New("portico_call: the input was not allocated with portico_alloc"))
	} else {
		resp = serve(b[:n]) // keeps nothing of b: DecodeRequest copies
	}
	if reused {
		inBusy = false
	}
	// The broker reads the answer before its next call into the
	// instance (docs/wasm-abi.md), so the buffer is written over each
	// call; one that grew past maxReused is not kept.
	if cap(out) > maxReused {
		out = nil
	}
	var err error
	if out, err = wirejson.AppendResponse(out[:0], &resp); err != nil {
		f := failed(fmt.Errorf("encode answer: %w", err))
		out, _ = wirejson.AppendResponse(out[:0], &f)
	}
	return abi.PackResult(uint32(uintptr(unsafe.Pointer(unsafe.SliceData(out)))), uint32(len(out)))
}

func failed(err error) wire.Response {
	return wire.Response{Error: &wire.Error{Kind: wire.KindFailed, Message: err.Error()}}
}

// serve answers one request. A panic is not recovered: the Go runtime
// exits the module, the broker sees the instance fail and replaces it, so
// a connector's half-updated state never serves another call.
func serve(raw []byte) wire.Response {
	req, err := wirejson.DecodeRequest(raw)
	if err != nil {
		return failed(fmt.Errorf("malformed request: %w", err))
	}
	ctx := context.Background()
	switch {
	case req.Op == wire.OpConfigure:
		switch {
		case factory == nil:
			return failed(errors.New("the module registered no factory (wasm.Handle)"))
		case conn != nil:
			return failed(errors.New("the module was configured already"))
		}
		if len(req.Config) == 0 {
			req.Config = json.RawMessage("null")
		}
		c, err := factory(ctx, req.Config, logger)
		if err != nil {
			return wire.Response{Error: wire.ErrorOf(err)}
		}
		if c == nil {
			return failed(errors.New("the module's factory returned no connector"))
		}
		conn = c
		return wire.Response{}
	case conn == nil && req.Op == wire.OpInfo:
		return wire.Response{Info: &wire.Info{Version: wire.Version}}
	case conn == nil:
		return failed(errors.New("the module is not configured yet"))
	}
	return wire.Serve(ctx, conn, req)
}

// hostHandler is a slog.Handler writing records through the log host
// function as JSON objects, which the broker turns back into records of
// its own log (the module's attributes grouped under "module"). The
// level is the host function's argument; the broker adds the time and
// the connector.
type hostHandler struct {
	shared *hostShared
	inner  slog.Handler // over shared.buf; nil means a fresh one
	level  slog.Level
}

type hostShared struct {
	mu  sync.Mutex // goroutines in a module interleave at blocking points
	buf bytes.Buffer
}

func (h *hostHandler) handler() slog.Handler {
	if h.inner != nil {
		return h.inner
	}
	return slog.NewJSONHandler(&h.shared.buf, &slog.HandlerOptions{
		Level: h.level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		},
	})
}

func (h *hostHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *hostHandler) Handle(ctx context.Context, r slog.Record) error {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	h.shared.buf.Reset()
	if err := h.handler().Handle(ctx, r); err != nil {
		return err
	}
	abi.Log(int(r.Level), bytes.TrimSuffix(h.shared.buf.Bytes(), []byte("\n")))
	return nil
}

func (h *hostHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &hostHandler{shared: h.shared, inner: h.handler().WithAttrs(as), level: h.level}
}

func (h *hostHandler) WithGroup(name string) slog.Handler {
	return &hostHandler{shared: h.shared, inner: h.handler().WithGroup(name), level: h.level}
}
