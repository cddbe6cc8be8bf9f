package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/portico-idp/portico/sdk"
)

func writeUsers(t testing.TB, path string, users ...user) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"users": users})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func hash(t testing.TB, pw string) string {
	t.Helper()
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	// Fast parameters (64 KiB, one pass), in the form verifyArgon2id reads.
	key := argon2.IDKey([]byte(pw), salt, 1, 64, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func TestConnector(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users.json")
	alice := user{ID: "u-1", Username: "alice", Email: "a@example.org", Groups: []string{"g"}, PasswordHash: hash(t, "pw")}
	writeUsers(t, path, alice)
	raw, _ := json.Marshal(config{File: path})
	v, err := newConnector(ctx, raw, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c := v.(*connector)
	id, err := c.Login(ctx, sdk.Scopes{Groups: true}, "alice", "pw")
	if err != nil || id.Subject != "u-1" || id.Email != "a@example.org" || len(id.Groups) != 1 {
		t.Fatalf("login: %+v %v", id, err)
	}
	for _, tc := range []struct{ user, pw string }{{"alice", "x"}, {"bob", "pw"}, {"", "pw"}, {"alice", ""}} {
		if _, err := c.Login(ctx, sdk.Scopes{}, tc.user, tc.pw); !errors.Is(err, sdk.ErrInvalidCredentials) {
			t.Errorf("login %q/%q: %v", tc.user, tc.pw, err)
		}
	}
	// Edits are picked up; alice leaves, bob arrives.
	writeUsers(t, path, user{ID: "u-2", Username: "bob", PasswordHash: hash(t, "pw2"), Name: "Bob, with a longer name"})
	if _, err := c.Refresh(ctx, sdk.Scopes{}, id); !errors.Is(err, sdk.ErrUserGone) {
		t.Errorf("refresh of a removed user: %v", err)
	}
	if _, err := c.Login(ctx, sdk.Scopes{}, "bob", "pw2"); err != nil {
		t.Errorf("login after edit: %v", err)
	}
	// A broken edit keeps the previous users.
	os.WriteFile(path, []byte(`{"users":[{"id":"x"}]} and more`), 0o600)
	if _, err := c.Login(ctx, sdk.Scopes{}, "bob", "pw2"); err != nil {
		t.Errorf("login after a broken edit: %v", err)
	}
	os.Remove(path)
	if _, err := c.Login(ctx, sdk.Scopes{}, "bob", "pw2"); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("login with the file gone: %v", err)
	}
}

func TestParseUsers(t *testing.T) {
	h := `"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA"`
	for _, tc := range []struct{ in, want string }{
		{`{"users":[{"id":"1","username":"a","password_hash":` + h + `}]}`, ""},
		{`{"users":[{"id":"1","username":"a","password_hash":"plain"}]}`, "argon2id"},
		{`{"users":[{"username":"a","password_hash":` + h + `}]}`, "required"},
		{`{"users":[{"id":"1","username":"a","password_hash":` + h + `},{"id":"1","username":"b","password_hash":` + h + `}]}`, "duplicate id"},
		{`{"users":[{"id":"1","username":"a","password_hash":` + h + `},{"id":"2","username":"a","password_hash":` + h + `}]}`, "duplicate username"},
		{`{"users":[{"id":"1","username":"a","password":"x"}]}`, "unknown field"},
		{`[]`, "cannot unmarshal"},
	} {
		_, err := parseUsers([]byte(tc.in))
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseUsers(f *testing.F) {
	f.Add([]byte(`{"users":[{"id":"1","username":"a","groups":["x"],"password_hash":"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA"}]}`))
	f.Add([]byte(`{"users":null}`))
	f.Add([]byte(`{"users":[{"id":"1"},{"id":"1"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := parseUsers(data)
		if err != nil {
			return
		}
		for name, x := range u.byName {
			if x.Username != name || u.byID[x.ID].Username != name || x.ID == "" {
				t.Fatalf("inconsistent users: %+v", u)
			}
		}
	})
}

// TestVerifyArgon2id checks the example's verifier against a hash written by
// Portico's own hasher (connectors/local, `portico hash-password`), and that
// malformed or too costly hashes are refused without being computed.
func TestVerifyArgon2id(t *testing.T) {
	const good = "$argon2id$v=19$m=64,t=1,p=1$1qsxej3WmpctmOOnSWTB7g$OHN85N03/+nHYrCj3Gh+AwLfuBBBKPC0mrVsJBuYqHI"
	if ok, err := verifyArgon2id("correct horse", good); err != nil || !ok {
		t.Fatalf("right password: ok=%v err=%v", ok, err)
	}
	if ok, err := verifyArgon2id("wrong horse", good); err != nil || ok {
		t.Fatalf("wrong password: ok=%v err=%v", ok, err)
	}
	if ok, err := verifyArgon2id("pw", hash(t, "pw")); err != nil || !ok {
		t.Fatalf("test helper hash: ok=%v err=%v", ok, err)
	}
	const salt, key = "1qsxej3WmpctmOOnSWTB7g", "OHN85N03/+nHYrCj3Gh+AwLfuBBBKPC0mrVsJBuYqHI"
	for _, bad := range []string{
		"",
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=9$" + salt + "$" + key,      // m < 8*p
		"$argon2id$v=19$m=1048576,t=3,p=1$" + salt + "$" + key, // m*t over the bound
		"$argon2id$v=19$m=2097152,t=1,p=1$" + salt + "$" + key, // m over the bound
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "=$" + key,     // padding
		"$argon2id$v=19$m=64,t=1,p=1$AAAA$" + key,              // short salt
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAAAAAA",    // short hash
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$",
		"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
	} {
		if ok, err := verifyArgon2id("correct horse", bad); err == nil || ok {
			t.Errorf("%q: ok=%v err=%v, want an error", bad, ok, err)
		}
	}
}
