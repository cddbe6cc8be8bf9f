// Package identity turns what a connector says about a person into one
// canonical Portico user: it checks the identity against the connector's
// limits, applies the connector's claim mapping, finds or creates the
// user (linking by verified email where the policy allows), re-checks
// the user with the connector at refresh, and says which claims each
// scope releases.
//
// It serves the subjects that log people in and issue their tokens
// (broker/journey, broker/protocol) and the SCIM and admin APIs; it
// answers no HTTP request itself. Only Admit makes an Admitted identity,
// and Resolve takes nothing else, so no identity reaches the store or a
// token unchecked.
package identity

import (
	"log/slog"
	"maps"
	"time"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/mapping"
	"github.com/portico-idp/portico/broker/store"
)

// Options configure a Service (docs/identity.md).
type Options struct {
	Now func() time.Time
	// Mappings are the claim mapping of each connector, by id; a
	// connector without one keeps what it says.
	Mappings map[string]*mapping.Mapper
	// LinkByEmail are the connectors that take part in linking by
	// verified email.
	LinkByEmail []string
	// Scopes are the custom scopes, each with the claims it releases.
	Scopes map[string][]string
	// Limits bound what each connector, by id, may say about a person; a
	// connector without an entry, or a zero field, takes DefaultLimits.
	Limits map[string]Limits
}

// Service is identity normalization and claims.
type Service struct {
	opts        Options
	store       Store
	log         *slog.Logger
	audit       *audit.Trail
	conns       *core.Connectors
	linkByEmail map[string]bool
	listClaims  map[string]bool // custom claims that are lists
}

// New returns the service over st; conns are the connectors Refresh
// asks.
func New(opts Options, st Store, log *slog.Logger, trail *audit.Trail, conns *core.Connectors) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{opts: opts, store: st, log: log, audit: trail, conns: conns,
		linkByEmail: map[string]bool{}, listClaims: map[string]bool{}}
	for _, id := range opts.LinkByEmail {
		s.linkByEmail[id] = true
	}
	for _, m := range opts.Mappings {
		maps.Copy(s.listClaims, m.Claims())
	}
	return s
}

// Subject is the upstream subject of an admitted identity.
func (a Admitted) Subject() string { return a.id.Subject }

// Record is the identity record linking a to user userID.
func (a Admitted) Record(connectorID, userID string, now time.Time) store.Identity {
	return identityRecord(connectorID, userID, a.id, a.m, now)
}
