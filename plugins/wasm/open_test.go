package wasm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/plugins/wasm"
	"github.com/portico-idp/portico/plugins/wasm/wasmtest"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
)

// TestOpenRefusals: Open checks the module against sha256, or with reload
// on against its digest file.
func TestOpenRefusals(t *testing.T) {
	ctx := context.Background()
	mod := wasmtest.HandModule(wasmtest.HandOptions{Version: 1})
	dir := t.TempDir()
	path := wasmtest.WriteModule(t, dir, "m.wasm", mod, false)
	bad := writeFile(t, dir, "bad.wasm", mod)
	writeFile(t, dir, "bad.wasm.sha256", []byte(strings.Repeat("0", 64)+"  bad.wasm\n"))
	for _, tt := range []struct {
		name string
		cfg  wasm.Config
		want string
	}{
		{"missing file", wasm.Config{Path: filepath.Join(dir, "nope.wasm"), SHA256: wasm.SHA256(mod)}, "no such file"},
		{"wrong sha256", wasm.Config{Path: path, SHA256: strings.Repeat("1", 64)}, "the config pins"},
		{"no digest file", wasm.Config{Path: path, Reload: true}, "m.wasm.sha256 pins the module"},
		{"digest mismatch", wasm.Config{Path: bad, Reload: true}, "bad.wasm.sha256 says 0000"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := wasm.Open(ctx, tt.cfg, wasm.Env{})
			if !errors.Is(err, wasm.ErrRefused) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("open: %v, want refused with %q", err, tt.want)
			}
		})
	}
	m, err := wasm.Open(ctx, wasm.Config{Path: path, SHA256: wasm.SHA256(mod)}, wasm.Env{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := os.Stat(filepath.Join(dir, "wasm-cache")); err != nil {
		t.Errorf("no compilation cache in the data dir: %v", err)
	}
}

// TestOpenReload: the watcher loads a new module whose digest file
// matches, ignores one that does not, and takes a removed one out of
// service until it is back.
func TestOpenReload(t *testing.T) {
	ctx := context.Background()
	v1 := wasmtest.HandModule(wasmtest.HandOptions{Version: 1, Password: "first"})
	v2 := wasmtest.HandModule(wasmtest.HandOptions{Version: 1, Password: "second"})
	dir := t.TempDir()
	path := wasmtest.WriteModule(t, dir, "m.wasm", v1, true)
	m, err := wasm.Open(ctx, wasm.Config{Path: path, Reload: true, ReloadInterval: upstream.Duration(10 * time.Millisecond)}, wasm.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pc := password(t, m)
	login := func(pw string) error { _, err := pc.Login(ctx, sdk.Scopes{}, "x", pw); return err }
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("never: %s", what)
			}
		}
	}
	if err := login("first"); err != nil {
		t.Fatal(err)
	}
	wasmtest.WriteModule(t, dir, "m.wasm", v2, true)
	eventually("v2 loaded", func() bool { return m.SHA256() == wasm.SHA256(v2) && login("second") == nil })

	// Not matching its digest file: stays out.
	wasmtest.WriteModule(t, dir, "m.wasm", v1, false)
	time.Sleep(100 * time.Millisecond)
	if m.SHA256() != wasm.SHA256(v2) {
		t.Error("a module not matching its digest file was loaded")
	}
	os.Remove(path)
	eventually("removed", func() bool { return errors.Is(login("second"), wasm.ErrRemoved) })
	if err := login("second"); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("login while removed: %v", err)
	}
	wasmtest.WriteModule(t, dir, "m.wasm", v1, true)
	eventually("v1 back", func() bool { return login("first") == nil })
}
