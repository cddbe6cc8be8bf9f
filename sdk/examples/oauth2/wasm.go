//go:build wasip1

// The WASM build of the example: the same factory, served through the
// Portico WASM ABI (sdk/wasm) instead of go-plugin. Its HTTP requests go
// through the broker's http_request host function, so the connector's
// config needs allow_hosts naming the OAuth server's hosts. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o oauth2.wasm ./examples/oauth2 # in sdk/

package main

import "github.com/portico-idp/portico/sdk/wasm"

func init() { wasm.Handle(newConnector) }

// main is not run: the module is a reactor, started by _initialize.
func main() {}
