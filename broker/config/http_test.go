package config

import (
	"strings"
	"testing"
	"time"
)

// TestHTTPWriteTimeout: the HTTP server's write timeout defaults to 30s,
// takes a duration, and refuses one out of range with its path.
func TestHTTPWriteTimeout(t *testing.T) {
	const base = "issuer: https://id.example.com\nstorage: {dir: d}\nconnectors: [{id: local, type: local}]\n"
	for _, tc := range []struct {
		name, src string
		want      time.Duration
		err       string
	}{
		{"default", "", DefaultHTTPWriteTimeout, ""},
		{"set", "http: {write_timeout: 45s}", 45 * time.Second, ""},
		{"negative", "http: {write_timeout: -1s}", 0, "http.write_timeout: must be positive"},
		{"too long", "http: {write_timeout: 11m}", 0, "http.write_timeout: 11m0s is out of range"},
		{"not a duration", "http: {write_timeout: soon}", 0, "http.write_timeout: invalid duration"},
		{"misspelt", "http: {write_timeot: 1s}", 0, "http.write_timeot: unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(base + tc.src + "\n"))
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want it to contain %q", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case cfg.HTTPWriteTimeout() != tc.want:
				t.Errorf("write timeout %v, want %v", cfg.HTTPWriteTimeout(), tc.want)
			}
		})
	}
}
