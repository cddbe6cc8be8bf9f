// Command precompile compiles WASM modules into a wazero compilation
// cache directory, with the kit's runtime configuration (the compiler,
// close on context done). connectortest runs it as a process of its own,
// built without the race detector, under which wazero's compiler is about
// ten times slower; the compiled code is the same either way.
//
//	go run github.com/portico-idp/portico/sdk/connectortest/internal/precompile -dir CACHE module.wasm...
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
	// As the kit's runtime (wasm.go) where it affects the compiled code.
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true).WithCompilationCache(cache))
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
