package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// accessPayload has the claims of a Portico access token (RFC 9068) as
// tokensvc marshals them.
type accessPayload struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	JTI      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	AMR      []string `json:"amr,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	Family   string   `json:"sid,omitempty"`
}

// typicalPayload is a user's access token from a code flow with
// offline_access: the largest access token Portico issues routinely.
func typicalPayload() []byte {
	now := time.Now()
	p := accessPayload{
		Issuer: "http://127.0.0.1:5556", Subject: "5f0c2b1e-8f7a-4c3d-9b2e-1a2b3c4d5e6f",
		Audience: []string{"example-app"}, Expiry: now.Add(10 * time.Minute).Unix(), IssuedAt: now.Unix(),
		JTI: tokensvc.NewID(), ClientID: "example-app", Scope: "openid profile email groups offline_access",
		AuthTime: now.Unix(), AMR: []string{"pwd"}, Groups: []string{"admins", "staff"}, Family: tokensvc.NewID(),
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return b
}

// newBenchSigner builds a signer like tokensvc's (tokensvc/keys.go
// newSigner: a key of alg with a key id, typ at+jwt) on a freshly generated
// key. For RS256 that key has its CRT values precomputed, the fastest form
// crypto/rsa signs with, so the floor is what signing can cost at best.
// (Portico loads its key from a JWK; see docs/performance.md for what that
// costs.)
func newBenchSigner(alg string) (jose.Signer, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case tokensvc.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case tokensvc.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case tokensvc.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		err = fmt.Errorf("unknown algorithm %q", alg)
	}
	if err != nil {
		return nil, err
	}
	jwk := jose.JSONWebKey{Key: priv, Algorithm: alg, Use: "sig", KeyID: "bench"}
	sk := jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jwk}
	return jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("at+jwt"))
}

// signOp signs the typical access-token payload and serializes the JWS:
// what tokensvc's signJSON does after json.Marshal.
func signOp(alg string) (op, error) {
	sg, err := newBenchSigner(alg)
	if err != nil {
		return nil, err
	}
	payload := typicalPayload()
	return func(context.Context, int) error {
		jws, err := sg.Sign(payload)
		if err != nil {
			return err
		}
		_, err = jws.CompactSerialize()
		return err
	}, nil
}

// storeFloorOp returns the store operations of one refresh rotation, alone:
// tokensvc.Redeem's GetRefreshTokenFamily, then Rotate's RotateRefresh, on
// st, each worker rotating its own family.
func storeFloorOp(ctx context.Context, st store.Store, workers int) (op, error) {
	type chain struct{ hash string }
	chains := make([]chain, workers)
	now := time.Now()
	for w := range chains {
		fam := store.RefreshFamily{
			ID: tokensvc.NewID(), UserID: "store-floor-user", ClientID: "example-app", ConnectorID: "local",
			Scopes:   []string{"openid", "profile", "email", "groups", "offline_access"},
			AuthTime: now, AMR: []string{"pwd"}, RotatedAt: now, CreatedAt: now, Expiry: now.Add(90 * 24 * time.Hour),
		}
		hash := newTokenHash()
		fam.Current = hash
		if err := st.CreateRefreshFamily(ctx, fam, store.RefreshToken{Hash: hash, FamilyID: fam.ID, Expiry: fam.Expiry}); err != nil {
			return nil, fmt.Errorf("store floor: create family: %w", err)
		}
		chains[w].hash = hash
	}
	return func(ctx context.Context, w int) error {
		c := &chains[w]
		_, f, err := st.GetRefreshTokenFamily(ctx, c.hash)
		if err != nil {
			return err
		}
		if f.Current != c.hash {
			return fmt.Errorf("store floor: family %s: current token is not the one just rotated to", f.ID)
		}
		next := newTokenHash()
		f.Previous, f.Current, f.RotatedAt = f.Current, next, time.Now()
		if err := st.RotateRefresh(ctx, f, store.RefreshToken{Hash: next, FamilyID: f.ID, Expiry: f.Expiry}); err != nil {
			return err
		}
		c.hash = next
		return nil
	}, nil
}

// newTokenHash is the stored form of a fresh refresh token, as tokensvc
// computes it (SHA-256 of the token, base64url).
func newTokenHash() string {
	var b [32]byte
	rand.Read(b[:])
	sum := sha256.Sum256([]byte("prt_" + base64.RawURLEncoding.EncodeToString(b[:])))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// verifyOp checks the tokens of pool with tokensvc's VerifyAccess, no
// HTTP: for a JWT the signature, the claims and the denylist (a Badger
// read); for an opaque token the stored record (a Badger read and a JSON
// decode). It is what an introspection cannot avoid. Each worker walks the
// pool from its own offset; a token must verify, as a token of format.
func verifyOp(ts *tokensvc.Service, pool []string, workers int, format string) op {
	next := newCycler(len(pool), workers)
	return func(ctx context.Context, w int) error {
		a, err := ts.VerifyAccess(ctx, pool[next(w)])
		if err != nil {
			return err
		}
		if a.Format != format {
			return fmt.Errorf("verify: a %s token verified as %q", format, a.Format)
		}
		return nil
	}
}
