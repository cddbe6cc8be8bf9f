package oidc

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// FuzzMapIdentity: claim mapping of any JSON an upstream may send never
// panics, and what it accepts keeps the invariants the broker relies on:
// a bounded subject, no empty or repeated groups, and an email verified
// only when the claim said true.
func FuzzMapIdentity(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte, skipVerified bool, groupsClaim string) {
		cl, err := parseClaims(raw)
		if err != nil {
			return
		}
		cfg := Config{InsecureSkipEmailVerified: skipVerified, ClaimMapping: ClaimMapping{Groups: groupsClaim}}
		cfg.setDefaults()
		id, err := mapIdentity(cl, &cfg)
		if err != nil {
			return
		}
		if id.Subject == "" || len(id.Subject) > maxSubjectLen {
			t.Fatalf("subject %q accepted", id.Subject)
		}
		for i, g := range id.Groups {
			if g == "" || slices.Contains(id.Groups[:i], g) {
				t.Fatalf("groups %q", id.Groups)
			}
		}
		if id.EmailVerified {
			v, present := cl["email_verified"]
			ok := id.Email != "" && (verified(v) || (!present && skipVerified))
			if !ok {
				t.Fatalf("email %q verified from %v (present %v)", id.Email, v, present)
			}
		}
	})
}

// FuzzParseConfig: ParseConfig never panics, and a config it accepts
// survives a JSON round trip unchanged and valid.
func FuzzParseConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := ParseConfig(raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "oidc: config") {
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
