package wasm

import "syscall"

// mapNoReserve: reserve address space without committing swap for it.
const mapNoReserve = syscall.MAP_NORESERVE
