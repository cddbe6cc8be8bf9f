package config

import (
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/password"
)

// TestPasswordPolicy: the section's defaults are the password package's
// safe ones, what is set reaches the policy, and each impossible value is
// refused at start with its path.
func TestPasswordPolicy(t *testing.T) {
	const base = "issuer: https://id.example.com\nstorage: {dir: d}\nconnectors: [{id: local, type: local}]\n"
	cfg, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.PasswordPolicy.Policy(), (password.Policy{MinLength: 8, MaxLength: 256}); got != want {
		t.Errorf("default policy %+v, want %+v", got, want)
	}
	cfg, err = Parse([]byte(base + "password_policy: {min_length: 12, max_length: 64, min_strength: 3, allow_common: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.PasswordPolicy.Policy(), (password.Policy{MinLength: 12, MaxLength: 64, MinStrength: 3, AllowCommon: true}); got != want {
		t.Errorf("policy %+v, want %+v", got, want)
	}
	for _, tc := range []struct{ name, src, err string }{
		{"negative minimum", "{min_length: -1}", "password_policy.min_length: must be at least 1"},
		{"maximum below minimum", "{min_length: 20, max_length: 10}", "password_policy.max_length: must be at least min_length (20)"},
		{"minimum over the default maximum", "{min_length: 300}", "password_policy.max_length: must be at least min_length (300)"},
		{"maximum over the cap", "{max_length: 4096}", "password_policy.max_length: must be at most 1024 bytes"},
		{"strength over 4", "{min_strength: 5}", "password_policy.min_strength: must be from 0 (off) to 4"},
		{"negative strength", "{min_strength: -1}", "password_policy.min_strength: must be from 0 (off) to 4"},
		{"misspelt field", "{min_lenght: 10}", "password_policy.min_lenght: unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(base + "password_policy: " + tc.src + "\n"))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want it to contain %q", err, tc.err)
			}
		})
	}
}
