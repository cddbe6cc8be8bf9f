package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/portico-idp/portico/plugins/process"
	"github.com/portico-idp/portico/plugins/process/processtest"
	"github.com/portico-idp/portico/plugins/wasm"
	"github.com/portico-idp/portico/plugins/wasm/wasmtest"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
)

// boundaryName is the -only name of the connector boundary measurement.
const boundaryName = "boundary"

// Issue 23's aims: the p50 of one login call through a runtime, less the
// p50 of the same call to a built-in connector, one caller at a time.
const (
	aimProcessOverhead = 150 * time.Microsecond
	aimWASMOverhead    = 100 * time.Microsecond // warm, a module built from Go
)

// boundaryRuntime is one way to reach a password connector.
type boundaryRuntime struct {
	name string
	aim  time.Duration // 0: no aim, shown for comparison
	pc   sdk.PasswordConnector
	user string
	pw   string
	pid  func() int // the plugin's process, whose CPU counts too; nil if none
}

// boundary measures what the plugin boundary costs a password login:
// the same connector logic built in (the floor), as a process plugin
// (plugins/process/testdata/testplugin, processtest.Users over gRPC, with
// sdk/plugin's one P; again with env GOMAXPROCS=0 in its config, Go's own
// default, for comparison), as
// a Go-built WASM module (plugins/wasm/testdata/misbehave) and as the
// hand-written module of wasmtest (no Go runtime, no JSON library: the
// host's share alone). The connectors do no real work, so what is left
// is the boundary. Each runtime is timed one caller at a time (the
// aims), then with o.workers callers; the runtimes take turns in short
// slices, so that a machine whose load changes during the run weighs on
// all of them alike. It asserts nothing.
func boundary(ctx context.Context, root string, o options, out io.Writer) error {
	dir := filepath.Join(root, "boundary")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	mod := filepath.Join(dir, "misbehave.wasm")
	if err := buildModule(ctx, "./plugins/wasm/testdata/misbehave", mod); err != nil {
		return err
	}
	plug := filepath.Join(dir, "testplugin")
	if err := buildPlugin(ctx, "./plugins/process/testdata/testplugin", plug); err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	usersCfg := json.RawMessage(`{"users":{"alice":"pw"}}`)

	builtin, err := processtest.NewUsers(ctx, usersCfg, log)
	if err != nil {
		return err
	}
	pcfg := process.Config{Path: plug, SHA256: fileSHA256(plug), Config: usersCfg,
		Timeout: upstream.Duration(5 * time.Second), StartTimeout: upstream.Duration(30 * time.Second)}
	p, err := process.Start(ctx, pcfg, process.Options{ID: "bench", Log: log})
	if err != nil {
		return fmt.Errorf("process plugin: %w", err)
	}
	defer p.Close()
	// The same plugin with Go's own GOMAXPROCS instead of sdk/plugin's
	// one P, for comparison: a Go scheduler with idle Ps wakes a thread
	// to spin after each hand-off (docs/performance.md, the boundary).
	pcfg.Env = map[string]string{"GOMAXPROCS": "0"}
	p1, err := process.Start(ctx, pcfg, process.Options{ID: "bench-goprocs", Log: log})
	if err != nil {
		return fmt.Errorf("process plugin, GOMAXPROCS=0: %w", err)
	}
	defer p1.Close()
	cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(dir, "wasm-cache"))
	if err != nil {
		return err
	}
	defer cache.Close(context.Background())
	b, err := os.ReadFile(mod)
	if err != nil {
		return err
	}
	goMod, err := wasm.New(ctx, b, wasm.Config{Config: usersCfg}, wasm.Env{Log: log, Cache: cache})
	if err != nil {
		return fmt.Errorf("wasm module: %w", err)
	}
	defer goMod.Close()
	hand, err := wasm.New(ctx, wasmtest.HandModule(wasmtest.HandOptions{Version: 1}), wasm.Config{}, wasm.Env{Log: log, Cache: cache})
	if err != nil {
		return fmt.Errorf("hand-written wasm module: %w", err)
	}
	defer hand.Close()

	rts := []boundaryRuntime{
		{name: "built-in", pc: builtin.(sdk.PasswordConnector), user: "alice", pw: "pw"},
		{name: "process plugin", aim: aimProcessOverhead, pc: p.Connector().(sdk.PasswordConnector), user: "alice", pw: "pw", pid: p.Pid},
		{name: "process, GOMAXPROCS=0", pc: p1.Connector().(sdk.PasswordConnector), user: "alice", pw: "pw", pid: p1.Pid},
		{name: "wasm, Go-built", aim: aimWASMOverhead, pc: goMod.Connector().(sdk.PasswordConnector), user: "alice", pw: "pw"},
		{name: "wasm, hand-written", pc: hand.Connector().(sdk.PasswordConnector), user: "alice", pw: "letmein"},
	}
	load0 := loadAvg()
	serial, serialCPU, err := boundaryRun(ctx, rts, 1, o)
	if err != nil {
		return err
	}
	par, parCPU, err := boundaryRun(ctx, rts, o.workers, o)
	if err != nil {
		return err
	}
	load1 := loadAvg()

	fmt.Fprintf(out, "Connector boundary: password logins, the runtimes taking turns (%s warm-up, %s timed each);\n", o.warmup, o.dur)
	fmt.Fprintf(out, "  load average before %s, after %s on %d cores\n", load0, load1, runtime.NumCPU())
	fmt.Fprintf(out, "  %-22s %10s %10s %10s %12s %10s | %10s %10s %10s %10s (%d callers)\n",
		"runtime", "calls/s", "p50", "p99", "p50 − floor", "CPU/call", "calls/s", "p50", "p99", "CPU/call", o.workers)
	floor := serial[0]
	for i, rt := range rts {
		s, pr := serial[i], par[i]
		over := "(floor)"
		if i > 0 {
			over = fmtDur(s.p50 - floor.p50)
		}
		fmt.Fprintf(out, "  %-22s %10.0f %10s %10s %12s %10s | %10.0f %10s %10s %10s\n",
			rt.name, s.perSec(), fmtDur(s.p50), fmtDur(s.p99), over, fmtDur(serialCPU[i]),
			pr.perSec(), fmtDur(pr.p50), fmtDur(pr.p99), fmtDur(parCPU[i]))
	}
	fmt.Fprintln(out, "Aims of issue 23, one caller, p50 over the built-in call:")
	for i, rt := range rts {
		if rt.aim == 0 {
			continue
		}
		over := serial[i].p50 - floor.p50
		fmt.Fprintf(out, "  %s: %s (aim ≤ %s) %s\n", rt.name, fmtDur(over), fmtDur(rt.aim), mark(over <= rt.aim))
	}
	return nil
}

// boundarySlices is how many turns each runtime gets.
const boundarySlices = 10

// boundaryRun times logins through every runtime with callers goroutines,
// in boundarySlices turns per runtime of o.dur/boundarySlices each,
// after a warm-up of o.warmup each, and returns each runtime's result and
// CPU per call. Any login error ends it.
func boundaryRun(ctx context.Context, rts []boundaryRuntime, callers int, o options) ([]result, []time.Duration, error) {
	res := make([]result, len(rts))
	lat := make([][]time.Duration, len(rts))
	cpu := make([]time.Duration, len(rts))
	turn := func(i int, d time.Duration, keep bool) error {
		rt := rts[i]
		var mu sync.Mutex
		var first error
		var wg sync.WaitGroup
		cpu0 := boundaryCPU(rt)
		start := time.Now()
		end := start.Add(d)
		for range callers {
			wg.Go(func() {
				var mine []time.Duration
				for time.Now().Before(end) && ctx.Err() == nil {
					t0 := time.Now()
					id, err := rt.pc.Login(ctx, sdk.Scopes{}, rt.user, rt.pw)
					t1 := time.Now()
					if err == nil && id.Subject == "" {
						err = fmt.Errorf("no subject in %+v", id)
					}
					if err != nil {
						mu.Lock()
						first = cmpErr(first, fmt.Errorf("%s: login: %w", rt.name, err))
						mu.Unlock()
						return
					}
					mine = append(mine, t1.Sub(t0))
				}
				mu.Lock()
				if keep {
					lat[i] = append(lat[i], mine...)
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		if keep {
			res[i].elapsed += time.Since(start)
			cpu[i] += boundaryCPU(rt) - cpu0
		}
		if first == nil {
			first = ctx.Err()
		}
		return first
	}
	for i := range rts {
		if err := turn(i, o.warmup, false); err != nil {
			return nil, nil, err
		}
	}
	for range boundarySlices {
		for i := range rts {
			if err := turn(i, o.dur/boundarySlices, true); err != nil {
				return nil, nil, err
			}
		}
	}
	for i, rt := range rts {
		r := &res[i]
		r.name, r.workers, r.ops = rt.name, callers, len(lat[i])
		if r.ops > 0 {
			cpu[i] /= time.Duration(r.ops)
		}
		if len(lat[i]) > 0 {
			slices.Sort(lat[i])
			r.p50, r.p99, r.max = percentile(lat[i], 50), percentile(lat[i], 99), lat[i][len(lat[i])-1]
		}
	}
	return res, cpu, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// buildPlugin builds the Go main package pkg of this repository as an
// executable at out.
func buildPlugin(ctx context.Context, pkg, out string) error {
	root, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

func fileSHA256(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return wasm.SHA256(b)
}

// boundaryCPU is the CPU time this process (getrusage) and rt's plugin
// process (the sum of its threads' /proc/PID/task/TID/schedstat, in
// nanoseconds, where /proc/PID/stat counts clock ticks) have had: CPU
// per call is what a busy machine changes least.
func boundaryCPU(rt boundaryRuntime) time.Duration {
	d := cpuTime()
	if rt.pid != nil {
		if pid := rt.pid(); pid > 0 {
			d += procCPU(pid)
		}
	}
	return d
}

func procCPU(pid int) time.Duration {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, _ := os.ReadDir(dir)
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue // the thread ended
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			sum += time.Duration(n)
		}
	}
	return sum
}

// loadAvg is the first three fields of /proc/loadavg, or "unknown".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
