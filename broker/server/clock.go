package server

import (
	"context"
	"time"
)

// clockKey carries a clock in the context Open is given.
type clockKey struct{}

// WithClock returns ctx carrying now as the clock of the broker Open
// builds from it (broker.Options.Now): for tests that move time forward,
// such as a device code expiring, instead of sleeping. Operators never set
// it.
func WithClock(ctx context.Context, now func() time.Time) context.Context {
	return context.WithValue(ctx, clockKey{}, now)
}

func clockFrom(ctx context.Context) func() time.Time {
	now, _ := ctx.Value(clockKey{}).(func() time.Time)
	return now
}
