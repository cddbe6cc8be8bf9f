package wasm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/plugins/wasm/wasmtest"
)

var fuzzRules = mustRules("api.example.com", "*.corp.example", "127.0.0.1:8080", "[::1]")

func mustRules(ss ...string) []hostRule {
	var rs []hostRule
	for _, s := range ss {
		r, err := parseHostRule(s)
		if err != nil {
			panic(err)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestAllowed(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"https://api.example.com/user", true},
		{"https://API.Example.com./user", true},
		{"https://api.example.com:443/user", true},
		{"https://api.example.com:8443/user", true}, // a rule without a port allows any
		{"https://example.com/", false},
		{"https://evilapi.example.com/", false},
		{"https://api.example.com.evil.net/", false},
		{"https://sso.corp.example/x", true},
		{"https://a.b.corp.example/x", true},
		{"https://corp.example/x", false}, // *.corp.example is below it only
		{"https://xcorp.example/x", false},
		{"http://127.0.0.1:8080/x", true},
		{"http://127.0.0.1:8081/x", false},
		{"http://[::1]:9/x", true},
		{"http://api.example.com/user", false}, // plain http only to loopback
		{"https://user:pw@api.example.com/", false},
		{"ftp://api.example.com/", false},
		{"/relative", false},
		{"https:///nohost", false},
	} {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if err := allowed(u, fuzzRules); (err == nil) != tt.ok {
			t.Errorf("%s: %v, want allowed %v", tt.url, err, tt.ok)
		}
	}
}

func TestParseHostRule(t *testing.T) {
	for _, tt := range []struct {
		in  string
		ok  bool
		out hostRule
	}{
		{"GitHub.com", true, hostRule{host: "github.com"}},
		{"github.com:443", true, hostRule{host: "github.com", port: "443"}},
		{"*.github.com", true, hostRule{host: ".github.com", wildcard: true}},
		{"[::1]:8080", true, hostRule{host: "::1", port: "8080"}},
		{"127.0.0.1", true, hostRule{host: "127.0.0.1"}},
		{"", false, hostRule{}},
		{"*", false, hostRule{}},
		{"*.10.0.0.1", false, hostRule{}},
		{"https://github.com", false, hostRule{}},
		{"github.com:0", false, hostRule{}},
		{"github.com:http", false, hostRule{}},
		{"a*b.com", false, hostRule{}},
	} {
		r, err := parseHostRule(tt.in)
		if (err == nil) != tt.ok || (tt.ok && r != tt.out) {
			t.Errorf("%q: %+v %v", tt.in, r, err)
		}
	}
}

func TestParseHTTPRequest(t *testing.T) {
	for _, tt := range []struct {
		name, raw string
		err       string // "" for success
	}{
		{"get", `{"method":"GET","url":"https://api.example.com/user","headers":{"Authorization":["Bearer x"]},"timeout_ms":1500}`, ""},
		{"default method", `{"url":"https://api.example.com/user"}`, ""},
		{"post with body", `{"method":"POST","url":"https://api.example.com/t","body":"Y29kZT0x"}`, ""},
		{"not allowed", `{"method":"GET","url":"https://metadata.google.internal/"}`, "allow_hosts"},
		{"bad method", `{"method":"GE T","url":"https://api.example.com/"}`, "invalid method"},
		{"not json", `GET / HTTP/1.1`, "malformed request"},
		{"body not base64", `{"url":"https://api.example.com/","body":"%%%"}`, "malformed request"},
		{"bad url", `{"url":"https://api.example.com/%zz"}`, "bad URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, timeout, err := parseHTTPRequest([]byte(tt.raw), fuzzRules)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if timeout <= 0 || timeout > maxHTTPTimeout {
				t.Errorf("timeout %v", timeout)
			}
		})
	}
	req, timeout, err := parseHTTPRequest([]byte(`{"url":"https://api.example.com/","headers":{"host":["evil.com"],"connection":["close"],"X-A":["1"]},"timeout_ms":1500}`), fuzzRules)
	if err != nil || req.Header.Get("Host") != "" || req.Header.Get("Connection") != "" || req.Header.Get("X-A") != "1" || req.Host != "api.example.com" || timeout != 1500*time.Millisecond {
		t.Errorf("headers %v host %q timeout %v err %v", req.Header, req.Host, timeout, err)
	}
}

// FuzzParseHTTPRequest: whatever a module sends, the parser does not
// panic, and a request it accepts goes to an allowed host with a bounded
// timeout and body and no transport headers. The seed corpus is in
// testdata/fuzz/FuzzParseHTTPRequest.
func FuzzParseHTTPRequest(f *testing.F) {
	f.Add([]byte(`{"method":"GET","url":"https://api.example.com/user","headers":{"Accept":["application/json"]},"timeout_ms":1000}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, timeout, err := parseHTTPRequest(raw, fuzzRules)
		if err != nil {
			return
		}
		if aerr := allowed(req.URL, fuzzRules); aerr != nil {
			t.Fatalf("accepted a request the allow-list refuses: %v", aerr)
		}
		if errors.Is(allowed(req.URL, nil), errNotAllowed) == false {
			t.Fatalf("an empty allow-list allowed %s", req.URL)
		}
		if timeout <= 0 || timeout > maxHTTPTimeout {
			t.Fatalf("timeout %v", timeout)
		}
		for k := range req.Header {
			if hopHeaders[k] || strings.HasPrefix(k, "Proxy-") {
				t.Fatalf("header %s passed", k)
			}
		}
		if req.Method == "" {
			t.Fatal("no method")
		}
		body, _ := io.ReadAll(req.Body)
		if len(body) > maxRequestBody {
			t.Fatalf("body of %d bytes", len(body))
		}
	})
}

// TestHostFunctions: now, random and key, called by a hand-written module.
func TestHostFunctions(t *testing.T) {
	ctx := context.Background()
	key := bytes.Repeat([]byte{7}, 32)
	m, err := New(ctx, wasmtest.HandModule(wasmtest.HandOptions{Version: 1, Probe: true}), Config{}, Env{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	g := m.gen.Load()
	inst := <-g.idle
	defer inst.close()
	before := time.Now().UnixNano()
	res, err := inst.mod.ExportedFunction("probe").Call(withState(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if now := int64(res[0]); now < before || now > time.Now().UnixNano() {
		t.Errorf("now() = %d, want about %d", now, before)
	}
	rnd, _ := inst.mod.Memory().Read(wasmtest.ProbeRandom, 16)
	got, _ := inst.mod.Memory().Read(wasmtest.ProbeKey, 32)
	if bytes.Equal(rnd, make([]byte, 16)) || !bytes.Equal(got, key) {
		t.Errorf("random %x, key %x", rnd, got)
	}
}
