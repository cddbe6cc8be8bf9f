package saml

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// spKeyValidity is how long a generated SP certificate is valid. IdPs use
// it as a key container, and a rollover means re-registering Portico at
// the IdP, so it is long.
const spKeyValidity = 20 * 365 * 24 * time.Hour

// parseKeyPair reads an RSA private key (PKCS#1 or PKCS#8) and the
// certificate for it from PEM.
func parseKeyPair(keyPEM, certPEM []byte) (*rsa.PrivateKey, *x509.Certificate, error) {
	var key *rsa.PrivateKey
	var cert *x509.Certificate
	for _, data := range [][]byte{keyPEM, certPEM} {
		for {
			var b *pem.Block
			b, data = pem.Decode(data)
			if b == nil {
				break
			}
			switch b.Type {
			case "RSA PRIVATE KEY":
				k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
				if err != nil {
					return nil, nil, err
				}
				key = k
			case "PRIVATE KEY":
				k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
				if err != nil {
					return nil, nil, err
				}
				rk, ok := k.(*rsa.PrivateKey)
				if !ok {
					return nil, nil, fmt.Errorf("the key is %T: XML encryption needs an RSA key", k)
				}
				key = rk
			case "CERTIFICATE":
				if cert == nil {
					c, err := x509.ParseCertificate(b.Bytes)
					if err != nil {
						return nil, nil, err
					}
					cert = c
				}
			}
		}
	}
	switch {
	case key == nil:
		return nil, nil, errors.New("no PEM RSA private key")
	case cert == nil:
		return nil, nil, errors.New("no PEM certificate")
	case !key.PublicKey.Equal(cert.PublicKey):
		return nil, nil, errors.New("the certificate is not for the private key")
	}
	return key, cert, nil
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// spKeyPair returns the SP key pair kept in dir as saml-{id}.key (the key
// and a self-signed certificate, mode 0600), making it on first use. With
// dir empty it makes one in memory, which changes at every start.
func spKeyPair(dir, id, entityID string) (key *rsa.PrivateKey, cert *x509.Certificate, generated bool, err error) {
	if dir == "" {
		key, cert, _, err := newKeyPair(entityID)
		return key, cert, true, err
	}
	path := filepath.Join(dir, "saml-"+unsafeFileChars.ReplaceAllString(id, "_")+".key")
	if b, err := readFile(path); err == nil {
		key, cert, err := parseKeyPair(b, b)
		if err != nil {
			return nil, nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return key, cert, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, false, err
	}
	key, cert, pemData, err := newKeyPair(entityID)
	if err != nil {
		return nil, nil, false, err
	}
	// Write a temporary file and link it into place, so that a reader
	// never sees half a file and two processes starting at once agree on
	// one key (the second link fails, and that process reads the first's).
	tmp, err := os.CreateTemp(dir, ".saml-key-*")
	if err != nil {
		return nil, nil, false, fmt.Errorf("create SP key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, nil, false, err
	}
	if _, err := tmp.Write(pemData); err != nil {
		tmp.Close()
		return nil, nil, false, fmt.Errorf("write SP key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, nil, false, err
	}
	if err := tmp.Close(); err != nil {
		return nil, nil, false, err
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return spKeyPair(dir, id, entityID)
	} else if err != nil {
		return nil, nil, false, fmt.Errorf("store SP key: %w", err)
	}
	return key, cert, true, nil
}

// newKeyPair makes an RSA-2048 key and a self-signed certificate for it,
// and both in PEM.
func newKeyPair(entityID string) (*rsa.PrivateKey, *x509.Certificate, []byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, nil, err
	}
	cn := entityID
	if len(cn) > 64 { // the X.509 upper bound for a common name
		cn = cn[:64]
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Portico SAML SP"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(spKeyValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	pemData := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	return key, cert, pemData, nil
}
