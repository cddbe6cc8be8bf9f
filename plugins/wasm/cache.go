package wasm

import (
	"context"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
)

// The compilation cache. wazero keeps compiled code in a directory of its
// own inside the one it is given, wazero-<version>-<arch>-<os> (the
// version is read from the binary's build info), and names each entry by
// the SHA-256 of the module, the compiler settings and the CPU's
// features; an entry also records the wazero version that wrote it and is
// dropped when another reads it. So a changed module or a wazero upgrade
// never reuses a stale entry, and nothing here needs to key it again.
//
// What wazero does not do is clean up, and every hot reload adds an entry
// of a few MiB: newCache removes the directories of other wazero versions
// and, past maxCacheBytes, the oldest entries. An entry still in use that
// is removed costs one compilation at the next start.

// maxCacheBytes bounds one wazero version's entries: some tens of Go-built
// modules.
const maxCacheBytes = 256 << 20

// newCache opens the compilation cache in dir, by default
// <dataDir>/wasm-cache, or without a data dir <user cache dir>/portico/
// wasm-cache. A directory that cannot be used does not stop the module:
// the problem is logged and the module compiled in memory, as at every
// start without a cache.
// It returns the directory holding this wazero version's entries, "" for
// a cache in memory.
func newCache(dir, dataDir string, log *slog.Logger) (wazero.CompilationCache, string) {
	switch {
	case dir != "":
	case dataDir != "":
		dir = filepath.Join(dataDir, "wasm-cache")
	default:
		user, err := os.UserCacheDir()
		if err != nil {
			log.Warn("wasm: no compilation cache: no storage directory and no user cache directory; the module is compiled at every start (set config.cache_dir)", "err", err)
			return wazero.NewCompilationCache(), ""
		}
		dir = filepath.Join(user, "portico", "wasm-cache")
	}
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err == nil {
		err = prune(dir)
	}
	if err != nil {
		if c != nil {
			c.Close(context.Background())
		}
		log.Warn("wasm: compilation cache unusable; the module is compiled at every start", "dir", dir, "err", err)
		return wazero.NewCompilationCache(), ""
	}
	return c, filepath.Join(dir, wazeroDir())
}

// dropCache removes every entry of the module's cache directory after one
// of them broke a compilation: which one wazero does not say, and the
// others are rebuilt at their next compilation.
func (m *Module) dropCache() {
	if m.cacheDir == "" {
		return
	}
	if err := trim(m.cacheDir, 0); err != nil {
		m.log.Warn("wasm: could not empty the compilation cache", "dir", m.cacheDir, "err", err)
	}
}

// prune removes other wazero versions' entries and, past maxCacheBytes,
// the oldest of this version's; it also proves the directory writable: a
// cache wazero cannot write to fails the compilation, not just the
// caching.
func prune(dir string) error {
	mine := filepath.Join(dir, wazeroDir())
	probe, err := os.CreateTemp(mine, ".probe-")
	if err != nil {
		return err
	}
	probe.Close()
	os.Remove(probe.Name())
	subs, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, s := range subs {
		if p := filepath.Join(dir, s.Name()); s.IsDir() && p != mine && strings.HasPrefix(s.Name(), "wazero-") {
			os.RemoveAll(p)
		}
	}
	return trim(mine, maxCacheBytes)
}

// wazeroDir is the directory wazero keeps this version's entries in,
// named as wazero names it (internal/version): from the version of its
// module in the build info, "dev" without one (a test binary). Should the
// two ever disagree, the probe in prune fails and the module runs without
// a cache, which the log says.
func wazeroDir() string {
	v := ""
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if strings.Contains(d.Path, "github.com/tetratelabs/wazero") {
				v = d.Version
			}
		}
	}
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	return "wazero-" + v + "-" + runtime.GOARCH + "-" + runtime.GOOS
}

// trim removes the oldest entries in dir until the rest fit in max
// bytes. An entry is named by its key in hex; anything else (a file
// wazero is writing, to rename into place) is left alone.
func trim(dir string, max int64) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	type file struct {
		name string
		fi   os.FileInfo
	}
	var files []file
	var total int64
	for _, e := range ents {
		if !isEntry(e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			files = append(files, file{e.Name(), fi})
			total += fi.Size()
		}
	}
	slices.SortFunc(files, func(a, b file) int { return a.fi.ModTime().Compare(b.fi.ModTime()) })
	for _, f := range files {
		if total <= max {
			break
		}
		if os.Remove(filepath.Join(dir, f.name)) == nil {
			total -= f.fi.Size()
		}
	}
	return nil
}

// isEntry reports whether name is a cache entry's: 64 hex digits.
func isEntry(name string) bool {
	if len(name) != 64 {
		return false
	}
	_, err := hex.DecodeString(name)
	return err == nil
}
