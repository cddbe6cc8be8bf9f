// Command precompile compiles WASM modules into a wazero compilation cache
// directory, as the broker's runtime compiles them (compiler engine, close
// on context done). Tests run it as a separate, non-race process: under
// the race detector wazero's compiler is about ten times slower, and the
// compiled code it caches is the same either way.
//
//	go run ./plugins/wasm/wasmtest/precompile -dir CACHE module.wasm...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/tetratelabs/wazero"
)

func main() {
	dir := flag.String("dir", "", "the compilation cache directory")
	flag.Parse()
	if err := run(*dir, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "precompile:", err)
		os.Exit(1)
	}
}

func run(dir string, files []string) error {
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return err
	}
	defer cache.Close(ctx)
	// Must match plugins/wasm's runtime config where it affects the
	// compiled code (the engine, and the termination checks).
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true).WithCompilationCache(cache))
	defer r.Close(ctx)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if _, err := r.CompileModule(ctx, b); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return nil
}
