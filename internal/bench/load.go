package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// op is one operation of a scenario, run by worker w. It returns nil only
// for a success; for HTTP, anything but a 200 with the expected body is an
// error.
type op func(ctx context.Context, w int) error

// result is what one scenario measured.
type result struct {
	name    string
	workers int
	ops     int           // successful operations in the timed window
	elapsed time.Duration // the timed window, as measured
	p50     time.Duration
	p99     time.Duration
	max     time.Duration
	cpu     float64        // process CPU use in the timed window, share of GOMAXPROCS cores
	other   float64        // other processes' CPU use then, share of all cores; -1 if unknown
	db      float64        // the PostgreSQL backends' CPU use then, share of all cores; -1 if not measured
	errors  int            // failed operations, warm-up included
	errMsgs map[string]int // distinct failures and how often each occurred
	skipped string         // why the scenario did not run, if it did not
}

// perSec is successful operations per second in the timed window.
func (r result) perSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// workerStats is one worker's record; workers never share one, so the hot
// loop takes no lock.
type workerStats struct {
	lat    []time.Duration
	errors int
	msgs   map[string]int
	last   time.Time // when its last timed operation finished
}

// maxErrMsgLen bounds one recorded failure message (response bodies).
const maxErrMsgLen = 300

// run runs fn on workers goroutines for warmup and then for dur, recording
// the latency of every operation that started after the warm-up. Every
// failure is counted, in the warm-up too: a failure is never a success.
// With db set, the CPU of the processes it samples (the PostgreSQL backends
// serving the scenario, as ticks by pid) is the db column, and not other.
func run(ctx context.Context, name string, workers int, warmup, dur time.Duration, fn op, db func() map[int]uint64) result {
	stats := make([]workerStats, workers)
	start := time.Now()
	timed := start.Add(warmup)
	end := timed.Add(dur)
	// CPU use over the timed window. This process below 100% of its cores:
	// the scenario waits (fsync, wake-ups) more than it computes. Other
	// processes well above 0%: they took cores from it, and its numbers
	// are low by an unknown amount.
	type sample struct {
		cpu               time.Duration
		at                time.Time
		hostBusy, hostAll uint64
		db                map[int]uint64
	}
	take := func() sample {
		var d map[int]uint64
		if db != nil {
			d = db() // first: it queries the database, which takes a while
		}
		b, a := hostTicks()
		return sample{cpu: cpuTime(), at: time.Now(), hostBusy: b, hostAll: a, db: d}
	}
	cpuStart := make(chan sample, 1)
	go func() {
		time.Sleep(time.Until(timed))
		cpuStart <- take()
	}()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			st := &stats[w]
			st.lat = make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				err := fn(ctx, w)
				t1 := time.Now()
				if err != nil {
					if ctx.Err() != nil {
						break // interrupted: not the server's failure
					}
					st.errors++
					if st.msgs == nil {
						st.msgs = map[string]int{}
					}
					st.msgs[truncate(err.Error(), maxErrMsgLen)]++
					continue
				}
				if !t0.Before(timed) {
					st.lat = append(st.lat, t1.Sub(t0))
					st.last = t1
				}
			}
		})
	}
	wg.Wait()
	s0, s1 := <-cpuStart, take()
	r := result{name: name, workers: workers, other: -1, db: -1, errMsgs: map[string]int{}}
	cores := float64(s1.cpu-s0.cpu) / float64(s1.at.Sub(s0.at)) // cores this process kept busy
	r.cpu = cores / float64(runtime.GOMAXPROCS(0))
	if s1.hostAll > s0.hostAll {
		all := float64(s1.hostAll - s0.hostAll)
		if s0.db != nil && s1.db != nil {
			// A backend that started in the window counts from zero; one
			// that ended in it is lost (the pools keep theirs open).
			var ticks uint64
			for pid, t := range s1.db {
				if t0 := s0.db[pid]; t >= t0 {
					ticks += t - t0
				}
			}
			r.db = float64(ticks) / all
		}
		host := float64(s1.hostBusy-s0.hostBusy) / all
		r.other = max(0, host-cores/float64(runtime.NumCPU())-max(r.db, 0))
	}
	var all []time.Duration
	last := timed
	for i := range stats {
		st := &stats[i]
		all = append(all, st.lat...)
		r.errors += st.errors
		for m, n := range st.msgs {
			r.errMsgs[m] += n
		}
		if st.last.After(last) {
			last = st.last
		}
	}
	// The window ends when the last timed operation finished: operations
	// started just before the deadline are counted, so is their time.
	r.elapsed = last.Sub(timed)
	r.ops = len(all)
	if len(all) > 0 {
		slices.Sort(all)
		r.p50 = percentile(all, 50)
		r.p99 = percentile(all, 99)
		r.max = all[len(all)-1]
	}
	return r
}

// percentile returns the nearest-rank p-th percentile of sorted d.
func percentile(d []time.Duration, p int) time.Duration {
	rank := (len(d)*p + 99) / 100 // ceil(n*p/100)
	return d[max(rank, 1)-1]
}

func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// errorLines lists r's failures, most frequent first.
func (r result) errorLines() []string {
	type kv struct {
		msg string
		n   int
	}
	var l []kv
	for m, n := range r.errMsgs {
		l = append(l, kv{m, n})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].n > l[j].n || l[i].n == l[j].n && l[i].msg < l[j].msg })
	out := make([]string, 0, len(l))
	for _, e := range l {
		out = append(out, fmt.Sprintf("%6d × %s", e.n, e.msg))
	}
	return out
}

// fmtDur prints a latency with three significant figures.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
