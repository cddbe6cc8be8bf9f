package wasmtest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// HandOptions vary the hand-written module, to make broken ones.
type HandOptions struct {
	// Version is what portico_abi_version returns; 0 leaves the export
	// out.
	Version int32
	// NoCall leaves portico_call out.
	NoCall bool
	// Import, as "module.name" of type () -> (), adds an import the broker
	// does not offer.
	Import string
	// Callback makes the module claim to be a callback connector too
	// (it cannot serve one), to show a change of capabilities.
	Callback bool
	// Probe adds an export probe() -> i64 that fills [ProbeRandom, +16)
	// with random, [ProbeKey, +32) with the connector's key, and returns
	// now(): the other host functions, exercised.
	Probe bool
	// Password is the one password the module accepts (default
	// "letmein").
	Password string
}

// Where probe writes.
const (
	ProbeRandom = 8192
	ProbeKey    = ProbeRandom + 16
)

// Identity of the hand-written module's one user.
const (
	HandSubject = "hand-1"
	HandName    = "Hand Written"
	HandEmail   = "hand@example.com"
)

// HandModule returns a connector module written directly in WebAssembly
// bytecode, the way a module from another language (Rust, TinyGo,
// AssemblyScript, WAT) presents itself: no WASI, no Go runtime, only the
// Portico ABI. It is a password connector: a login whose request carries
// "password":"<Password>" succeeds as HandSubject, any other fails with
// invalid_credentials, and every login writes a line to the broker's log.
//
// It reads the operation from the request's 8th byte, relying on the
// broker writing "op" first ({"op":"info"...): i(nfo), c(onfigure),
// l(ogin).
func HandModule(o HandOptions) []byte {
	if o.Password == "" {
		o.Password = "letmein"
	}
	// Memory layout: constant strings from 0, the input buffer at inBuf.
	const inBuf = 4096
	var data []byte
	put := func(s string) (uint32, uint32) {
		off := uint32(len(data))
		data = append(data, s...)
		return off, uint32(len(s))
	}
	packed := func(s string) int64 { off, n := put(s); return int64(off)<<32 | int64(n) }
	info := packed(`{"info":{"version":1,"password":true}}`)
	if o.Callback {
		info = packed(`{"info":{"version":1,"password":true,"callback":true}}`)
	}
	empty := packed(`{}`)
	ok := packed(fmt.Sprintf(`{"identity":{"subject":%q,"username":"hand","name":%q,"email":%q,"email_verified":true}}`, HandSubject, HandName, HandEmail))
	bad := packed(`{"error":{"kind":"invalid_credentials","message":"hand-written module: wrong password"}}`)
	unknown := packed(`{"error":{"kind":"failed","message":"hand-written module: unsupported operation"}}`)
	needleOff, needleLen := put(fmt.Sprintf(`"password":%q`, o.Password))
	msgOff, msgLen := put("hand-written module: login")

	var m module
	logFn := m.importFunc("portico", "log", []byte{i32, i32, i32}, nil)
	var nowFn, randomFn, keyFn uint32
	if o.Probe {
		nowFn = m.importFunc("portico", "now", nil, []byte{i64})
		randomFn = m.importFunc("portico", "random", []byte{i32, i32}, []byte{i32})
		keyFn = m.importFunc("portico", "key", []byte{i32, i32}, []byte{i32})
	}
	if o.Import != "" {
		mod, name := o.Import, ""
		for i := range o.Import {
			if o.Import[i] == '.' {
				mod, name = o.Import[:i], o.Import[i+1:]
				break
			}
		}
		m.importFunc(mod, name, nil, nil)
	}
	if o.Version != 0 {
		m.export("portico_abi_version", m.function(nil, []byte{i32}, nil, cat(i32Const(o.Version), end)))
	}
	m.export("portico_alloc", m.function([]byte{i32}, []byte{i32}, nil, cat(i32Const(inBuf), end)))

	// find(hay, hayLen) -> 1 when the needle is in hay. Locals: 2 i, 3 j.
	find := m.function([]byte{i32, i32}, []byte{i32}, []byte{i32, i32}, cat(
		block, loop, // $out, $outer
		get(2), i32Const(int32(needleLen)), []byte{opI32Add}, get(1), []byte{opI32GtU}, brIf(1),
		i32Const(0), set(3),
		block, loop, // $mismatch, $inner
		get(3), i32Const(int32(needleLen)), []byte{opI32Eq}, ifThen, i32Const(1), []byte{opReturn}, end,
		get(0), get(2), []byte{opI32Add}, get(3), []byte{opI32Add}, load8u(0),
		get(3), load8u(needleOff), []byte{opI32Ne}, brIf(1),
		get(3), i32Const(1), []byte{opI32Add}, set(3), br(0),
		end, end,
		get(2), i32Const(1), []byte{opI32Add}, set(2), br(0),
		end, end,
		i32Const(0), end,
	))
	// portico_call(ptr, len) -> packed answer. Local 2: the op's letter.
	is := func(c byte) []byte { return cat(get(2), i32Const(int32(c)), []byte{opI32Eq}, ifThen) }
	call := m.function([]byte{i32, i32}, []byte{i64}, []byte{i32}, cat(
		get(0), load8u(7), set(2),
		is('i'), i64Const(info), []byte{opReturn}, end,
		is('c'), i64Const(empty), []byte{opReturn}, end,
		is('l'),
		i32Const(0), i32Const(int32(msgOff)), i32Const(int32(msgLen)), []byte{opCall}, uleb(logFn),
		get(0), get(1), []byte{opCall}, uleb(find), ifThen, i64Const(ok), []byte{opReturn}, end,
		i64Const(bad), []byte{opReturn},
		end,
		i64Const(unknown), end,
	))
	if o.Probe {
		m.export("probe", m.function(nil, []byte{i64}, nil, cat(
			i32Const(ProbeRandom), i32Const(16), []byte{opCall}, uleb(randomFn), []byte{opDrop},
			i32Const(ProbeKey), i32Const(32), []byte{opCall}, uleb(keyFn), []byte{opDrop},
			[]byte{opCall}, uleb(nowFn), end,
		)))
	}
	if !o.NoCall {
		m.export("portico_call", call)
	}
	m.memPages = 2
	m.data = data
	return m.encode()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
