package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// soakPhase is how long each turn of the soak runs one scenario; memory is
// sampled at the end of each, so every 15s.
const soakPhase = 15 * time.Second

// soakSettle is how long the soak runs before its first sample counts:
// brokers, caches and pools have grown to their working size by then.
const soakSettle = time.Minute

// memSample is the process's memory at one moment of the soak.
type memSample struct {
	at         time.Duration // since the soak started
	after      string        // the phase that just ended; "" at the start
	rss        uint64        // VmRSS, bytes
	heapInUse  uint64        // heap spans in use: objects + free space in them (MemStats.HeapInuse)
	heapLive   uint64        // heap marked live by the last GC
	goroutines uint64
}

var memMetrics = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/gc/heap/live:bytes",
	"/sched/goroutines:goroutines",
}

func sampleMem(at time.Duration, after string) memSample {
	ms := make([]metrics.Sample, len(memMetrics))
	for i, n := range memMetrics {
		ms[i].Name = n
	}
	metrics.Read(ms)
	v := func(i int) uint64 {
		if ms[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return ms[i].Value.Uint64()
	}
	return memSample{at: at, after: after, rss: rssBytes(),
		heapInUse: v(0) + v(1), heapLive: v(2), goroutines: v(3)}
}

// rssBytes is VmRSS in bytes, 0 if unknown.
func rssBytes() uint64 {
	f := strings.Fields(rss()) // "123456 kB"
	if len(f) != 2 || f[1] != "kB" {
		return 0
	}
	kb, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0
	}
	return kb << 10
}

func mb(b uint64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// soak runs client_credentials ES256 and introspect JWT in turn, soakPhase
// each, for o.soak, sampling memory after each phase, and prints the
// phases, the samples, and how memory moved after the first minute. It
// never forces a garbage collection: the samples are what the process
// holds while it serves.
func soak(ctx context.Context, o options, out io.Writer) (int, error) {
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
	var phases []scenario
	for _, sc := range scenarios(bs, nil, o) {
		if sc.name == scCCES256 || sc.name == scIntroJWT {
			phases = append(phases, sc)
		}
	}
	for _, alg := range []string{"ES256", introspectAlg} {
		if _, err := bs.get(alg); err != nil {
			return 1, err
		}
	}

	fmt.Fprintf(out, "Portico soak, %s\n", time.Now().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(out, "go %s %s/%s, GOMAXPROCS %d, NumCPU %d, CPU %s\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU(), cpuModel())
	fmt.Fprintf(out, "%s and %s in turn, %s each, %d workers, for %s; memory sampled after each turn\n",
		phases[0].name, phases[1].name, soakPhase, o.workers, o.soak)
	fmt.Fprintf(out, "store: Badger, sync_writes on, in %s on %s\n\n", bs.root, fsType(bs.root))

	start := time.Now()
	samples := []memSample{sampleMem(0, "")}
	var results []result
	for i := 0; ctx.Err() == nil; i++ {
		left := o.soak - time.Since(start)
		if left < time.Second {
			break
		}
		sc := phases[i%len(phases)]
		fn, workers, err := sc.setup(ctx)
		if err != nil {
			return 1, fmt.Errorf("%s: setup: %w", sc.name, err)
		}
		r := run(ctx, sc.name, workers, 0, min(soakPhase, left), fn, nil)
		results = append(results, r)
		s := sampleMem(time.Since(start), sc.name)
		samples = append(samples, s)
		fmt.Fprintf(os.Stderr, "%6s %-26s %8.0f/s  p99 %-9s other %4s  errors %d  RSS %s MB  heap in use %s MB  live %s MB\n",
			s.at.Round(time.Second), r.name, r.perSec(), fmtDur(r.p99), fmtShare(r.other), r.errors, mb(s.rss), mb(s.heapInUse), mb(s.heapLive))
	}

	// The phase names align left, as in printTable.
	nw := len("after")
	for _, sc := range phases {
		nw = max(nw, len(sc.name))
	}
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "t\t  %-*s\tops/s\tp50\tp99\tother\terrors\tRSS MB\theap in use MB\theap live MB\tgoroutines\t\n", nw, "after")
	fmt.Fprintf(tw, "%s\t  %-*s\t-\t-\t-\t-\t-\t%s\t%s\t%s\t%d\t\n", "0s", nw, "(start)", mb(samples[0].rss), mb(samples[0].heapInUse), mb(samples[0].heapLive), samples[0].goroutines)
	var busy []string
	for i, r := range results {
		s := samples[i+1]
		fmt.Fprintf(tw, "%s\t  %-*s\t%.0f\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d\t\n", s.at.Round(time.Second), nw, r.name, r.perSec(),
			fmtDur(r.p50), fmtDur(r.p99), fmtShare(r.other), r.errors, mb(s.rss), mb(s.heapInUse), mb(s.heapLive), s.goroutines)
		if r.other > contended {
			busy = append(busy, fmt.Sprintf("%s (%.0f%%)", s.at.Round(time.Second), 100*r.other))
		}
	}
	tw.Flush()
	io.WriteString(out, buf.String())
	fmt.Fprintln(out)
	if len(busy) > 0 {
		fmt.Fprintf(out, "Note: other processes used more than %.0f%% of the machine's CPU in %d of %d turns, ending at %s:\n"+
			"  their throughput is low by an unknown amount; memory is this process's own.\n\n",
			100*contended, len(busy), len(results), strings.Join(busy, ", "))
	}

	// Throughput per scenario, first turn against last: a leak slows a
	// server down before it fills the machine.
	failed := false
	for _, sc := range phases {
		var rs []result
		errs := 0
		for _, r := range results {
			if r.name == sc.name {
				rs = append(rs, r)
				errs += r.errors
			}
		}
		if len(rs) == 0 {
			continue
		}
		lo, hi := rs[0].perSec(), rs[0].perSec()
		for _, r := range rs {
			lo, hi = min(lo, r.perSec()), max(hi, r.perSec())
		}
		fmt.Fprintf(out, "%s: %d turns, %.0f/s in the first, %.0f/s in the last (range %.0f–%.0f), %d errors\n",
			sc.name, len(rs), rs[0].perSec(), rs[len(rs)-1].perSec(), lo, hi, errs)
		failed = failed || errs > 0
	}

	// Memory: the first sample at or after soakSettle against the last.
	first := -1
	for i, s := range samples {
		if s.at >= soakSettle {
			first = i
			break
		}
	}
	last := samples[len(samples)-1]
	switch {
	case first < 0 || first == len(samples)-1:
		fmt.Fprintf(out, "\nmemory: too short to compare (needs samples after the first %s)\n", soakSettle)
	default:
		f := samples[first]
		ratio := func(a, b uint64) float64 {
			if b == 0 {
				return 0
			}
			return float64(a) / float64(b)
		}
		rRSS, rInUse, rLive := ratio(last.rss, f.rss), ratio(last.heapInUse, f.heapInUse), ratio(last.heapLive, f.heapLive)
		fmt.Fprintf(out, "\nmemory, last sample (%s) / first after %s (%s):\n", last.at.Round(time.Second), soakSettle, f.at.Round(time.Second))
		fmt.Fprintf(out, "  RSS          %s → %s MB  ×%.2f\n", mb(f.rss), mb(last.rss), rRSS)
		fmt.Fprintf(out, "  heap in use  %s → %s MB  ×%.2f  (swings with the GC cycle: up to ~2× the live heap)\n", mb(f.heapInUse), mb(last.heapInUse), rInUse)
		fmt.Fprintf(out, "  heap live    %s → %s MB  ×%.2f\n", mb(f.heapLive), mb(last.heapLive), rLive)
		fmt.Fprintf(out, "  goroutines   %d → %d\n", f.goroutines, last.goroutines)
		var peakRSS uint64
		for _, s := range samples[first:] {
			peakRSS = max(peakRSS, s.rss)
		}
		fmt.Fprintf(out, "  RSS peak after %s: %s MB (×%.2f the first)\n", soakSettle, mb(peakRSS), ratio(peakRSS, f.rss))
		flat := rRSS <= aimSoakFlat && rLive <= aimSoakFlat
		aim := fmt.Sprintf("memory flat over %s: RSS ×%.2f, live heap ×%.2f after the first minute (aim: flat over %d minutes, taken as each ≤ ×%.2f)",
			o.soak, rRSS, rLive, aimSoakMinMinutes, aimSoakFlat)
		switch {
		case o.soak < aimSoakMinMinutes*time.Minute:
			fmt.Fprintf(out, "\nAim: %s: shorter than the aim's run, not judged –\n", aim)
		case failed:
			fmt.Fprintf(out, "\nAim: %s: the soak had errors, not judged –\n", aim)
		default:
			fmt.Fprintf(out, "\nAim: %s %s\n", aim, mark(flat))
		}
	}
	switch {
	case failed:
		fmt.Fprintln(out, "\nFAIL: the soak had errors")
		for _, r := range results {
			for _, l := range r.errorLines() {
				fmt.Fprintf(out, "  %s: %s\n", r.name, l)
			}
		}
		return 1, nil
	case ctx.Err() != nil:
		fmt.Fprintln(out, "\nINTERRUPTED: the results are partial")
		return 1, nil
	}
	return 0, nil
}
