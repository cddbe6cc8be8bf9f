// Package wirejson reads a wire.Request and writes a wire.Response, the
// plugin side of every call, without encoding/json's reflection on the
// common path, and with the same result as encoding/json.
//
// Why: inside a WASM module built from Go, wazero checks whether the
// module was closed at every loop head, and Go's WebAssembly code makes
// every function a loop, so a call costs in proportion to the Go
// function calls and loop turns the module makes. encoding/json made
// more than 500 calls a login, most of the module's own work
// (docs/performance.md, "The connector boundary"). The wire format does
// not change: a message these functions do not handle in full (an
// operation other than info, login and login_url, an escaped string, an
// unknown member, a Redirect or Document to write) goes to
// encoding/json, and FuzzDecodeRequest and FuzzAppendResponse hold both
// paths to encoding/json's answer.
package wirejson

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/wire"
)

// DecodeRequest is json.Unmarshal of data into a zero wire.Request.
func DecodeRequest(data []byte) (wire.Request, error) {
	var req wire.Request
	if decodeFast(data, &req) {
		return req, nil
	}
	req = wire.Request{}
	err := json.Unmarshal(data, &req)
	return req, err
}

// decodeFast decodes data into req if data is an object of only the
// members op, scopes, username, password, callback_url and state, each
// spelt exactly so, with strings that need no unescaping and are valid
// UTF-8; anything else returns false and leaves req half written. The
// strings of one request share one allocation.
func decodeFast(data []byte, req *wire.Request) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	// Where each string member's value lies in data, as [start, end):
	// the strings are made at the end, from one copy.
	var spans [5][2]int
	var set [5]bool
	for {
		ks, ke, ok := plainString(data, i)
		if !ok {
			return false
		}
		i = skipSpace(data, ke+1)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipSpace(data, i+1)
		f := -1
		switch string(data[ks:ke]) {
		case "op":
			f = 0
		case "username":
			f = 1
		case "password":
			f = 2
		case "callback_url":
			f = 3
		case "state":
			f = 4
		case "scopes":
			if i, ok = decodeScopes(data, i, &req.Scopes); !ok {
				return false
			}
		default:
			return false
		}
		if f >= 0 {
			vs, ve, ok := plainString(data, i)
			if !ok {
				return false
			}
			spans[f], set[f] = [2]int{vs, ve}, true
			i = ve + 1
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return false
		}
		if data[i] == '}' {
			break
		}
		if data[i] != ',' {
			return false
		}
		i = skipSpace(data, i+1)
	}
	if skipSpace(data, i+1) != len(data) {
		return false
	}
	// The op is one of a few words: no allocation for it.
	if set[0] {
		switch op := data[spans[0][0]:spans[0][1]]; string(op) {
		case wire.OpInfo:
			req.Op = wire.OpInfo
		case wire.OpLogin:
			req.Op = wire.OpLogin
		case wire.OpLoginURL:
			req.Op = wire.OpLoginURL
		default:
			// configure, callback, refresh and metadata carry members
			// this decoder does not read; an unknown op is rare.
			return false
		}
	}
	n := 0
	for f := 1; f < len(spans); f++ {
		n += spans[f][1] - spans[f][0]
	}
	// One allocation for them all (each costs much inside a module).
	var sb strings.Builder
	sb.Grow(n)
	for f := 1; f < len(spans); f++ {
		if set[f] {
			sb.Write(data[spans[f][0]:spans[f][1]])
		}
	}
	all := sb.String()
	at := 0
	for f, dst := range [...]*string{&req.Username, &req.Password, &req.CallbackURL, &req.State} {
		if set[f+1] {
			l := spans[f+1][1] - spans[f+1][0]
			*dst = all[at : at+l]
			at += l
		}
	}
	return true
}

// decodeScopes reads a sdk.Scopes object at data[i:] into s (members
// offline_access and groups, true or false) and returns the index after
// it. Like encoding/json it writes over the members it reads and leaves
// the others.
func decodeScopes(data []byte, i int, s *sdk.Scopes) (int, bool) {
	if i >= len(data) || data[i] != '{' {
		return 0, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, true
	}
	for {
		ks, ke, ok := plainString(data, i)
		if !ok {
			return 0, false
		}
		i = skipSpace(data, ke+1)
		if i >= len(data) || data[i] != ':' {
			return 0, false
		}
		i = skipSpace(data, i+1)
		var v bool
		switch {
		case len(data)-i >= 4 && string(data[i:i+4]) == "true":
			v, i = true, i+4
		case len(data)-i >= 5 && string(data[i:i+5]) == "false":
			v, i = false, i+5
		default:
			return 0, false
		}
		switch string(data[ks:ke]) {
		case "offline_access":
			s.OfflineAccess = v
		case "groups":
			s.Groups = v
		default:
			return 0, false
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return 0, false
		}
		if data[i] == '}' {
			return i + 1, true
		}
		if data[i] != ',' {
			return 0, false
		}
		i = skipSpace(data, i+1)
	}
}

// plainString finds the string starting at data[i] and returns the
// bounds of its contents and true if it holds no escape, no control
// character and only valid UTF-8: then its bytes are its value. It
// looks at eight bytes a turn (see special).
func plainString(data []byte, i int) (start, end int, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return 0, 0, false
	}
	start = i + 1
	ascii := true
	j := start
	for {
		for j+8 <= len(data) {
			if m := special(binary.LittleEndian.Uint64(data[j:])); m != 0 {
				j += bits.TrailingZeros64(m) / 8
				break
			}
			j += 8
		}
		if j >= len(data) {
			return 0, 0, false
		}
		switch c := data[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(data[start:j]) {
				return 0, 0, false
			}
			return start, j, true
		case c == '\\' || c < 0x20:
			return 0, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		j++
	}
}

// Eight bytes at a time: inside a WASM module every taken branch of Go
// code costs one of wazero's termination checks (Go's WebAssembly code
// jumps between basic blocks through the function's loop head), so a
// byte-at-a-time loop with a few comparisons a byte is what the
// module's time goes to.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// special flags, in the top bit of its byte, each byte of w (eight bytes
// of a string, little-endian) that encoding/json escapes or that is not
// ASCII: '"', '\\', '<', '>', '&', control characters and bytes from
// 0x80; a byte that is none may be flagged only above one that is, so
// the lowest flag, and whether there is any, are exact.
func special(w uint64) uint64 {
	return (zeroBytes(w^(lsb*'"')) | zeroBytes(w^(lsb*'\\')) | zeroBytes(w^(lsb*'<')) |
		zeroBytes(w^(lsb*'>')) | zeroBytes(w^(lsb*'&')) | (w-lsb*0x20)&^w | w) & msb
}

// zeroBytes flags the zero bytes of x (exactly the lowest).
func zeroBytes(x uint64) uint64 { return (x - lsb) &^ x }

// skipSpace returns the index of the first byte at or after i that is
// not JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// AppendResponse appends json.Marshal(r) to b: the same bytes.
func AppendResponse(b []byte, r *wire.Response) ([]byte, error) {
	if r.Redirect != nil || r.Document != nil {
		raw, err := json.Marshal(r)
		return append(b, raw...), err
	}
	b = append(b, '{')
	first := true
	if r.Info != nil {
		b, first = append(b, `"info":{"version":`...), false
		b = strconv.AppendInt(b, int64(r.Info.Version), 10)
		b = appendTrue(b, `,"password":true`, r.Info.Password)
		b = appendTrue(b, `,"callback":true`, r.Info.Callback)
		b = appendTrue(b, `,"refresh":true`, r.Info.Refresh)
		b = appendTrue(b, `,"metadata":true`, r.Info.Metadata)
		b = append(b, '}')
	}
	if id := r.Identity; id != nil {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `"identity":{"subject":`...)
		b = appendString(b, id.Subject)
		b = appendMember(b, `,"username":`, id.Username)
		b = appendMember(b, `,"preferred_username":`, id.PreferredUsername)
		b = appendMember(b, `,"email":`, id.Email)
		b = appendTrue(b, `,"email_verified":true`, id.EmailVerified)
		b = appendMember(b, `,"name":`, id.Name)
		if len(id.Groups) > 0 {
			b = appendStrings(append(b, `,"groups":`...), id.Groups)
		}
		if len(id.Attributes) > 0 {
			b = appendAttributes(append(b, `,"attributes":`...), id.Attributes)
		}
		if len(id.ConnectorData) > 0 {
			b = append(b, `,"connector_data":"`...)
			b = base64.StdEncoding.AppendEncode(b, id.ConnectorData)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	if e := r.Error; e != nil {
		if !first {
			b = append(b, ',')
		}
		b = append(b, `"error":{"kind":`...)
		b = appendString(b, e.Kind)
		b = appendMember(b, `,"message":`, e.Message)
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

func appendTrue(b []byte, member string, v bool) []byte {
	if v {
		b = append(b, member...)
	}
	return b
}

// appendMember appends name and s unless s is empty (omitempty).
func appendMember(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, name...), s)
}

// appendStrings appends a []string as encoding/json does: null for nil.
func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendAttributes appends the map with its keys in order, as
// encoding/json does; an insertion sort, since there are few.
func appendAttributes(b []byte, m map[string][]string) []byte {
	var buf [8]string
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = appendStrings(append(b, ':'), m[k])
	}
	return append(b, '}')
}

// appendString appends s as a JSON string. A string of printable ASCII
// that encoding/json would not escape is copied; any other goes through
// encoding/json, whose escaping (HTML characters, U+2028, invalid
// UTF-8) is then the rule. It copies s first and then checks the copy,
// padded to whole words, eight bytes a turn.
func appendString(b []byte, s string) []byte {
	start := len(b)
	b = append(b, '"')
	b = append(b, s...)
	end := len(b)
	b = append(b, "aaaaaaa"...) // padding, cut below
	var acc uint64
	for i := start + 1; i < end; i += 8 {
		acc |= special(binary.LittleEndian.Uint64(b[i:]))
	}
	if acc != 0 {
		raw, _ := json.Marshal(s) // a string always encodes
		return append(b[:start], raw...)
	}
	return append(b[:end], '"')
}
