package saml

import (
	"context"
	"encoding/json"
	"time"

	dsig "github.com/russellhaering/goxmldsig"
)

// Hooks for the tests in package saml_test.

// SetTime fixes the connector's clock, and crewjam/saml's, at t.
func SetTime(c *Connector, t time.Time) error {
	c.clock = dsig.NewFakeClockAt(t)
	return c.RefreshMetadata(context.Background())
}

// RequestID is the AuthnRequest ID that LoginURL kept in Redirect.Data.
func RequestID(data []byte) string {
	var d loginData
	json.Unmarshal(data, &d)
	return d.RequestID
}

// ReplayEntries is how many IDs the replay cache holds.
func ReplayEntries(c *Connector) int { return c.replay.len() }
