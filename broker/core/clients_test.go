package core

import (
	"testing"

	"github.com/portico-idp/portico/broker/config"
)

// TestNewClientID: ids the admin API and dynamic registration generate
// pass the rule the configuration file applies. One raw draw in 32 starts
// with '-' or '_'; 2000 draws all missing that would take odds of 1e-28.
func TestNewClientID(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		id := NewClientID()
		if msg := config.CheckClientID(id); msg != "" {
			t.Fatalf("generated client id %q: %s", id, msg)
		}
		if seen[id] {
			t.Fatalf("generated client id %q twice", id)
		}
		seen[id] = true
	}
}
