package local

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/portico-idp/portico/sdk"
)

// foreignVectors were made by implementations other than the ones Verify
// uses, so that a match proves interoperability rather than symmetry:
// bcrypt from the OpenBSD/John the Ripper test vectors, PBKDF2 and scrypt
// from Python's hashlib (pbkdf2_hmac, scrypt), written in passlib's format.
var foreignVectors = []struct {
	name, password, hash, alg string
}{
	{"bcrypt 2a", "U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "bcrypt"},
	{"bcrypt 2a longer", "U*U*", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK", "bcrypt"},
	{"pbkdf2 sha1", "pässword", "$pbkdf2$1000$MDEyMzQ1Njc4OWFiY2RlZg$Xuk/mKPBRhbLsojtsFDMxeS28vA", "pbkdf2-sha1"},
	{"pbkdf2 sha256", "pässword", "$pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg$rybsuBlIHCOEKCPpDvTVloYHkPEiKOiJqqYGLCHAfF0", "pbkdf2-sha256"},
	{"pbkdf2 sha512", "pässword", "$pbkdf2-sha512$1000$MDEyMzQ1Njc4OWFiY2RlZg$20MTVzg/n3H4pkjP7rPbs9uXGvJYlRG4j32EBHiNeegrbijWGjc63LMIJzA0jtIUGL4tJ0FCjR9uzA3gQvH7WA", "pbkdf2-sha512"},
	// Keycloak's pbkdf2-sha256 with a 512-bit derived key, 27500 iterations.
	{"pbkdf2 keycloak", "kc-password", "$pbkdf2-sha256$27500$MDEyMzQ1Njc4OWFiY2RlZg$F72.phEfgf0JbS9l1Vzw.8luBogNT6vWr7wGr4oOwAYfg2I0ZAcQzLIK2Jj38mAdrg8Q1z2HltjPOAeTxHIi9g", "pbkdf2-sha256"},
	{"scrypt", "scrypt-password", "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$RBx5/dxTDbUBkzx0mrgyijW1Qbw/yQ+q/fteujbYlyA", "scrypt"},
}

func TestVerifyForeign(t *testing.T) {
	for _, v := range foreignVectors {
		t.Run(v.name, func(t *testing.T) {
			if got := Algorithm(v.hash); got != v.alg {
				t.Errorf("Algorithm = %q, want %q", got, v.alg)
			}
			if err := CheckHash(v.hash); err != nil {
				t.Fatalf("CheckHash: %v", err)
			}
			if ok, err := Verify(v.password, v.hash); !ok || err != nil {
				t.Fatalf("Verify(right password) = %v, %v", ok, err)
			}
			if ok, err := Verify(v.password+"x", v.hash); ok || err != nil {
				t.Fatalf("Verify(wrong password) = %v, %v", ok, err)
			}
			if !NeedsRehash(v.hash, cheap) {
				t.Error("NeedsRehash of a foreign hash = false")
			}
		})
	}
}

// TestForeignBounds: hashes whose cost would tie up the server (bcrypt
// cost 31, 100M PBKDF2 iterations, scrypt with gigabytes) are refused before
// any work, by CheckHash (import and config time) and by Verify (login).
func TestForeignBounds(t *testing.T) {
	salt, key := "MDEyMzQ1Njc4OWFiY2RlZg", "rybsuBlIHCOEKCPpDvTVloYHkPEiKOiJqqYGLCHAfF0"
	tests := []struct{ name, hash, want string }{
		{"bcrypt cost 31", "$2a$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "cost 31"},
		{"bcrypt cost 15", "$2b$15$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "cost 15"},
		{"bcrypt cost 3", "$2y$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "cost 3"},
		{"bcrypt short", "$2a$05$CCCC", "53 characters"},
		{"bcrypt bad char", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe!", "outside"},
		{"pbkdf2 100M iterations", "$pbkdf2-sha256$100000000$" + salt + "$" + key, "cost"},
		{"pbkdf2 many blocks", "$pbkdf2$2000000$" + salt + "$" + strings.Repeat("A", 100), "cost"},
		{"pbkdf2 zero iterations", "$pbkdf2-sha256$0$" + salt + "$" + key, "at least 1"},
		{"pbkdf2 leading zero", "$pbkdf2-sha256$01000$" + salt + "$" + key, "leading zero"},
		{"pbkdf2 plus sign", "$pbkdf2-sha256$1000$" + salt + "$rybsuBlIHCOEKCPpDvTVloYHkPEiKOiJqqYGLCHAfF+", "adapted base64"},
		{"pbkdf2 short hash", "$pbkdf2-sha256$1000$" + salt + "$AAAA", "bytes"},
		{"pbkdf2 missing field", "$pbkdf2-sha256$1000$" + salt, "fields"},
		{"scrypt huge N", "$scrypt$ln=30,r=8,p=1$" + salt + "$" + key, "KiB"},
		{"scrypt huge r", "$scrypt$ln=1,r=4000000000,p=1$" + salt + "$" + key, "KiB"},
		{"scrypt huge work", "$scrypt$ln=17,r=8,p=16$" + salt + "$" + key, "work"},
		{"scrypt ln 0", "$scrypt$ln=0,r=8,p=1$" + salt + "$" + key, "ln=0"},
		{"scrypt order", "$scrypt$r=8,ln=10,p=1$" + salt + "$" + key, "order"},
		{"unknown algorithm", "$md5$x$y", "unknown algorithm"},
		{"plain text", "hunter2", "does not start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckHash(tt.hash)
			if !errors.Is(err, ErrMalformedHash) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckHash = %v, want ErrMalformedHash containing %q", err, tt.want)
			}
			start := time.Now()
			if ok, err := Verify("password", tt.hash); ok || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Verify = %v, %v; want false, ErrMalformedHash", ok, err)
			}
			// Not a timing assertion on the machine's speed: a refused
			// cost-31 bcrypt would take days, anything here is far below.
			if d := time.Since(start); d > time.Minute {
				t.Fatalf("Verify took %v: the cost was computed", d)
			}
		})
	}
}

// TestLoginForeignRehash: a user with an imported hash logs in with the old
// password, gets an argon2id hash with the configured parameters in its
// place, and logs in with it; the slot bound applies to foreign hashes too.
func TestLoginForeignRehash(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hashes := map[string]string{"bcrypt": string(bc)}
	for _, v := range foreignVectors {
		if v.password == "pässword" || v.alg == "scrypt" {
			hashes[v.name] = v.hash
		}
	}
	for name, h := range hashes {
		t.Run(name, func(t *testing.T) {
			pw := alicePassword
			if Algorithm(h) != "bcrypt" {
				for _, v := range foreignVectors {
					if v.hash == h {
						pw = v.password
					}
				}
			}
			a := alice(t, cheap)
			a.PasswordHash = h
			mem := newMemAccounts(a)
			logger, logs := logBuffer()
			c := New(mem, Config{Params: cheap, MaxConcurrent: 1, Logger: logger})
			var inSlot atomic.Int32
			c.testHookHashing = func() { inSlot.Add(1) }

			if _, err := c.Login(t.Context(), sdk.Scopes{}, "alice", pw+"x"); err != sdk.ErrInvalidCredentials {
				t.Fatalf("wrong password: %v", err)
			}
			if mem.hash(a.ID) != h {
				t.Fatal("a failed login changed the hash")
			}
			if _, err := c.Login(t.Context(), sdk.Scopes{}, "alice", pw); err != nil {
				t.Fatalf("old password: %v", err)
			}
			got := mem.hash(a.ID)
			if Algorithm(got) != "argon2id" || NeedsRehash(got, cheap) {
				t.Fatalf("stored hash after login = %.20s..., want argon2id with the configured params", got)
			}
			if _, err := c.Login(t.Context(), sdk.Scopes{}, "alice", pw); err != nil {
				t.Fatalf("login with the new hash: %v", err)
			}
			if n := inSlot.Load(); n != 3 {
				t.Errorf("hashing slot taken %d times, want 3 (every verification)", n)
			}
			if l := logs.String(); !strings.Contains(l, "from="+Algorithm(h)) || strings.Contains(l, h) || strings.Contains(l, pw) {
				t.Errorf("log should name the old algorithm and never the hash or password:\n%s", l)
			}
		})
	}
}

// TestLoginForeignRehashFails: a store that refuses the upgrade does not
// fail the login, and the foreign hash keeps working.
func TestLoginForeignRehashFails(t *testing.T) {
	a := alice(t, cheap)
	a.PasswordHash = foreignVectors[0].hash
	mem := newMemAccounts(a)
	c := New(readOnlyAccounts{mem}, Config{Params: cheap})
	for range 2 {
		if _, err := c.Login(t.Context(), sdk.Scopes{}, "alice", "U*U"); err != nil {
			t.Fatalf("login: %v", err)
		}
	}
	if mem.hash(a.ID) != a.PasswordHash {
		t.Fatal("hash changed in a read-only store")
	}
}

// FuzzParseForeign: no input makes the parsers panic or accept a cost out
// of bounds; whatever CheckHash accepts, Verify accepts.
func FuzzParseForeign(f *testing.F) {
	for _, v := range foreignVectors {
		f.Add(v.hash)
	}
	f.Add("$2a$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
	f.Add("$pbkdf2-sha256$100000000$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$scrypt$ln=30,r=8,p=1$c2FsdA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$scrypt$$$$")
	f.Add("$pbkdf2$$$")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseHash(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("error %v does not wrap ErrMalformedHash", err)
			}
			return
		}
		if v == nil {
			t.Fatal("nil verifier without error")
		}
		// Keep each execution fast: only cheap hashes are computed.
		cheapEnough := false
		switch Algorithm(s) {
		case "bcrypt":
			cheapEnough = s[4:6] == "04" || s[4:6] == "05"
		case "pbkdf2-sha1", "pbkdf2-sha256", "pbkdf2-sha512":
			cheapEnough = len(strings.Split(s, "$")[2]) <= 4
		case "scrypt":
			cheapEnough = strings.HasPrefix(s, "$scrypt$ln=1,") || strings.HasPrefix(s, "$scrypt$ln=2,")
		}
		if cheapEnough {
			if _, err := Verify("password", s); err != nil {
				t.Fatalf("Verify of an accepted string: %v", err)
			}
		}
	})
}
