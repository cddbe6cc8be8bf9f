package identity

import (
	"context"

	"github.com/portico-idp/portico/broker/store"
)

// Store is the part of the broker's store identity uses (store.Store
// satisfies it): what it reads and writes, and nothing else.
type Store interface {
	CreateIdentity(ctx context.Context, id store.Identity) error
	CreateUser(ctx context.Context, u store.User, ids ...store.Identity) error
	GetIdentity(ctx context.Context, connectorID, subject string) (store.Identity, error)
	GetUser(ctx context.Context, id string) (store.User, error)
	ListIdentities(ctx context.Context, userID string) ([]store.Identity, error)
	ListIdentitiesByVerifiedEmail(ctx context.Context, email string) ([]store.Identity, error)
	UpdateIdentity(ctx context.Context, id store.Identity) error
	UpdateUser(ctx context.Context, u store.User) error
}
