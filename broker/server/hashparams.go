package server

import (
	"context"

	"github.com/portico-idp/portico/connectors/local"
)

// hashParamsKey carries argon2id parameters in the context Open is given.
type hashParamsKey struct{}

// WithHashParams returns ctx carrying p as the argon2id parameters of the
// broker Open builds from it: for new password hashes (admin API,
// registration) and as the local connector's target, which it also pays
// for unknown users and upgrades weaker hashes to at login. For tests,
// where local.DefaultParams (64 MiB, three passes: about half a second
// per hash under the race detector) made every login cost that much;
// operators never set it.
func WithHashParams(ctx context.Context, p local.Params) context.Context {
	return context.WithValue(ctx, hashParamsKey{}, p)
}

// hashParamsFrom returns the parameters ctx carries, or the zero Params
// (local.DefaultParams).
func hashParamsFrom(ctx context.Context) local.Params {
	p, _ := ctx.Value(hashParamsKey{}).(local.Params)
	return p
}
