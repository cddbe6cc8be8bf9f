package config

import (
	"fmt"
	"net"
	"net/url"
	"time"
)

// Ops configures the operational endpoints (/metrics, /healthz, /readyz)
// and how replicas keep in step.
type Ops struct {
	// Listen, if set, serves `/metrics`, `/healthz` and `/readyz` on this
	// address, `host:port` (say `127.0.0.1:9090`, or the pod's port for
	// probes), instead of beside the OpenID endpoints.
	Listen string `yaml:"listen"`
	// SyncInterval is how often a server reloads signing keys and
	// connectors that another replica may have changed, and does a key
	// rotation that is due. On postgres a change reaches the other
	// replicas at once through LISTEN/NOTIFY, so this is the fallback: set
	// it lower (`500ms`) behind a pooler that drops `LISTEN`, as
	// transaction-mode PgBouncer does. With badger there is only one
	// process.
	SyncInterval Duration `yaml:"sync_interval"`
	// TrustedProxies are the load balancers (CIDRs or IP addresses) whose
	// `X-Forwarded-For` names the client, for brute-force limits per
	// address and the audit trail. Empty: the TCP peer is the client (a
	// header anyone can write never is). Set it behind a load balancer,
	// or every client shares its address.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Tracing exports OpenTelemetry traces over OTLP/HTTP; off unless an
	// endpoint is set.
	Tracing Tracing `yaml:"tracing"`
}

// Tracing configures the OTLP/HTTP trace exporter.
type Tracing struct {
	// Endpoint is the OTLP/HTTP collector to send OpenTelemetry traces to,
	// e.g. `http://otel-collector:4318` (`/v1/traces` is added).
	Endpoint string `yaml:"endpoint"`
	// SampleRatio is the share of traces kept, 0 to 1.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// ServiceName is the service name of this Portico in the traces.
	ServiceName string `yaml:"service_name"`
}

func (c *Config) validateOps(v *validator) {
	if l := c.Ops.Listen; l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			v.add("ops.listen", "not host:port: %v", err)
		}
	}
	if e := c.Ops.Tracing.Endpoint; e != "" {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("ops.tracing.endpoint", "not an http(s) URL")
		}
	}
	if r := c.Ops.Tracing.SampleRatio; r != nil && (*r < 0 || *r > 1) {
		v.add("ops.tracing.sample_ratio", "must be between 0 and 1")
	}
	for i, p := range c.Ops.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			v.add(fmt.Sprintf("ops.trusted_proxies[%d]", i), "not an IP address or CIDR: %q", p)
		}
	}
	if c.Ops.SyncInterval < 0 {
		v.add("ops.sync_interval", "must be positive")
	}
}

// SyncEvery is the replica sync interval in force.
func (c *Config) SyncEvery() time.Duration {
	switch {
	case c.Ops.SyncInterval > 0:
		return c.Ops.SyncInterval.Std()
	case c.Storage.Type == StoragePostgres:
		// LISTEN/NOTIFY carries changes at once (store.Watcher); the
		// poll only covers a notification that cannot arrive.
		return 5 * time.Second
	}
	return time.Minute
}
