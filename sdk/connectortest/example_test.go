package connectortest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/connectortest"
)

// newConnector stands for the author's factory, the one main.go hands to
// plugin.Serve and wasm.Handle.
func newConnector(context.Context, json.RawMessage, *slog.Logger) (any, error) {
	return nil, nil
}

// A connector's conformance test, in a _test.go file of its main package.
// The store here is the author's: a test server holding the two accounts,
// with switches the hooks flip. `portico connector init` writes a complete
// one (an HTTP user store that can be down, stall or lose an account).
func ExampleRun() {
	alice := connectortest.Account{Username: "alice", Password: "correct horse", Want: sdk.Identity{
		Username: "alice", Name: "Alice", Groups: []string{"staff"},
	}}
	storeURL, setDown := "https://users.example.test", func(bool) {}

	testConformance := func(t *testing.T) {
		connectortest.Run(t, connectortest.Suite{
			Factory: newConnector,
			Package: ".", // built as a plugin and as a module, from this directory
			Config:  json.RawMessage(fmt.Sprintf(`{"users_url": %q}`, storeURL)),
			User:    alice,
			Unicode: connectortest.UnicodeAccount, // seeded in the store as it is
			Outage: func(testing.TB) (restore func()) {
				setDown(true)
				return func() { setDown(false) }
			},
		})
	}
	_ = testConformance // func TestConformance(t *testing.T) { ... }
}

// CheckIdentity holds an identity to the limits the broker admits, for a
// connector's own tests (a callback connector's, which Run does not test).
func ExampleCheckIdentity() {
	id := sdk.Identity{Subject: "u-1", Name: "Alice\x1b[31m"}
	fmt.Println(connectortest.CheckIdentity(connectortest.Limits{}, id))

	id = sdk.Identity{Subject: "u-1", Groups: make([]string, 1001)}
	fmt.Println(connectortest.CheckIdentity(connectortest.Limits{}, id))

	id = sdk.Identity{Subject: "u-1", Name: "Zoë 李"}
	fmt.Println(connectortest.CheckIdentity(connectortest.Limits{}, id))
	// Output:
	// identity: name contains a control character (U+001B)
	// identity: 1001 groups, more than the limit of 1000
	// <nil>
}
