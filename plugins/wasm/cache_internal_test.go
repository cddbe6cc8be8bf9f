package wasm

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestTrim: past the bound, the oldest entries go first.
func TestTrim(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for i, name := range []string{"old", "mid", "new"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, 10), 0o600); err != nil {
			t.Fatal(err)
		}
		at := now.Add(time.Duration(i-3) * time.Hour)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		max  int64
		left []string
	}{{30, []string{"mid", "new", "old"}}, {25, []string{"mid", "new"}}, {10, []string{"new"}}, {0, nil}} {
		if err := trim(dir, tt.max); err != nil {
			t.Fatal(err)
		}
		ents, _ := os.ReadDir(dir)
		var left []string
		for _, e := range ents {
			left = append(left, e.Name())
		}
		slices.Sort(left)
		if !slices.Equal(left, tt.left) {
			t.Errorf("trim to %d: left %v, want %v", tt.max, left, tt.left)
		}
	}
}
