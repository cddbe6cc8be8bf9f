package wasm

// sliceMemory is a linear memory on the Go heap, for where a mapping
// cannot be had.
type sliceMemory struct{ buf []byte }

func (m *sliceMemory) Reallocate(size uint64) []byte {
	if size > uint64(cap(m.buf)) {
		next := make([]byte, size, max(size, 2*uint64(cap(m.buf))))
		copy(next, m.buf)
		m.buf = next
	}
	m.buf = m.buf[:size]
	return m.buf
}

func (m *sliceMemory) Free() { m.buf = nil }
