// Package wasm turns a Go connector into a Portico WASM connector module.
//
// A module's source registers the same factory a process plugin serves:
//
//	//go:build wasip1
//
//	package main
//
//	import "github.com/portico-idp/portico/sdk/wasm"
//
//	func init() { wasm.Handle(newConnector) }
//
//	func main() {}
//
// and is built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o connector.wasm .
//
// The package provides the module's exports (portico_abi_version,
// portico_alloc, portico_call, see docs/wasm-abi.md) and answers each call
// with wire.Serve on the connector the factory built from the configure
// call. Its logger writes to the broker's log through the log host
// function, and sdk/upstream's HTTP client goes through http_request (its
// wasip1 transport), so a connector written against sdk and sdk/upstream
// runs unchanged.
//
// A Go-built module is about 4 MB (11 MB with net/http) and needs about
// 3 MB of memory before it does anything; the broker compiles it in
// seconds (a fraction of that from its compilation cache), and makes a
// new instance in milliseconds plus the factory's work. docs/wasm-abi.md
// has measurements, and the ABI for modules in other languages.
//
// Everything but the Factory type builds only for GOOS=wasip1.
package wasm

import (
	"context"
	"encoding/json"
	"log/slog"
)

// Factory builds the connector from its config block (the wasm
// connector's config.config, as JSON). It has the signature of the
// process-plugin SDK's factory, so one function serves both. The result
// implements some of the sdk connector interfaces.
type Factory = func(ctx context.Context, config json.RawMessage, log *slog.Logger) (any, error)
