package wirejson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/wire"
)

// FuzzDecodeRequest holds DecodeRequest to json.Unmarshal: the same
// request, or an error from both. Its seed corpus (testdata/fuzz) has
// the broker's requests and the shapes the fast path must give back to
// encoding/json (escapes, other spellings of a member, null, duplicates).
func FuzzDecodeRequest(f *testing.F) {
	for _, r := range []wire.Request{
		{Op: wire.OpInfo},
		{Op: wire.OpLogin, Username: "alice", Password: "pw"},
		{Op: wire.OpLogin, Scopes: sdk.Scopes{OfflineAccess: true, Groups: true}, Username: "jörg", Password: `p"w\<&>` + "\u2028"},
		{Op: wire.OpLoginURL, Scopes: sdk.Scopes{Groups: true}, CallbackURL: "https://portico.example/callback/gh?a=1&b=2", State: "st"},
		{Op: wire.OpConfigure, Config: json.RawMessage(`{"users":{"alice":"pw"}}`)},
		{Op: wire.OpRefresh, Identity: &sdk.Identity{Subject: "s"}},
	} {
		raw, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gotErr := DecodeRequest(data)
		var want wire.Request
		wantErr := json.Unmarshal(data, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: error %v, encoding/json's %v", data, gotErr, wantErr)
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %#v\nwant %#v", data, got, want)
		}
	})
}

// FuzzAppendResponse holds AppendResponse to json.Marshal, byte for
// byte, over answers built from the fuzzer's strings.
func FuzzAppendResponse(f *testing.F) {
	f.Add(uint8(0), "user-alice", "alice", "alice@example.com", "module_version", "v1", []byte(nil))
	f.Add(uint8(0xff), "s<&>\u2028", "jörg", "\xff\xfe", "", "\x00\n\t", []byte("data"))
	f.Add(uint8(0x5a), `q"\`, "", "b", "a", "", []byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, flags uint8, s1, s2, s3, k, v string, data []byte) {
		r := responseOf(flags, s1, s2, s3, k, v, data)
		want, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendResponse([]byte("x"), &r)
		if err != nil || !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("%#v:\n got %s (%v)\nwant %s", r, got, err, want)
		}
	})
}

// responseOf builds an answer whose shape the bits of flags choose.
func responseOf(flags uint8, s1, s2, s3, k, v string, data []byte) wire.Response {
	bit := func(n uint) bool { return flags&(1<<n) != 0 }
	var r wire.Response
	if bit(0) {
		r.Info = &wire.Info{Version: int(flags) - 100, Password: bit(1), Callback: bit(2), Refresh: bit(3), Metadata: bit(4)}
	}
	if bit(1) {
		id := sdk.Identity{Subject: s1, Username: s2, PreferredUsername: s3, Email: k, EmailVerified: bit(2), Name: v, ConnectorData: data}
		if bit(3) {
			id.Groups = []string{s2, s3}
		}
		if bit(4) {
			id.Groups = []string{}
		}
		if bit(5) {
			id.Attributes = map[string][]string{k: {v}, s1: nil, s2: {}, "z" + k: {s3, v}}
		}
		r.Identity = &id
	}
	if bit(6) {
		r.Error = &wire.Error{Kind: s1, Message: s2}
	}
	if bit(7) {
		if bit(0) {
			r.Redirect = &sdk.Redirect{URL: s1}
		} else {
			r.Document = &sdk.Document{ContentType: s2, Body: data}
		}
	}
	return r
}

// TestDecodeRequestFast checks that the broker's login request takes the
// path without encoding/json, and one the fast path must not read does
// not, so a change that sent every request to encoding/json (still
// correct, and what the fuzz test cannot see) fails here.
func TestDecodeRequestFast(t *testing.T) {
	for _, tc := range []struct {
		in   string
		fast bool
	}{
		{`{"op":"login","username":"alice","password":"pw"}`, true},
		{` { "op" : "login_url" , "scopes" : { "groups" : true } , "callback_url":"u", "state" : "s" } `, true},
		{`{"op":"info"}`, true},
		{`{}`, true},
		{`{"op":"login","username":"al\u0069ce","password":"pw"}`, false},
		{`{"op":"login","Username":"alice"}`, false},
		{`{"op":"configure","config":{}}`, false},
		{`{"op":"login","scopes":null}`, false},
		{`{"op":"login","extra":1}`, false},
		{`{"op":"login"} x`, false},
	} {
		var r wire.Request
		if got := decodeFast([]byte(tc.in), &r); got != tc.fast {
			t.Errorf("%s: fast %v, want %v", tc.in, got, tc.fast)
		}
	}
	got, err := DecodeRequest([]byte(`{"op":"login","username":"alice","password":"pw","scopes":{"groups":true}}`))
	want := wire.Request{Op: wire.OpLogin, Username: "alice", Password: "pw", Scopes: sdk.Scopes{Groups: true}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, %v", got, err)
	}
}

// A Document or a Redirect goes to encoding/json; the others do not
// allocate beyond the buffer they grow, which is what a module's answer
// buffer, kept between calls, relies on.
func TestAppendResponseAllocs(t *testing.T) {
	id := sdk.Identity{Subject: "user-alice", Username: "alice", Email: "alice@example.com", EmailVerified: true,
		Attributes: map[string][]string{"module_version": {"v1"}}}
	r := wire.Response{Identity: &id}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf, _ = AppendResponse(buf[:0], &r) }); n != 0 {
		t.Errorf("%v allocations per answer", n)
	}
}

// TestEveryByte puts each byte value at each place of a string of two
// words and more (special and plainString read eight bytes at a time),
// next to a run of another value, and holds both directions to
// encoding/json.
func TestEveryByte(t *testing.T) {
	for c := range 256 {
		for _, fill := range []byte{'a', 0, 0x80} {
			for at := range 18 {
				s := []byte(strings.Repeat(string(rune(fill)), 18))
				if fill != 'a' {
					s = bytes.Repeat([]byte{fill}, 18)
					copy(s[:at], strings.Repeat("a", at)) // the run starts after c
				}
				s[at] = byte(c)
				want, _ := json.Marshal(string(s))
				if got := appendString(nil, string(s)); !bytes.Equal(got, want) {
					t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
				}
				raw := append(append([]byte(`{"username":"`), s...), `"}`...)
				got, gotErr := DecodeRequest(raw)
				var r wire.Request
				wantErr := json.Unmarshal(raw, &r)
				if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(got, r) {
					t.Fatalf("DecodeRequest(%q) = %#v, %v; encoding/json: %#v, %v", raw, got, gotErr, r, wantErr)
				}
			}
		}
	}
}
