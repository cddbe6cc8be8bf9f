package process

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/portico-idp/portico/plugins/internal/signing"
	"github.com/portico-idp/portico/sdk/upstream"
)

// Defaults for Config.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultStartTimeout = 10 * time.Second
)

// Config is the config block of a connector of type plugin:
//
//	connectors:
//	  - id: partners
//	    type: plugin
//	    config:
//	      path: /usr/lib/portico/plugins/fileusers
//	      sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	      timeout: 5s
//	      config: {file: /etc/portico/partners.json}
type Config struct {
	// Path is the plugin executable, absolute.
	Path string `json:"path"`
	// SHA256 is the executable's checksum, hex: the broker refuses to run
	// a binary that does not match.
	SHA256 string `json:"sha256"`
	// Args are passed to the executable.
	Args []string `json:"args,omitempty"`
	// Env is added to the plugin's environment, which holds nothing else
	// of the broker's but PATH, TMPDIR, TZ, locale, CA and proxy settings:
	// the broker's own environment may carry secrets.
	Env map[string]string `json:"env,omitempty"`
	// Timeout bounds every call into the plugin (default 10s).
	Timeout upstream.Duration `json:"timeout,omitempty"`
	// StartTimeout bounds the start and handshake (default 10s).
	StartTimeout upstream.Duration `json:"start_timeout,omitempty"`
	// Config is handed to the plugin's factory, as JSON.
	Config json.RawMessage `json:"config,omitempty"`

	// PublisherKeys are minisign public keys (the RW... line of a .pub
	// file) of the publishers trusted to sign the executable. With any
	// key here or in PublisherKeysFile, the executable must carry a
	// signature by one of them, checked before every start.
	PublisherKeys []string `json:"publisher_keys,omitempty"`
	// PublisherKeysFile is a file of such keys, one a line.
	PublisherKeysFile string `json:"publisher_keys_file,omitempty"`
	// Signature is the executable's minisign signature (default Path +
	// ".minisig").
	Signature string `json:"signature,omitempty"`
	// RequireSignature makes a config without publisher keys an error, so
	// a connector cannot lose its signature check by an edit.
	RequireSignature bool `json:"require_signature,omitempty"`
}

var (
	sha256RE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// ParseConfig decodes and checks a plugin connector's config block.
func ParseConfig(raw []byte) (Config, error) {
	var c Config
	if err := upstream.DecodeStrict("plugin: config", raw, &c); err != nil {
		return Config{}, err
	}
	var errs []string
	bad := func(field, format string, args ...any) {
		errs = append(errs, "plugin: config."+field+": "+fmt.Sprintf(format, args...))
	}
	switch {
	case c.Path == "":
		bad("path", "required")
	case !filepath.IsAbs(c.Path):
		bad("path", "%q must be absolute: a relative path would depend on the broker's working directory", c.Path)
	}
	c.SHA256 = strings.ToLower(c.SHA256)
	if !sha256RE.MatchString(c.SHA256) {
		bad("sha256", "required: the executable's SHA-256 as 64 hex digits (sha256sum PATH)")
	}
	for k := range c.Env {
		if !envNameRE.MatchString(k) {
			bad("env", "%q is not an environment variable name", k)
		}
	}
	if c.Timeout == 0 {
		c.Timeout = upstream.Duration(DefaultTimeout)
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = upstream.Duration(DefaultStartTimeout)
	}
	if err := checkSigning(c.PublisherKeys, c.PublisherKeysFile, c.Signature, c.RequireSignature); err != nil {
		bad(err.field, "%s", err.msg)
	}
	upstream.CheckTimeout(bad, "timeout", c.Timeout)
	upstream.CheckTimeout(bad, "start_timeout", c.StartTimeout)
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return c, nil
}

func (c Config) checksum() ([]byte, error) {
	b, err := hex.DecodeString(c.SHA256)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("plugin: sha256 %q is not 64 hex digits", c.SHA256)
	}
	return b, nil
}

// fieldError is a config problem in one field.
type fieldError struct{ field, msg string }

// checkSigning checks the signing fields as far as can be done without
// reading files (config check may run elsewhere).
func checkSigning(keys []string, file, sig string, required bool) *fieldError {
	if _, err := signing.ParseKeys(keys, "", "publisher_keys"); err != nil {
		field, msg, _ := strings.Cut(err.Error(), ": ")
		return &fieldError{field, msg}
	}
	switch {
	case file != "" && !filepath.IsAbs(file):
		return &fieldError{"publisher_keys_file", fmt.Sprintf("%q must be absolute", file)}
	case sig != "" && !filepath.IsAbs(sig):
		return &fieldError{"signature", fmt.Sprintf("%q must be absolute", sig)}
	case required && len(keys) == 0 && file == "":
		return &fieldError{"require_signature", "needs publisher_keys or publisher_keys_file"}
	case sig != "" && len(keys) == 0 && file == "":
		return &fieldError{"signature", "is checked against publisher keys: set publisher_keys or publisher_keys_file"}
	}
	return nil
}

// keys reads the publisher keys, the keys file included.
func (c Config) keys() (signing.Keys, error) {
	k, err := signing.ParseKeys(c.PublisherKeys, c.PublisherKeysFile, "publisher_keys")
	if err != nil {
		return signing.Keys{}, fmt.Errorf("plugin: config.%w", err)
	}
	if c.RequireSignature && !k.Required() {
		return signing.Keys{}, fmt.Errorf("plugin: config.require_signature: needs publisher_keys or publisher_keys_file")
	}
	return k, nil
}
