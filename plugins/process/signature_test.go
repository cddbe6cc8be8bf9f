package process_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-idp/portico/plugins/internal/signing/signingtest"
	"github.com/portico-idp/portico/plugins/process"
	"github.com/portico-idp/portico/plugins/process/processtest"
	"github.com/portico-idp/portico/sdk"
)

// TestPluginSignature: with publisher keys configured, a plugin binary
// signed by one of them starts; an unsigned one, one changed after
// signing (even with its sha256 pin updated) and one signed by another
// key are refused, each with its reason.
func TestPluginSignature(t *testing.T) {
	built := processtest.Build(t, testPlugin)
	keys := t.TempDir()
	publisher := signingtest.NewPublisher(t, keys, "publisher")
	stranger := signingtest.NewPublisher(t, keys, "stranger")
	for _, tt := range []struct {
		name    string
		prepare func(t *testing.T, path string) // sign, change
		cfg     func(*process.Config)
		want    string // in the refusal; "" to start
	}{
		{"signed", func(t *testing.T, p string) { publisher.Sign(t, p) }, nil, ""},
		{"signed, keys from a file", func(t *testing.T, p string) { publisher.Sign(t, p) },
			func(c *process.Config) { c.PublisherKeys, c.PublisherKeysFile = nil, publisher.PubFile }, ""},
		{"signed, one of two keys", func(t *testing.T, p string) { publisher.Sign(t, p) },
			func(c *process.Config) { c.PublisherKeys = []string{stranger.Key, publisher.Key} }, ""},
		{"unsigned", func(*testing.T, string) {}, nil, "is not signed"},
		{"tampered", func(t *testing.T, p string) {
			publisher.Sign(t, p)
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("extra"))
			f.Close()
		}, nil, "does not match its signature"},
		{"signed by another key", func(t *testing.T, p string) { stranger.Sign(t, p) }, nil, "which is not a configured publisher key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := signingtest.Copy(t, built, t.TempDir())
			tt.prepare(t, path)
			cfg := pluginConfig(t, path) // pins the file as it now is
			cfg.PublisherKeys = []string{publisher.Key}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			if tt.want != "" {
				p, err := process.Start(context.Background(), cfg, process.Options{ID: "test"})
				if err == nil {
					p.Close()
				}
				if !errors.Is(err, process.ErrRefused) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("start: %v, want refused with %q", err, tt.want)
				}
				return
			}
			p, logs := start(t, cfg)
			if _, err := p.Connector().(sdk.PasswordConnector).Login(context.Background(), sdk.Scopes{}, "alice", "pw"); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(logs.String(), `"msg":"plugin signature verified"`) {
				t.Errorf("no log of the signature:\n%s", logs.String())
			}
		})
	}
}

// TestSigningConfig: the signing fields are checked with the rest.
func TestSigningConfig(t *testing.T) {
	dir := t.TempDir()
	key := signingtest.NewPublisher(t, dir, "p").Key
	exe := filepath.Join(dir, "plugin")
	base := `"path":"` + exe + `","sha256":"` + strings.Repeat("a", 64) + `"`
	for _, tt := range []struct {
		name, extra, want string
	}{
		{"keys", `"publisher_keys":["` + key + `"],"require_signature":true`, ""},
		{"bad key", `"publisher_keys":["RWnope"]`, "plugin: config.publisher_keys[0]: not a minisign public key"},
		{"required without keys", `"require_signature":true`, "plugin: config.require_signature: needs publisher_keys"},
		{"signature without keys", `"signature":"/x.minisig"`, "plugin: config.signature: is checked against publisher keys"},
		{"relative keys file", `"publisher_keys_file":"keys.pub"`, "plugin: config.publisher_keys_file: \"keys.pub\" must be absolute"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := process.ParseConfig([]byte("{" + base + "," + tt.extra + "}"))
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("parse: %v, want %q", err, tt.want)
			}
		})
	}
}
