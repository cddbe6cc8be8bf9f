package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// CheckJSON returns what makes raw ambiguous JSON, or nil: a key that
// appears twice in one object, compared without case (encoding/json keeps
// the last, and matches keys to fields without case, so "roles" and
// "ROLES" in one body set one field twice: a proxy or a reviewer reading
// the first sees another change), or an escaped UTF-16 surrogate without
// its pair (encoding/json turns it into U+FFFD: the text stored would not
// be the text sent). raw is assumed bounded by the caller.
func CheckJSON(raw []byte) error {
	if i := loneSurrogate(raw); i >= 0 {
		return fmt.Errorf("an unpaired UTF-16 surrogate escape at byte %d", i)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	type frame struct {
		keys  map[string]bool
		isObj bool
		key   bool // the next token of an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if len(stack) > 0 {
				return fmt.Errorf("not JSON: %w", io.ErrUnexpectedEOF)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("not JSON: %w", err)
		}
		if n := len(stack); n > 0 && stack[n-1].isObj && stack[n-1].key {
			if k, ok := tok.(string); ok {
				top := stack[n-1]
				lk := strings.ToLower(k)
				if top.keys[lk] {
					if len(k) > 64 {
						k = k[:64] + "…"
					}
					return fmt.Errorf("the key %q appears twice in one object", k)
				}
				top.keys[lk], top.key = true, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, isObj: true, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if n := len(stack); n > 0 && stack[n-1].isObj {
			stack[n-1].key = true // a value ended: a key follows
		}
	}
}

// loneSurrogate returns the offset of the first \uD800–\uDFFF escape that
// is not a high surrogate followed by an escaped low one, or -1. It reads
// escapes only inside strings.
func loneSurrogate(raw []byte) int {
	inStr := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !inStr {
			inStr = c == '"'
			continue
		}
		switch c {
		case '"':
			inStr = false
		case '\\':
			if i+1 >= len(raw) {
				return -1
			}
			if raw[i+1] != 'u' {
				i++ // an escaped character, whatever it is
				continue
			}
			u, ok := hex4(raw, i+2)
			if !ok {
				return -1 // not JSON: the decoder says so
			}
			switch {
			case u >= 0xD800 && u <= 0xDBFF:
				lo, ok := hex4(raw, i+8)
				if !ok || i+7 >= len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' || lo < 0xDC00 || lo > 0xDFFF {
					return i
				}
				i += 11
			case u >= 0xDC00 && u <= 0xDFFF:
				return i
			default:
				i += 5
			}
		}
	}
	return -1
}

// hex4 reads four hex digits at raw[i:].
func hex4(raw []byte, i int) (rune, bool) {
	if i+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
