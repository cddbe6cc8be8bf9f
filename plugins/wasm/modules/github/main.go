//go:build wasip1

// Command github is the built-in GitHub connector (connectors/github) as a
// WASM connector module: the same code, its HTTP going through the
// broker's http_request host function (sdk/upstream's wasip1 transport)
// and its access tokens sealed under the key the broker hands the module.
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o github.wasm ./plugins/wasm/modules/github
//
// and configure it as a wasm connector whose config block is the github
// connector's, with allow_hosts naming GitHub's web and API hosts.
package main

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/portico-idp/portico/connectors/github"
	"github.com/portico-idp/portico/sdk/wasm"
)

func init() {
	wasm.Handle(func(_ context.Context, raw json.RawMessage, log *slog.Logger) (any, error) {
		cfg, err := github.ParseConfig(raw)
		if err != nil {
			return nil, err
		}
		return github.New(cfg, wasm.Key(), log)
	})
}

func main() {}
