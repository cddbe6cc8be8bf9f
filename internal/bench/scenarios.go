package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/portico-idp/portico/testenv"
	"github.com/portico-idp/portico/tokensvc"
)

// scenario is one line of the report. setup runs untimed and returns the
// operation and how many workers run it.
type scenario struct {
	name  string
	setup func(ctx context.Context) (fn op, workers int, err error)
	// db is set on the PostgreSQL scenarios: it samples the CPU of the
	// database backends that serve them (see run).
	db func() map[int]uint64
}

// Scenario names; -only matches them.
const (
	scSignRS256    = "sign RS256"
	scSignES256    = "sign ES256"
	scSignEdDSA    = "sign EdDSA"
	scStore        = "store floor"
	scVerifyJWT    = "verify JWT floor"
	scOpaqueLookup = "opaque lookup floor"
	scCCRS256      = "client_credentials RS256"
	scCCES256      = "client_credentials ES256"
	scRefreshRS256 = "refresh rotation RS256"
	scRefreshES256 = "refresh rotation ES256"
	scIntroJWT     = "introspect JWT"
	scIntroOpaque  = "introspect opaque"
	scRevoked      = "revocation check"
	scDiscovery    = "discovery"
	scJWKS         = "jwks"
	scDevicePoll   = "device poll (pending)"
)

// introspectAlg is the broker the introspection scenarios run on: RS256,
// Portico's default signing algorithm, whose signatures are also the
// cheaper ones to verify.
const introspectAlg = tokensvc.RS256

// poolMaxAge is how long a pool of live tokens is reused: well inside
// their 10 minutes of life, so a long -soak gets fresh ones.
const poolMaxAge = 5 * time.Minute

// scenarios lists them all in report order; with pg, the PostgreSQL ones
// after the Badger ones they compare with.
func scenarios(bs *brokers, pg *pgBrokers, o options) []scenario {
	procs := runtime.GOMAXPROCS(0)
	sign := func(alg string) func(context.Context) (op, int, error) {
		return func(context.Context) (op, int, error) {
			fn, err := signOp(alg)
			return fn, procs, err
		}
	}
	// Each HTTP scenario gets a fresh client, closed when the next one
	// starts, so it warms up its own connections.
	var prev interface{ CloseIdleConnections() }
	client := func() *http.Client {
		if prev != nil {
			prev.CloseIdleConnections()
		}
		c := newHTTPClient(o.workers)
		prev = c
		return c
	}
	withBroker := func(alg string, mk func(c *http.Client, b *testenv.Broker) (op, error)) func(context.Context) (op, int, error) {
		return func(context.Context) (op, int, error) {
			b, err := bs.get(alg)
			if err != nil {
				return nil, o.workers, err
			}
			fn, err := mk(client(), b)
			return fn, o.workers, err
		}
	}
	refresh := func(alg string) func(context.Context) (op, int, error) {
		return func(ctx context.Context) (op, int, error) {
			b, err := bs.get(alg)
			if err != nil {
				return nil, o.workers, err
			}
			tokens, err := loginAll(ctx, b, o.workers, o.sharedUser)
			if err != nil {
				return nil, o.workers, err
			}
			return refreshOp(client(), b, tokens), o.workers, nil
		}
	}
	// verify is a floor: CPU and in-memory store reads, so GOMAXPROCS
	// workers, as for signing.
	verify := func(cl creds, format string) func(context.Context) (op, int, error) {
		return func(ctx context.Context) (op, int, error) {
			b, pool, err := bs.pool(ctx, introspectAlg, cl, false, o.workers, poolMaxAge)
			if err != nil {
				return nil, procs, err
			}
			return verifyOp(b.Server.Tokens, pool, procs, format), procs, nil
		}
	}
	introspect := func(cl creds, revoked bool) func(context.Context) (op, int, error) {
		return func(ctx context.Context) (op, int, error) {
			b, pool, err := bs.pool(ctx, introspectAlg, cl, revoked, o.workers, poolMaxAge)
			if err != nil {
				return nil, o.workers, err
			}
			return introspectOp(client(), b, pool, o.workers, !revoked), o.workers, nil
		}
	}
	list := []scenario{
		{name: scSignRS256, setup: sign(tokensvc.RS256)},
		{name: scSignES256, setup: sign(tokensvc.ES256)},
		{name: scSignEdDSA, setup: sign(tokensvc.EdDSA)},
		{name: scStore, setup: func(ctx context.Context) (op, int, error) {
			b, err := bs.get(tokensvc.RS256)
			if err != nil {
				return nil, o.workers, err
			}
			fn, err := storeFloorOp(ctx, b.Server.Store, o.workers)
			return fn, o.workers, err
		}},
		{name: scVerifyJWT, setup: verify(appClient, tokensvc.FormatJWT)},
		{name: scOpaqueLookup, setup: verify(opaqueClient, tokensvc.FormatOpaque)},
		{name: scCCRS256, setup: withBroker(tokensvc.RS256, func(c *http.Client, b *testenv.Broker) (op, error) {
			return clientCredentialsOp(c, b), nil
		})},
		{name: scCCES256, setup: withBroker(tokensvc.ES256, func(c *http.Client, b *testenv.Broker) (op, error) {
			return clientCredentialsOp(c, b), nil
		})},
	}
	// DPoP next to client_credentials (dpop.go).
	list = append(list, dpopScenarios(bs, o, client)...)
	list = append(list,
		scenario{name: scRefreshRS256, setup: refresh(tokensvc.RS256)},
		scenario{name: scRefreshES256, setup: refresh(tokensvc.ES256)},
	)
	// Token exchange next to the token paths (exchange.go).
	list = append(list, exchangeScenarios(bs, o, client, tokensvc.RS256)...)
	list = append(list, []scenario{
		{name: scIntroJWT, setup: introspect(appClient, false)},
		{name: scIntroOpaque, setup: introspect(opaqueClient, false)},
		{name: scRevoked, setup: introspect(appClient, true)},
		{name: scDiscovery, setup: withBroker(tokensvc.RS256, func(c *http.Client, b *testenv.Broker) (op, error) {
			return getOp(c, b, "/.well-known/openid-configuration"), nil
		})},
		{name: scJWKS, setup: withBroker(tokensvc.RS256, func(c *http.Client, b *testenv.Broker) (op, error) {
			return getOp(c, b, "/keys"), nil
		})},
		{name: scDevicePoll, setup: withBroker(tokensvc.RS256, func(c *http.Client, b *testenv.Broker) (op, error) {
			return devicePollOp(context.Background(), c, b, o.workers)
		})},
	}...)
	if pg == nil {
		return list
	}
	return withPostgres(list, pgScenarios(pg, o, client))
}

// loginAll logs every worker in through the code flow, each as its own
// user unless shared, and returns their refresh tokens. Logins hash
// passwords, and the local connector answers 503 when too many hashes
// queue, so only a few run at once.
func loginAll(ctx context.Context, b *testenv.Broker, workers int, shared bool) ([]string, error) {
	tokens := make([]string, workers)
	errs := make([]error, workers)
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			user, pw := benchUser(w), benchUserPassword
			if shared {
				user, pw = testenv.UserName, testenv.UserPassword
			}
			tokens[w], errs[w] = login(ctx, b, user, pw)
		})
	}
	wg.Wait()
	return tokens, errors.Join(errs...)
}

// contended is the share of the machine other processes may use during a
// scenario before its numbers are called into question.
const contended = 0.10

// printNotes prints the ratios that matter, each hot path against its
// floor, and then the aims of the token-service issue against this run.
func printNotes(out io.Writer, results []result, workers int) {
	by := map[string]result{}
	for _, r := range results {
		if r.skipped == "" && r.errors == 0 {
			by[r.name] = r
		}
	}
	pct := func(a, b float64) string { return fmt.Sprintf("%.0f%%", 100*a/b) }
	fmt.Fprintln(out, "Against the floor (scenarios with errors are left out):")
	shown := false
	for _, alg := range []string{tokensvc.RS256, tokensvc.ES256} {
		cc, ok1 := by["client_credentials "+alg]
		sg, ok2 := by["sign "+alg]
		if !ok1 || !ok2 {
			continue
		}
		shown = true
		fmt.Fprintf(out, "  client_credentials %s: %.0f req/s = %s of the %s signing floor (%.0f signatures/s);\n"+
			"    one signature per request, so the rest, %s of the machine, is HTTP, routing, client\n"+
			"    authentication, the store and the load generator\n",
			alg, cc.perSec(), pct(cc.perSec(), sg.perSec()), alg, sg.perSec(), pct(sg.perSec()-cc.perSec(), sg.perSec()))
	}
	if _, ok := by[scCCDPoP]; ok {
		shown = true
		printDPoPNote(out, by) // dpop.go
	}
	for _, alg := range []string{tokensvc.RS256, tokensvc.ES256} {
		rf, ok := by["refresh rotation "+alg]
		if !ok {
			continue
		}
		if sg, ok := by["sign "+alg]; ok {
			shown = true
			fmt.Fprintf(out, "  refresh rotation %s: %.0f req/s = %s of what %s signing allows (%.0f/s: two signatures,\n"+
				"    access token and id_token, per rotation)\n", alg, rf.perSec(), pct(rf.perSec(), sg.perSec()/2), alg, sg.perSec()/2)
		}
		if st, ok := by[scStore]; ok {
			shown = true
			fmt.Fprintf(out, "  refresh rotation %s: %.0f req/s = %s of the store floor (%.0f rotations/s of\n"+
				"    GetRefreshTokenFamily + RotateRefresh alone); p50 %s against the store's %s\n",
				alg, rf.perSec(), pct(rf.perSec(), st.perSec()), st.perSec(), fmtDur(rf.p50), fmtDur(st.p50))
		}
	}
	for _, p := range []struct{ hot, floor, what string }{
		{scIntroJWT, scVerifyJWT, "VerifyAccess of a JWT alone: signature, claims, denylist read"},
		{scIntroOpaque, scOpaqueLookup, "VerifyAccess of an opaque token alone: record read and decode"},
		{scRevoked, scVerifyJWT, "VerifyAccess of a live JWT alone; a revoked one stops at the denylist"},
	} {
		h, ok1 := by[p.hot]
		f, ok2 := by[p.floor]
		if !ok1 || !ok2 {
			continue
		}
		shown = true
		fmt.Fprintf(out, "  %s: %.0f req/s = %s of the %s (%.0f/s: %s);\n"+
			"    the rest, %s of the machine, is HTTP, client authentication and the load generator\n",
			p.hot, h.perSec(), pct(h.perSec(), f.perSec()), p.floor, f.perSec(), p.what, pct(f.perSec()-h.perSec(), f.perSec()))
	}
	if printPostgresNotes(out, by) {
		shown = true
	}
	if !shown {
		fmt.Fprintln(out, "  none: run a hot path together with its floor (without -only, or with e.g. -only 'RS256|store')")
	}
	fmt.Fprintln(out)
	printAims(out, results, workers)
	var busy []string
	for _, r := range results {
		if r.other > contended {
			busy = append(busy, fmt.Sprintf("%s (%.0f%%)", r.name, 100*r.other))
		}
	}
	if len(busy) > 0 {
		fmt.Fprintf(out, "\nWARNING: other processes used more than %.0f%% of the machine's CPU during: %s.\n"+
			"  Those numbers are low by an unknown amount, and so are ratios involving them: run again.\n",
			100*contended, strings.Join(busy, ", "))
	}
}
