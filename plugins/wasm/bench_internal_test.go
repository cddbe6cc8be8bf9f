package wasm

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/portico-idp/portico/plugins/wasm/wasmtest"
)

// BenchmarkWASMInstance is the cost of one more instance of a compiled
// module (what a pool pays to grow, or to replace a failed instance):
// instantiation, the Go runtime's _initialize, and the configure call.
func BenchmarkWASMInstance(b *testing.B) {
	ctx := context.Background()
	for _, mod := range []struct{ name, pkg, block string }{
		{"small", wasmtest.Misbehave, `{"users":{"alice":"pw"}}`},
		{"github", wasmtest.GitHub, `{"client_id":"c","client_secret":"s"}`},
	} {
		b.Run(mod.name, func(b *testing.B) {
			cache, err := wazero.NewCompilationCacheWithDir(wasmtest.CacheDir())
			if err != nil {
				b.Fatal(err)
			}
			defer cache.Close(ctx)
			m, err := New(ctx, wasmtest.Build(b, mod.pkg, ""), Config{Config: []byte(mod.block)}, Env{Cache: cache})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			g := m.gen.Load()
			for b.Loop() {
				inst, err := g.newInstance(ctx)
				if err != nil {
					b.Fatal(err)
				}
				inst.close()
			}
		})
	}
}
