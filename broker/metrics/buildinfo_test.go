package metrics_test

import (
	"runtime"
	"testing"

	"github.com/portico-idp/portico/broker/metrics"
	"github.com/portico-idp/portico/internal/version"
)

// TestBuildInfo: /metrics carries portico_build_info = 1 with the values
// stamped into the binary (here set as -ldflags -X would).
func TestBuildInfo(t *testing.T) {
	v, c, d := version.Version, version.Commit, version.Date
	version.Version, version.Commit, version.Date = "v9.8.7", "feedbeef", "2026-03-04T05:06:07Z"
	t.Cleanup(func() { version.Version, version.Commit, version.Date = v, c, d })

	fams := scrape(t, metrics.New())
	want := map[string]string{"version": "v9.8.7", "commit": "feedbeef", "date": "2026-03-04T05:06:07Z", "goversion": runtime.Version()}
	s := series(fams, "portico_build_info", want)
	if s == nil {
		t.Fatalf("no portico_build_info%v; got %v", want, fams["portico_build_info"].GetMetric())
	}
	if g := s.GetGauge().GetValue(); g != 1 {
		t.Fatalf("portico_build_info = %v, want 1", g)
	}
	if n := len(fams["portico_build_info"].GetMetric()); n != 1 {
		t.Fatalf("%d portico_build_info series, want 1", n)
	}
}
