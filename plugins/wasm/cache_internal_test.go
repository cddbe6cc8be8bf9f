package wasm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTrim: past the bound, the oldest entries go first; files that are
// not entries stay.
func TestTrim(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	names := map[string]string{}
	for i, name := range []string{"old", "mid", "new", "writing"} {
		names[name] = strings.Repeat(string(rune('a'+i)), 64)
		if name == "writing" {
			names[name] += ".1234.tmp" // wazero's, being written: never removed
		}
		p := filepath.Join(dir, names[name])
		if err := os.WriteFile(p, make([]byte, 10), 0o600); err != nil {
			t.Fatal(err)
		}
		at := now.Add(time.Duration(i-4) * time.Hour)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		max  int64
		left []string
	}{{30, []string{"mid", "new", "old", "writing"}}, {25, []string{"mid", "new", "writing"}}, {10, []string{"new", "writing"}}, {0, []string{"writing"}}} {
		if err := trim(dir, tt.max); err != nil {
			t.Fatal(err)
		}
		ents, _ := os.ReadDir(dir)
		var left []string
		for _, e := range ents {
			for name, file := range names {
				if file == e.Name() {
					left = append(left, name)
				}
			}
		}
		slices.Sort(left)
		if !slices.Equal(left, tt.left) {
			t.Errorf("trim to %d: left %v, want %v", tt.max, left, tt.left)
		}
	}
}
