package journey

import (
	"context"

	"github.com/portico-idp/portico/broker/store"
)

// Store is the part of the broker's store the journey uses (store.Store
// satisfies it): what it reads and writes, and nothing else.
type Store interface {
	CreateAuthRequest(ctx context.Context, r store.AuthRequest) error
	CreateIdentity(ctx context.Context, id store.Identity) error
	DeleteAuthRequest(ctx context.Context, id string) error
	DeleteRecord(ctx context.Context, kind, key string) error
	GetAuthRequest(ctx context.Context, id string) (store.AuthRequest, error)
	GetClient(ctx context.Context, id string) (store.Client, error)
	GetIdentity(ctx context.Context, connectorID, subject string) (store.Identity, error)
	GetRecord(ctx context.Context, kind, key string) (store.Record, error)
	GetUser(ctx context.Context, id string) (store.User, error)
	ListIdentities(ctx context.Context, userID string) ([]store.Identity, error)
	ListRecords(ctx context.Context, kind, prefix string) ([]store.Record, error)
	ListRefreshFamilies(ctx context.Context, userID string) ([]store.RefreshFamily, error)
	PutRecord(ctx context.Context, r store.Record) error
	UpdateAuthRequest(ctx context.Context, r store.AuthRequest) error
	// Local accounts' self-service (selfservice.go).
	CreateLocalAccount(ctx context.Context, a store.LocalAccount) error
	GetLocalAccount(ctx context.Context, id string) (store.LocalAccount, error)
	GetLocalAccountByLogin(ctx context.Context, login string) (store.LocalAccount, error)
	UpdateLocalAccount(ctx context.Context, a store.LocalAccount) error
	UpdateUser(ctx context.Context, u store.User) error
}
