package local

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters and lengths of a hash.
type Params struct {
	Memory  uint32 // memory in KiB (the PHC "m")
	Time    uint32 // passes over the memory (the PHC "t")
	Threads uint8  // lanes, hashed in parallel (the PHC "p")
	SaltLen uint32 // bytes of random salt
	KeyLen  uint32 // bytes of derived hash
}

// DefaultParams is the second recommended option of RFC 9106 section 4:
// argon2id with 64 MiB of memory, 3 passes and 4 lanes, a 128-bit salt and a
// 256-bit hash. (The first recommended option needs 2 GiB per hash, too much
// for a login form served to many people at once.) On a shared 2-core Xeon
// one hash takes about 75-90 ms of wall time and 64 MiB.
var DefaultParams = Params{Memory: 64 * 1024, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}

// Bounds on parameters, for Hash and for parsing stored hashes. A stored hash
// outside them is refused rather than computed: a corrupt or hostile record
// must not make one login cost gigabytes or minutes.
const (
	maxMemory = 1 << 20 // KiB: 1 GiB
	maxTime   = 1024
	// maxWork bounds memory × time (KiB × passes): about 4 s of one hashing
	// slot here. 2 GiB-passes is ten times the default's (64 MiB × 3); a
	// hash beyond it (imported, or set through the admin API) would let
	// every wrong guess at that account hold a slot for minutes.
	maxWork    = 2 << 20
	minSaltLen = 8 // RFC 9106 minimum
	maxSaltLen = 1024
	minKeyLen  = 16 // 128 bits; RFC 9106 allows 4 bytes, which is not a password hash
	maxKeyLen  = 1024
	// maxPHCLen is more than the longest string the bounds above allow.
	maxPHCLen = 4096
)

// ErrMalformedHash is wrapped by every error that Verify returns: the stored
// string is not a hash this package accepts (an argon2id PHC string or a
// foreign format of foreign.go, within its bounds).
var ErrMalformedHash = errors.New("local: malformed or unsupported password hash")

// Validate reports whether p is within the bounds that Hash and Verify accept.
// The broker should call it when it loads its configuration, since New
// panics on invalid parameters.
func (p Params) Validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("local: argon2id time %d outside [1, %d]", p.Time, maxTime)
	case p.Threads < 1:
		return errors.New("local: argon2id threads must be at least 1")
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("local: argon2id memory %d KiB outside [8*threads = %d, %d] KiB", p.Memory, 8*uint32(p.Threads), maxMemory)
	case uint64(p.Memory)*uint64(p.Time) > maxWork:
		return fmt.Errorf("local: argon2id memory × time %d KiB-passes over %d", uint64(p.Memory)*uint64(p.Time), maxWork)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("local: salt length %d outside [%d, %d] bytes", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("local: hash length %d outside [%d, %d] bytes", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// Hash hashes password with argon2id, p and a fresh random salt, and returns
// a PHC string:
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>
//
// with salt and hash in unpadded standard base64, as the reference argon2
// implementation writes it.
func Hash(password string, p Params) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("local: reading random salt: %w", err)
	}
	h := phcHash{params: p, salt: salt, key: argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)}
	return h.String(), nil
}

// Verify reports whether password matches the stored hash phc: an argon2id
// PHC string, or one of the foreign formats of foreign.go (bcrypt, PBKDF2,
// scrypt). It returns an error wrapping ErrMalformedHash, and false, if phc
// cannot be parsed or its cost is out of bounds; it never panics. The hash
// is compared in constant time.
func Verify(password, phc string) (ok bool, err error) {
	v, err := parseHash(phc)
	if err != nil {
		return false, err
	}
	return v([]byte(password)), nil
}

// verify computes the argon2id hash of password with h's salt and
// parameters and compares it with h's in constant time.
func (h phcHash) verify(password []byte) bool {
	p := h.params
	got := argon2.IDKey(password, h.salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

// NeedsRehash reports whether phc was made with parameters other than p
// (costs, salt or hash length), with another algorithm than argon2id (a
// foreign hash), or cannot be parsed at all. A hash with
// stronger parameters than p also "needs" a rehash: p is what the operator
// chose, for example to lower memory use.
func NeedsRehash(phc string, p Params) bool {
	h, err := parsePHC(phc)
	return err != nil || h.params != p
}

// phcHash is a parsed PHC string; params.SaltLen and params.KeyLen are the
// lengths of salt and key.
type phcHash struct {
	params    Params
	salt, key []byte
}

// String formats h as a PHC string. parsePHC(h.String()) gives h back, and
// for any string s that parsePHC accepts, parsePHC(s).String() == s.
func (h phcHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.params.Memory, h.params.Time, h.params.Threads,
		base64.RawStdEncoding.EncodeToString(h.salt),
		base64.RawStdEncoding.EncodeToString(h.key))
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformedHash}, args...)...)
}

// parsePHC parses an argon2id PHC string strictly: exactly the form String
// writes, nothing more. Error messages never quote the salt or hash.
func parsePHC(s string) (phcHash, error) {
	if s == "" {
		return phcHash{}, malformed("empty")
	}
	if len(s) > maxPHCLen {
		return phcHash{}, malformed("longer than %d bytes", maxPHCLen)
	}
	fields := strings.Split(s, "$")
	if fields[0] != "" {
		return phcHash{}, malformed("does not start with '$'")
	}
	if len(fields) >= 2 {
		switch alg := fields[1]; alg {
		case "argon2id":
		case "argon2i", "argon2d":
			return phcHash{}, malformed("algorithm %s is not supported, want argon2id", alg)
		default:
			// Not quoted: a secret pasted into the wrong field would be
			// shown in the error (black-box finding).
			return phcHash{}, malformed("unknown algorithm, want argon2id (or bcrypt, pbkdf2, pbkdf2-sha256, pbkdf2-sha512, scrypt)")
		}
	}
	if len(fields) != 6 {
		return phcHash{}, malformed("has %d '$'-separated fields, want 5 ($argon2id$v=19$m=,t=,p=$salt$hash)", len(fields)-1)
	}
	if v := fields[2]; v != "v=19" {
		if strings.HasPrefix(v, "v=") {
			return phcHash{}, malformed("version %.12q is not supported, want v=19", v[2:])
		}
		return phcHash{}, malformed("missing version field v=19")
	}

	var p Params
	kv := strings.Split(fields[3], ",")
	if len(kv) != 3 {
		return phcHash{}, malformed("has %d parameters, want exactly m=,t=,p=", len(kv))
	}
	for i, want := range []string{"m", "t", "p"} {
		k, v, ok := strings.Cut(kv[i], "=")
		if !ok || k != want {
			return phcHash{}, malformed("parameter %d is not %s=<number> (want m=,t=,p= in that order)", i+1, want)
		}
		n, err := parseDecimal(v)
		if err != nil {
			return phcHash{}, malformed("parameter %s: %v", want, err)
		}
		switch want {
		case "m":
			if n > maxMemory {
				return phcHash{}, malformed("memory m=%d KiB is over %d KiB", n, maxMemory)
			}
			p.Memory = uint32(n)
		case "t":
			if n < 1 || n > maxTime {
				return phcHash{}, malformed("time t=%d outside [1, %d]", n, maxTime)
			}
			p.Time = uint32(n)
		case "p":
			// RFC 9106 allows up to 2^24-1 lanes; x/crypto/argon2 takes a uint8.
			if n < 1 || n > 255 {
				return phcHash{}, malformed("parallelism p=%d outside [1, 255]", n)
			}
			p.Threads = uint8(n)
		}
	}
	if p.Memory < 8*uint32(p.Threads) {
		return phcHash{}, malformed("memory m=%d KiB is under 8*p = %d KiB", p.Memory, 8*uint32(p.Threads))
	}
	if w := uint64(p.Memory) * uint64(p.Time); w > maxWork {
		return phcHash{}, malformed("memory × time m·t=%d KiB-passes is over %d", w, maxWork)
	}

	salt, err := decodeB64(fields[4])
	if err != nil {
		return phcHash{}, malformed("salt: %v", err)
	}
	key, err := decodeB64(fields[5])
	if err != nil {
		return phcHash{}, malformed("hash: %v", err)
	}
	if len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return phcHash{}, malformed("salt is %d bytes, want %d to %d", len(salt), minSaltLen, maxSaltLen)
	}
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return phcHash{}, malformed("hash is %d bytes, want %d to %d", len(key), minKeyLen, maxKeyLen)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return phcHash{params: p, salt: salt, key: key}, nil
}

// parseDecimal parses a PHC decimal: digits only, no sign, no leading zero.
func parseDecimal(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty number")
	}
	if len(s) > 10 {
		return 0, errors.New("number too long")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, errors.New("number with a leading zero")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a decimal number")
		}
	}
	return strconv.ParseUint(s, 10, 64)
}

var strictB64 = base64.RawStdEncoding.Strict()

// decodeB64 decodes unpadded standard base64, refusing padding, the URL
// alphabet, line breaks (which encoding/base64 would skip) and non-zero
// trailing bits, so that each value has exactly one encoding.
func decodeB64(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, errors.New("not unpadded standard base64")
		}
	}
	b, err := strictB64.DecodeString(s)
	if err != nil {
		return nil, errors.New("not unpadded standard base64")
	}
	return b, nil
}
