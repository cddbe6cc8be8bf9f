package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// wasmStartName is the -only name of the WASM start-up measurement.
const wasmStartName = "wasm start"

// aimWASMCacheSpeedup is issue 23's: a start with a warm compilation
// cache reaches its first login at least this many times sooner.
const aimWASMCacheSpeedup = 5

// wasmStart measures what the compilation cache saves a broker start: the
// time from starting a broker whose one connector is a Go-built WASM
// module to the end of its first login through the code flow, once with
// an empty cache directory and once with the cache a previous start
// filled. Both starts open the same, existing store, so they differ only
// in the cache. It prints the two times; it asserts nothing.
func wasmStart(ctx context.Context, bs *brokers, out io.Writer) error {
	dir := filepath.Join(bs.root, "wasm-start")
	mod := filepath.Join(dir, "misbehave.wasm")
	if err := buildModule(ctx, "./plugins/wasm/testdata/misbehave", mod); err != nil {
		return err
	}
	b, err := os.ReadFile(mod)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	warmCache := filepath.Join(dir, "cache-warm")
	start := func(cache string) (time.Duration, error) {
		cfg, err := bs.config("RS256")
		if err != nil {
			return 0, err
		}
		cfg.Storage.Dir = filepath.Join(dir, "store")
		cfg.Users = nil
		cfg.Connectors = []config.Connector{{ID: "mod", Type: "wasm", Name: "Module", Config: map[string]any{
			"path": mod, "sha256": hex.EncodeToString(sum[:]), "cache_dir": cache, "memory_limit": "64MiB",
			"config": map[string]any{"users": map[string]string{"alice": "pw"}},
		}}}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		cfg.Listen = l.Addr().String()
		cfg.Issuer = "http://" + cfg.Listen
		t0 := time.Now()
		br, err := testenv.StartOn(l, cfg, bs.log)
		if err != nil {
			l.Close()
			return 0, err
		}
		defer br.Stop()
		if _, err := login(ctx, br, "alice", "pw"); err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	}
	// The first start makes the store and fills the warm cache.
	first, err := start(warmCache)
	if err != nil {
		return fmt.Errorf("first start: %w", err)
	}
	cold, err := start(filepath.Join(dir, "cache-empty"))
	if err != nil {
		return fmt.Errorf("start without a cache: %w", err)
	}
	warm, err := start(warmCache)
	if err != nil {
		return fmt.Errorf("start with a warm cache: %w", err)
	}
	speedup := float64(cold) / float64(warm)
	fmt.Fprintf(out, "WASM module (%d KiB, Go-built), broker start to the end of the first login:\n", len(b)>>10)
	fmt.Fprintf(out, "  without a compilation cache %s, with a warm one %s: %.1f× faster (aim ≥ %d×) %s (first start, new store: %s)\n",
		fmtDur(cold), fmtDur(warm), speedup, aimWASMCacheSpeedup, mark(speedup >= aimWASMCacheSpeedup), fmtDur(first))
	return nil
}

// buildModule builds the Go package pkg of this repository as a WASI
// reactor module at out.
func buildModule(ctx context.Context, pkg, out string) error {
	root, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-o", out, pkg)
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s for wasip1: %w\n%s", pkg, err, b)
	}
	return nil
}
