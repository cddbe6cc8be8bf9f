package wasm_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/portico-idp/portico/plugins/wasm"
	"github.com/portico-idp/portico/plugins/wasm/wasmtest"
	"github.com/portico-idp/portico/sdk"
)

// TestAllocFailure: what docs/wasm-abi.md says of portico_alloc when it
// cannot serve a request. A module whose memory cannot grow to the
// request traps in portico_alloc (the AssemblyScript example, against a
// small memory_limit); one that returns a buffer the request does not fit
// in (the hand-written module's fixed buffer) is caught by the broker.
// Either way that login is unavailable (503), not a wrong password, the
// instance is replaced, and the new one is configured before the next
// call, which succeeds.
func TestAllocFailure(t *testing.T) {
	for _, tt := range []struct {
		name           string
		mod            func(testing.TB) []byte
		block          any
		limit          wasm.Size
		user, password string
		want           string // in the failed call's error
	}{
		{"trap", wasmtest.AssemblyScript, ascUsers, 256 << 10, "ada", "ada-password", "portico_alloc"},
		{"out of bounds", func(testing.TB) []byte { return wasmtest.HandModule(wasmtest.HandOptions{Version: 1}) },
			nil, 0, "anyone", "letmein", "portico_alloc returned a buffer out of bounds"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs logBuf
			m := load(t, tt.mod(t), config(t, tt.block, func(c *wasm.Config) { c.MemoryLimit = tt.limit }), logs.logger())
			pc := password(t, m)
			ctx := context.Background()
			_, err := pc.Login(ctx, sdk.Scopes{}, tt.user, strings.Repeat("x", 1<<20))
			if !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("a request the module cannot take: %v; want unavailable, %q", err, tt.want)
			}
			if _, err := pc.Login(ctx, sdk.Scopes{}, tt.user, tt.password); err != nil {
				t.Fatalf("the next login: %v", err)
			}
			if tt.block != nil { // the example logs each configure
				if n := strings.Count(logs.String(), `"msg":"configured"`); n != 2 {
					t.Errorf("configured %d times, want 2 (the first instance and its replacement)", n)
				}
			}
		})
	}
}
