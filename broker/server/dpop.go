package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc/dpop"
)

// Store records of DPoP (RFC 9449): a proof's jti, taken once, and the
// key every replica derives server nonces from.
const (
	dpopJTIKind   = "dpop-jti"
	dpopNonceKind = "dpop-nonce-key"
)

// dpopVerifier checks DPoP proofs as cfg says. On PostgreSQL, where
// replicas share the store, a proof's jti is taken in the store so that
// no replica accepts a proof another took; Badger has one process, whose
// memory suffices and costs no write.
func dpopVerifier(ctx context.Context, cfg *config.Config, st store.Store, now func() time.Time) (*dpop.Verifier, error) {
	t := cfg.Tokens.DPoP
	v := &dpop.Verifier{Lifetime: t.ProofLifetime.Std(), Now: now}
	if cfg.Storage.Type == "postgres" {
		v.Replay = storeReplay{st}
	} else {
		v.Replay = dpop.NewMemoryReplay(v.Lifetime, 0, now)
	}
	if t.RequireNonce {
		key, err := nonceKey(ctx, st)
		if err != nil {
			return nil, err
		}
		v.Nonces = dpop.NewNonces(key, t.NonceLifetime.Std(), now)
	}
	return v, nil
}

// storeReplay takes a proof's jti with a create, which one replica wins.
type storeReplay struct{ st store.Store }

func (r storeReplay) Use(ctx context.Context, key string, _, until time.Time) (bool, error) {
	err := r.st.PutRecord(ctx, store.Record{Kind: dpopJTIKind, Key: key, Value: []byte("1"), Expiry: until})
	if errors.Is(err, store.ErrAlreadyExists) {
		return false, nil
	}
	return err == nil, err
}

// nonceKey is the nonce key every replica shares: the first to start
// creates it.
func nonceKey(ctx context.Context, st store.Store) ([]byte, error) {
	for range 3 {
		r, err := st.GetRecord(ctx, dpopNonceKind, "key")
		if err == nil {
			return r.Value, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("dpop nonce key: %w", err)
		}
		key := make([]byte, 32)
		rand.Read(key)
		switch err := st.PutRecord(ctx, store.Record{Kind: dpopNonceKind, Key: "key", Value: key}); {
		case err == nil:
			return key, nil
		case !errors.Is(err, store.ErrAlreadyExists):
			return nil, fmt.Errorf("dpop nonce key: %w", err)
		}
	}
	return nil, errors.New("dpop nonce key: could not be read or created")
}
