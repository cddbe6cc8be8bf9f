package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/testenv"
)

// The login storm (issue 24): -logins code-flow logins by -c workers
// against a broker whose argon2id hashes (local.DefaultParams, 64 MiB
// each) run under login.hash.memory_budget. It runs in a child process of
// its own, so that the peak resident set (VmHWM) is the storm's and not
// the other scenarios'.
const (
	loginStormName = "login storm"
	// aimLoginShare: logins/s at least this share of the hash floor (the
	// same hashes, as many at once as the budget allows, without HTTP).
	aimLoginShare = 0.90
	// stormGCFactor: the peak resident set may pass the idle process's
	// by this many budgets: the hashes in flight, and the garbage and
	// fragmentation the Go heap keeps besides (the limiter collects
	// before a hash once one hash's garbage is there; local/limiter.go).
	stormGCFactor = 2
)

// stormResult is what the child reports, as JSON on its stdout.
type stormResult struct {
	Budget    uint64  `json:"budget"`
	MaxHashes int     `json:"max_hashes"`
	Logins    int     `json:"logins"`
	Errors    int     `json:"errors"`
	FirstErr  string  `json:"first_err,omitempty"`
	Seconds   float64 `json:"seconds"`
	Floor     float64 `json:"floor"`    // hashes/s alone, MaxHashes at once
	IdleRSS   uint64  `json:"idle_rss"` // bytes, before the storm
	PeakRSS   uint64  `json:"peak_rss"` // bytes, VmHWM over the storm
	GoPeak    uint64  `json:"go_peak"`  // bytes, the Go runtime's mapped and unreleased memory, sampled
}

// loginStorm runs the storm in a child process and prints its line. It
// returns an error if the child failed or a login did.
func loginStorm(ctx context.Context, o options, out io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, exe, "-login-storm-child", "-c", strconv.Itoa(o.workers),
		"-logins", strconv.Itoa(o.logins), "-login-budget", strconv.FormatUint(o.loginBudget, 10))
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("child: %w", err)
	}
	var r stormResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("child's report %q: %w", raw, err)
	}
	mib := func(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	rate := float64(r.Logins) / r.Seconds
	bound := r.IdleRSS + stormGCFactor*r.Budget
	fmt.Fprintf(out, "Login storm: %d code-flow logins by %d clients, argon2id m=64 MiB t=3 p=4, login.hash.memory_budget %s (%d hashes at once), in a process of its own:\n",
		r.Logins, o.workers, mib(r.Budget), r.MaxHashes)
	fmt.Fprintf(out, "  peak RSS %s (idle %s before it; aim ≤ idle + %d × budget = %s) %s; the Go runtime's own peak %s (sampled)\n",
		mib(r.PeakRSS), mib(r.IdleRSS), stormGCFactor, mib(bound), mark(r.Errors == 0 && r.PeakRSS <= bound), mib(r.GoPeak))
	fmt.Fprintf(out, "  %.1f logins/s = %.0f%% of the hash floor %.1f/s (aim ≥ %.0f%%) %s; %d errors\n",
		rate, 100*rate/r.Floor, r.Floor, 100*aimLoginShare, mark(r.Errors == 0 && rate >= aimLoginShare*r.Floor), r.Errors)
	if r.Errors > 0 {
		return fmt.Errorf("%d of %d logins failed, the first: %s", r.Errors, r.Logins, r.FirstErr)
	}
	return nil
}

// loginStormChild is the child's whole run: it prints a stormResult.
func loginStormChild(o options) int {
	r, err := runStorm(context.Background(), o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "login storm: %v\n", err)
		return 1
	}
	json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

func runStorm(ctx context.Context, o options) (stormResult, error) {
	p := local.DefaultParams
	r := stormResult{Budget: o.loginBudget, MaxHashes: local.Concurrency(o.loginBudget, p), Logins: o.logins}
	root, err := os.MkdirTemp("", "portico-bench-logins-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(root)

	// The floor: the same hashes, as many at once as the budget allows,
	// half before the storm and half after, as the machine's load varies.
	var floorTime time.Duration
	const floorHashes = 12
	floor := func() {
		var next atomic.Int32
		var wg sync.WaitGroup
		start := time.Now()
		for range r.MaxHashes {
			wg.Go(func() {
				for next.Add(1) <= floorHashes {
					local.Hash(benchUserPassword, p)
				}
			})
		}
		wg.Wait()
		floorTime += time.Since(start)
	}
	floor()

	hash, err := local.Hash(benchUserPassword, p)
	if err != nil {
		return r, err
	}
	cfg := &config.Config{
		Storage:    config.Storage{Type: "badger", Dir: filepath.Join(root, "store")},
		Connectors: []config.Connector{{ID: "local", Type: "local", Name: "Email"}},
		Clients: []config.Client{{ID: testenv.ClientID, Secret: testenv.ClientSecret, RedirectURIs: []string{testenv.RedirectURI},
			GrantTypes: []string{config.GrantAuthorizationCode, config.GrantRefreshToken}}},
		Login: config.Login{Throttle: config.Throttle{AuthorizeRate: -1}, Hash: config.Hash{MemoryBudget: config.Size(o.loginBudget),
			// The storm measures memory and throughput: every login waits
			// its turn rather than getting a 503 after the default 2 s.
			QueueTimeout: config.Duration(time.Minute)}},
	}
	for w := range o.workers {
		cfg.Users = append(cfg.Users, config.User{Username: benchUser(w), Email: benchUser(w) + "@example.com", PasswordHash: hash})
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	cfg.Listen = l.Addr().String()
	cfg.Issuer = "http://" + cfg.Listen
	b, err := testenv.StartOn(l, cfg, nil) // the real hash cost (StartOn keeps it)
	if err != nil {
		l.Close()
		return r, err
	}
	defer b.Stop()
	// The per-account and per-address login limits would refuse a storm
	// from one address: each worker logs in as its own user, and the
	// limits count failures only.

	runtime.GC()
	debug.FreeOSMemory()
	r.IdleRSS = procBytes("VmRSS")
	// Writing 5 to clear_refs resets VmHWM (Linux 4.0), so the peak is
	// the storm's and not the setup's hashes'.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return r, fmt.Errorf("reset the peak RSS: %w", err)
	}
	// The Go runtime's share of the peak, sampled: RSS also holds what
	// Badger maps and allocates outside the Go heap.
	var goPeak atomic.Uint64
	sampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			goPeak.Store(max(goPeak.Load(), s[0].Value.Uint64()-s[1].Value.Uint64()))
			select {
			case <-sampling:
				return
			case <-t.C:
			}
		}
	}()
	var errs atomic.Int32
	var first atomic.Value
	var next atomic.Int32
	var wg sync.WaitGroup
	start := time.Now()
	for w := range o.workers {
		wg.Go(func() {
			for next.Add(1) <= int32(o.logins) {
				if _, err := login(ctx, b, benchUser(w), benchUserPassword); err != nil {
					errs.Add(1)
					first.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	wg.Wait()
	r.Seconds = time.Since(start).Seconds()
	r.PeakRSS = procBytes("VmHWM")
	close(sampling)
	<-sampled
	r.GoPeak = goPeak.Load()
	floor()
	r.Floor = 2 * floorHashes / floorTime.Seconds()
	r.Errors = int(errs.Load())
	if s, ok := first.Load().(string); ok {
		r.FirstErr = s
	}
	if r.PeakRSS == 0 {
		return r, errors.New("no VmHWM in /proc/self/status")
	}
	return r, nil
}

// procBytes is a "NNN kB" field of /proc/self/status in bytes, 0 if unknown.
func procBytes(field string) uint64 {
	kb, err := strconv.ParseUint(strings.TrimSuffix(procField("/proc/self/status", field), " kB"), 10, 64)
	if err != nil {
		return 0
	}
	return kb << 10
}
