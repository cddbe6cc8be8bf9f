package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-idp/portico/testenv"
	"github.com/portico-idp/portico/tokensvc"
	"github.com/portico-idp/portico/tokensvc/dpop"
)

// DPoP (RFC 9449) scenarios: client_credentials with a proof per request,
// next to client_credentials without, and the proof's verification alone
// as its floor. The proofs are signed before the scenario starts (the
// load generator shares the machine: signing them in the timed window
// would bill the client's cost to the server), each used once.

const (
	scDPoPVerify = "DPoP proof verify floor"
	scCCDPoP     = "client_credentials ES256 DPoP"
)

// proofsPerSecond sizes a pool: more than the server takes in a second.
const proofsPerSecond = 20000

// proofPool holds proofs for one URL, each handed out once.
type proofPool struct {
	proofs []string
	next   atomic.Int64
}

// newProofPool signs n proofs of one ES256 key for a POST to htu. Their
// iat is 3 s ahead (a proof is taken from 5 s before its iat to a minute
// after), so the pool stays good for about a minute from now: longer
// runs (-d) get errors, each saying so.
func newProofPool(n int, htu string) (*proofPool, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	pr, err := dpop.NewProver(k)
	if err != nil {
		return nil, err
	}
	o := dpop.ProofOptions{IssuedAt: time.Now().Add(3 * time.Second)}
	p := &proofPool{proofs: make([]string, n)}
	var wg sync.WaitGroup
	errs := make([]error, runtime.GOMAXPROCS(0))
	for w := range errs {
		wg.Go(func() {
			for i := w; i < n && errs[w] == nil; i += len(errs) {
				p.proofs[i], errs[w] = pr.Proof(http.MethodPost, htu, o)
			}
		})
	}
	wg.Wait()
	return p, errors.Join(errs...)
}

var errPoolSpent = errors.New("the pool of DPoP proofs is spent (a longer -d needs a bigger pool)")

func (p *proofPool) take() (string, error) {
	i := p.next.Add(1) - 1
	if i >= int64(len(p.proofs)) {
		return "", errPoolSpent
	}
	return p.proofs[i], nil
}

var dpopTokenType = []byte(`"token_type":"DPoP"`)

// dpopScenarios are the DPoP lines, after client_credentials ES256.
func dpopScenarios(bs *brokers, o options, client func() *http.Client) []scenario {
	n := int((o.dur+o.warmup).Seconds()+1) * proofsPerSecond
	return []scenario{
		{name: scDPoPVerify, setup: func(context.Context) (op, int, error) {
			const htu = "https://id.example.com/token"
			// Made first: a replay cache refuses proofs dated before it.
			v := &dpop.Verifier{Replay: dpop.NewMemoryReplay(0, 0, nil)}
			pool, err := newProofPool(n, htu)
			if err != nil {
				return nil, 0, err
			}
			req := dpop.Request{Method: http.MethodPost, URL: htu}
			procs := runtime.GOMAXPROCS(0)
			return func(ctx context.Context, _ int) error {
				p, err := pool.take()
				if err != nil {
					return err
				}
				_, err = v.Verify(ctx, []string{p}, req)
				return err
			}, procs, nil
		}},
		{name: scCCDPoP, setup: func(context.Context) (op, int, error) {
			b, err := bs.get(tokensvc.ES256)
			if err != nil {
				return nil, o.workers, err
			}
			pool, err := newProofPool(n, b.URL+"/token")
			if err != nil {
				return nil, o.workers, err
			}
			return clientCredentialsDPoPOp(client(), b, pool), o.workers, nil
		}},
	}
}

// clientCredentialsDPoPOp asks for a DPoP-bound client_credentials token.
func clientCredentialsDPoPOp(c *http.Client, b *testenv.Broker, pool *proofPool) op {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}.Encode()
	return func(ctx context.Context, _ int) error {
		proof, err := pool.take()
		if err != nil {
			return err
		}
		req, err := tokenRequest(ctx, b, form)
		if err != nil {
			return err
		}
		req.Header.Set(dpop.Header, proof)
		body, err := do(c, req)
		if err != nil {
			return err
		}
		if !bytes.Contains(body, accessTokenField) || !bytes.Contains(body, dpopTokenType) {
			return fmt.Errorf("POST /token with DPoP: 200 without a DPoP access_token: %s", truncate(string(body), 100))
		}
		return nil
	}
}

// printDPoPNote compares client_credentials with and without DPoP: if the
// proof's verification were the only difference, each request would cost
// one of each, so with would run at 1/(1/without + 1/verify).
func printDPoPNote(out io.Writer, by map[string]result) {
	cc, ok1 := by[scCCES256]
	with, ok2 := by[scCCDPoP]
	v, ok3 := by[scDPoPVerify]
	if !ok1 || !ok2 || !ok3 {
		return
	}
	expected := 1 / (1/cc.perSec() + 1/v.perSec())
	fmt.Fprintf(out, "  client_credentials ES256 with DPoP: %.0f req/s = %.0f%% of without (%.0f req/s); proof\n"+
		"    verification alone runs at %.0f/s, so if it were the only difference: %.0f req/s (this run: %.0f%% of that);\n"+
		"    p50 %s p99 %s with, %s %s without\n",
		with.perSec(), 100*with.perSec()/cc.perSec(), cc.perSec(), v.perSec(), expected, 100*with.perSec()/expected,
		fmtDur(with.p50), fmtDur(with.p99), fmtDur(cc.p50), fmtDur(cc.p99))
}
