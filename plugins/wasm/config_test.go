package wasm_test

import (
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/plugins/wasm"
)

// testKey is a well-formed minisign public key.
const testKey = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"

func TestParseConfig(t *testing.T) {
	sha := strings.Repeat("0f", 32)
	for _, tt := range []struct {
		name, raw string
		err       string // "" for success
		check     func(wasm.Config) bool
	}{
		{"defaults", `{"path":"m.wasm","sha256":"` + strings.ToUpper(sha) + `"}`, "", func(c wasm.Config) bool {
			return c.SHA256 == sha && time.Duration(c.Timeout) == wasm.DefaultTimeout && c.MemoryLimit == wasm.DefaultMemoryLimit &&
				c.PoolSize == wasm.DefaultPoolSize && c.MaxResponseSize == wasm.DefaultMaxResponseSize && len(c.AllowHosts) == 0
		}},
		{"everything", `{"path":"m.wasm","reload":true,"reload_interval":"500ms","timeout":"5s","memory_limit":"128MiB",
			"pool_size":8,"allow_hosts":["github.com","*.corp.example","127.0.0.1:9000"],"max_response_size":"256KiB",
			"cache_dir":"/var/cache/portico","config":{"a":1}}`, "", func(c wasm.Config) bool {
			return c.MemoryLimit == 128<<20 && c.MaxResponseSize == 256<<10 && c.PoolSize == 8 && string(c.Config) == `{"a":1}`
		}},
		{"size in bytes", `{"path":"m","sha256":"` + sha + `","memory_limit":16777216}`, "", func(c wasm.Config) bool { return c.MemoryLimit == 16<<20 }},
		{"no path", `{"sha256":"` + sha + `"}`, "config.path: required", nil},
		{"no sha256", `{"path":"m.wasm"}`, "config.sha256: required", nil},
		{"bad sha256", `{"path":"m.wasm","sha256":"abc"}`, "config.sha256: \"abc\" is not a SHA-256", nil},
		{"sha256 with reload", `{"path":"m.wasm","sha256":"` + sha + `","reload":true}`, "m.wasm.sha256 next to it", nil},
		{"unknown field", `{"path":"m","sha256":"` + sha + `","allow_host":["x"]}`, "unknown field \"allow_host\"", nil},
		{"timeout", `{"path":"m","sha256":"` + sha + `","timeout":"1h"}`, "config.timeout: 1h0m0s is out of range", nil},
		{"timeout not a string", `{"path":"m","sha256":"` + sha + `","timeout":30}`, "config.timeout: 30 is not a duration", nil},
		{"memory", `{"path":"m","sha256":"` + sha + `","memory_limit":"8GiB"}`, "config.memory_limit:", nil},
		{"memory unit", `{"path":"m","sha256":"` + sha + `","memory_limit":"64MB"}`, `config.memory_limit: "64MB" is not a size`, nil},
		{"pool", `{"path":"m","sha256":"` + sha + `","pool_size":-1}`, "config.pool_size: -1 is out of range", nil},
		{"host", `{"path":"m","sha256":"` + sha + `","allow_hosts":["ok.com","https://x.com/"]}`, "config.allow_hosts[1]:", nil},
		{"response", `{"path":"m","sha256":"` + sha + `","max_response_size":"1GiB"}`, "config.max_response_size:", nil},
		{"reload interval", `{"path":"m","reload":true,"reload_interval":"1ms"}`, "config.reload_interval:", nil},
		{"publisher keys", `{"path":"m","sha256":"` + sha + `","publisher_keys":["` + testKey + `"],"require_signature":true,
			"signature":"/etc/portico/m.minisig","publisher_keys_file":"/etc/portico/keys.pub"}`, "", func(c wasm.Config) bool {
			return len(c.PublisherKeys) == 1 && c.RequireSignature
		}},
		{"bad publisher key", `{"path":"m","sha256":"` + sha + `","publisher_keys":["RWnope"]}`, "config.publisher_keys[0]: not a minisign public key", nil},
		{"signature required", `{"path":"m","sha256":"` + sha + `","require_signature":true}`, "config.require_signature: needs publisher_keys", nil},
		{"signature without keys", `{"path":"m","sha256":"` + sha + `","signature":"/m.minisig"}`, "config.signature: is checked against publisher keys", nil},
		{"relative keys file", `{"path":"m","sha256":"` + sha + `","publisher_keys_file":"k.pub"}`, "config.publisher_keys_file: \"k.pub\" must be absolute", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := wasm.ParseConfig([]byte(tt.raw))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"64MiB": 64 << 20, "512 KiB": 512 << 10, "1GiB": 1 << 30, "100": 100, "10B": 10} {
		if got, err := wasm.ParseSize(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1MiB", "1.5MiB", "64mb", "99999999999GiB"} {
		if _, err := wasm.ParseSize(in); err == nil {
			t.Errorf("%q was accepted", in)
		}
	}
}
