// Package wasmtest builds connector modules for tests: Go packages built
// as wasip1 reactors (cached per test process, since a build takes
// seconds), and a module encoded by hand, byte by byte, with no Go SDK,
// which shows the ABI is language-neutral.
package wasmtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
)

// Packages of the repository's test and example modules.
const (
	// Misbehave is a password connector over users in its config that
	// misbehaves on purpose for the usernames loop, alloc, sleep, panic
	// and http (see its source).
	Misbehave = "./plugins/wasm/testdata/misbehave"
	// GitHub is the built-in GitHub connector as a module.
	GitHub = "./plugins/wasm/modules/github"
	// FileUsers and OAuth2 are the SDK's example connectors, by import
	// path: the sdk is its own module, which a relative path from the
	// root does not reach.
	FileUsers = "github.com/portico-idp/portico/sdk/examples/fileusers"
	OAuth2    = "github.com/portico-idp/portico/sdk/examples/oauth2"
)

var (
	mu     sync.Mutex
	builds = map[string]*build{}
)

type build struct {
	once sync.Once
	wasm []byte
	err  error
	out  string
}

// Root is the repository's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Build builds the Go package pkg (a path relative to the repository's
// root, or an import path) as a WASM connector module and returns its
// bytes. ldflags are passed to the linker ("-X main.version=v2" makes a
// different module of the same source). Each package and ldflags pair is
// built once per process.
func Build(t testing.TB, pkg, ldflags string) []byte {
	t.Helper()
	mu.Lock()
	b := builds[pkg+"\x00"+ldflags]
	if b == nil {
		b = &build{}
		builds[pkg+"\x00"+ldflags] = b
	}
	mu.Unlock()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "portico-wasmtest-")
		if err != nil {
			b.err = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "module.wasm")
		args := []string{"build", "-buildmode=c-shared", "-o", out}
		if ldflags != "" {
			args = append(args, "-ldflags="+ldflags)
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Dir = Root()
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if b.err = cmd.Run(); b.err != nil {
			b.out = log.String()
			return
		}
		if b.wasm, b.err = os.ReadFile(out); b.err != nil {
			return
		}
		b.out, b.err = precompile(CacheDir(), out)
	})
	if b.err != nil {
		t.Fatalf("build %s for wasip1: %v\n%s", pkg, b.err, b.out)
	}
	return b.wasm
}

// CacheDir is a wazero compilation cache shared by test processes and
// runs: entries are keyed by the module's hash and wazero's version, so
// a stale one is never used. Build fills it; entries older than three
// days are removed (every edit of a module's source adds one of several
// megabytes).
func CacheDir() string {
	dir := filepath.Join(os.TempDir(), "portico-wasmtest-cache")
	pruneOnce.Do(func() { prune(dir, 72*time.Hour) })
	return dir
}

var pruneOnce sync.Once

func prune(dir string, age time.Duration) {
	subs, _ := os.ReadDir(dir)
	for _, sub := range subs {
		files, _ := os.ReadDir(filepath.Join(dir, sub.Name()))
		for _, f := range files {
			if fi, err := f.Info(); err == nil && time.Since(fi.ModTime()) > age {
				os.Remove(filepath.Join(dir, sub.Name(), f.Name()))
			}
		}
	}
}

// Precompile compiles the module file at path into CacheDir, as Build
// does for the modules it builds, for a test that builds a module itself
// (cmd/portico's scaffolded connector) and gives the broker CacheDir as
// its cache_dir: under the race detector the broker would take minutes.
func Precompile(t testing.TB, path string) {
	t.Helper()
	PrecompileInto(t, CacheDir(), path)
}

// PrecompileInto is Precompile into the cache directory dir, for a test
// whose broker runs as another program than the test: the broker prunes
// other wazero versions' entries from its cache_dir (plugins/wasm
// cache.go), and a program's version ("v1.x") is not a test binary's
// ("dev"), so sharing CacheDir with the in-process brokers of other
// packages' tests, running at the same time, removes each other's
// directories, even while an entry is being written.
func PrecompileInto(t testing.TB, dir, path string) {
	t.Helper()
	if out, err := precompile(dir, path); err != nil {
		t.Fatalf("precompile %s: %v\n%s", path, err, out)
	}
}

// precompile compiles a module into dir in a process without the race
// detector, which makes wazero's compiler about ten times slower.
func precompile(dir, path string) (string, error) {
	// The cache is per wazero version, which wazero reads from the build
	// info; a test binary has none ("dev"), so the tool is told to be the
	// version this process is.
	v, err := wazeroVersion()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "run", "-ldflags=-X=github.com/tetratelabs/wazero/internal/version.version="+v,
		"./plugins/wasm/wasmtest/precompile", "-dir", dir, path)
	cmd.Dir = Root()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// wazeroVersion is the wazero version this process names its cache
// entries after, read from the directory a cache creates.
var wazeroVersion = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "portico-wazero-version-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return "", err
	}
	c.Close(context.Background())
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		return "", fmt.Errorf("wazero cache layout: %v %v", entries, err)
	}
	v := strings.TrimPrefix(entries[0].Name(), "wazero-")
	return strings.TrimSuffix(v, "-"+runtime.GOARCH+"-"+runtime.GOOS), nil
})

// WriteModule writes wasm into dir as name and, when digest is true, the
// digest file next to it (name.sha256) that hot reload checks. It
// returns the module's path.
func WriteModule(t testing.TB, dir, name string, wasm []byte, digest bool) string {
	t.Helper()
	path := filepath.Join(dir, name)
	// Write both beside and rename, so the watcher never reads half a file.
	for _, f := range []struct {
		path string
		data []byte
	}{{path, wasm}, {path + ".sha256", []byte(sha256Hex(wasm) + "  " + name + "\n")}} {
		if f.path != path && !digest {
			continue
		}
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
	return path
}
