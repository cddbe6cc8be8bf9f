//go:build !unix

package main

import "time"

// fsType is not known on this system.
func fsType(string) string { return "unknown" }

// cpuTime is not known on this system.
func cpuTime() time.Duration { return 0 }
