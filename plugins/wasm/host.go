package wasm

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
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/portico-idp/portico/plugins/internal/logline"
	"github.com/portico-idp/portico/sdk/upstream"
	"github.com/portico-idp/portico/sdk/wasm/abi"
)

// Limits on what one call into a module may ask of the host.
const (
	maxLogLine         = 4 << 10  // longer stdout and stderr lines are cut
	maxLogRecord       = 64 << 10 // a longer log record is cut (and so not JSON)
	maxLogLinesPerCall = 200      // more are dropped
	maxHTTPPerCall     = 64       // GitHub pages through orgs and teams; a loop is stopped
	maxRequestJSON     = 3 << 20  // the http_request JSON: a 1 MiB body in base64, headers
	maxRequestBody     = 1 << 20
	maxRandom          = 64 << 10
	maxHTTPTimeout     = upstream.MaxTimeout
)

// host is what a module's host functions may use: the connector's
// capabilities, fixed by its config.
type host struct {
	allow       []hostRule
	maxResponse int64
	key         []byte
	log         *slog.Logger
	client      *http.Client
}

func newHost(cfg Config, key []byte, log *slog.Logger) (*host, error) {
	h := &host{maxResponse: int64(cfg.MaxResponseSize), key: key, log: log}
	for _, s := range cfg.AllowHosts {
		r, err := parseHostRule(s)
		if err != nil {
			return nil, err
		}
		h.allow = append(h.allow, r)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxResponseHeaderBytes = 64 << 10
	h.client = &http.Client{
		Transport: tr,
		// A redirect goes back to the module, which may follow it with
		// a new request (checked against the allow-list again).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return h, nil
}

// callState is the host's side of one call into an instance: the pending
// result of http_request and the budgets. It travels in the call's
// context, which wazero hands to every host function.
type callState struct {
	mu     sync.Mutex
	result []byte
	has    bool
	logs   int
	https  int
}

type stateKey struct{}

func withState(ctx context.Context) context.Context {
	return context.WithValue(ctx, stateKey{}, &callState{})
}

func stateOf(ctx context.Context) *callState {
	if s, ok := ctx.Value(stateKey{}).(*callState); ok {
		return s
	}
	return &callState{} // not reached: every call carries one
}

// read copies n bytes at ptr out of the module's memory. A pointer out of
// bounds is the module's bug: the panic becomes a failed call (wazero
// turns a host function's panic into the call's error) and the instance
// is replaced.
func read(m api.Module, ptr, n uint32) []byte {
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		panic(fmt.Errorf("wasm: the module passed memory [%d, +%d) out of bounds", ptr, n))
	}
	return bytes.Clone(b)
}

func write(m api.Module, ptr uint32, b []byte) {
	if !m.Memory().Write(ptr, b) {
		panic(fmt.Errorf("wasm: the module passed memory [%d, +%d) out of bounds", ptr, len(b)))
	}
}

// instantiate adds the "portico" host module to r.
func (h *host) instantiate(ctx context.Context, r wazero.Runtime) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	b := r.NewHostModuleBuilder(abi.HostModule)
	for _, f := range []struct {
		name            string
		f               api.GoModuleFunc
		params, results []api.ValueType
	}{
		{abi.FuncLog, h.hostLog, []api.ValueType{i32, i32, i32}, nil},
		{abi.FuncHTTPRequest, h.hostHTTP, []api.ValueType{i32, i32}, []api.ValueType{i32}},
		{abi.FuncTakeResult, h.hostTakeResult, []api.ValueType{i32, i32}, []api.ValueType{i32}},
		{abi.FuncNow, h.hostNow, nil, []api.ValueType{i64}},
		{abi.FuncRandom, h.hostRandom, []api.ValueType{i32, i32}, []api.ValueType{i32}},
		{abi.FuncKey, h.hostKey, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	} {
		b.NewFunctionBuilder().WithGoModuleFunction(f.f, f.params, f.results).Export(f.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// hostFuncs lists the host functions by name, for checking a module's
// imports at load.
var hostFuncs = map[string]bool{abi.FuncLog: true, abi.FuncHTTPRequest: true, abi.FuncTakeResult: true,
	abi.FuncNow: true, abi.FuncRandom: true, abi.FuncKey: true}

func (h *host) hostLog(ctx context.Context, m api.Module, stack []uint64) {
	level, ptr, n := int32(stack[0]), uint32(stack[1]), uint32(stack[2])
	s := stateOf(ctx)
	s.mu.Lock()
	s.logs++
	drop := s.logs > maxLogLinesPerCall
	s.mu.Unlock()
	if drop || !h.log.Enabled(ctx, slog.Level(level)) {
		return
	}
	lvl := slog.Level(max(min(level, abi.LevelError), abi.LevelDebug))
	rec := read(m, ptr, min(n, maxLogRecord))
	if obj, ok := logline.Object(rec); ok {
		if msg, ok := obj[abi.LogMessageKey].(string); ok {
			attrs := logline.Attrs(obj, func(k string) bool { return k == abi.LogMessageKey })
			h.log.LogAttrs(ctx, lvl, logline.Printable(msg, logline.MaxMessage), slog.Attr{Key: "module", Value: slog.GroupValue(attrs...)})
			return
		}
	}
	// Plain text: a module not written with sdk/wasm.
	h.log.LogAttrs(ctx, lvl, logline.Printable(string(rec), logline.MaxMessage))
}

func (h *host) hostNow(_ context.Context, _ api.Module, stack []uint64) {
	stack[0] = uint64(time.Now().UnixNano())
}

func (h *host) hostRandom(_ context.Context, m api.Module, stack []uint64) {
	ptr, n := uint32(stack[0]), uint32(stack[1])
	if n > maxRandom {
		stack[0] = api.EncodeI32(-1)
		return
	}
	b := make([]byte, n)
	rand.Read(b)
	write(m, ptr, b)
	stack[0] = 0
}

func (h *host) hostKey(_ context.Context, m api.Module, stack []uint64) {
	ptr, n := uint32(stack[0]), uint32(stack[1])
	write(m, ptr, h.key[:min(int(n), len(h.key))])
	stack[0] = api.EncodeI32(int32(len(h.key)))
}

func (h *host) hostTakeResult(ctx context.Context, m api.Module, stack []uint64) {
	ptr, n := uint32(stack[0]), uint32(stack[1])
	s := stateOf(ctx)
	s.mu.Lock()
	res, has := s.result, s.has
	if has && int(n) >= len(res) {
		s.result, s.has = nil, false
	}
	s.mu.Unlock()
	if !has || int(n) < len(res) {
		stack[0] = api.EncodeI32(-1)
		return
	}
	write(m, ptr, res)
	stack[0] = api.EncodeI32(int32(len(res)))
}

func (h *host) hostHTTP(ctx context.Context, m api.Module, stack []uint64) {
	ptr, n := uint32(stack[0]), uint32(stack[1])
	s := stateOf(ctx)
	var resp abi.HTTPResponse
	s.mu.Lock()
	s.https++
	count := s.https
	s.mu.Unlock()
	switch {
	case n > maxRequestJSON:
		resp.Error = fmt.Sprintf("http_request: request of %d bytes is larger than %d", n, maxRequestJSON)
	case count > maxHTTPPerCall:
		resp.Error = fmt.Sprintf("http_request: more than %d requests in one call", maxHTTPPerCall)
	default:
		resp = h.do(ctx, read(m, ptr, n))
	}
	out, err := json.Marshal(resp)
	if err != nil { // not reached: the fields always encode
		out = []byte(`{"error":"http_request: cannot encode the answer"}`)
	}
	s.mu.Lock()
	s.result, s.has = out, true
	s.mu.Unlock()
	stack[0] = api.EncodeI32(int32(len(out)))
}

// do sends one request a module asked for, if its config allows it.
func (h *host) do(ctx context.Context, raw []byte) abi.HTTPResponse {
	req, timeout, err := parseHTTPRequest(raw, h.allow)
	if err != nil {
		h.log.Warn("wasm: http_request refused", "err", err)
		return abi.HTTPResponse{Error: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := h.client.Do(req.WithContext(ctx))
	if err != nil {
		return abi.HTTPResponse{Error: fmt.Sprintf("http_request: %v", err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, h.maxResponse+1))
	if err != nil {
		return abi.HTTPResponse{Error: fmt.Sprintf("http_request: read the answer: %v", err)}
	}
	if int64(len(body)) > h.maxResponse {
		return abi.HTTPResponse{Error: fmt.Sprintf("http_request: the answer is larger than max_response_size (%d bytes)", h.maxResponse)}
	}
	return abi.HTTPResponse{Status: resp.StatusCode, Headers: resp.Header, Body: body}
}

// Headers a module may not set: the transport owns them.
var hopHeaders = map[string]bool{"Host": true, "Connection": true, "Content-Length": true, "Transfer-Encoding": true,
	"Te": true, "Trailer": true, "Upgrade": true, "Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authorization": true}

// parseHTTPRequest turns a module's http_request JSON (untrusted) into a
// request to a host on the allow-list, and its timeout. It sends nothing.
func parseHTTPRequest(raw []byte, allow []hostRule) (*http.Request, time.Duration, error) {
	var hr abi.HTTPRequest
	if err := json.Unmarshal(raw, &hr); err != nil {
		return nil, 0, fmt.Errorf("http_request: malformed request: %w", err)
	}
	if len(hr.Body) > maxRequestBody {
		return nil, 0, fmt.Errorf("http_request: body of %d bytes is larger than %d", len(hr.Body), maxRequestBody)
	}
	u, err := url.Parse(hr.URL)
	if err != nil {
		return nil, 0, fmt.Errorf("http_request: bad URL: %w", err)
	}
	if err := allowed(u, allow); err != nil {
		return nil, 0, err
	}
	if hr.Method == "" {
		hr.Method = http.MethodGet
	}
	req, err := http.NewRequest(hr.Method, u.String(), bytes.NewReader(hr.Body))
	if err != nil {
		return nil, 0, fmt.Errorf("http_request: %w", err)
	}
	for k, vs := range hr.Headers {
		ck := http.CanonicalHeaderKey(k)
		if hopHeaders[ck] || strings.HasPrefix(ck, "Proxy-") {
			continue
		}
		for _, v := range vs {
			req.Header.Add(ck, v)
		}
	}
	timeout := time.Duration(hr.TimeoutMS) * time.Millisecond
	if timeout <= 0 || timeout > maxHTTPTimeout {
		timeout = min(upstream.DefaultTimeout, maxHTTPTimeout)
	}
	return req, timeout, nil
}

// errNotAllowed is wrapped by every refusal of a destination.
var errNotAllowed = errors.New("host not on the connector's allow_hosts")

// allowed checks a destination: https, or http to a loopback host (as the
// built-in connectors have it), no user info, and a host on the list.
func allowed(u *url.URL, allow []hostRule) error {
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	switch {
	case u.Scheme != "https" && u.Scheme != "http", host == "":
		return fmt.Errorf("http_request: %q is not an absolute http(s) URL", upstream.Printable(u.Redacted(), 200))
	case u.Scheme == "http" && !upstream.IsLoopback(host):
		return fmt.Errorf("http_request: plain http is allowed only to loopback hosts: %q", upstream.Printable(u.Redacted(), 200))
	case u.User != nil:
		return errors.New("http_request: the URL carries user info; send credentials in a header")
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, r := range allow {
		if r.match(host, port) {
			return nil
		}
	}
	return fmt.Errorf("http_request: %w: %s", errNotAllowed, upstream.Printable(u.Host, 200))
}
