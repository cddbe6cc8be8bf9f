package wasm_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/portico-idp/portico/plugins/wasm"
	"github.com/portico-idp/portico/plugins/wasm/wasmtest"
	"github.com/portico-idp/portico/sdk"
)

// cacheEntries returns the compiled modules in a compilation cache dir,
// by name, and the wazero directories holding them.
func cacheEntries(t *testing.T, dir string) (map[string]os.FileInfo, []string) {
	t.Helper()
	entries := map[string]os.FileInfo{}
	var subs []string
	versions, _ := filepath.Glob(filepath.Join(dir, "wazero-*"))
	for _, v := range versions {
		subs = append(subs, filepath.Base(v))
		files, err := os.ReadDir(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			fi, err := f.Info()
			if err != nil {
				t.Fatal(err)
			}
			entries[filepath.Join(filepath.Base(v), f.Name())] = fi
		}
	}
	return entries, subs
}

// openLogin opens the module cfg names, logs in once and
// closes it: a broker start and stop.
func openLogin(t *testing.T, cfg wasm.Config, env wasm.Env) {
	t.Helper()
	m, err := wasm.Open(context.Background(), cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := password(t, m).Login(context.Background(), sdk.Scopes{}, "anyone", "letmein"); err != nil {
		t.Fatal(err)
	}
}

// TestCompilationCache: a second start with the same cache directory
// reads the compiled module wazero wrote at the first instead of
// compiling it again (a compilation writes a new entry file, renamed into
// place); a changed module gets an entry of its own; other wazero
// versions' entries are removed.
func TestCompilationCache(t *testing.T) {
	dir, cache := t.TempDir(), t.TempDir()
	stale := filepath.Join(cache, "wazero-v0.0.1-"+runtime.GOARCH+"-"+runtime.GOOS)
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	v1 := wasmtest.HandModule(wasmtest.HandOptions{Version: 1})
	path := wasmtest.WriteModule(t, dir, "m.wasm", v1, false)
	cfg := wasm.Config{Path: path, SHA256: wasm.SHA256(v1), CacheDir: cache}

	openLogin(t, cfg, wasm.Env{})
	first, subs := cacheEntries(t, cache)
	if len(first) != 1 || len(subs) != 1 {
		t.Fatalf("after the first start: entries %v in %v, want one entry in one wazero directory (the stale one removed)", first, subs)
	}
	openLogin(t, cfg, wasm.Env{})
	second, _ := cacheEntries(t, cache)
	for name, fi := range first {
		again, ok := second[name]
		if len(second) != 1 || !ok || !os.SameFile(fi, again) || !fi.ModTime().Equal(again.ModTime()) {
			t.Errorf("the second start compiled again: entries %v, then %v", first, second)
		}
	}

	v2 := wasmtest.HandModule(wasmtest.HandOptions{Version: 1, Callback: true})
	path = wasmtest.WriteModule(t, dir, "m.wasm", v2, false)
	cfg.SHA256 = wasm.SHA256(v2)
	openLogin(t, cfg, wasm.Env{})
	if third, subs := cacheEntries(t, cache); len(third) != 2 || len(subs) != 1 {
		t.Errorf("a changed module: entries %v in %v, want a second one", third, subs)
	}
}

// TestCompilationCacheDir: where the cache goes by default, and that an
// unusable directory costs the cache, not the module.
func TestCompilationCacheDir(t *testing.T) {
	mod := wasmtest.HandModule(wasmtest.HandOptions{Version: 1})
	tmp := t.TempDir()
	path := wasmtest.WriteModule(t, tmp, "m.wasm", mod, false)
	notDir := writeFile(t, tmp, "file", []byte("x"))
	for _, tt := range []struct {
		name              string
		cacheDir, dataDir string
		want              string // the cache dir; "" for none
		log               string
	}{
		{"cache_dir", filepath.Join(tmp, "c1"), filepath.Join(tmp, "data1"), filepath.Join(tmp, "c1"), ""},
		{"data dir", "", filepath.Join(tmp, "data2"), filepath.Join(tmp, "data2", "wasm-cache"), ""},
		{"user cache dir", "", "", "user", ""},
		{"unusable", filepath.Join(notDir, "cache"), "", "", "compilation cache unusable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("XDG_CACHE_HOME", filepath.Join(tmp, "xdg"))
			t.Setenv("HOME", filepath.Join(tmp, "home")) // elsewhere than Linux
			if tt.want == "user" {
				user, err := os.UserCacheDir()
				if err != nil {
					t.Skipf("no user cache dir here: %v", err)
				}
				tt.want = filepath.Join(user, "portico", "wasm-cache")
			}
			logs := &logBuf{}
			cfg := wasm.Config{Path: path, SHA256: wasm.SHA256(mod), CacheDir: tt.cacheDir}
			openLogin(t, cfg, wasm.Env{DataDir: tt.dataDir, Log: logs.logger()})
			if tt.want != "" {
				if e, _ := cacheEntries(t, tt.want); len(e) != 1 {
					t.Errorf("entries in %s: %v, want the module's", tt.want, e)
				}
			}
			if !strings.Contains(logs.String(), tt.log) {
				t.Errorf("log %q, want %q", logs.String(), tt.log)
			}
		})
	}
}

// TestCompilationCacheBroken: an entry that cannot be read back (cut
// short by a full disk, overwritten) fails wazero's compilation itself;
// the module is not at fault, so it is compiled without the cache and
// loads, the problem is logged, and the cache is emptied so that the next
// start writes a good entry.
func TestCompilationCacheBroken(t *testing.T) {
	mod := wasmtest.HandModule(wasmtest.HandOptions{Version: 1})
	for _, tt := range []struct {
		name    string
		corrupt func(b []byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:10] }},
		{"garbage", func(b []byte) []byte { return []byte("not a compiled module at all") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, cache := t.TempDir(), t.TempDir()
			path := wasmtest.WriteModule(t, dir, "m.wasm", mod, false)
			cfg := wasm.Config{Path: path, SHA256: wasm.SHA256(mod), CacheDir: cache}
			openLogin(t, cfg, wasm.Env{})
			entries, _ := cacheEntries(t, cache)
			for name := range entries {
				p := filepath.Join(cache, name)
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, tt.corrupt(b), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			logs := &logBuf{}
			openLogin(t, cfg, wasm.Env{Log: logs.logger()})
			if !strings.Contains(logs.String(), "compilation cache failed") {
				t.Errorf("not logged:\n%s", logs.String())
			}
			// The broken entry is gone; the next start writes a good one.
			if e, _ := cacheEntries(t, cache); len(e) != 0 {
				t.Errorf("entries left after the failure: %v", e)
			}
			openLogin(t, cfg, wasm.Env{})
			openLogin(t, cfg, wasm.Env{})
			if e, _ := cacheEntries(t, cache); len(e) != 1 {
				t.Errorf("entries after two more starts: %v, want the module's", e)
			}
		})
	}
}
