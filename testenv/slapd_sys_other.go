//go:build unix && !linux

package testenv

import (
	"syscall"
)

var slapdSigStop, slapdSigCont, slapdSigTerm = syscall.SIGSTOP, syscall.SIGCONT, syscall.SIGTERM

func slapdSysProcAttr() *syscall.SysProcAttr { return nil }

// slapdWaitStopped: other kernels give no cheap way to ask.
func slapdWaitStopped(int) {}
