//go:build linux

package wasm_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/portico-idp/portico/plugins/wasm"
	"github.com/portico-idp/portico/sdk"
)

// procStatus reads a size field (kB) of /proc/self/status, in bytes.
func procStatus(t *testing.T, field string) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %q", field, line)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// TestMemoryReturned: a module that grows its memory to the limit and
// fails gives the memory back when its instance is replaced, and never
// costs more than its limit while it grows. The bound the docs promise
// (docs/wasm-abi.md): pool_size × memory_limit while calls run, and after
// a failed call the broker's memory is back near where it was.
func TestMemoryReturned(t *testing.T) {
	const limit = 256 << 20
	m := load(t, misbehave(t, "v1"), config(t, users, func(c *wasm.Config) {
		c.MemoryLimit = limit
		c.PoolSize = 1
	}), nil)
	pc := password(t, m)
	ctx := context.Background()
	if _, err := pc.Login(ctx, sdk.Scopes{}, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	before := procStatus(t, "VmRSS")
	peakKnown := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil // resets VmHWM
	for _, hog := range []string{"alloc", "touch", "alloc", "touch"} {
		if _, err := pc.Login(ctx, sdk.Scopes{}, hog, "x"); !errors.Is(err, sdk.ErrUnavailable) {
			t.Fatalf("the memory hog %s's login: %v", hog, err)
		}
	}
	if _, err := pc.Login(ctx, sdk.Scopes{}, "alice", "pw"); err != nil {
		t.Fatalf("the next login: %v", err)
	}
	after := procStatus(t, "VmRSS")
	t.Logf("RSS before %d MiB, after four failed 256 MiB calls %d MiB", before>>20, after>>20)
	if after > before+64<<20 {
		t.Errorf("RSS grew from %d MiB to %d MiB after failed calls: their memory was not returned", before>>20, after>>20)
	}
	if peakKnown {
		peak := procStatus(t, "VmHWM")
		t.Logf("peak RSS during the calls %d MiB", peak>>20)
		if peak > before+limit+64<<20 {
			t.Errorf("peak RSS %d MiB: more than one instance's limit (%d MiB) above the start (%d MiB)", peak>>20, limit>>20, before>>20)
		}
	}
}

// TestMemoryHighWater: an instance whose call succeeded after growing past
// half its limit is not kept idle holding that memory: the next call gets
// a fresh one.
func TestMemoryHighWater(t *testing.T) {
	m := load(t, misbehave(t, "v1"), config(t, users, func(c *wasm.Config) {
		c.MemoryLimit = 40 << 20
		c.PoolSize = 1
	}), nil)
	pc := password(t, m)
	ctx := context.Background()
	if _, err := pc.Login(ctx, sdk.Scopes{}, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Idle != 1 {
		t.Fatalf("after a small call: %+v, want one idle instance", st)
	}
	if _, err := pc.Login(ctx, sdk.Scopes{}, "big", "x"); !errors.Is(err, sdk.ErrInvalidCredentials) {
		t.Fatalf("the big call: %v, want an answer (invalid credentials)", err)
	}
	if st := m.Stats(); st.IdleMemory > st.MemoryLimit/2 {
		t.Errorf("after a call that grew to 24 MiB of 40: %+v, an idle instance kept it", st)
	}
	if _, err := pc.Login(ctx, sdk.Scopes{}, "alice", "pw"); err != nil {
		t.Fatalf("the next login: %v", err)
	}
}
