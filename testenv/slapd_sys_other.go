//go:build unix && !linux

package testenv

import (
	"syscall"
)

var slapdSigStop, slapdSigCont, slapdSigTerm = syscall.SIGSTOP, syscall.SIGCONT, syscall.SIGTERM

func slapdSysProcAttr() *syscall.SysProcAttr { return nil }
