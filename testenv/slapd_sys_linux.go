package testenv

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

var slapdSigStop, slapdSigCont, slapdSigTerm = syscall.SIGSTOP, syscall.SIGCONT, syscall.SIGTERM

// slapdSysProcAttr has the kernel kill slapd if the test process dies, so a
// crashed or timed-out test leaves no slapd behind.
func slapdSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// slapdWaitStopped waits, a few seconds at most, until every thread of
// process pid is stopped: kill(2) returns when SIGSTOP is queued, and a
// thread on another CPU may still answer a request before it stops.
func slapdWaitStopped(pid int) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		tasks, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		stopped := true
		for _, t := range tasks {
			b, err := os.ReadFile(dir + "/" + t.Name() + "/stat")
			// The state follows the command's closing parenthesis.
			if i := bytes.LastIndexByte(b, ')'); err == nil && i >= 0 && i+2 < len(b) && b[i+2] != 'T' && b[i+2] != 't' {
				stopped = false
				break
			}
		}
		if stopped {
			return
		}
	}
}
