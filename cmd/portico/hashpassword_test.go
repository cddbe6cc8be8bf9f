package main

import (
	"strings"
	"testing"

	"github.com/portico-idp/portico/connectors/local"
)

// TestHashPassword: the printed string is an argon2id PHC string of the
// password read from stdin, with the flags' parameters, that Verify
// accepts; bad parameters and an empty password are refused.
func TestHashPassword(t *testing.T) {
	out := strings.TrimSpace(mustRun(t, "s3cret pass\n", "hash-password", "--memory", "64", "--time", "1", "--threads", "1"))
	if !strings.HasPrefix(out, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("output %q", out)
	}
	if ok, err := local.Verify("s3cret pass", out); !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
	if local.NeedsRehash(out, local.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}) {
		t.Fatal("parameters differ from the flags")
	}
	for _, args := range [][]string{{"--threads", "0"}, {"--memory", "1"}, {"--time", "0"}} {
		if msg := mustFail(t, "pw\n", append([]string{"hash-password"}, args...)...); msg == "" {
			t.Errorf("%v accepted", args)
		}
	}
	if msg := mustFail(t, "\n", "hash-password"); !strings.Contains(msg, "empty password") {
		t.Errorf("empty password: %s", msg)
	}
}

// TestHashPasswordPolicy: hash-password refuses what the password policy
// refuses, saying why and how to override; --config's password_policy is
// the one applied; --no-policy hashes anyway.
func TestHashPasswordPolicy(t *testing.T) {
	fast := []string{"hash-password", "--memory", "64", "--time", "1", "--threads", "1"}
	if msg := mustFail(t, "password\n", fast...); !strings.Contains(msg, "most common passwords") || !strings.Contains(msg, "--no-policy") {
		t.Fatalf("common password: %q", msg)
	}
	if msg := mustFail(t, "Xq9#v\n", fast...); !strings.Contains(msg, "shorter than 8 characters") {
		t.Fatalf("short password: %q", msg)
	}
	out := strings.TrimSpace(mustRun(t, "password\n", append(fast, "--no-policy")...))
	if ok, err := local.Verify("password", out); !ok || err != nil {
		t.Fatalf("--no-policy: %q: Verify = %v, %v", out, ok, err)
	}
	cfg := writeConfig(t, t.TempDir(), "127.0.0.1:5556", "password_policy: {min_length: 20}\n")
	if msg := mustFail(t, "s3cret pass\n", append(fast, "--config", cfg)...); !strings.Contains(msg, "shorter than 20 characters") {
		t.Fatalf("--config's policy: %q", msg)
	}
}
