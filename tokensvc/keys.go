package tokensvc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Algorithms Portico signs with. RS256 is the default because every relying
// party supports it; ES256 and EdDSA sign 25–35 times faster.
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// SupportedAlgs lists the signing algorithms, in discovery order.
var SupportedAlgs = []string{RS256, ES256, EdDSA}

// signer is one usable key: its go-jose signer and public JWK.
type signer struct {
	kid    string
	alg    string
	jose   jose.Signer // JWT ("typ":"JWT")
	at     jose.Signer // RFC 9068 access tokens ("typ":"at+jwt")
	logout jose.Signer // back-channel logout tokens ("typ":"logout+jwt")
	action jose.Signer // mailed links (action.go, "typ":"portico-action+jwt")
	public jose.JSONWebKey
}

// keyring holds the signing keys in memory, so that signing and JWKS never
// read the store; the store is read when keys may have changed.
type keyring struct {
	mu      sync.RWMutex
	version int64
	keys    []SigningKey
	signers map[string]*signer // by kid, every published key
	jwks    []byte             // pre-marshalled JWKS document
}

func generateKey(alg string, now, activeFrom time.Time) (SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return SigningKey{}, fmt.Errorf("tokensvc: unsupported signing algorithm %q", alg)
	}
	if err != nil {
		return SigningKey{}, fmt.Errorf("tokensvc: generate %s key: %w", alg, err)
	}
	jwk := jose.JSONWebKey{Key: priv, Algorithm: alg, Use: "sig"}
	pub := jwk.Public()
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return SigningKey{}, fmt.Errorf("tokensvc: key thumbprint: %w", err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	raw, err := jwk.MarshalJSON()
	if err != nil {
		return SigningKey{}, fmt.Errorf("tokensvc: marshal key: %w", err)
	}
	return SigningKey{ID: jwk.KeyID, Alg: alg, PrivateJWK: raw, CreatedAt: now, ActiveFrom: activeFrom}, nil
}

func newSigner(k SigningKey) (*signer, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(k.PrivateJWK); err != nil {
		return nil, fmt.Errorf("tokensvc: key %s: %w", k.ID, err)
	}
	jwk.KeyID = k.ID
	// A JWK carries no precomputed CRT values; without them every RSA
	// signature recomputes them (about a tenth of its cost).
	if rk, ok := jwk.Key.(*rsa.PrivateKey); ok {
		rk.Precompute()
	}
	sk := jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Alg), Key: jwk}
	idt, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("tokensvc: key %s: %w", k.ID, err)
	}
	at, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return nil, fmt.Errorf("tokensvc: key %s: %w", k.ID, err)
	}
	logout, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		return nil, fmt.Errorf("tokensvc: key %s: %w", k.ID, err)
	}
	action, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType(actionType))
	if err != nil {
		return nil, fmt.Errorf("tokensvc: key %s: %w", k.ID, err)
	}
	return &signer{kid: k.ID, alg: k.Alg, jose: idt, at: at, logout: logout, action: action, public: jwk.Public()}, nil
}

// load replaces the ring's contents with ks, unless it already holds them.
func (r *keyring) load(ks KeySet) error {
	r.mu.RLock()
	same := r.version == ks.Version && r.signers != nil
	r.mu.RUnlock()
	if same {
		return nil
	}
	signers := make(map[string]*signer, len(ks.Keys))
	pub := make([]jose.JSONWebKey, 0, len(ks.Keys))
	for _, k := range ks.Keys {
		s, err := newSigner(k)
		if err != nil {
			return err
		}
		signers[k.ID] = s
		pub = append(pub, s.public)
	}
	doc, err := json.Marshal(jose.JSONWebKeySet{Keys: pub})
	if err != nil {
		return fmt.Errorf("tokensvc: marshal JWKS: %w", err)
	}
	r.mu.Lock()
	r.version, r.keys, r.signers, r.jwks = ks.Version, slices.Clone(ks.Keys), signers, doc
	r.mu.Unlock()
	return nil
}

// active returns the key of alg that signs at now: the newest one already
// active.
func (r *keyring) active(now time.Time, alg string) (*signer, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var best *SigningKey
	for i := range r.keys {
		k := &r.keys[i]
		if k.Alg != alg || !k.RetiredAt.IsZero() || k.ActiveFrom.After(now) {
			continue
		}
		if best == nil || k.ActiveFrom.After(best.ActiveFrom) {
			best = k
		}
	}
	if best == nil {
		return nil, fmt.Errorf("tokensvc: no active %s signing key", alg)
	}
	return r.signers[best.ID], nil
}

// generation identifies the loaded key set; caches of verified tokens are
// valid for one generation.
func (r *keyring) generation() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.version
}

func (r *keyring) byID(kid string) *signer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.signers[kid]
}

func (r *keyring) document() []byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.jwks
}

// plan returns the key set as it should be at now for the algorithms in
// algs, and whether it changed. Keys of algorithms no longer wanted retire
// like rotated keys and leave when their last token has expired.
func plan(ks KeySet, algs []string, now time.Time, period, keep time.Duration, force bool) (KeySet, bool, error) {
	order := slices.Clone(algs)
	byAlg := map[string][]SigningKey{}
	for _, k := range ks.Keys {
		if !slices.Contains(order, k.Alg) {
			order = append(order, k.Alg)
		}
		byAlg[k.Alg] = append(byAlg[k.Alg], k)
	}
	var out []SigningKey
	changed := false
	for _, alg := range order {
		var keys []SigningKey
		var ch bool
		if slices.Contains(algs, alg) {
			var err error
			if keys, ch, err = planAlg(byAlg[alg], alg, now, period, keep, force); err != nil {
				return ks, false, err
			}
		} else {
			keys, ch = retireAll(byAlg[alg], now, keep)
		}
		out = append(out, keys...)
		changed = changed || ch
	}
	return KeySet{Keys: out, Version: ks.Version}, changed, nil
}

// retireAll retires the keys of an algorithm no longer configured.
func retireAll(keys []SigningKey, now time.Time, keep time.Duration) ([]SigningKey, bool) {
	var out []SigningKey
	changed := false
	for _, k := range keys {
		switch {
		case k.ActiveFrom.After(now): // a next key that will never sign
			changed = true
			continue
		case k.RetiredAt.IsZero():
			k.RetiredAt, changed = now, true
		case now.Sub(k.RetiredAt) > keep:
			changed = true
			continue
		}
		out = append(out, k)
	}
	return out, changed
}

// planAlg returns one algorithm's keys as they should be at now:
// one active key, one published next key that takes over at the next
// rotation, and retired keys only while tokens they signed may be alive.
// force makes the next key active now (an operator's "keys rotate").
func planAlg(keys []SigningKey, alg string, now time.Time, period, keep time.Duration, force bool) ([]SigningKey, bool, error) {
	keys = slices.Clone(keys)
	changed := false
	if force {
		for i := range keys {
			if keys[i].ActiveFrom.After(now) {
				keys[i].ActiveFrom = now
				changed = true
			}
		}
	}
	// The newest key already active, and not retired, signs; older ones
	// retire. A retired key never signs again, even if its algorithm
	// comes back into use.
	activeIdx := -1
	for i, k := range keys {
		if k.RetiredAt.IsZero() && !k.ActiveFrom.After(now) && (activeIdx < 0 || k.ActiveFrom.After(keys[activeIdx].ActiveFrom)) {
			activeIdx = i
		}
	}
	if activeIdx < 0 || (force && !changed) {
		k, err := generateKey(alg, now, now)
		if err != nil {
			return nil, false, err
		}
		keys = append(keys, k)
		activeIdx, changed = len(keys)-1, true
	}
	for i := range keys {
		if i != activeIdx && !keys[i].ActiveFrom.After(now) && keys[i].RetiredAt.IsZero() {
			keys[i].RetiredAt = now
			changed = true
		}
	}
	// Drop retired keys no live token can have been signed with.
	kept := keys[:0]
	for _, k := range keys {
		if !k.RetiredAt.IsZero() && now.Sub(k.RetiredAt) > keep {
			changed = true
			continue
		}
		kept = append(kept, k)
	}
	keys = kept
	// A next key is published one period ahead, so verifiers that cache
	// the JWKS already know it when it starts signing.
	hasNext := slices.ContainsFunc(keys, func(k SigningKey) bool { return k.ActiveFrom.After(now) })
	if !hasNext {
		var activeFrom time.Time
		for _, k := range keys {
			if k.RetiredAt.IsZero() && !k.ActiveFrom.After(now) {
				activeFrom = k.ActiveFrom.Add(period)
			}
		}
		if !activeFrom.After(now) {
			activeFrom = now.Add(period)
		}
		k, err := generateKey(alg, now, activeFrom)
		if err != nil {
			return nil, false, err
		}
		keys = append(keys, k)
		changed = true
	}
	return keys, changed, nil
}

// syncKeys brings the stored key set up to date (rotating if due) and loads
// it. Replicas racing here lose the compare-and-swap and load the winner's.
func (s *Service) syncKeys(ctx context.Context, force bool) error {
	for range 5 {
		ks, err := s.store.GetKeys(ctx)
		if err != nil {
			return fmt.Errorf("tokensvc: read keys: %w", err)
		}
		next, changed, err := plan(ks, s.algs(), s.now(), s.cfg.KeyRotation, s.maxSignedTTL(), force)
		if err != nil {
			return err
		}
		if !changed {
			return s.keys.load(ks)
		}
		switch err := s.store.UpdateKeys(ctx, next); {
		case err == nil:
			next.Version++
			if force {
				s.log.Info("signing keys rotated")
			}
			return s.keys.load(next)
		case errors.Is(err, ErrConflict):
			force = false // another replica rotated; take its keys
			continue
		default:
			return fmt.Errorf("tokensvc: store keys: %w", err)
		}
	}
	return errors.New("tokensvc: keys: too many concurrent updates")
}

// RotateKeys makes the published next key active now and publishes a new
// next key; the old active key stays published until its tokens expire.
func (s *Service) RotateKeys(ctx context.Context) error { return s.syncKeys(ctx, true) }

// JWKS returns the JSON Web Key Set document. It is built once per key
// change, so serving it costs no allocation or marshalling.
func (s *Service) JWKS() []byte { return s.keys.document() }
