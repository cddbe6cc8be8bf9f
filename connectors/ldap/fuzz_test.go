package ldap

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzObjectGUID: formatGUID and parseGUID undo each other, and parseGUID
// accepts nothing formatGUID would not write (but uppercase).
func FuzzObjectGUID(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := formatGUID(b)
		if len(b) != 16 {
			if err == nil {
				t.Fatalf("formatGUID accepted %d bytes", len(b))
			}
		} else {
			back, err := parseGUID(s)
			if err != nil || string(back) != string(b) {
				t.Fatalf("parseGUID(formatGUID(%x)) = %x, %v", b, back, err)
			}
		}
		// The same bytes read as a string subject.
		raw, err := parseGUID(string(b))
		if err != nil {
			return
		}
		again, err := formatGUID(raw)
		if err != nil || again != strings.ToLower(string(b)) {
			t.Fatalf("formatGUID(parseGUID(%q)) = %q, %v", b, again, err)
		}
	})
}

// FuzzParseConfig: ParseConfig never panics, and a config it accepts
// survives a JSON round trip unchanged and valid.
func FuzzParseConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		// root_ca names a file to read; keep the fuzzer off the file system.
		var probe struct {
			RootCA string `json:"root_ca"`
		}
		if json.Unmarshal(raw, &probe) == nil && probe.RootCA != "" {
			t.Skip()
		}
		cfg, err := ParseConfig(raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ldap: config") {
				t.Fatalf("error without the config prefix: %v", err)
			}
			return
		}
		out, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseConfig(out)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", out, err)
		}
		if !reflect.DeepEqual(cfg, again) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", cfg, again)
		}
	})
}
