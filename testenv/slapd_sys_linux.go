package testenv

import (
	"syscall"
)

var slapdSigStop, slapdSigCont, slapdSigTerm = syscall.SIGSTOP, syscall.SIGCONT, syscall.SIGTERM

// slapdSysProcAttr has the kernel kill slapd if the test process dies, so a
// crashed or timed-out test leaves no slapd behind.
func slapdSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
