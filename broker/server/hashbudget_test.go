package server_test

import (
	"testing"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/testenv"
)

// TestHashBudget: login.hash.memory_budget sets the local connectors'
// semaphore, in hashes of the configured parameters (testenv's FastParams
// here), one semaphore for all of them.
func TestHashBudget(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Connectors = append(cfg.Connectors, config.Connector{ID: "staff", Type: "local"})
	cfg.Login.Hash.MemoryBudget = config.Size(3 * testenv.FastParams.Memory << 10)
	b := testenv.Start(t, cfg)
	var seen int
	for _, cn := range b.Server.Broker.Connectors() {
		if c, ok := cn.Impl.(*local.Connector); ok {
			seen++
			if n := c.MaxConcurrent(); n != 3 {
				t.Errorf("connector %s hashes %d at once, want 3", cn.ID, n)
			}
		}
	}
	if seen != 2 {
		t.Fatalf("%d local connectors, want 2", seen)
	}
}
