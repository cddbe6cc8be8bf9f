package core

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Connector is a configured connector as the broker sees it: its
// capabilities come from type assertions on Impl (sdk.PasswordConnector,
// sdk.CallbackConnector, sdk.RefreshConnector).
type Connector struct {
	ID   string
	Type string
	Name string
	Icon string // URL of an image shown beside the name on the login page
	// Runtime is where it runs, for metrics: "builtin", "process" or "wasm".
	Runtime string
	Impl    any
	// Deadline bounds each call into the connector: its own configured
	// deadline (a plugin's or module's timeout), or
	// DefaultConnectorDeadline when zero. The request waiting for the
	// call is given that long plus a margin, whatever the HTTP server's
	// timeouts (deadline.go).
	Deadline time.Duration
}

// Set is an immutable snapshot of the connectors: the admin API replaces
// it whole, so a request that read it once sees one consistent set.
// Callers must not modify it.
type Set struct {
	List []Connector
	ByID map[string]*Connector
}

func newSet(list []Connector) *Set {
	s := &Set{List: slices.Clone(list), ByID: make(map[string]*Connector, len(list))}
	for i := range s.List {
		s.ByID[s.List[i].ID] = &s.List[i]
	}
	return s
}

// Connectors holds the connectors in force, and makes the calls into
// them: handlers read the set once per request (Load); the admin API
// swaps one connector at a time (Install).
type Connectors struct {
	set     atomic.Pointer[Set]
	mu      sync.Mutex       // serializes Install
	applied map[string]int64 // connector id -> version of its record in force

	// Observe sees every call into a connector: which, how long, how it
	// ended. Tracer, if set, records a span for each.
	Observe func(runtime, connector, op string, d time.Duration, err error)
	Tracer  trace.Tracer
}

// NewConnectors returns the holder of list.
func NewConnectors(list []Connector) *Connectors {
	c := &Connectors{applied: map[string]int64{}}
	c.set.Store(newSet(list))
	return c
}

// Load returns the connectors in force now.
func (c *Connectors) Load() *Set { return c.set.Load() }

// Applied returns the version of the record of connector id in force
// (0 when none).
func (c *Connectors) Applied(id string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applied[id]
}

// Install puts cn in the set in place of the one with its id (keeping
// its place on the login page), or removes that one when cn is nil, and
// notes the record version now in force for id.
func (c *Connectors) Install(id string, version int64, cn *Connector) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.applied[id] = version
	list := slices.Clone(c.Load().List)
	i := slices.IndexFunc(list, func(x Connector) bool { return x.ID == id })
	switch {
	case cn == nil && i >= 0:
		list = slices.Delete(list, i, i+1)
	case cn == nil:
	case i >= 0:
		list[i] = *cn
	default:
		list = append(list, *cn)
	}
	c.set.Store(newSet(list))
}

// Call starts a call into cn: it returns the context to make the call
// with, which ends at the connector's deadline (deadline.go), and a
// function to call with its error when it returns, which ends the span
// and reports the call to Observe.
func (c *Connectors) Call(ctx context.Context, cn *Connector, op string) (context.Context, func(error)) {
	ctx, cancel := WithConnectorDeadline(ctx, cn)
	start := time.Now()
	var sp trace.Span
	if c.Tracer != nil {
		ctx, sp = c.Tracer.Start(ctx, "connector."+op, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("portico.connector", cn.ID), attribute.String("portico.connector.runtime", cn.Runtime)))
	}
	return ctx, func(err error) {
		cancel()
		if c.Observe != nil {
			c.Observe(cmp.Or(cn.Runtime, "builtin"), cn.ID, op, time.Since(start), err)
		}
		if sp != nil {
			if err != nil {
				sp.SetStatus(codes.Error, "connector call failed") // never the error text: it may echo input
			}
			sp.End()
		}
	}
}
