package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TmpFS mounts a tmpfs of size bytes on a new temporary directory and
// returns the directory; it is unmounted when the test ends. A small
// filesystem of its own is how a test fills a disk without touching the
// machine's. Mounting needs root: without it, or when the mount fails, the
// test skips loudly, or fails under CI=true.
func TmpFS(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	var err error
	if os.Geteuid() != 0 {
		err = errors.New("mounting a tmpfs needs root")
	} else {
		err = unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size))
	}
	if err != nil {
		msg := fmt.Sprintf("no tmpfs to fill (%v): run the test as root", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPING: " + msg)
	}
	// Detached rather than plainly unmounted: a process that died, or a
	// store left open, may still hold files there; the memory goes when
	// the last of them does. Registered after t.TempDir, so it runs
	// before the directory is removed.
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// FillFS writes a file in dir until its filesystem is full (ENOSPC) and
// returns the file's path: removing it frees the space again.
func FillFS(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("fill %s: %v", dir, err)
	}
	defer f.Close()
	// Big writes fill it fast; a last partial one takes what they left
	// (os.File.Write writes what fits before it reports ENOSPC).
	buf := make([]byte, 1<<20)
	for {
		_, err := f.Write(buf)
		if errors.Is(err, syscall.ENOSPC) {
			return path
		}
		if err != nil {
			t.Fatalf("fill %s: %v", dir, err)
		}
	}
}
