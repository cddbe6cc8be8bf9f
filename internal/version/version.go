// Package version is what the portico binary knows of its own build: the
// release, the commit and the date, stamped at link time by `make build`
// and `make image`:
//
//	go build -ldflags "-X github.com/portico-idp/portico/internal/version.Version=v1.2.0
//	  -X github.com/portico-idp/portico/internal/version.Commit=0123abc
//	  -X github.com/portico-idp/portico/internal/version.Date=2026-01-02T03:04:05Z"
//
// A plain `go build` or `go install` stamps nothing; Get then falls back on
// what the Go toolchain records itself (the module version of `go install
// ...@v1.2.0`, vcs.revision and vcs.time of a build inside a git checkout).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set with -ldflags -X; the defaults say nothing was stamped.
var (
	Version = "dev"
	Commit  = "unknown"
	Date    = "unknown"
)

// Info describes the running binary.
type Info struct {
	Version   string // a release tag (v1.2.0) or `git describe` output; "dev" if unknown
	Commit    string // the git commit; "unknown" if unknown
	Date      string // when the commit was made (RFC 3339); "unknown" if unknown
	GoVersion string // the Go toolchain that built it
}

// String is the one line `portico version` prints.
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, date %s, %s)", i.Version, i.Commit, i.Date, i.GoVersion)
}

// Get returns the stamped values, each missing one taken from the build
// information the toolchain embedded, if any.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(Version, Commit, Date, bi)
}

// resolve is Get with its inputs given, so that tests can feed it.
func resolve(v, commit, date string, bi *debug.BuildInfo) Info {
	i := Info{Version: v, Commit: commit, Date: date, GoVersion: runtime.Version()}
	if bi == nil {
		return i
	}
	if bi.GoVersion != "" {
		i.GoVersion = bi.GoVersion
	}
	if i.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		i.Version = bi.Main.Version
	}
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if i.Commit == "unknown" && s.Value != "" {
				i.Commit = s.Value
			}
		case "vcs.time":
			if i.Date == "unknown" && s.Value != "" {
				i.Date = s.Value
			}
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	// A commit read from the checkout says whether the tree differed
	// from it; a stamped one came from `git describe --dirty` already.
	if modified && commit == "unknown" && i.Commit != "unknown" {
		i.Commit += "-dirty"
	}
	return i
}
