package plugin

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// NewSockets makes n connected socket pairs. Both ends are close-on-exec:
// only exec.Cmd.ExtraFiles hands the plugin's ends to its process.
func NewSockets(n int) (*Sockets, error) {
	s := &Sockets{}
	for range n {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("plugin: call socket: %w", err)
		}
		parent := os.NewFile(uintptr(fds[0]), "portico-call")
		c, err := net.FileConn(parent) // a copy of the descriptor
		parent.Close()
		if err != nil {
			syscall.Close(fds[1])
			s.Close()
			return nil, fmt.Errorf("plugin: call socket: %w", err)
		}
		s.parent = append(s.parent, c)
		s.child = append(s.child, os.NewFile(uintptr(fds[1]), "portico-call"))
	}
	return s, nil
}

// greeted reads the plugin's greeting from conn if it is there now,
// without waiting.
func greeted(conn net.Conn) bool {
	var b [len(hello)]byte
	n, err := readNow(conn, b[:])
	return err == nil && n == len(b) && b == hello
}

// idle reports whether conn has nothing to read now: a socket between
// calls must not. (0 bytes without an error: the plugin closed its end.)
func idle(conn net.Conn) bool {
	var b [1]byte
	_, err := readNow(conn, b[:])
	return err == syscall.EAGAIN
}

// readNow makes one read of conn, without waiting for data.
func readNow(conn net.Conn, b []byte) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, syscall.EINVAL
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), b)
		return true // one try: never wait
	}); err != nil {
		return 0, err
	}
	return n, rerr
}

// callConns opens the call sockets EnvCallFDs names (plugin side), and
// takes the variable out of the environment, so that a process the
// plugin starts does not take them for its own. A descriptor that is
// not a socket is left alone.
func callConns(log *slog.Logger) []net.Conn {
	v := os.Getenv(EnvCallFDs)
	os.Unsetenv(EnvCallFDs)
	if v == "" {
		return nil
	}
	var conns []net.Conn
	for _, f := range strings.Split(v, ",") {
		fd, err := strconv.Atoi(f)
		var st syscall.Stat_t
		if err != nil || fd < 3 || syscall.Fstat(fd, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
			log.Warn("plugin: ignoring a call socket descriptor that is not a socket", "fd", f)
			continue
		}
		syscall.CloseOnExec(fd)
		file := os.NewFile(uintptr(fd), "portico-call")
		conn, err := net.FileConn(file)
		file.Close() // FileConn holds a copy
		if err != nil {
			log.Warn("plugin: ignoring a call socket", "fd", fd, "err", err)
			continue
		}
		conns = append(conns, conn)
	}
	return conns
}
