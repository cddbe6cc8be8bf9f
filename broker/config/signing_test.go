package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestConnectorSigning: connector_signing reaches the plugin and wasm
// connectors that have no keys of their own, and no other; required sets
// require_signature on each; a bad key is an error by path.
func TestConnectorSigning(t *testing.T) {
	const (
		key  = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"
		own  = "RWRssn9vrTe0FJa4FbQxAnOIwfqq0Qp1M8I4tLTb8reuTshZj3GJQksE"
		head = "issuer: https://id.example.com\nstorage: {dir: d}\n"
		conn = `connectors:
  - {id: p, type: plugin, config: {path: /p, sha256: x}}
  - {id: w, type: wasm, config: {path: /w.wasm, sha256: x}}
  - {id: mine, type: wasm, config: {path: /m.wasm, sha256: x, publisher_keys: [` + own + `]}}
  - {id: gh, type: github, config: {client_id: a, client_secret: b}}
`
	)
	abs, _ := filepath.Abs("keys.pub")
	for _, tt := range []struct {
		name, signing string
		want          map[string]map[string]any // by connector id: the signing fields of its config
		err           string
	}{
		{"none", "", map[string]map[string]any{"p": {}, "w": {}, "mine": {"publisher_keys": []any{own}}, "gh": {}}, ""},
		{"keys", "connector_signing: {publisher_keys: [" + key + "]}\n", map[string]map[string]any{
			"p": {"publisher_keys": []any{key}}, "w": {"publisher_keys": []any{key}},
			"mine": {"publisher_keys": []any{own}}, "gh": {},
		}, ""},
		{"file, required", "connector_signing: {publisher_keys_file: keys.pub, required: true}\n", map[string]map[string]any{
			"p":    {"publisher_keys_file": abs, "require_signature": true},
			"w":    {"publisher_keys_file": abs, "require_signature": true},
			"mine": {"publisher_keys": []any{own}, "require_signature": true}, "gh": {},
		}, ""},
		{"bad key", "connector_signing: {publisher_keys: [RWnope]}\n", nil,
			"config: connector_signing.publisher_keys[0]: not a minisign public key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(head + tt.signing + conn))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// ApplyDefaults hands the keys (a Config built in code gets
			// them too); running it again changes nothing.
			cfg.ApplyDefaults()
			for _, cn := range cfg.Connectors {
				got := map[string]any{}
				for _, f := range []string{"publisher_keys", "publisher_keys_file", "require_signature"} {
					if v, ok := cn.Config[f]; ok {
						got[f] = v
					}
				}
				if !reflect.DeepEqual(got, tt.want[cn.ID]) {
					t.Errorf("%s: %v, want %v", cn.ID, got, tt.want[cn.ID])
				}
			}
		})
	}
}
