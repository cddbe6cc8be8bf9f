package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/portico-idp/portico/internal/version"
)

// newBuildInfo is portico_build_info: one series, always 1, whose labels
// say which build is running (the values internal/version was stamped
// with), so that a dashboard can join it to the other series and an alert
// can see two versions serving at once during a rollout.
func newBuildInfo(i version.Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "portico_build_info",
		Help: "Always 1; the labels say which Portico build is running: version, commit, date and the Go version that built it.",
		ConstLabels: prometheus.Labels{
			"version":   i.Version,
			"commit":    i.Commit,
			"date":      i.Date,
			"goversion": i.GoVersion,
		},
	})
	g.Set(1)
	return g
}
