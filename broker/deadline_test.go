package broker_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/plugins/wasm/wasmtest"
	"github.com/portico-idp/portico/testenv"
)

// TestSlowConnectorAnswered: a process plugin and a WASM module that hang
// past their deadline, a deadline longer than the HTTP server's write
// timeout (as with the defaults: a module's 30 s against the server's
// 30 s; a plugin's may be 5 minutes), end the login with the 503 page,
// which the browser reads whole over the connection it kept from the
// first request to the last: no reset. What ended the call is the
// connector's deadline, nothing earlier. The timeouts are short to keep
// the test short.
func TestSlowConnectorAnswered(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.HTTP = config.HTTP{WriteTimeout: config.Duration(3 * time.Second)}
	plugin := pluginConnector(t, "slow-plugin", testPluginPkg, map[string]any{"users": map[string]string{"tess": "pw"}})
	plugin.Config["timeout"] = "5s"
	cfg.Connectors = append(cfg.Connectors, plugin,
		wasmModule(t, "slow-wasm", wasmtest.Build(t, wasmtest.Misbehave, ""),
			map[string]any{"users": map[string]any{"mallory": "pw"}}, map[string]any{"timeout": "5s"}))
	b := testenv.Start(t, cfg)
	for _, tc := range []struct{ connector, user string }{
		{"slow-plugin", "hang"},
		{"slow-wasm", "sleep"},
	} {
		t.Run(tc.connector, func(t *testing.T) {
			t.Parallel()
			var dials atomic.Int32
			rp := pickRP(t, b, tc.connector)
			rp.Browser.Transport = &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}}
			cb, err := rp.Authorize(context.Background(), rp.NewFlow().AuthURL, tc.user, "x")
			if err != nil {
				t.Fatalf("the login's answer did not arrive: %v", err)
			}
			if cb.Status != http.StatusServiceUnavailable || !strings.Contains(cb.Page, "not available") {
				t.Errorf("status %d: %.400s; want the 503 page", cb.Status, cb.Page)
			}
			resp, err := rp.Browser.Get(b.URL + "/.well-known/openid-configuration")
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("the next request: %v", err)
			}
			resp.Body.Close()
			if n := dials.Load(); n != 1 {
				t.Errorf("%d connections: the one the login began on was not kept", n)
			}
		})
	}
	t.Cleanup(func() {
		// Each failure is logged with its cause: the deadline, never a
		// cancellation.
		seen := map[string]bool{}
		for _, line := range strings.Split(b.Logs(), "\n") {
			var e struct{ Msg, Connector, Err string }
			if json.Unmarshal([]byte(line), &e) != nil || e.Msg != "login: connector error" {
				continue
			}
			seen[e.Connector] = true
			if !strings.Contains(strings.ToLower(e.Err), "deadline") || strings.Contains(e.Err, "context canceled") || strings.Contains(e.Err, "code = Canceled") {
				t.Errorf("%s: the call ended by %q, want its deadline", e.Connector, e.Err)
			}
		}
		if !seen["slow-plugin"] || !seen["slow-wasm"] {
			t.Errorf("failures logged for %v, want both connectors", seen)
		}
	})
}
