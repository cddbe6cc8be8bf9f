//go:build wasip1

// Command misbehave is a test connector module: a password connector over
// users in its config, which misbehaves on purpose for some usernames so
// the tests can show the sandbox holds. Build it with
// -ldflags "-X main.version=v2" to get a second, different module.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/wasm"
	"github.com/portico-idp/portico/sdk/wasm/abi"
)

var version = "v1"

type config struct {
	Users    map[string]string `json:"users"`
	ProbeURL string            `json:"probe_url"`
	// Hold makes each login sleep this long (Go duration), so that a
	// second call sharing the instance would be noticed.
	Hold string `json:"hold"`
}

type connector struct {
	cfg   config
	hold  time.Duration
	log   *slog.Logger
	calls int // per instance: shows an instance is never shared
}

func init() {
	wasm.Handle(func(_ context.Context, raw json.RawMessage, log *slog.Logger) (any, error) {
		var c config
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("misbehave: config: %w", err)
		}
		hold, err := time.ParseDuration(cmp.Or(c.Hold, "0s"))
		if err != nil {
			return nil, fmt.Errorf("misbehave: config.hold: %w", err)
		}
		log.Info("configured", "version", version, "users", len(c.Users))
		return &connector{cfg: c, log: log, hold: hold}, nil
	})
}

func main() {}

var sink int

func (c *connector) Login(ctx context.Context, _ sdk.Scopes, username, password string) (sdk.Identity, error) {
	c.calls++
	calls := c.calls
	switch username {
	case "loop":
		for i := 0; ; i++ {
			sink += i
		}
	case "alloc":
		var keep [][]byte
		for {
			keep = append(keep, make([]byte, 1<<20))
			sink += len(keep)
		}
	case "touch": // like alloc, but every page is written, so it is resident
		var keep [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
			sink += len(keep)
		}
	case "big": // needs 24 MiB once, then answers as usual
		b := make([]byte, 24<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		sink += int(b[len(b)-4096])
	case "sleep":
		time.Sleep(time.Hour)
	case "panic":
		panic("misbehave: asked to panic")
	case "http":
		// The ABI directly, not net/http: it keeps this module small
		// (the GitHub module and the examples go through net/http).
		resp, err := abi.HTTP(abi.HTTPRequest{Method: "GET", URL: c.cfg.ProbeURL, TimeoutMS: 2000})
		if err != nil {
			return sdk.Identity{}, fmt.Errorf("%w: %v", sdk.ErrUnavailable, err)
		}
		return sdk.Identity{Subject: "http", Name: string(resp.Body)}, nil
	}
	if p, ok := c.cfg.Users[username]; !ok || p != password {
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	// A call in between would change calls if the instance were shared.
	if c.hold > 0 {
		time.Sleep(c.hold)
	}
	if calls != c.calls {
		return sdk.Identity{}, fmt.Errorf("instance shared: calls %d became %d", calls, c.calls)
	}
	return sdk.Identity{Subject: "user-" + username, Username: username, Name: username + " " + version,
		Email: username + "@example.com", EmailVerified: true,
		Attributes: map[string][]string{"module_version": {version}}}, nil
}
