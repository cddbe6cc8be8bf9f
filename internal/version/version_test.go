package version

import (
	"runtime/debug"
	"testing"
)

// Stamped values win; what the toolchain recorded fills only the gaps.
func TestResolve(t *testing.T) {
	vcs := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc123"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
		},
	}
	dirty := &debug.BuildInfo{GoVersion: "go1.26.0", Settings: append(vcs.Settings[:2:2], debug.BuildSetting{Key: "vcs.modified", Value: "true"})}
	installed := &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.4.0"}}
	tests := []struct {
		name                string
		v, commit, date     string
		bi                  *debug.BuildInfo
		wantV, wantC, wantD string
	}{
		{"nothing", "dev", "unknown", "unknown", nil, "dev", "unknown", "unknown"},
		{"stamped", "v1.2.3", "def456", "2026-05-06T07:08:09Z", vcs, "v1.2.3", "def456", "2026-05-06T07:08:09Z"},
		{"vcs fallback", "dev", "unknown", "unknown", vcs, "dev", "abc123", "2026-01-02T03:04:05Z"},
		{"vcs dirty", "dev", "unknown", "unknown", dirty, "dev", "abc123-dirty", "2026-01-02T03:04:05Z"},
		{"go install @version", "dev", "unknown", "unknown", installed, "v1.4.0", "unknown", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.v, tt.commit, tt.date, tt.bi)
			if got.Version != tt.wantV || got.Commit != tt.wantC || got.Date != tt.wantD {
				t.Fatalf("got %+v, want version %q commit %q date %q", got, tt.wantV, tt.wantC, tt.wantD)
			}
			if got.GoVersion == "" {
				t.Fatal("no Go version")
			}
		})
	}
}
