package wasm

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portico-idp/portico/plugins/internal/signing"
	"github.com/portico-idp/portico/sdk/upstream"
)

// Config is a wasm connector's config block:
//
//	type: wasm
//	config:
//	  path: /etc/portico/modules/github.wasm
//	  sha256: 5f0c...            # required unless reload is on
//	  timeout: 30s               # per call into the module
//	  memory_limit: 64MiB        # per instance
//	  pool_size: 4               # instances serving calls at once
//	  allow_hosts: [github.com, api.github.com]
//	  max_response_size: 1MiB    # per http_request answer
//	  reload: false              # watch path (and path.sha256) for a new module
//	  reload_interval: 2s
//	  cache_dir: ""              # default <storage dir>/wasm-cache, else the user's cache dir
//	  publisher_keys: [RWQ...]   # minisign keys; then path.minisig must verify
//	  publisher_keys_file: ""
//	  signature: ""              # default path.minisig
//	  require_signature: false   # true: keys are required
//	  config: {...}              # handed to the module's factory
type Config struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256,omitempty"`

	Timeout         upstream.Duration `json:"timeout,omitempty"`
	MemoryLimit     Size              `json:"memory_limit,omitempty"`
	PoolSize        int               `json:"pool_size,omitempty"`
	AllowHosts      []string          `json:"allow_hosts,omitempty"`
	MaxResponseSize Size              `json:"max_response_size,omitempty"`

	Reload         bool              `json:"reload,omitempty"`
	ReloadInterval upstream.Duration `json:"reload_interval,omitempty"`
	CacheDir       string            `json:"cache_dir,omitempty"`

	// Publisher keys (minisign public keys, inline or a file of them):
	// when any is set, the module (and every module a reload brings) must
	// carry a signature by one of them, Signature or path.minisig.
	PublisherKeys     []string `json:"publisher_keys,omitempty"`
	PublisherKeysFile string   `json:"publisher_keys_file,omitempty"`
	Signature         string   `json:"signature,omitempty"`
	// RequireSignature makes a config without publisher keys an error.
	RequireSignature bool `json:"require_signature,omitempty"`

	Config json.RawMessage `json:"config,omitempty"`
}

// Defaults and bounds.
const (
	DefaultTimeout         = 30 * time.Second
	DefaultMemoryLimit     = 64 << 20
	DefaultPoolSize        = 4
	DefaultMaxResponseSize = 1 << 20
	DefaultReloadInterval  = 2 * time.Second

	// MaxMemoryLimit is wasm32's 4 GiB.
	MaxMemoryLimit = 4 << 30
	MaxPoolSize    = 256
	// MaxResponseLimit bounds max_response_size: an answer is copied into
	// the module and through JSON (base64), so it costs about 3 times this.
	MaxResponseLimit = 64 << 20
)

// pageSize is a WebAssembly memory page.
const pageSize = 64 << 10

// Size is a byte count written as a string with a unit ("64MiB", "512KiB",
// "1GiB") or as a plain number of bytes.
type Size int64

// UnmarshalJSON reads "64MiB" or 67108864.
func (s *Size) UnmarshalJSON(b []byte) error {
	var n int64
	if json.Unmarshal(b, &n) == nil {
		*s = Size(n)
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return fmt.Errorf("a size is a string such as \"64MiB\" or a number of bytes, not %s", b)
	}
	v, err := ParseSize(str)
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

// MarshalJSON writes the number of bytes.
func (s Size) MarshalJSON() ([]byte, error) { return json.Marshal(int64(s)) }

// ParseSize reads a size such as "64MiB", "512KiB", "1GiB" or "1048576".
func ParseSize(str string) (int64, error) {
	orig := str
	str = strings.TrimSpace(str)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(str, u.suffix); ok {
			str, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(str, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size such as \"64MiB\" (units: B, KiB, MiB, GiB)", orig)
	}
	return n * mult, nil
}

// ParseConfig decodes and checks a wasm connector's config block. Errors
// name the field ("wasm: config.pool_size: ...").
func ParseConfig(raw []byte) (Config, error) {
	// Sizes first, so their errors name the field.
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) == nil {
		for _, f := range []string{"memory_limit", "max_response_size"} {
			var s Size
			if v, ok := fields[f]; ok && s.UnmarshalJSON(v) != nil {
				return Config{}, fmt.Errorf("wasm: config.%s: %s", f, s.UnmarshalJSON(v))
			}
		}
	}
	var c Config
	if err := upstream.DecodeStrict("wasm: config", raw, &c); err != nil {
		return Config{}, err
	}
	c.setDefaults()
	return c, c.Validate()
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = upstream.Duration(DefaultTimeout)
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}
	if c.MaxResponseSize == 0 {
		c.MaxResponseSize = DefaultMaxResponseSize
	}
	if c.ReloadInterval == 0 {
		c.ReloadInterval = upstream.Duration(DefaultReloadInterval)
	}
	c.SHA256 = strings.ToLower(strings.TrimSpace(c.SHA256))
}

// Validate reports the first problem in c, naming its field.
func (c *Config) Validate() error {
	var first error
	bad := func(field, format string, args ...any) {
		if first == nil {
			first = fmt.Errorf("wasm: config.%s: %s", field, fmt.Sprintf(format, args...))
		}
	}
	if c.Path == "" {
		bad("path", "required")
	}
	switch {
	case c.Reload && c.SHA256 != "":
		bad("sha256", "with reload on, the module is pinned by %s.sha256 next to it, not here (so a restart after a reload loads the same module)", c.Path)
	case !c.Reload && c.SHA256 == "":
		bad("sha256", "required: the SHA-256 of the module, in hex (sha256sum %s)", c.Path)
	case c.SHA256 != "":
		if b, err := hex.DecodeString(c.SHA256); err != nil || len(b) != 32 {
			bad("sha256", "%q is not a SHA-256 in hex", c.SHA256)
		}
	}
	if _, err := signing.ParseKeys(c.PublisherKeys, "", "publisher_keys"); err != nil {
		field, msg, _ := strings.Cut(err.Error(), ": ")
		bad(field, "%s", msg)
	}
	noKeys := len(c.PublisherKeys) == 0 && c.PublisherKeysFile == ""
	switch {
	case c.PublisherKeysFile != "" && !filepath.IsAbs(c.PublisherKeysFile):
		bad("publisher_keys_file", "%q must be absolute", c.PublisherKeysFile)
	case c.Signature != "" && !filepath.IsAbs(c.Signature):
		bad("signature", "%q must be absolute", c.Signature)
	case c.RequireSignature && noKeys:
		bad("require_signature", "needs publisher_keys or publisher_keys_file")
	case c.Signature != "" && noKeys:
		bad("signature", "is checked against publisher keys: set publisher_keys or publisher_keys_file")
	}
	if first != nil {
		return first
	}
	return c.checkLimits()
}

// keys reads the publisher keys, the keys file included.
func (c *Config) keys() (signing.Keys, error) {
	k, err := signing.ParseKeys(c.PublisherKeys, c.PublisherKeysFile, "publisher_keys")
	if err != nil {
		return signing.Keys{}, fmt.Errorf("wasm: config.%w", err)
	}
	if c.RequireSignature && !k.Required() {
		return signing.Keys{}, fmt.Errorf("wasm: config.require_signature: needs publisher_keys or publisher_keys_file")
	}
	return k, nil
}

// checkLimits checks what New uses: everything but the module's source.
func (c *Config) checkLimits() error {
	var first error
	bad := func(field, format string, args ...any) {
		if first == nil {
			first = fmt.Errorf("wasm: config.%s: %s", field, fmt.Sprintf(format, args...))
		}
	}
	upstream.CheckTimeout(bad, "timeout", c.Timeout)
	if c.MemoryLimit < pageSize || c.MemoryLimit > MaxMemoryLimit {
		bad("memory_limit", "%d bytes is out of range [64KiB, 4GiB] (a Go-built module needs at least 16MiB)", c.MemoryLimit)
	}
	if c.PoolSize < 1 || c.PoolSize > MaxPoolSize {
		bad("pool_size", "%d is out of range [1, %d]", c.PoolSize, MaxPoolSize)
	}
	if c.MaxResponseSize < 1 || c.MaxResponseSize > MaxResponseLimit {
		bad("max_response_size", "%d bytes is out of range [1, 64MiB]", c.MaxResponseSize)
	}
	for i, h := range c.AllowHosts {
		if _, err := parseHostRule(h); err != nil {
			bad(fmt.Sprintf("allow_hosts[%d]", i), "%v", err)
		}
	}
	if c.ReloadInterval < upstream.Duration(10*time.Millisecond) || time.Duration(c.ReloadInterval) > time.Hour {
		bad("reload_interval", "%v is out of range [10ms, 1h]", time.Duration(c.ReloadInterval))
	}
	return first
}

func (c *Config) timeout() time.Duration { return time.Duration(c.Timeout) }

// memoryPages is the memory limit in wasm pages, rounded down.
func (c *Config) memoryPages() uint32 { return uint32(c.MemoryLimit / pageSize) }

// hostRule is one allow_hosts entry: a host name or IP literal, or
// "*.suffix" for any name under suffix; with ":port" only that port.
type hostRule struct {
	host     string // lower case; for a wildcard, the suffix with its dot
	wildcard bool
	port     string // "" for any
}

func parseHostRule(s string) (hostRule, error) {
	orig := s
	var r hostRule
	if h, p, err := net.SplitHostPort(s); err == nil {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return r, fmt.Errorf("%q: bad port", orig)
		}
		s, r.port = h, p
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1] // "[::1]" without a port
	}
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		r.wildcard, s = true, rest
	}
	if s == "" || strings.ContainsAny(s, "/*@?#[] \t") || (r.wildcard && net.ParseIP(s) != nil) {
		return r, fmt.Errorf("%q is not a host name, an IP address or *.domain", orig)
	}
	r.host = s
	if r.wildcard {
		r.host = "." + s
	}
	return r, nil
}

func (r hostRule) match(host, port string) bool {
	if r.port != "" && r.port != port {
		return false
	}
	if r.wildcard {
		return strings.HasSuffix(host, r.host)
	}
	return host == r.host
}
