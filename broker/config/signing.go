package config

import (
	"fmt"
	"path/filepath"
	"slices"

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

// validateConnectorSigning checks the keys, so that a bad one is reported
// here rather than in every connector it would be handed to.
func (c *Config) validateConnectorSigning(v *validator) {
	for i, k := range c.ConnectorSigning.PublisherKeys {
		if !validKey(k) {
			v.add(fmt.Sprintf("connector_signing.publisher_keys[%d]", i), "not a minisign public key (the RW... line of a .pub file)")
		}
	}
}

func validKey(k string) bool {
	var pk minisign.PublicKey
	return pk.UnmarshalText([]byte(k)) == nil
}

// applyConnectorSigning hands connector_signing to the plugin and wasm
// connectors' config blocks, which their runtimes check. ApplyDefaults
// runs it, so a Config built in code gets it too; a second run changes
// nothing. With a bad key it hands nothing (Validate says why).
func (c *Config) applyConnectorSigning() {
	s := c.ConnectorSigning
	if slices.ContainsFunc(s.PublisherKeys, func(k string) bool { return !validKey(k) }) {
		return
	}
	file := s.PublisherKeysFile
	if file != "" {
		// The runtimes take absolute paths only.
		if abs, err := filepath.Abs(file); err == nil {
			file = abs
		}
	}
	if len(s.PublisherKeys) == 0 && file == "" && !s.Required {
		return
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
}
