package wasm_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/plugins/internal/signing/signingtest"
	"github.com/portico-idp/portico/plugins/wasm"
	"github.com/portico-idp/portico/plugins/wasm/wasmtest"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
)

// TestModuleSignature: with publisher keys configured, a Go-built module
// signed by one of them loads; an unsigned one, one changed after signing
// (its sha256 pin updated) and one signed by another key are refused,
// each with its reason.
func TestModuleSignature(t *testing.T) {
	mod := misbehave(t, "v1")
	keys := t.TempDir()
	publisher := signingtest.NewPublisher(t, keys, "publisher")
	stranger := signingtest.NewPublisher(t, keys, "stranger")
	for _, tt := range []struct {
		name    string
		prepare func(t *testing.T, path string)
		cfg     func(*wasm.Config)
		want    string // in the refusal; "" to load
	}{
		{"signed", func(t *testing.T, p string) { publisher.Sign(t, p) }, nil, ""},
		{"signed, keys from a file", func(t *testing.T, p string) { publisher.Sign(t, p) },
			func(c *wasm.Config) { c.PublisherKeys, c.PublisherKeysFile = nil, publisher.PubFile }, ""},
		{"unsigned", func(*testing.T, string) {}, nil, "is not signed"},
		{"tampered", func(t *testing.T, p string) {
			publisher.Sign(t, p)
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 1 // in the last section: still a module
			os.WriteFile(p, b, 0o644)
		}, nil, "does not match its signature"},
		{"signed by another key", func(t *testing.T, p string) { stranger.Sign(t, p) }, nil, "which is not a configured publisher key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := wasmtest.WriteModule(t, t.TempDir(), "m.wasm", mod, false)
			tt.prepare(t, path)
			b, _ := os.ReadFile(path)
			cfg := wasm.Config{Path: path, SHA256: wasm.SHA256(b), PublisherKeys: []string{publisher.Key},
				Config: []byte(`{"users":{"alice":"pw"}}`)}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			logs := &logBuf{}
			m, err := wasm.Open(context.Background(), cfg, wasm.Env{Cache: sharedCache(), Log: logs.logger()})
			if tt.want != "" {
				if err == nil {
					m.Close()
				}
				if !errors.Is(err, wasm.ErrRefused) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("open: %v, want refused with %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := password(t, m).Login(context.Background(), sdk.Scopes{}, "alice", "pw"); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(logs.String(), `"msg":"wasm: module signature verified"`) {
				t.Errorf("no log of the signature:\n%s", logs.String())
			}
		})
	}
}

// TestReloadSignature: with publisher keys, hot reload loads a new module
// only once its signature is there and verifies, whatever the order the
// deploy writes the module, its digest and its signature in.
func TestReloadSignature(t *testing.T) {
	ctx := context.Background()
	v1 := wasmtest.HandModule(wasmtest.HandOptions{Version: 1, Password: "first"})
	v2 := wasmtest.HandModule(wasmtest.HandOptions{Version: 1, Password: "second"})
	dir := t.TempDir()
	publisher := signingtest.NewPublisher(t, t.TempDir(), "publisher")
	path := wasmtest.WriteModule(t, dir, "m.wasm", v1, true)
	publisher.Sign(t, path)
	logs := &logBuf{}
	m, err := wasm.Open(ctx, wasm.Config{Path: path, Reload: true, ReloadInterval: upstream.Duration(10 * time.Millisecond),
		PublisherKeys: []string{publisher.Key}}, wasm.Env{Log: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("never: %s\n%s", what, logs.String())
			}
		}
	}
	// v2 and its digest, with v1's signature still beside it.
	wasmtest.WriteModule(t, dir, "m.wasm", v2, true)
	eventually("v2 refused", func() bool { return strings.Contains(logs.String(), "does not match its signature") })
	if m.SHA256() != wasm.SHA256(v1) {
		t.Fatal("a module not matching its signature was loaded")
	}
	publisher.Sign(t, path)
	eventually("v2 loaded once signed", func() bool { return m.SHA256() == wasm.SHA256(v2) })
	if _, err := password(t, m).Login(ctx, sdk.Scopes{}, "x", "second"); err != nil {
		t.Error(err)
	}
}
