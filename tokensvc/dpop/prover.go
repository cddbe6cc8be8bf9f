package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Prover makes proofs for one key: the client's side of RFC 9449, for Go
// clients and for tests of servers. It is safe for concurrent use.
type Prover struct {
	sg jose.Signer
	// JKT is the key's thumbprint: what bound tokens' cnf.jkt holds, and
	// the dpop_jkt an authorization request may name.
	JKT string
}

// NewProver returns a Prover for key: ECDSA P-256, P-384 or P-521 (ES256,
// ES384, ES512), Ed25519 (EdDSA) or RSA (PS256).
func NewProver(key crypto.Signer) (*Prover, error) {
	var alg jose.SignatureAlgorithm
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			alg = jose.ES256
		case elliptic.P384():
			alg = jose.ES384
		case elliptic.P521():
			alg = jose.ES512
		}
	case ed25519.PrivateKey:
		alg = jose.EdDSA
	case *rsa.PrivateKey:
		alg = jose.PS256
	}
	if alg == "" {
		return nil, errors.New("dpop: unsupported key type")
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{EmbedJWK: true}).WithType(Type))
	if err != nil {
		return nil, err
	}
	jkt, err := Thumbprint(&jose.JSONWebKey{Key: key.Public()})
	if err != nil {
		return nil, err
	}
	return &Prover{sg: sg, JKT: jkt}, nil
}

// ProofOptions are a proof's optional claims.
type ProofOptions struct {
	AccessToken string    // sets ath, for a request that presents it
	Nonce       string    // the server's DPoP-Nonce
	IssuedAt    time.Time // now if zero
	// Claims add to or replace the claims above; a nil value removes
	// one. For tests of servers: a client has no use for it.
	Claims map[string]any
}

// Proof returns a proof for a request with method to url (its query and
// fragment are left out of htu).
func (p *Prover) Proof(method, url string, o ProofOptions) (string, error) {
	jti := make([]byte, 16)
	rand.Read(jti)
	iat := o.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
	}
	c := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti), "htm": method, "htu": stripQuery(url), "iat": iat.Unix()}
	if o.AccessToken != "" {
		c["ath"] = ATH(o.AccessToken)
	}
	if o.Nonce != "" {
		c["nonce"] = o.Nonce
	}
	for k, v := range o.Claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	jws, err := p.sg.Sign(b)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
