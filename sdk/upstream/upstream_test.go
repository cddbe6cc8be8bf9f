package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestSeal(t *testing.T) {
	s, err := NewSealer(testKey)
	if err != nil {
		t.Fatal(err)
	}
	in := Tokens{Access: "at", Refresh: "rt-secret", Expiry: 42}
	b, err := s.Seal(in, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "rt-secret") {
		t.Fatal("sealed data shows the token")
	}
	if out, err := s.Open(b, "alice"); err != nil || out != in {
		t.Fatalf("Open = %+v, %v", out, err)
	}
	other, _ := NewSealer([]byte("fedcba9876543210fedcba9876543210"))
	flip := func(i int) []byte { c := append([]byte(nil), b...); c[i] ^= 1; return c }
	tests := []struct {
		name    string
		s       *Sealer
		data    []byte
		subject string
	}{
		{"another subject", s, b, "bob"},
		{"another key", other, b, "alice"},
		{"altered ciphertext", s, flip(len(b) - 1), "alice"},
		{"altered nonce", s, flip(1), "alice"},
		{"another version", s, flip(0), "alice"},
		{"truncated", s, b[:20], "alice"},
		{"empty", s, nil, "alice"},
		{"plain JSON", s, []byte(`{"rt":"x"}`), "alice"},
		{"huge", s, make([]byte, maxSealed+1), "alice"},
	}
	for _, tt := range tests {
		if _, err := tt.s.Open(tt.data, tt.subject); !errors.Is(err, ErrSealed) {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
	if _, err := NewSealer(testKey[:16]); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}

func TestUnavailable(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	_, timeoutErr := NewClient(50 * time.Millisecond).Get(slow.URL)
	_, refusedErr := NewClient(time.Second).Get("http://127.0.0.1:1/")
	re := func(status int, code string) error {
		return &oauth2.RetrieveError{Response: &http.Response{StatusCode: status}, ErrorCode: code}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"timeout", timeoutErr, true},
		{"connection refused", refusedErr, true},
		{"wrapped timeout", fmt.Errorf("exchange: %w", timeoutErr), true},
		{"deadline", context.DeadlineExceeded, true},
		{"500", re(500, ""), true},
		{"503 with an OAuth body", re(503, "temporarily_unavailable"), true},
		{"429 with an OAuth body", re(429, "slow_down"), true},
		{"429", re(429, ""), true},
		{"408", re(408, ""), true},
		{"400 temporarily_unavailable", re(400, "temporarily_unavailable"), true},
		{"302 (a login wall)", re(302, ""), true},
		{"invalid_grant", re(400, "invalid_grant"), false},
		{"invalid_request (Dex: a claimed refresh token)", re(400, "invalid_request"), false},
		{"400 without an OAuth body", re(400, ""), false},
		{"403 without an OAuth body", re(403, ""), false},
		{"invalid_client", re(401, "invalid_client"), false},
		{"error in a 200 (GitHub)", re(200, "bad_verification_code"), false},
		{"garbage token response", errors.New("oauth2: cannot parse json: invalid character"), true},
		{"missing access token", errors.New("oauth2: server response missing access_token"), true},
		{"other", errors.New("id_token: bad signature"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := Unavailable(tt.err); got != tt.want {
			t.Errorf("%s: Unavailable(%v) = %v", tt.name, tt.err, got)
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	type cfg struct {
		Name    string   `json:"name"`
		List    []string `json:"list"`
		Timeout Duration `json:"timeout"`
	}
	tests := []struct{ json, want string }{
		{`{"name":1}`, "x: config.name: expected a string, got number"},
		{`{"list":"a"}`, "x: config.list: expected a list, got string"},
		{`{"timeout":"soon"}`, `x: config.timeout: "soon" is not a duration`},
		{`{"nope":1}`, `x: config: unknown field "nope"`},
		{`{} {}`, "x: config: unexpected data after the JSON object"},
		{`[]`, "x: config: expected a JSON object"},
		{`{`, "x: config:"},
	}
	for _, tt := range tests {
		var c cfg
		err := DecodeStrict("x: config", []byte(tt.json), &c)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want prefix %q", tt.json, err, tt.want)
		}
	}
	var c cfg
	if err := DecodeStrict("x: config", []byte(`{"timeout":"1m30s"}`), &c); err != nil || time.Duration(c.Timeout) != 90*time.Second {
		t.Errorf("timeout %v, %v", time.Duration(c.Timeout), err)
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://idp.example.com", true},
		{"https://idp.example.com/realms/x", true},
		{"http://127.0.0.1:5556", true},
		{"http://localhost:5556/x", true},
		{"http://[::1]:5556", true},
		{"http://idp.example.com", false},
		{"https://idp.example.com/", false},
		{"https://u:p@idp.example.com", false},
		{"https://idp.example.com?x=1", false},
		{"idp.example.com", false},
		{"ftp://idp.example.com", false},
		{"", false},
	}
	for _, tt := range tests {
		var got error
		CheckURL(func(f, format string, a ...any) { got = fmt.Errorf(format, a...) }, "issuer", tt.url)
		if (got == nil) != tt.ok {
			t.Errorf("%q: %v", tt.url, got)
		}
	}
}

// FuzzOpen: Open never panics on stored data, whatever it is, and opens
// exactly what Seal made for the same subject.
func FuzzOpen(f *testing.F) {
	s, _ := NewSealer(testKey)
	f.Fuzz(func(t *testing.T, data []byte, refresh, subject string) {
		if _, err := s.Open(data, subject); err == nil && len(data) < 1+12+16 {
			t.Fatalf("opened %d bytes", len(data))
		}
		b, err := s.Seal(Tokens{Refresh: refresh}, subject)
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Open(b, subject)
		if err != nil {
			t.Fatal(err)
		}
		// JSON replaces invalid UTF-8, so compare through the same coding.
		var want string
		j, _ := json.Marshal(refresh)
		json.Unmarshal(j, &want)
		if out.Refresh != want {
			t.Fatalf("round trip %q -> %q", refresh, out.Refresh)
		}
	})
}
