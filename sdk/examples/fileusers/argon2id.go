package main

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Bounds on a stored hash's parameters, as Portico's own local connector
// keeps them: a corrupt or hostile users document must not make one login
// cost gigabytes of memory or minutes of CPU.
const (
	maxMemory       = 1 << 20 // KiB: 1 GiB
	maxTime         = 1024
	maxWork         = 2 << 20 // memory × time, KiB-passes
	minSaltLen      = 8
	minKeyLen       = 16
	maxSaltOrKeyLen = 1024
	maxPHCLen       = 4096
)

var errMalformedHash = errors.New("fileusers: malformed argon2id hash")

var strictB64 = base64.RawStdEncoding.Strict()

// verifyArgon2id reports whether password matches phc, an argon2id PHC
// string as `portico hash-password` or the reference argon2 tool write it:
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>
//
// with salt and hash in unpadded standard base64. A string that is not
// exactly of that form, or whose costs are out of bounds, is an error and
// is never computed. The hashes are compared in constant time.
//
// It uses golang.org/x/crypto/argon2 directly, as a plugin outside this
// repository would: the SDK does not offer password hashing.
func verifyArgon2id(password, phc string) (bool, error) {
	if len(phc) > maxPHCLen {
		return false, errMalformedHash
	}
	f := strings.Split(phc, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v=19" {
		return false, errMalformedHash
	}
	var m, t, p uint64
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return false, errMalformedHash
	}
	for i, dst := range []*uint64{&m, &t, &p} {
		k, v, ok := strings.Cut(kv[i], "=")
		if !ok || k != "mtp"[i:i+1] || v == "" || len(v) > 10 || (len(v) > 1 && v[0] == '0') || strings.TrimLeft(v, "0123456789") != "" {
			return false, errMalformedHash
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return false, errMalformedHash
		}
		*dst = n
	}
	if t < 1 || t > maxTime || p < 1 || p > 255 || m < 8*p || m > maxMemory || m*t > maxWork {
		return false, errMalformedHash
	}
	salt, err1 := strictB64.DecodeString(f[4])
	key, err2 := strictB64.DecodeString(f[5])
	if err1 != nil || err2 != nil ||
		len(salt) < minSaltLen || len(salt) > maxSaltOrKeyLen ||
		len(key) < minKeyLen || len(key) > maxSaltOrKeyLen {
		return false, errMalformedHash
	}
	got := argon2.IDKey([]byte(password), salt, uint32(t), uint32(m), uint8(p), uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}
