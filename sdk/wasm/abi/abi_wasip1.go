//go:build wasip1

package abi

import (
	"encoding/json"
	"errors"
	"fmt"
	"unsafe"
)

// The broker's host functions, as a Go module imports them.

//go:wasmimport portico log
func hostLog(level int32, ptr unsafe.Pointer, n uint32)

//go:wasmimport portico http_request
func hostHTTPRequest(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport portico take_result
func hostTakeResult(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport portico now
func hostNow() int64

//go:wasmimport portico random
func hostRandom(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport portico key
func hostKey(ptr unsafe.Pointer, n uint32) int32

// Log writes one line to the broker's log.
func Log(level int, msg []byte) {
	if len(msg) == 0 {
		return
	}
	hostLog(int32(level), unsafe.Pointer(unsafe.SliceData(msg)), uint32(len(msg)))
}

// Now is the broker's clock, Unix nanoseconds.
func Now() int64 { return hostNow() }

// Random fills b from the broker's cryptographic source.
func Random(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if hostRandom(unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b))) != 0 {
		return errors.New("portico: random failed")
	}
	return nil
}

// Key returns the connector's secret key.
func Key() []byte {
	b := make([]byte, 64)
	n := hostKey(unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b)))
	if n < 0 || int(n) > len(b) {
		return nil
	}
	return b[:n]
}

// HTTP sends req through the broker. An error means no response came;
// resp.Error is turned into one.
func HTTP(req HTTPRequest) (HTTPResponse, error) {
	in, err := json.Marshal(req)
	if err != nil {
		return HTTPResponse{}, err
	}
	n := hostHTTPRequest(unsafe.Pointer(unsafe.SliceData(in)), uint32(len(in)))
	if n < 0 {
		return HTTPResponse{}, errors.New("portico: http_request refused")
	}
	out := make([]byte, max(n, 1))
	if got := hostTakeResult(unsafe.Pointer(unsafe.SliceData(out)), uint32(len(out))); got != n {
		return HTTPResponse{}, fmt.Errorf("portico: take_result returned %d, want %d", got, n)
	}
	var resp HTTPResponse
	if err := json.Unmarshal(out[:n], &resp); err != nil {
		return HTTPResponse{}, fmt.Errorf("portico: http_request answer: %w", err)
	}
	if resp.Error != "" {
		return HTTPResponse{}, errors.New(resp.Error)
	}
	return resp, nil
}
