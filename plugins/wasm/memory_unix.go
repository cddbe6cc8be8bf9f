//go:build unix

package wasm

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// mmapAllocator backs each instance's linear memory with an anonymous
// mapping of its whole limit, reserved but not touched. Go's allocator
// would grow a module's memory by copying it into a new slice twice as
// large and leave the old ones to the garbage collector and the
// scavenger: a module growing to a 256 MiB limit took the broker to 660 MB
// and kept it there after the call failed. A mapping grows in place (the
// pages a module touches are all it costs), never moves, and is unmapped
// when the instance closes, so a failed or recycled instance's memory goes
// back to the system at once.
type mmapAllocator struct{}

func (mmapAllocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	if max == 0 || max > MaxMemoryLimit {
		return &sliceMemory{}
	}
	buf, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|mapNoReserve)
	if err != nil {
		// No address space for a reservation: fall back to the Go heap.
		return &sliceMemory{}
	}
	return &mmapMemory{buf: buf}
}

type mmapMemory struct{ buf []byte }

func (m *mmapMemory) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(len(m.buf)) {
		return nil // wazero answers memory.grow with -1
	}
	return m.buf[:size:size]
}

// Free unmaps the memory. wazero calls it when the instance closes, after
// its last call returned (a call stopped at its deadline closes its
// resources on its own goroutine, never under running code).
func (m *mmapMemory) Free() {
	if m.buf != nil {
		syscall.Munmap(m.buf)
		m.buf = nil
	}
}

var memoryAllocator experimental.MemoryAllocator = mmapAllocator{}
