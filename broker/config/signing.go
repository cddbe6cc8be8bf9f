package config

import (
	"fmt"
	"path/filepath"

	"aead.dev/minisign"
)

// ConnectorSigning is the publisher keys trusted for every `plugin` and
// `wasm` connector of the file ([plugins.md](plugins.md#signatures)).
// A connector that sets none of its own (`publisher_keys`,
// `publisher_keys_file` in its `config`) gets these, and its binary or
// module must then carry a minisign signature by one of them; one that
// sets its own uses those instead. Connectors added through the admin API
// are not affected.
type ConnectorSigning struct {
	// PublisherKeys are minisign public keys, each the `RW...` line of a
	// `.pub` file (`portico connector keygen` prints it).
	PublisherKeys []string `yaml:"publisher_keys"`
	// PublisherKeysFile is a file of such keys, one a line (`#` comments
	// and minisign's `untrusted comment:` lines are skipped), read when
	// each connector starts. A relative path is relative to the working
	// directory.
	PublisherKeysFile string `yaml:"publisher_keys_file"`
	// Required, `true`, makes every `plugin` and `wasm` connector require
	// a signature: one left without publisher keys stops the start
	// (`require_signature` is set in its `config`).
	Required bool `yaml:"required"`
}

// applyConnectorSigning hands connector_signing to the plugin and wasm
// connectors' config blocks, which their runtimes check. It runs with the
// secret files, before defaults.
func (c *Config) applyConnectorSigning() []error {
	var v validator
	s := c.ConnectorSigning
	for i, k := range s.PublisherKeys {
		var pk minisign.PublicKey
		if err := pk.UnmarshalText([]byte(k)); err != nil {
			v.add(fmt.Sprintf("connector_signing.publisher_keys[%d]", i), "not a minisign public key (the RW... line of a .pub file)")
		}
	}
	file := s.PublisherKeysFile
	if file != "" {
		// The runtimes take absolute paths only.
		abs, err := filepath.Abs(file)
		if err != nil {
			v.add("connector_signing.publisher_keys_file", "%v", err)
		}
		file = abs
	}
	if len(v.errs) > 0 || (len(s.PublisherKeys) == 0 && file == "" && !s.Required) {
		return v.errs
	}
	for i := range c.Connectors {
		cn := &c.Connectors[i]
		if cn.Type != "plugin" && cn.Type != "wasm" {
			continue
		}
		if cn.Config == nil {
			cn.Config = map[string]any{}
		}
		_, hasKeys := cn.Config["publisher_keys"]
		_, hasFile := cn.Config["publisher_keys_file"]
		if !hasKeys && !hasFile {
			if len(s.PublisherKeys) > 0 {
				keys := make([]any, len(s.PublisherKeys))
				for j, k := range s.PublisherKeys {
					keys[j] = k
				}
				cn.Config["publisher_keys"] = keys
			}
			if file != "" {
				cn.Config["publisher_keys_file"] = file
			}
		}
		if s.Required {
			cn.Config["require_signature"] = true
		}
	}
	return nil
}
