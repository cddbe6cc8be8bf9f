package wasmtest

// A minimal WebAssembly binary encoder: enough for HandModule (imports,
// functions with locals, exports, one memory, one data segment). Format:
// https://webassembly.github.io/spec/core/binary/.

const (
	i32 = 0x7f
	i64 = 0x7e

	opBlock   = 0x02
	opLoop    = 0x03
	opIf      = 0x04
	opEnd     = 0x0b
	opBr      = 0x0c
	opBrIf    = 0x0d
	opReturn  = 0x0f
	opDrop    = 0x1a
	opCall    = 0x10
	opGet     = 0x20
	opSet     = 0x21
	opLoad8U  = 0x2d
	opI32     = 0x41
	opI64     = 0x42
	opI32Eq   = 0x46
	opI32Ne   = 0x47
	opI32GtU  = 0x4b
	opI32Add  = 0x6a
	blockVoid = 0x40
)

var (
	block  = []byte{opBlock, blockVoid}
	loop   = []byte{opLoop, blockVoid}
	ifThen = []byte{opIf, blockVoid}
	end    = []byte{opEnd}
)

func get(i uint32) []byte     { return append([]byte{opGet}, uleb(i)...) }
func set(i uint32) []byte     { return append([]byte{opSet}, uleb(i)...) }
func br(d uint32) []byte      { return append([]byte{opBr}, uleb(d)...) }
func brIf(d uint32) []byte    { return append([]byte{opBrIf}, uleb(d)...) }
func i32Const(v int32) []byte { return append([]byte{opI32}, sleb(int64(v))...) }
func i64Const(v int64) []byte { return append([]byte{opI64}, sleb(v)...) }

// load8u loads a byte at (address on the stack) + offset.
func load8u(offset uint32) []byte { return append([]byte{opLoad8U, 0}, uleb(offset)...) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func uleb(v uint32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		done := (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0)
		if !done {
			c |= 0x80
		}
		b = append(b, c)
		if done {
			return b
		}
	}
}

func name(s string) []byte { return append(uleb(uint32(len(s))), s...) }

func vec(items [][]byte) []byte { return append(uleb(uint32(len(items))), cat(items...)...) }

type module struct {
	types    [][]byte
	imports  [][]byte
	nImports uint32
	funcs    []uint32 // type index of each defined function
	codes    [][]byte
	exports  [][]byte
	memPages uint32
	data     []byte
}

func (m *module) typ(params, results []byte) uint32 {
	m.types = append(m.types, cat([]byte{0x60}, uleb(uint32(len(params))), params, uleb(uint32(len(results))), results))
	return uint32(len(m.types) - 1)
}

// importFunc adds an imported function; imports come before every defined
// function in the index space, so call them all first.
func (m *module) importFunc(mod, fn string, params, results []byte) uint32 {
	t := m.typ(params, results)
	m.imports = append(m.imports, cat(name(mod), name(fn), []byte{0x00}, uleb(t)))
	m.nImports++
	return m.nImports - 1
}

// function adds a function whose body is code (ending with end) and
// returns its index.
func (m *module) function(params, results, locals []byte, code []byte) uint32 {
	m.funcs = append(m.funcs, m.typ(params, results))
	var decls [][]byte
	for _, l := range locals {
		decls = append(decls, cat(uleb(1), []byte{l}))
	}
	body := cat(vec(decls), code)
	m.codes = append(m.codes, cat(uleb(uint32(len(body))), body))
	return m.nImports + uint32(len(m.funcs)-1)
}

func (m *module) export(n string, fn uint32) {
	m.exports = append(m.exports, cat(name(n), []byte{0x00}, uleb(fn)))
}

func (m *module) encode() []byte {
	section := func(id byte, content []byte) []byte {
		return cat([]byte{id}, uleb(uint32(len(content))), content)
	}
	var fidx [][]byte
	for _, t := range m.funcs {
		fidx = append(fidx, uleb(t))
	}
	exports := append(m.exports, cat(name("memory"), []byte{0x02}, uleb(0)))
	return cat(
		[]byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00},
		section(1, vec(m.types)),
		section(2, vec(m.imports)),
		section(3, vec(fidx)),
		section(5, vec([][]byte{cat([]byte{0x00}, uleb(m.memPages))})),
		section(7, vec(exports)),
		section(10, vec(m.codes)),
		// One active data segment for memory 0 at offset 0.
		section(11, vec([][]byte{cat([]byte{0x00}, i32Const(0), end, uleb(uint32(len(m.data))), m.data)})),
	)
}
