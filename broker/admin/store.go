package admin

import (
	"context"
	"time"

	"github.com/portico-idp/portico/broker/store"
)

// Store is the part of the broker's store the admin API uses (store.Store
// satisfies it): what it reads and writes, and nothing else.
type Store interface {
	CreateClient(ctx context.Context, c store.Client) error
	CreateLocalAccount(ctx context.Context, a store.LocalAccount) error
	DeleteClient(ctx context.Context, id string) error
	DeleteIdentity(ctx context.Context, connectorID, subject string) error
	DeleteLocalAccount(ctx context.Context, id string) error
	DeleteUser(ctx context.Context, id string) error
	GetClient(ctx context.Context, id string) (store.Client, error)
	GetIdentity(ctx context.Context, connectorID, subject string) (store.Identity, error)
	GetKeys(ctx context.Context) (store.KeySet, error)
	GetLocalAccount(ctx context.Context, id string) (store.LocalAccount, error)
	GetLocalAccountByLogin(ctx context.Context, login string) (store.LocalAccount, error)
	GetRecord(ctx context.Context, kind, key string) (store.Record, error)
	GetRefreshFamily(ctx context.Context, id string) (store.RefreshFamily, error)
	GetUser(ctx context.Context, id string) (store.User, error)
	ListAuditEvents(ctx context.Context, since time.Time, limit int) ([]store.AuditEvent, error)
	ListClients(ctx context.Context) ([]store.Client, error)
	ListIdentities(ctx context.Context, userID string) ([]store.Identity, error)
	ListLocalAccounts(ctx context.Context) ([]store.LocalAccount, error)
	ListRecords(ctx context.Context, kind, prefix string) ([]store.Record, error)
	ListRefreshFamilies(ctx context.Context, userID string) ([]store.RefreshFamily, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	PutRecord(ctx context.Context, r store.Record) error
	UpdateClient(ctx context.Context, c store.Client) error
	UpdateLocalAccount(ctx context.Context, a store.LocalAccount) error
	UpdateUser(ctx context.Context, u store.User) error
}
