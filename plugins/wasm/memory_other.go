//go:build !unix

package wasm

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator is wazero's own (nil) where there is no mmap.
var memoryAllocator experimental.MemoryAllocator
