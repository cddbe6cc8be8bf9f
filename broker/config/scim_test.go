package config

import (
	"strings"
	"testing"
)

// TestSCIMConfig: provisioners bound to the local connector, and token
// hashes not in the documented sha256:<base64url> form, are refused at
// load; adopt_privileged parses.
func TestSCIMConfig(t *testing.T) {
	const base = "issuer: https://id.example.com\nstorage: {dir: d}\nclients: [{id: app, secret: s, redirect_uris: [\"https://app.example.com/cb\"]}]\n" +
		"connectors: [{id: local, type: local}, {id: gh, type: github, config: {client_id: x, client_secret: y}}]\n"
	hash := "sha256:" + strings.Repeat("A", 43)
	for _, tc := range []struct{ name, src, err string }{
		{"upstream", "scim: {provisioners: [{id: p, connector: gh, token_hash: " + hash + ", adopt_privileged: true}]}", ""},
		{"local connector", "scim: {provisioners: [{id: p, connector: local, token_hash: " + hash + "}]}", `scim.provisioners[0].connector: "local" is the local connector`},
		{"hex hash", "scim: {provisioners: [{id: p, connector: gh, token_hash: " + strings.Repeat("ab", 32) + "}]}", "scim.provisioners[0].token_hash: must be sha256:"},
		{"hex after prefix", "scim: {provisioners: [{id: p, connector: gh, token_hash: sha256:" + strings.Repeat("ab", 32) + "}]}", "scim.provisioners[0].token_hash: must be sha256:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(base + tc.src + "\n"))
			if tc.err == "" {
				if err != nil || !cfg.SCIM.Provisioners[0].AdoptPrivileged || cfg.SCIM.Provisioners[0].Subject != "externalId" {
					t.Fatalf("%v %+v", err, cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}
