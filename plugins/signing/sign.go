package signing

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"aead.dev/minisign"
)

// GenerateKey makes a publisher key pair: the public key as a .pub file
// holds it, and the private key as a .key file does, encrypted with
// password (minisign's scrypt, which takes a second or more and 1 GiB of
// memory) unless password is empty.
func GenerateKey(password string) (pub, priv []byte, err error) {
	pk, sk, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	pub, _ = pk.MarshalText()
	if password == "" {
		priv, err = sk.MarshalText()
	} else {
		priv, err = minisign.EncryptKey(password, sk)
	}
	return append(pub, '\n'), append(priv, '\n'), err
}

// ReadPrivateKey reads a private key file, decrypting it with password if
// it is encrypted.
func ReadPrivateKey(path, password string) (minisign.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return minisign.PrivateKey{}, err
	}
	if minisign.IsEncrypted(b) {
		if password == "" {
			return minisign.PrivateKey{}, fmt.Errorf("%s is encrypted: give its password", path)
		}
		return minisign.DecryptKey(password, b)
	}
	var sk minisign.PrivateKey
	if err := sk.UnmarshalText(b); err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return sk, nil
}

// SignFile signs the file at path with sk and writes the signature to
// path + Suffix, as minisign -S does: the file is hashed (BLAKE2b-512)
// and the hash signed, and the trusted comment names the file and the
// time.
func SignFile(sk minisign.PrivateKey, path string) (sigPath string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	r := minisign.NewReader(f)
	if _, err := io.Copy(io.Discard, r); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	trusted := "timestamp:" + strconv.FormatInt(time.Now().Unix(), 10) + "\tfile:" + filepath.Base(path) + "\thashed"
	sig := r.SignWithComments(sk, trusted, "signature from portico connector sign, key "+keyID(sk.ID()))
	sigPath = path + Suffix
	tmp := sigPath + ".tmp"
	if err := os.WriteFile(tmp, append(sig, '\n'), 0o644); err != nil {
		return "", err
	}
	return sigPath, os.Rename(tmp, sigPath)
}
