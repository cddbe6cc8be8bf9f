// Package abi names the contract between Portico and a WASM connector
// module: the exports a module provides, the host functions the broker
// offers in the "portico" import module, and the JSON shapes of the
// http_request host function. docs/wasm-abi.md is the prose version; both
// sides (the broker's runtime in plugins/wasm, and sdk/wasm plus
// sdk/upstream inside a Go-built module) use these names, so they cannot
// drift apart.
//
// The package builds for every platform; the guest side of the host
// functions (Go wrappers over //go:wasmimport) is in abi_wasip1.go.
package abi

import "github.com/portico-idp/portico/sdk/wire"

// Version is the ABI version a module returns from portico_abi_version.
// It is the wire protocol's version: the messages are wire's, and the
// exports and host functions change only when wire.Version does.
const Version = wire.Version

// Exports of a module.
const (
	// ExportVersion: portico_abi_version() -> i32.
	ExportVersion = "portico_abi_version"
	// ExportAlloc: portico_alloc(size i32) -> i32, a buffer of size bytes
	// the host writes the request into; it belongs to the module again
	// when portico_call is given it.
	ExportAlloc = "portico_alloc"
	// ExportCall: portico_call(ptr i32, len i32) -> i64, the JSON
	// wire.Response packed as ptr<<32 | len. It stays readable until the
	// next call into the module.
	ExportCall = "portico_call"
	// ExportMemory is the module's linear memory.
	ExportMemory = "memory"
	// ExportInitialize is the reactor start function (WASI), called once
	// after instantiation when the module has it.
	ExportInitialize = "_initialize"
)

// HostModule is the import module of the broker's host functions.
const HostModule = "portico"

// Host functions.
const (
	// FuncLog: log(level i32, ptr i32, len i32). level is a slog.Level
	// (-4 debug, 0 info, 4 warn, 8 error); the bytes are a record: a JSON
	// object with the message under LogMessageKey and the attributes as
	// its other members (what slog's JSONHandler writes, without time
	// and level), or else plain UTF-8 text, all of it the message.
	FuncLog = "log"
	// FuncHTTPRequest: http_request(ptr i32, len i32) -> i32. The bytes
	// are an HTTPRequest in JSON; the answer (an HTTPResponse in JSON) is
	// the pending result, and the return value its length.
	FuncHTTPRequest = "http_request"
	// FuncTakeResult: take_result(ptr i32, len i32) -> i32 copies the
	// pending result into the module's buffer (len must be at least the
	// length http_request returned), clears it and returns its length,
	// or -1 when there is none or the buffer is too small.
	FuncTakeResult = "take_result"
	// FuncNow: now() -> i64, Unix time in nanoseconds.
	FuncNow = "now"
	// FuncRandom: random(ptr i32, len i32) -> i32 fills the buffer from
	// a cryptographic source; 0 on success.
	FuncRandom = "random"
	// FuncKey: key(ptr i32, len i32) -> i32 copies up to len bytes of
	// the connector's 32-byte secret key (for sealing what it keeps in
	// ConnectorData) and returns the key's length.
	FuncKey = "key"
)

// LogMessageKey is the member holding the message in a JSON log record
// (slog.MessageKey).
const LogMessageKey = "msg"

// Log levels, as slog's.
const (
	LevelDebug = -4
	LevelInfo  = 0
	LevelWarn  = 4
	LevelError = 8
)

// HTTPRequest is what a module asks the broker to send.
type HTTPRequest struct {
	Method string `json:"method"` // GET, POST...
	// URL is https, or http to a loopback host, and its host must be in
	// the connector's allow_hosts.
	URL string `json:"url"`
	// Headers are the request's; Host, Connection, Content-Length,
	// Transfer-Encoding, TE, Trailer, Upgrade, Keep-Alive and Proxy-*
	// cannot be set.
	Headers map[string][]string `json:"headers,omitempty"`
	Body    []byte              `json:"body,omitempty"` // at most 1 MiB
	// TimeoutMS bounds the request (from dial to the end of the body).
	// The broker also bounds it by what is left of the call's deadline.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// HTTPResponse is the broker's answer: a response, or an Error when none
// came (host not allowed, timeout, connection refused, too large).
// Redirects are not followed: a 3xx comes back as it is.
type HTTPResponse struct {
	Status  int                 `json:"status,omitempty"`  // the HTTP status code
	Headers map[string][]string `json:"headers,omitempty"` // the response's
	// Body is at most the connector's max_response_size.
	Body []byte `json:"body,omitempty"`
	// Error says why no response came; the other members are then empty.
	Error string `json:"error,omitempty"`
}

// PackResult packs a portico_call result.
func PackResult(ptr, n uint32) uint64 { return uint64(ptr)<<32 | uint64(n) }

// UnpackResult splits a portico_call result.
func UnpackResult(v uint64) (ptr, n uint32) { return uint32(v >> 32), uint32(v) }
