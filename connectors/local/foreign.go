package local

// Foreign password hashes: formats other systems store, so that their users
// can be brought over with their passwords (docs/migration.md). Portico
// never makes these; it verifies them, and the connector replaces each with
// an argon2id hash on the account's next successful login.
//
//	bcrypt   $2a$10$<22 salt chars><31 hash chars>   (also $2b$, $2y$) as Dex, htpasswd, Go's x/crypto/bcrypt write it
//	PBKDF2   $pbkdf2-sha256$<iterations>$<salt>$<hash>  (also $pbkdf2-sha512$, and $pbkdf2$ for HMAC-SHA1)
//	         the passlib format; salt and hash in "adapted base64" (standard
//	         alphabet, '.' for '+', no padding). `portico import keycloak`
//	         writes Keycloak's credentials in it.
//	scrypt   $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>
//	         the passlib format; salt and hash in unpadded standard base64.
//
// Every cost is bounded before any work is done (a hash that would take
// seconds or gigabytes is malformed, here and in the configuration), and
// every comparison is constant-time. The connector's semaphore covers these
// like argon2id: Login verifies any hash only while it holds a slot.

import (
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

// Bounds on foreign hashes. The defaults of the systems they come from are
// well inside them (Dex: bcrypt 10; Keycloak 24: PBKDF2-SHA256 600,000 or
// PBKDF2-SHA512 210,000 iterations; passlib scrypt: ln=16, r=8, p=1); an
// account whose hash is outside them must have its password reset.
const (
	// MaxBcryptCost: cost 14 is about a second of one core; each step
	// doubles it (31 would be days).
	MaxBcryptCost = 14
	// MaxPBKDF2Work bounds iterations times output blocks (PBKDF2 computes
	// every block of the derived key with all the iterations).
	MaxPBKDF2Work = 6_000_000
	// MaxScryptMemory bounds scrypt's 128*r*N bytes.
	MaxScryptMemory = 256 << 20
	// maxScryptWork bounds N*r*p, scrypt's time.
	maxScryptWork = 1 << 23
	maxScryptP    = 16
	maxForeignKey = 128 // bytes of a PBKDF2 or scrypt hash
)

// Algorithm names the algorithm of a stored hash: "argon2id", "bcrypt",
// "pbkdf2-sha1", "pbkdf2-sha256", "pbkdf2-sha512", "scrypt", or "" when
// it is none of them. It does not check the rest of the string.
func Algorithm(hash string) string {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		return "argon2id"
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return "bcrypt"
	case strings.HasPrefix(hash, "$pbkdf2$"):
		return "pbkdf2-sha1"
	case strings.HasPrefix(hash, "$pbkdf2-sha256$"):
		return "pbkdf2-sha256"
	case strings.HasPrefix(hash, "$pbkdf2-sha512$"):
		return "pbkdf2-sha512"
	case strings.HasPrefix(hash, "$scrypt$"):
		return "scrypt"
	}
	return ""
}

// CheckHash reports whether hash is a string Verify accepts, within the
// cost bounds, without computing anything. The configuration, the admin
// API and the importers call it, so that a hash is refused when it is
// brought in rather than at its first login.
func CheckHash(hash string) error {
	_, err := parseHash(hash)
	return err
}

// verifier checks a password against one parsed hash in constant time.
type verifier func(password []byte) bool

// parseHash parses any supported hash strictly. Error messages never quote
// the salt or the hash.
func parseHash(s string) (verifier, error) {
	if len(s) > maxPHCLen {
		return nil, malformed("longer than %d bytes", maxPHCLen)
	}
	switch alg := Algorithm(s); alg {
	case "bcrypt":
		return parseBcrypt(s)
	case "pbkdf2-sha1", "pbkdf2-sha256", "pbkdf2-sha512":
		return parsePBKDF2(s, alg)
	case "scrypt":
		return parseScrypt(s)
	}
	h, err := parsePHC(s)
	if err != nil {
		return nil, err
	}
	return h.verify, nil
}

// bcrypt's own base64 alphabet.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func parseBcrypt(s string) (verifier, error) {
	// $2x$NN$ then 22 salt and 31 hash characters: 60 in all.
	if len(s) != 60 || s[6] != '$' {
		return nil, malformed("bcrypt hash is not $2a$NN$ followed by 53 characters")
	}
	if s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9' {
		return nil, malformed("bcrypt cost is not two digits")
	}
	cost := int(s[4]-'0')*10 + int(s[5]-'0')
	if cost < bcrypt.MinCost || cost > MaxBcryptCost {
		return nil, malformed("bcrypt cost %d outside [%d, %d]", cost, bcrypt.MinCost, MaxBcryptCost)
	}
	for i := 7; i < len(s); i++ {
		if strings.IndexByte(bcryptAlphabet, s[i]) < 0 {
			return nil, malformed("bcrypt salt or hash has a character outside bcrypt's base64")
		}
	}
	b := []byte(s)
	return func(password []byte) bool {
		// x/crypto compares in constant time. Like every bcrypt, it reads
		// at most 72 bytes of password; a longer one is refused, and the
		// account must reset it (its old system truncated it silently).
		return bcrypt.CompareHashAndPassword(b, password) == nil
	}, nil
}

// ab64 is passlib's "adapted base64": the standard alphabet with '.' for
// '+', unpadded.
func decodeAB64(s string) ([]byte, error) {
	if strings.Contains(s, "+") {
		return nil, errors.New("not adapted base64")
	}
	return decodeB64(strings.ReplaceAll(s, ".", "+"))
}

// EncodeAB64 encodes b in passlib's adapted base64, as the PBKDF2 format
// wants (importers use it).
func EncodeAB64(b []byte) string {
	return strings.ReplaceAll(base64.RawStdEncoding.EncodeToString(b), "+", ".")
}

func parsePBKDF2(s, alg string) (verifier, error) {
	f := strings.Split(s, "$")
	if len(f) != 5 {
		return nil, malformed("has %d '$'-separated fields, want 4 ($%s$iterations$salt$hash)", len(f)-1, f[1])
	}
	iter, err := parseDecimal(f[2])
	if err != nil {
		return nil, malformed("pbkdf2 iterations: %v", err)
	}
	salt, err := decodeAB64(f[3])
	if err != nil {
		return nil, malformed("pbkdf2 salt: %v", err)
	}
	key, err := decodeAB64(f[4])
	if err != nil {
		return nil, malformed("pbkdf2 hash: %v", err)
	}
	var h func() hash.Hash
	switch alg {
	case "pbkdf2-sha1":
		h = sha1.New
	case "pbkdf2-sha256":
		h = sha256.New
	default:
		h = sha512.New
	}
	size := h().Size()
	blocks := (len(key) + size - 1) / size
	switch {
	case iter < 1:
		return nil, malformed("pbkdf2 iterations must be at least 1")
	case len(salt) > maxSaltLen:
		return nil, malformed("pbkdf2 salt is %d bytes, want at most %d", len(salt), maxSaltLen)
	case len(key) < minKeyLen || len(key) > maxForeignKey:
		return nil, malformed("pbkdf2 hash is %d bytes, want %d to %d", len(key), minKeyLen, maxForeignKey)
	case iter*uint64(blocks) > MaxPBKDF2Work:
		return nil, malformed("pbkdf2 cost %d iterations x %d blocks is over %d", iter, blocks, MaxPBKDF2Work)
	}
	return func(password []byte) bool {
		got, err := pbkdf2.Key(h, string(password), salt, int(iter), len(key))
		return err == nil && subtle.ConstantTimeCompare(got, key) == 1
	}, nil
}

func parseScrypt(s string) (verifier, error) {
	f := strings.Split(s, "$")
	if len(f) != 5 {
		return nil, malformed("has %d '$'-separated fields, want 4 ($scrypt$ln=,r=,p=$salt$hash)", len(f)-1)
	}
	ln, r, p, err := scryptParams(f[2])
	if err != nil {
		return nil, err
	}
	salt, err := decodeB64(f[3])
	if err != nil {
		return nil, malformed("scrypt salt: %v", err)
	}
	key, err := decodeB64(f[4])
	if err != nil {
		return nil, malformed("scrypt hash: %v", err)
	}
	if len(salt) > maxSaltLen {
		return nil, malformed("scrypt salt is %d bytes, want at most %d", len(salt), maxSaltLen)
	}
	if len(key) < minKeyLen || len(key) > maxForeignKey {
		return nil, malformed("scrypt hash is %d bytes, want %d to %d", len(key), minKeyLen, maxForeignKey)
	}
	return func(password []byte) bool {
		got, err := scrypt.Key(password, salt, 1<<ln, int(r), int(p), len(key))
		return err == nil && subtle.ConstantTimeCompare(got, key) == 1
	}, nil
}

// scryptParams parses and bounds scrypt's "ln=,r=,p=" field.
func scryptParams(field string) (ln, r, p uint64, err error) {
	kv := strings.Split(field, ",")
	if len(kv) != 3 {
		return 0, 0, 0, malformed("has %d scrypt parameters, want exactly ln=,r=,p=", len(kv))
	}
	var n [3]uint64
	for i, want := range []string{"ln", "r", "p"} {
		k, v, ok := strings.Cut(kv[i], "=")
		if !ok || k != want {
			return 0, 0, 0, malformed("scrypt parameter %d is not %s=<number> (want ln=,r=,p= in that order)", i+1, want)
		}
		x, err := parseDecimal(v)
		if err != nil {
			return 0, 0, 0, malformed("scrypt parameter %s: %v", want, err)
		}
		n[i] = x
	}
	ln, r, p = n[0], n[1], n[2]
	switch {
	case ln < 1 || ln > 30:
		return 0, 0, 0, malformed("scrypt ln=%d outside [1, 30]", ln)
	case r < 1 || p < 1 || p > maxScryptP:
		return 0, 0, 0, malformed("scrypt r=%d, p=%d: want r >= 1 and p in [1, %d]", r, p, maxScryptP)
	case r > MaxScryptMemory/128 || 128*r<<ln > MaxScryptMemory:
		return 0, 0, 0, malformed("scrypt needs 128*r*N = %d KiB, over %d KiB", (128*r<<min(ln, 30))>>10, MaxScryptMemory>>10)
	case r*p<<ln > maxScryptWork:
		return 0, 0, 0, malformed("scrypt work N*r*p is over %d", maxScryptWork)
	}
	return ln, r, p, nil
}

// HashMemory is about the memory, in bytes, that verifying a password
// against hash holds: argon2id's m KiB, scrypt's 128·r·(N+p) bytes; 0 for
// bcrypt and PBKDF2, whose few KiB do not count, and for a hash Verify
// refuses.
func HashMemory(hash string) uint64 {
	switch Algorithm(hash) {
	case "argon2id":
		if h, err := parsePHC(hash); err == nil {
			return uint64(h.params.Memory) << 10
		}
	case "scrypt":
		if f := strings.Split(hash, "$"); len(f) == 5 {
			if ln, r, p, err := scryptParams(f[2]); err == nil {
				return 128 * r * (1<<ln + p)
			}
		}
	}
	return 0
}
