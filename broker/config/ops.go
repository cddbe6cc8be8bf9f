package config

import (
	"net"
	"time"
)

// Ops configures the operational endpoints (/metrics, /healthz, /readyz)
// and how replicas keep in step.
type Ops struct {
	// Listen, if set, serves the operational endpoints on their own
	// address (say 127.0.0.1:9090, or the pod's port for probes) instead
	// of beside the OpenID endpoints.
	Listen string `yaml:"listen"`
	// SyncInterval is how often a server reloads what another replica may
	// have changed: signing keys and connectors (default 1s with
	// postgres, 1m with badger, where there is only one process).
	SyncInterval Duration `yaml:"sync_interval"`
}

func (c *Config) validateOps(v *validator) {
	if l := c.Ops.Listen; l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			v.add("ops.listen", "not host:port: %v", err)
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
		return time.Second
	}
	return time.Minute
}
