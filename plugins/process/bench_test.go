package process_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/plugins/process/processtest"
	"github.com/portico-idp/portico/sdk"
)

// BenchmarkLogin measures password logins through a process plugin next to
// the same connector (processtest.Users) built in: calls/s and p99
// latency, one caller at a time and from GOMAXPROCS callers at once. The
// connector does no work, so the numbers are the boundary's cost. Run it
// with `go test -run '^$' -bench Login ./plugins/process/`.
func BenchmarkLogin(b *testing.B) {
	ctx := context.Background()
	builtin, err := processtest.NewUsers(ctx, usersConfig, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	p, _ := start(b, pluginConfig(b, processtest.Build(b, testPlugin)))
	for _, c := range []struct {
		name string
		pc   sdk.PasswordConnector
	}{
		{"builtin", builtin.(sdk.PasswordConnector)},
		{"process", p.Connector().(sdk.PasswordConnector)},
	} {
		b.Run(c.name+"/serial", func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			t0 := time.Now()
			for b.Loop() {
				s := time.Now()
				if _, err := c.pc.Login(ctx, sdk.Scopes{}, "alice", "pw"); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(s))
			}
			report(b, lat, time.Since(t0))
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			var mu sync.Mutex
			var lat []time.Duration
			b.ResetTimer()
			t0 := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					s := time.Now()
					if _, err := c.pc.Login(ctx, sdk.Scopes{}, "alice", "pw"); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(s))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			report(b, lat, time.Since(t0))
		})
	}
}

func report(b *testing.B, lat []time.Duration, elapsed time.Duration) {
	if len(lat) == 0 || elapsed <= 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
}
