package process

import (
	"os/exec"
	"syscall"
)

// setSysProcAttr makes the kernel kill the plugin if the broker dies
// without closing it (kill -9, a crash), so plugins are never orphaned.
// (Pdeathsig follows the thread that started the child; Go only ends
// threads that a goroutine locked and left, which Portico does not do.)
func setSysProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
