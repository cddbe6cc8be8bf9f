package config

import (
	"strings"
	"testing"
	"time"
)

// TestLoginAndOps: the login and ops sections' defaults, and each bad
// value refused at start with its path.
func TestLoginAndOps(t *testing.T) {
	const base = "issuer: https://id.example.com\nstorage: {dir: d}\nclients: [{id: app, secret: s, redirect_uris: [\"https://app.example.com/cb\"]}]\nconnectors: [{id: local, type: local}]\n"
	cfg, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Login.Session; s.IdleTimeout.Std() != time.Hour || s.AbsoluteTimeout.Std() != 12*time.Hour {
		t.Errorf("session defaults %+v", s)
	}
	if h := cfg.Login.Hash; h != (Hash{}) {
		t.Errorf("hash defaults %+v, want unset (one hash per CPU, 2s)", h)
	}
	if hc, err := Parse([]byte(base + "login: {hash: {memory_budget: 256MiB, queue_timeout: 10s}}\n")); err != nil ||
		hc.Login.Hash.MemoryBudget != 256<<20 || hc.Login.Hash.QueueTimeout.Std() != 10*time.Second {
		t.Errorf("login.hash: %+v, %v", hc.Login.Hash, err)
	}
	if cfg.SyncEvery() != time.Minute {
		t.Errorf("badger sync interval %v", cfg.SyncEvery())
	}
	for _, tc := range []struct{ name, src, err string }{
		{"idle over absolute", "login: {session: {idle_timeout: 2h, absolute_timeout: 1h}}", "login.session.idle_timeout: must not exceed absolute_timeout"},
		{"mfa for an unknown client", "login: {mfa: {clients: [nope]}}", `login.mfa.clients[0]: no client "nope"`},
		{"mfa for an unknown connector", "login: {mfa: {connectors: [nope]}}", `login.mfa.connectors[0]: no connector "nope"`},
		{"short mfa key", "login: {mfa: {key: c2hvcnQ=}}", "login.mfa.key: must be 32 bytes in base64"},
		{"negative throttle delay", "login: {throttle: {base_delay: -1s}}", "login.throttle.base_delay: must be positive"},
		{"negative token rate", "login: {throttle: {token_rate: -1}}", "login.throttle.token_rate: must not be negative"},
		{"colour that closes the rule", "login: {theme: {color: \"red;}body{display:none\"}}", "login.theme.color: must be a CSS colour"},
		{"trusted proxy not an address", "ops: {trusted_proxies: [lb.example.com]}", `ops.trusted_proxies[0]: not an IP address or CIDR`},
		{"ops listen not host:port", "ops: {listen: \"9090\"}", "ops.listen: not host:port"},
		{"tracing endpoint not a URL", "ops: {tracing: {endpoint: collector:4318}}", "ops.tracing.endpoint: not an http(s) URL"},
		{"sample ratio over 1", "ops: {tracing: {endpoint: \"http://c:4318\", sample_ratio: 2}}", "ops.tracing.sample_ratio: must be between 0 and 1"},
		{"token rate not a number", "login: {throttle: {token_rate: fast}}", "login.throttle.token_rate: expected a whole number"},
		{"sample ratio not a number", "ops: {tracing: {endpoint: \"http://c:4318\", sample_ratio: [1]}}", "ops.tracing.sample_ratio: expected a number"},
		{"misspelt login field", "login: {sesion: {}}", "login.sesion: unknown field"},
		{"hash queue over a minute", "login: {hash: {queue_timeout: 2m}}", "login.hash.queue_timeout: must be at most 1m"},
		{"hash budget not a size", "login: {hash: {memory_budget: lots}}", "login.hash.memory_budget:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(base + tc.src + "\n"))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want it to contain %q", err, tc.err)
			}
		})
	}
	ok := base + "login: {mfa: {key: " + strings.Repeat("A", 43) + "=, clients: [app]}, throttle: {token_rate: 5}}\nops: {trusted_proxies: [10.0.0.0/8, 192.0.2.1], listen: \"127.0.0.1:9090\"}\n"
	if _, err := Parse([]byte(ok)); err != nil {
		t.Errorf("valid login and ops sections refused: %v", err)
	}
}
