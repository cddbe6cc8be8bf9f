// Package signing checks that a connector artifact, a process plugin's
// binary or a WASM module, comes from a publisher the operator trusts: a
// detached minisign signature (the file next to it, with ".minisig"
// added) verified against the publisher keys in the connector's config.
//
// The sha256 pin says "these exact bytes"; a signature says "whoever
// holds this key published them", which is what an operator can check
// when the bytes arrive through a channel they do not control (a
// download, an artifact store, a digest file written by the same deploy
// as the module). Minisign, rather than Sigstore: one Ed25519 key pair, a
// two-line signature file, keys an operator can paste into YAML, verified
// offline with a small, focused library (aead.dev/minisign); and the
// minisign command line tool reads and writes the same files.
package signing

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"aead.dev/minisign"
)

// Suffix is added to an artifact's path to find its signature.
const Suffix = ".minisig"

// maxSignature bounds a signature file: two base64 lines and two
// comments.
const maxSignature = 16 << 10

// maxKeysFile bounds a publisher keys file.
const maxKeysFile = 256 << 10

// ErrRefused is wrapped by every verification failure: the artifact is
// unsigned, its signature is unreadable, made by a key that is not
// trusted, or does not match the file.
var ErrRefused = errors.New("signature check failed")

// Keys are the publisher keys a connector's artifacts must be signed by.
// The zero value trusts no key and requires no signature.
type Keys struct {
	keys []minisign.PublicKey
}

// ParseKeys reads the keys of a connector's config: inline, each a
// minisign public key (the base64 line of a .pub file, or the file's two
// lines); and the file at path, if any, holding keys one a line
// (minisign's "untrusted comment:" lines, lines starting with "#" and
// blank lines are skipped). field names the config field in errors.
func ParseKeys(inline []string, path, field string) (Keys, error) {
	var k Keys
	for i, s := range inline {
		pk, err := parseKey(s)
		if err != nil {
			return Keys{}, fmt.Errorf("%s[%d]: %v", field, i, err)
		}
		k.keys = append(k.keys, pk)
	}
	if path == "" {
		return k, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return Keys{}, fmt.Errorf("%s_file: %w", field, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxKeysFile))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "untrusted comment:") {
			continue
		}
		pk, err := parseKey(line)
		if err != nil {
			return Keys{}, fmt.Errorf("%s_file: %s:%d: %v", field, path, n, err)
		}
		k.keys = append(k.keys, pk)
	}
	if err := sc.Err(); err != nil {
		return Keys{}, fmt.Errorf("%s_file: %s: %w", field, path, err)
	}
	if len(k.keys) == len(inline) {
		return Keys{}, fmt.Errorf("%s_file: %s holds no key", field, path)
	}
	return k, nil
}

func parseKey(s string) (minisign.PublicKey, error) {
	var pk minisign.PublicKey
	if err := pk.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return pk, fmt.Errorf("not a minisign public key (the RW... line of a .pub file): %v", err)
	}
	return pk, nil
}

// Required reports whether any key is configured: then every artifact
// must be signed by one of them.
func (k Keys) Required() bool { return len(k.keys) > 0 }

// IDs are the trusted keys' ids, as minisign prints them.
func (k Keys) IDs() []string {
	ids := make([]string, len(k.keys))
	for i, pk := range k.keys {
		ids[i] = keyID(pk.ID())
	}
	return ids
}

func keyID(id uint64) string { return strings.ToUpper(strconv.FormatUint(id, 16)) }

// Signer is who signed a verified artifact, for the log.
type Signer struct {
	KeyID   string // the key's id, as minisign prints it
	Comment string // the signature's trusted comment
}

// VerifyFile checks the file at path against its signature at sigPath
// (path + Suffix when empty). Without keys it checks nothing.
func (k Keys) VerifyFile(path, sigPath string) (Signer, error) {
	if !k.Required() {
		return Signer{}, nil
	}
	sig, s, err := k.signature(path, sigPath)
	if err != nil {
		return Signer{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Signer{}, fmt.Errorf("%w: %s: %v", ErrRefused, path, err)
	}
	defer f.Close()
	var verify func(minisign.PublicKey) bool
	if s.Algorithm == minisign.HashEdDSA {
		// Read through once: a plugin binary may be large.
		r := minisign.NewReader(f)
		if _, err := io.Copy(io.Discard, r); err != nil {
			return Signer{}, fmt.Errorf("%w: read %s: %v", ErrRefused, path, err)
		}
		verify = func(pk minisign.PublicKey) bool { return r.Verify(pk, sig) }
	} else {
		b, err := io.ReadAll(f)
		if err != nil {
			return Signer{}, fmt.Errorf("%w: read %s: %v", ErrRefused, path, err)
		}
		verify = func(pk minisign.PublicKey) bool { return minisign.Verify(pk, b, sig) }
	}
	return k.result(k.any(s.KeyID, verify), path, sigPath, s)
}

// Verify checks data, the artifact read from path, against its signature
// at sigPath (path + Suffix when empty): the bytes that will be run, not
// the file again. Without keys it checks nothing.
func (k Keys) Verify(data []byte, path, sigPath string) (Signer, error) {
	if !k.Required() {
		return Signer{}, nil
	}
	sig, s, err := k.signature(path, sigPath)
	if err != nil {
		return Signer{}, err
	}
	ok := k.any(s.KeyID, func(pk minisign.PublicKey) bool { return minisign.Verify(pk, data, sig) })
	return k.result(ok, path, sigPath, s)
}

// signature reads and parses the signature of path, and finds its key
// among k's.
func (k Keys) signature(path, sigPath string) ([]byte, minisign.Signature, error) {
	var s minisign.Signature
	if sigPath == "" {
		sigPath = path + Suffix
	}
	f, err := os.Open(sigPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, s, fmt.Errorf("%w: %s is not signed: there is no %s, and publisher keys are configured, so a signature is required (portico connector sign)",
			ErrRefused, path, sigPath)
	} else if err != nil {
		return nil, s, fmt.Errorf("%w: signature of %s: %v", ErrRefused, path, err)
	}
	defer f.Close()
	sig, err := io.ReadAll(io.LimitReader(f, maxSignature+1))
	if err == nil && len(sig) > maxSignature {
		err = fmt.Errorf("larger than %d bytes", maxSignature)
	}
	sig = bytes.TrimSpace(sig)
	if err == nil {
		err = s.UnmarshalText(sig)
	}
	if err != nil {
		return nil, s, fmt.Errorf("%w: %s is not a minisign signature: %v", ErrRefused, sigPath, err)
	}
	if !k.has(s.KeyID) {
		return nil, s, fmt.Errorf("%w: %s is signed by key %s, which is not a configured publisher key (trusted: %s)",
			ErrRefused, path, keyID(s.KeyID), strings.Join(k.IDs(), ", "))
	}
	return sig, s, nil
}

func (k Keys) result(ok bool, path, sigPath string, s minisign.Signature) (Signer, error) {
	if sigPath == "" {
		sigPath = path + Suffix
	}
	if !ok {
		return Signer{}, fmt.Errorf("%w: %s does not match its signature %s by key %s: the file (or the signature's trusted comment) was changed after signing",
			ErrRefused, path, sigPath, keyID(s.KeyID))
	}
	return Signer{KeyID: keyID(s.KeyID), Comment: s.TrustedComment}, nil
}

func (k Keys) has(id uint64) bool {
	for _, pk := range k.keys {
		if pk.ID() == id {
			return true
		}
	}
	return false
}

// any reports whether verify holds for a trusted key with id. Ids are
// not secret, so two keys may share one: each is tried.
func (k Keys) any(id uint64, verify func(minisign.PublicKey) bool) bool {
	for _, pk := range k.keys {
		if pk.ID() == id && verify(pk) {
			return true
		}
	}
	return false
}
