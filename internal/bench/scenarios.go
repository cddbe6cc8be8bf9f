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

	"github.com/portico-idp/portico/testenv"
	"github.com/portico-idp/portico/tokensvc"
)

// scenario is one line of the report. setup runs untimed and returns the
// operation and how many workers run it.
type scenario struct {
	name  string
	setup func(ctx context.Context) (fn op, workers int, err error)
}

// Scenario names; -only matches them.
const (
	scSignRS256 = "sign RS256"
	scSignES256 = "sign ES256"
	scSignEdDSA = "sign EdDSA"
	scStore     = "store floor"
	scCCRS256   = "client_credentials RS256"
	scCCES256   = "client_credentials ES256"
	scRefresh   = "refresh rotation"
	scDiscovery = "discovery"
	scJWKS      = "jwks"
)

func scenarios(bs *brokers, o options) []scenario {
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
	return []scenario{
		{scSignRS256, sign(tokensvc.RS256)},
		{scSignES256, sign(tokensvc.ES256)},
		{scSignEdDSA, sign(tokensvc.EdDSA)},
		{scStore, func(ctx context.Context) (op, int, error) {
			b, err := bs.get(tokensvc.RS256)
			if err != nil {
				return nil, o.workers, err
			}
			fn, err := storeFloorOp(ctx, b.Server.Store, o.workers)
			return fn, o.workers, err
		}},
		{scCCRS256, withBroker(tokensvc.RS256, func(c *http.Client, b *testenv.Broker) (op, error) {
			return clientCredentialsOp(c, b), nil
		})},
		{scCCES256, withBroker(tokensvc.ES256, func(c *http.Client, b *testenv.Broker) (op, error) {
			return clientCredentialsOp(c, b), nil
		})},
		{scRefresh, func(ctx context.Context) (op, int, error) {
			b, err := bs.get(tokensvc.RS256)
			if err != nil {
				return nil, o.workers, err
			}
			tokens, err := loginAll(ctx, b, o.workers, o.sharedUser)
			if err != nil {
				return nil, o.workers, err
			}
			return refreshOp(client(), b, tokens), o.workers, nil
		}},
		{scDiscovery, withBroker(tokensvc.RS256, func(c *http.Client, b *testenv.Broker) (op, error) {
			return getOp(c, b, "/.well-known/openid-configuration"), nil
		})},
		{scJWKS, withBroker(tokensvc.RS256, func(c *http.Client, b *testenv.Broker) (op, error) {
			return getOp(c, b, "/keys"), nil
		})},
	}
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

// printNotes prints the ratios that matter: each hot path against its
// floor.
func printNotes(out io.Writer, results []result) {
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
	if rf, ok := by[scRefresh]; ok {
		if sg, ok := by[scSignRS256]; ok {
			shown = true
			fmt.Fprintf(out, "  refresh rotation: %.0f req/s = %s of what RS256 signing allows (%.0f/s: two signatures,\n"+
				"    access token and id_token, per rotation)\n", rf.perSec(), pct(rf.perSec(), sg.perSec()/2), sg.perSec()/2)
		}
		if st, ok := by[scStore]; ok {
			shown = true
			fmt.Fprintf(out, "  refresh rotation: %.0f req/s = %s of the store floor (%.0f rotations/s of GetRefreshToken +\n"+
				"    GetRefreshFamily + RotateRefresh alone); p50 %s against the store's %s\n",
				rf.perSec(), pct(rf.perSec(), st.perSec()), st.perSec(), fmtDur(rf.p50), fmtDur(st.p50))
		}
	}
	if !shown {
		fmt.Fprintln(out, "  none: run a hot path together with its floor (without -only, or with e.g. -only 'RS256|store')")
	}
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
