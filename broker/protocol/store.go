package protocol

import (
	"context"

	"github.com/portico-idp/portico/broker/store"
)

// Store is the part of the broker's store the protocol uses (store.Store
// satisfies it): what it reads and writes, and nothing else.
type Store interface {
	CreateAuthCode(ctx context.Context, c store.AuthCode) error
	CreateClient(ctx context.Context, c store.Client) error
	DeleteClient(ctx context.Context, id string) error
	DeleteRecord(ctx context.Context, kind, key string) error
	GetAuthCode(ctx context.Context, id string) (store.AuthCode, error)
	GetClient(ctx context.Context, id string) (store.Client, error)
	GetRecord(ctx context.Context, kind, key string) (store.Record, error)
	GetUser(ctx context.Context, id string) (store.User, error)
	GetUserIdentities(ctx context.Context, id string) (store.User, []store.Identity, error)
	ListIdentitiesByVerifiedEmail(ctx context.Context, email string) ([]store.Identity, error)
	PutRecord(ctx context.Context, r store.Record) error
	UpdateAuthCode(ctx context.Context, c store.AuthCode) error
	UpdateClient(ctx context.Context, c store.Client) error
}
