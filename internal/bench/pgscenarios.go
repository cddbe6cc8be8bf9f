package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/portico-idp/portico/tokensvc"
)

// The PostgreSQL scenarios, each printed after the Badger scenario it
// compares with. "x2" is two replicas of one issuer on one schema, the
// load split between them.
const (
	scPGStore    = "store floor postgres"
	scPGSelect   = "SELECT 1 floor postgres"
	scPGCC       = "client_credentials ES256 postgres"
	scPGCC2      = "client_credentials ES256 postgres x2"
	scPGRefresh  = "refresh rotation ES256 postgres"
	scPGRefresh2 = "refresh rotation ES256 postgres x2"
	scPGIntro    = "introspect JWT postgres"
	scPGIntro2   = "introspect JWT postgres x2"
)

// pgAlg is the signing algorithm of the PostgreSQL token scenarios: the
// cheap one, so that the store's share shows; introspection uses
// introspectAlg, as on Badger.
const pgAlg = tokensvc.ES256

// pgScenarios returns the PostgreSQL scenarios by the name of the Badger
// scenario they follow. They run like the Badger ones, with the same
// workers; with two replicas each worker sends its requests to them in
// turn (roundRobin). client gives each scenario a fresh HTTP client.
func pgScenarios(pg *pgBrokers, o options, client func() *http.Client) map[string][]scenario {
	mk := func(name string, setup func(context.Context) (op, int, error)) scenario {
		return scenario{name: name, setup: setup, db: pg.backendTicks}
	}
	// each builds one op per replica of the alg deployment and spreads
	// the load over them.
	each := func(alg string, replicas int, mk func(ctx context.Context, d *pgDeploy) (func(c *http.Client, i int) op, error)) func(context.Context) (op, int, error) {
		return func(ctx context.Context) (op, int, error) {
			d, err := pg.get(alg, replicas)
			if err != nil {
				return nil, o.workers, err
			}
			per, err := mk(ctx, d)
			if err != nil {
				return nil, o.workers, err
			}
			c := client()
			ops := make([]op, len(d.targets))
			for i := range d.targets {
				ops[i] = per(c, i)
			}
			return roundRobin(ops, o.workers), o.workers, nil
		}
	}
	cc := func(replicas int) func(context.Context) (op, int, error) {
		return each(pgAlg, replicas, func(_ context.Context, d *pgDeploy) (func(*http.Client, int) op, error) {
			return func(c *http.Client, i int) op { return clientCredentialsOp(c, d.targets[i]) }, nil
		})
	}
	// The workers log in on the issuer's replica; then each rotation goes
	// to the replica whose turn it is, so with two, every other rotation
	// of a session is on the other replica.
	refresh := func(replicas int) func(context.Context) (op, int, error) {
		return each(pgAlg, replicas, func(ctx context.Context, d *pgDeploy) (func(*http.Client, int) op, error) {
			tokens, err := loginAll(ctx, d.brokers[0], o.workers, o.sharedUser)
			if err != nil {
				return nil, err
			}
			return func(c *http.Client, i int) op { return refreshOp(c, d.targets[i], tokens) }, nil
		})
	}
	// The pool's tokens come from the replicas in turn, and every worker
	// introspects each of them on each replica.
	intro := func(replicas int) func(context.Context) (op, int, error) {
		return each(introspectAlg, replicas, func(ctx context.Context, d *pgDeploy) (func(*http.Client, int) op, error) {
			pool, err := fetchPool(ctx, d.targets, appClient, false, o.workers)
			if err != nil {
				return nil, fmt.Errorf("token pool: %w", err)
			}
			return func(c *http.Client, i int) op { return introspectOp(c, d.targets[i], pool, o.workers, true) }, nil
		})
	}
	return map[string][]scenario{
		scStore: {
			mk(scPGStore, func(ctx context.Context) (op, int, error) {
				d, err := pg.get(pgAlg, 1)
				if err != nil {
					return nil, o.workers, err
				}
				fn, err := storeFloorOp(ctx, d.brokers[0].Server.Store, o.workers)
				return fn, o.workers, err
			}),
			mk(scPGSelect, func(ctx context.Context) (op, int, error) {
				fn, err := pg.selectOp(ctx)
				return fn, o.workers, err
			}),
		},
		scCCES256:      {mk(scPGCC, cc(1)), mk(scPGCC2, cc(2))},
		scRefreshES256: {mk(scPGRefresh, refresh(1)), mk(scPGRefresh2, refresh(2))},
		scIntroJWT:     {mk(scPGIntro, intro(1)), mk(scPGIntro2, intro(2))},
	}
}

// withPostgres puts each scenario of after right after the one it names.
func withPostgres(list []scenario, after map[string][]scenario) []scenario {
	var out []scenario
	for _, sc := range list {
		out = append(out, sc)
		out = append(out, after[sc.name]...)
	}
	return out
}

// roundRobin sends each worker's operations to ops in turn, the workers
// starting spread over them: with two replicas, every other request of a
// worker goes to the other one.
func roundRobin(ops []op, workers int) op {
	if len(ops) == 1 {
		return ops[0]
	}
	next := newCycler(len(ops), workers)
	return func(ctx context.Context, w int) error { return ops[next(w)](ctx, w) }
}

// printPostgresNotes prints the PostgreSQL rows against their Badger
// counterparts and one broker against two, and reports whether it printed
// anything.
func printPostgresNotes(out io.Writer, by map[string]result) bool {
	pct := func(a, b result) string { return fmt.Sprintf("%.0f%%", 100*a.perSec()/b.perSec()) }
	shown := false
	for _, t := range []struct{ badger, one, two string }{
		{scCCES256, scPGCC, scPGCC2},
		{scRefreshES256, scPGRefresh, scPGRefresh2},
		{scIntroJWT, scPGIntro, scPGIntro2},
	} {
		b, okB := by[t.badger]
		one, ok1 := by[t.one]
		two, ok2 := by[t.two]
		if ok1 && okB {
			shown = true
			fmt.Fprintf(out, "  %s: %.0f req/s = %s of Badger's %.0f/s; p50 %s p99 %s against %s and %s;\n"+
				"    PostgreSQL's backends used %s of the machine\n",
				t.one, one.perSec(), pct(one, b), b.perSec(), fmtDur(one.p50), fmtDur(one.p99), fmtDur(b.p50), fmtDur(b.p99), fmtShare(one.db))
		}
		if ok2 && ok1 {
			shown = true
			fmt.Fprintf(out, "  %s: %.0f req/s = %s of one broker's, on the same cores; p50 %s p99 %s;\n"+
				"    PostgreSQL's backends used %s of the machine\n",
				t.two, two.perSec(), pct(two, one), fmtDur(two.p50), fmtDur(two.p99), fmtShare(two.db))
		}
	}
	if rf, ok := by[scPGRefresh]; ok {
		if st, ok := by[scPGStore]; ok {
			shown = true
			fmt.Fprintf(out, "  %s: %.0f req/s = %s of the postgres store floor (%.0f rotations/s of its three store calls\n"+
				"    alone); p50 %s against the store's %s\n", scPGRefresh, rf.perSec(), pct(rf, st), st.perSec(), fmtDur(rf.p50), fmtDur(st.p50))
		}
	}
	if s, ok := by[scPGSelect]; ok {
		shown = true
		fmt.Fprintf(out, "  %s: %.0f round trips/s, p50 %s p99 %s: what any one query costs, at most\n"+
			"    a broker's pool of connections at a time\n", scPGSelect, s.perSec(), fmtDur(s.p50), fmtDur(s.p99))
	}
	return shown
}
