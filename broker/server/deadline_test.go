package server

import (
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/plugins/process"
	"github.com/portico-idp/portico/plugins/wasm"
)

// TestConnectorDeadlines: the broker holds each connector's calls to the
// connector's own deadline, defaults included (a module's 30 s, as long
// as the server's default write timeout), which it then keeps the
// request's connection open past; built-ins in the broker's process get
// the broker's default.
func TestConnectorDeadlines(t *testing.T) {
	sum := `"sha256": "` + strings.Repeat("ab", 32) + `"`
	for _, tc := range []struct {
		name, typ, isolation, raw string
		want                      time.Duration
	}{
		{"plugin default", "plugin", "", `{"path": "/bin/true", ` + sum + `}`, process.DefaultTimeout},
		{"plugin at its maximum", "plugin", "", `{"path": "/bin/true", ` + sum + `, "timeout": "5m"}`, 5 * time.Minute},
		{"wasm default", "wasm", "", `{"path": "/m.wasm", ` + sum + `}`, wasm.DefaultTimeout},
		{"wasm set", "wasm", "", `{"path": "/m.wasm", ` + sum + `, "timeout": "2m"}`, 2 * time.Minute},
		{"built-in in a child process", "ldap", config.IsolationProcess, `{}`, isolatedTimeout},
		{"built-in", "ldap", "", `{}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := deadlineOf(tc.typ, tc.isolation, []byte(tc.raw)); got != tc.want {
				t.Errorf("deadline %v, want %v", got, tc.want)
			}
		})
	}
}
