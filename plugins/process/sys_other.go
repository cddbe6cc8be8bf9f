//go:build !linux

package process

import "os/exec"

// setSysProcAttr does nothing here: only Linux has Pdeathsig, so a broker
// killed without closing its plugins leaves them to exit on their own.
func setSysProcAttr(*exec.Cmd) {}
