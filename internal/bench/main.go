// Command bench measures Portico's hot paths on this machine, next to their
// floor: `make bench` (go run ./internal/bench).
//
// It starts Portico in-process on loopback, with a Badger store in a
// temporary directory, and drives it from a load generator in the same
// process: -c workers on keep-alive connections, each scenario for -d after
// a warm-up. Every request's latency is recorded; any response but a 200
// with the expected body is an error, printed, and makes the exit status 1.
//
// The floors are the work a request cannot avoid, measured alone: go-jose
// signing of an access token (GOMAXPROCS workers, so it uses every core),
// the Badger operations of one refresh rotation, and tokensvc's
// VerifyAccess of a JWT and of an opaque token. A hot path's
// throughput as a percentage of its floor is the number to watch: it says
// how much of the machine goes to the work itself rather than to HTTP,
// routing, the store and the load generator.
//
// The token and introspection paths run on PostgreSQL too (postgres.go,
// pgscenarios.go), with one broker and with two replicas of one issuer on
// one schema, each right after its Badger row; the bench creates their
// schemas and drops them at exit, and without a reachable server it says
// so and runs the rest.
//
// The notes end with the aims of the token-service issue, each next to
// this run's number with ✔ or ✘, and the time a WASM connector's
// compilation cache saves a broker start (wasmstart.go), and a login storm
// in a child process measures peak RSS under login.hash.memory_budget
// (logins.go). -soak runs two hot paths in turn for a
// long while instead and samples memory, for the aim that it stays flat.
//
// See docs/performance.md for the method and the numbers.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portico-idp/portico/broker/config"
)

type options struct {
	workers    int
	dur        time.Duration
	warmup     time.Duration
	only       *regexp.Regexp
	cpuprofile string
	trace      string
	blockprof  string
	mutexprof  string
	sharedUser bool
	log        bool
	soak       time.Duration
	// The login storm (logins.go).
	logins      int
	loginBudget uint64
}

func main() { os.Exit(realMain()) }

func realMain() int {
	var o options
	var only string
	flag.IntVar(&o.workers, "c", 8, "concurrent workers (HTTP clients, and store-floor workers)")
	flag.DurationVar(&o.dur, "d", 5*time.Second, "timed duration of each scenario")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "untimed warm-up before each scenario")
	flag.StringVar(&only, "only", "", "run only the scenarios whose name matches this regexp")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of each scenario run to this file (name.scenario.ext if several)")
	flag.StringVar(&o.trace, "trace", "", "write an execution trace of each scenario run to this file (name.scenario.ext if several; go tool trace)")
	flag.StringVar(&o.blockprof, "blockprofile", "", "write a profile of where goroutines blocked, over all scenarios run, to this file")
	flag.StringVar(&o.mutexprof, "mutexprofile", "", "write a profile of mutex contention, over all scenarios run, to this file")
	flag.BoolVar(&o.sharedUser, "shared-user", false, "refresh rotation: every worker logs in as the same user (alice)")
	flag.BoolVar(&o.log, "log", false, "print the brokers' log (info and above) on stderr")
	flag.DurationVar(&o.soak, "soak", 0, "instead of the scenarios, run client_credentials ES256 and introspect JWT in turn for this long, sampling memory every 15s (e.g. -soak 5m)")
	var po peerOptions
	flag.StringVar(&po.url, "peer-url", "", "side by side: instead of the scenarios, compare Portico path by path with the OpenID provider whose issuer this is (peer.go)")
	flag.StringVar(&po.cmd, "peer-cmd", "", "side by side: start the peer with this command line (run by sh; stopped at the end), e.g. \"/usr/local/bin/dex serve dex.yaml\"")
	flag.StringVar(&po.client, "peer-client", "", "side by side: the peer's confidential client, id:secret")
	flag.StringVar(&po.user, "peer-user", "", "side by side: user:password for the peer's password grant, to get refresh tokens (optional)")
	flag.IntVar(&po.rounds, "rounds", 3, "side by side: alternating rounds per path")
	flag.IntVar(&o.logins, "logins", 2000, "login storm: code-flow logins at the real argon2id cost")
	budget := flag.String("login-budget", "128MiB", "login storm: login.hash.memory_budget")
	child := flag.Bool("login-storm-child", false, "(internal) run the login storm in this process and report it as JSON")
	flag.Parse()
	b, err := config.ParseSize(*budget)
	if o.workers < 1 || o.dur <= 0 || o.warmup < 0 || o.soak < 0 || o.logins < 1 || err != nil || flag.NArg() > 0 {
		flag.Usage()
		return 2
	}
	o.loginBudget = uint64(b)
	if *child {
		return loginStormChild(o)
	}
	if only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: -only: %v\n", err)
			return 2
		}
		o.only = re
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	run := bench
	if o.soak > 0 {
		run = soak
	}
	if po.url != "" {
		if po.client == "" || po.rounds < 1 {
			fmt.Fprintf(os.Stderr, "bench: %v (and -rounds at least 1)\n", errNoPeer)
			return 2
		}
		run = func(ctx context.Context, o options, out io.Writer) (int, error) { return peerBench(ctx, o, po, out) }
	}
	code, err := run(ctx, o, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return max(code, 1)
	}
	return code
}

// bench runs the scenarios and prints the report to out. It returns 1 if
// any scenario had errors.
func bench(ctx context.Context, o options, out io.Writer) (int, error) {
	rssStart := rss()
	logger := slog.New(slog.DiscardHandler)
	if o.log {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	bs, err := newBrokers(o.workers, logger)
	if err != nil {
		return 1, err
	}
	defer func() {
		if err := bs.close(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: cleanup: %v\n", err)
		}
	}()
	// Deferred after bs.close, so run before it: the PostgreSQL brokers
	// stop and their schemas are dropped, on errors and interrupts too.
	pg := newPGBrokers(bs)
	defer func() {
		if err := pg.close(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: cleanup: %v\n", err)
		}
	}()

	var selected []scenario
	for _, sc := range scenarios(bs, pg, o) {
		if o.only == nil || o.only.MatchString(sc.name) {
			selected = append(selected, sc)
		}
	}
	wantWASM := o.only == nil || o.only.MatchString(wasmStartName)
	wantBoundary := o.only == nil || o.only.MatchString(boundaryName)
	wantStorm := o.only == nil || o.only.MatchString(loginStormName)
	if len(selected) == 0 && !wantWASM && !wantBoundary && !wantStorm {
		return 2, fmt.Errorf("-only %q matches no scenario", o.only)
	}
	isPG := func(sc scenario) bool { return sc.db != nil }
	pgLine := ""
	if slices.ContainsFunc(selected, isPG) {
		desc, err := pg.probe(ctx)
		if err != nil {
			pgLine = fmt.Sprintf("PostgreSQL scenarios skipped: %v (PORTICO_TEST_POSTGRES_DSN sets the server)", err)
			fmt.Fprintln(os.Stderr, pgLine)
			selected = slices.DeleteFunc(selected, isPG)
			if len(selected) == 0 {
				return 1, fmt.Errorf("-only %q matches only PostgreSQL scenarios, and they cannot run", o.only)
			}
		} else {
			pgLine = "store of the postgres rows: " + desc
		}
	}

	fmt.Fprintf(out, "Portico benchmark, %s\n", time.Now().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(out, "go %s %s/%s, GOMAXPROCS %d, NumCPU %d, CPU %s\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU(), cpuModel())
	fmt.Fprintf(out, "workers %d (HTTP, store floor), %d (signing floors); warm-up %s, timed %s per scenario\n",
		o.workers, runtime.GOMAXPROCS(0), o.warmup, o.dur)
	fmt.Fprintf(out, "store: Badger, sync_writes on, in %s on %s\n", bs.root, fsType(bs.root))
	if pgLine != "" {
		fmt.Fprintln(out, pgLine)
	}
	fmt.Fprintf(out, "RSS at start: %s\n\n", rssStart)

	var results []result
	for _, sc := range selected {
		if ctx.Err() != nil {
			break
		}
		prof := ""
		if o.cpuprofile != "" {
			prof = profilePath(o.cpuprofile, sc.name, len(selected) > 1)
		}
		tr := ""
		if o.trace != "" {
			tr = profilePath(o.trace, sc.name, len(selected) > 1)
		}
		r := runScenario(ctx, sc, o, prof, tr)
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "%-36s %10.0f/s  p50 %-9s p99 %-9s cpu %3.0f%%  db %4s  other %4s  errors %d  RSS %s\n",
			r.name, r.perSec(), fmtDur(r.p50), fmtDur(r.p99), 100*r.cpu, fmtShare(r.db), fmtShare(r.other), r.errors, rss())
		if prof != "" && r.skipped == "" {
			fmt.Fprintf(os.Stderr, "%-36s CPU profile in %s\n", "", prof)
		}
	}
	for _, p := range []struct{ name, path string }{{"block", o.blockprof}, {"mutex", o.mutexprof}} {
		if p.path == "" {
			continue
		}
		if err := writeProfile(p.name, p.path); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s profile: %v\n", p.name, err)
		} else {
			fmt.Fprintf(os.Stderr, "%s profile in %s\n", p.name, p.path)
		}
	}

	if len(selected) > 0 {
		printTable(out, results)
		fmt.Fprintln(out)
		printNotes(out, results, o.workers)
	}
	if wantWASM && ctx.Err() == nil {
		fmt.Fprintln(out)
		if err := wasmStart(ctx, bs, out); err != nil {
			fmt.Fprintf(out, "WASM start: %v\n", err)
			results = append(results, result{name: wasmStartName, errors: 1, errMsgs: map[string]int{err.Error(): 1}})
		}
	}
	if wantBoundary && ctx.Err() == nil {
		fmt.Fprintln(out)
		if err := boundary(ctx, bs.root, o, out); err != nil {
			fmt.Fprintf(out, "Connector boundary: %v\n", err)
			results = append(results, result{name: boundaryName, errors: 1, errMsgs: map[string]int{err.Error(): 1}})
		}
	}
	if wantStorm && ctx.Err() == nil {
		fmt.Fprintln(out)
		if err := loginStorm(ctx, o, out); err != nil {
			fmt.Fprintf(out, "Login storm: %v\n", err)
			results = append(results, result{name: loginStormName, errors: 1, errMsgs: map[string]int{err.Error(): 1}})
		}
	}
	rssEnd := rss()
	debug.FreeOSMemory()
	fmt.Fprintf(out, "\nRSS at start: %s; after all scenarios: %s (%s once the Go runtime has returned free memory)\n",
		rssStart, rssEnd, rss())

	failed := false
	for _, r := range results {
		if r.errors > 0 {
			failed = true
			fmt.Fprintf(out, "\nERRORS in %s: %d\n", r.name, r.errors)
			for _, l := range r.errorLines() {
				fmt.Fprintln(out, l)
			}
		}
	}
	switch {
	case failed:
		fmt.Fprintln(out, "\nFAIL: some scenarios had errors; their numbers are not comparable")
		return 1, nil
	case ctx.Err() != nil:
		fmt.Fprintln(out, "\nINTERRUPTED: the results are partial")
		return 1, nil
	}
	return 0, nil
}

// runScenario sets sc up, runs it, and turns a setup failure into an
// errored result. With prof set, the CPU profile of the run (warm-up and
// timed window, not the setup) goes to that file.
func runScenario(ctx context.Context, sc scenario, o options, prof, tr string) result {
	fail := func(err error) result {
		return result{name: sc.name, workers: o.workers, errors: 1,
			errMsgs: map[string]int{"setup: " + err.Error(): 1}, skipped: "setup failed"}
	}
	runtime.GC() // do not bill one scenario for the previous one's garbage
	fn, workers, err := sc.setup(ctx)
	if err != nil {
		return fail(err)
	}
	runtime.GC() // nor for its setup's (logins hash passwords)
	if prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	if tr != "" {
		f, err := os.Create(tr)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return fail(err)
		}
		defer trace.Stop()
	}
	// Block and mutex events are recorded during the runs only, not setup.
	if o.blockprof != "" {
		runtime.SetBlockProfileRate(int(10 * time.Microsecond))
		defer runtime.SetBlockProfileRate(0)
	}
	if o.mutexprof != "" {
		runtime.SetMutexProfileFraction(1)
		defer runtime.SetMutexProfileFraction(0)
	}
	return run(ctx, sc.name, workers, o.warmup, o.dur, fn, sc.db)
}

// writeProfile writes the named runtime profile to path.
func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fmtShare(h float64) string {
	if h < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*h)
}

// profilePath is where scenario name's CPU profile goes: path itself when
// one scenario runs, else path with the scenario's name before the
// extension (cpu.pprof: cpu.refresh_rotation_RS256.pprof).
func profilePath(path, name string, several bool) string {
	if !several {
		return path
	}
	ext := filepath.Ext(path)
	slug := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
	return strings.TrimSuffix(path, ext) + "." + slug + ext
}

func printTable(out io.Writer, results []result) {
	// Names align left, numbers right: pad the names by hand, since
	// tabwriter aligns every column the same way.
	w := len("scenario")
	for _, r := range results {
		w = max(w, len(r.name))
	}
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tworkers\tops\tops/s\tp50\tp99\tmax\tcpu\tdb\tother\terrors\t\n", w, "scenario")
	for _, r := range results {
		if r.skipped != "" {
			fmt.Fprintf(tw, "%-*s\t%d\t-\t-\t-\t-\t-\t-\t-\t-\t%d\t  %s\n", w, r.name, r.workers, r.errors, r.skipped)
			continue
		}
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%.0f%%\t%s\t%s\t%d\t\n",
			w, r.name, r.workers, r.ops, r.perSec(), fmtDur(r.p50), fmtDur(r.p99), fmtDur(r.max), 100*r.cpu, fmtShare(r.db), fmtShare(r.other), r.errors)
	}
	tw.Flush()
	// AlignRight pads the first column on the left too; take that off.
	for l := range strings.Lines(buf.String()) {
		io.WriteString(out, strings.TrimPrefix(l, "  "))
	}
}
