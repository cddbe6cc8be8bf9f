package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// WrapStore returns s with every method timed in
// portico_store_operation_duration_seconds{op} and its failures counted in
// portico_store_errors_total{op}, op being the method's name. It changes
// nothing else: the same arguments go in, the same results and the same
// error values come out, so the conformance suite passes over it as over s.
func (m *Metrics) WrapStore(s store.Store) store.Store {
	return &timedStore{s: s, m: m}
}

// timedStore is written out method by method rather than generated: the
// interface changes rarely, and the compiler rejects a wrapper that misses
// a method, through the assertions below.
type timedStore struct {
	s store.Store
	m *Metrics
}

var (
	_ store.Store    = (*timedStore)(nil)
	_ tokensvc.Store = (*timedStore)(nil)
)

// done records an operation that began at start; deferred with the
// address of the method's named error, it sees the error returned.
func (w *timedStore) done(op string, start time.Time, err *error) {
	w.m.storeDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if failed(*err) {
		w.m.storeErrors.WithLabelValues(op).Inc()
	}
}

// failed tells a failure from an answer. Not found, a lost
// compare-and-swap and a taken key are how the store answers questions the
// broker asks every day; counting them would drown the failures. A caller
// that gave up (its request's context canceled) is no fault of the store;
// a deadline that passed is, as the store was too slow.
func failed(err error) bool {
	return err != nil &&
		!errors.Is(err, store.ErrNotFound) &&
		!errors.Is(err, store.ErrConflict) &&
		!errors.Is(err, store.ErrAlreadyExists) &&
		!errors.Is(err, context.Canceled)
}

// Users.

func (w *timedStore) CreateUser(ctx context.Context, u store.User, ids ...store.Identity) (err error) {
	defer w.done("CreateUser", time.Now(), &err)
	return w.s.CreateUser(ctx, u, ids...)
}

func (w *timedStore) GetUser(ctx context.Context, id string) (_ store.User, err error) {
	defer w.done("GetUser", time.Now(), &err)
	return w.s.GetUser(ctx, id)
}

func (w *timedStore) ListUsers(ctx context.Context) (_ []store.User, err error) {
	defer w.done("ListUsers", time.Now(), &err)
	return w.s.ListUsers(ctx)
}

func (w *timedStore) UpdateUser(ctx context.Context, u store.User) (err error) {
	defer w.done("UpdateUser", time.Now(), &err)
	return w.s.UpdateUser(ctx, u)
}

func (w *timedStore) DeleteUser(ctx context.Context, id string) (err error) {
	defer w.done("DeleteUser", time.Now(), &err)
	return w.s.DeleteUser(ctx, id)
}

// Identities.

func (w *timedStore) GetIdentity(ctx context.Context, connectorID, subject string) (_ store.Identity, err error) {
	defer w.done("GetIdentity", time.Now(), &err)
	return w.s.GetIdentity(ctx, connectorID, subject)
}

func (w *timedStore) CreateIdentity(ctx context.Context, id store.Identity) (err error) {
	defer w.done("CreateIdentity", time.Now(), &err)
	return w.s.CreateIdentity(ctx, id)
}

func (w *timedStore) UpdateIdentity(ctx context.Context, id store.Identity) (err error) {
	defer w.done("UpdateIdentity", time.Now(), &err)
	return w.s.UpdateIdentity(ctx, id)
}

func (w *timedStore) DeleteIdentity(ctx context.Context, connectorID, subject string) (err error) {
	defer w.done("DeleteIdentity", time.Now(), &err)
	return w.s.DeleteIdentity(ctx, connectorID, subject)
}

func (w *timedStore) ListIdentities(ctx context.Context, userID string) (_ []store.Identity, err error) {
	defer w.done("ListIdentities", time.Now(), &err)
	return w.s.ListIdentities(ctx, userID)
}

func (w *timedStore) ListIdentitiesByVerifiedEmail(ctx context.Context, email string) (_ []store.Identity, err error) {
	defer w.done("ListIdentitiesByVerifiedEmail", time.Now(), &err)
	return w.s.ListIdentitiesByVerifiedEmail(ctx, email)
}

// Local accounts.

func (w *timedStore) CreateLocalAccount(ctx context.Context, a store.LocalAccount) (err error) {
	defer w.done("CreateLocalAccount", time.Now(), &err)
	return w.s.CreateLocalAccount(ctx, a)
}

func (w *timedStore) GetLocalAccount(ctx context.Context, id string) (_ store.LocalAccount, err error) {
	defer w.done("GetLocalAccount", time.Now(), &err)
	return w.s.GetLocalAccount(ctx, id)
}

func (w *timedStore) GetLocalAccountByLogin(ctx context.Context, login string) (_ store.LocalAccount, err error) {
	defer w.done("GetLocalAccountByLogin", time.Now(), &err)
	return w.s.GetLocalAccountByLogin(ctx, login)
}

func (w *timedStore) ListLocalAccounts(ctx context.Context) (_ []store.LocalAccount, err error) {
	defer w.done("ListLocalAccounts", time.Now(), &err)
	return w.s.ListLocalAccounts(ctx)
}

func (w *timedStore) UpdateLocalAccount(ctx context.Context, a store.LocalAccount) (err error) {
	defer w.done("UpdateLocalAccount", time.Now(), &err)
	return w.s.UpdateLocalAccount(ctx, a)
}

func (w *timedStore) DeleteLocalAccount(ctx context.Context, id string) (err error) {
	defer w.done("DeleteLocalAccount", time.Now(), &err)
	return w.s.DeleteLocalAccount(ctx, id)
}

// Clients.

func (w *timedStore) CreateClient(ctx context.Context, c store.Client) (err error) {
	defer w.done("CreateClient", time.Now(), &err)
	return w.s.CreateClient(ctx, c)
}

func (w *timedStore) GetClient(ctx context.Context, id string) (_ store.Client, err error) {
	defer w.done("GetClient", time.Now(), &err)
	return w.s.GetClient(ctx, id)
}

func (w *timedStore) ListClients(ctx context.Context) (_ []store.Client, err error) {
	defer w.done("ListClients", time.Now(), &err)
	return w.s.ListClients(ctx)
}

func (w *timedStore) UpdateClient(ctx context.Context, c store.Client) (err error) {
	defer w.done("UpdateClient", time.Now(), &err)
	return w.s.UpdateClient(ctx, c)
}

func (w *timedStore) DeleteClient(ctx context.Context, id string) (err error) {
	defer w.done("DeleteClient", time.Now(), &err)
	return w.s.DeleteClient(ctx, id)
}

// Authorization requests and codes.

func (w *timedStore) CreateAuthRequest(ctx context.Context, r store.AuthRequest) (err error) {
	defer w.done("CreateAuthRequest", time.Now(), &err)
	return w.s.CreateAuthRequest(ctx, r)
}

func (w *timedStore) GetAuthRequest(ctx context.Context, id string) (_ store.AuthRequest, err error) {
	defer w.done("GetAuthRequest", time.Now(), &err)
	return w.s.GetAuthRequest(ctx, id)
}

func (w *timedStore) UpdateAuthRequest(ctx context.Context, r store.AuthRequest) (err error) {
	defer w.done("UpdateAuthRequest", time.Now(), &err)
	return w.s.UpdateAuthRequest(ctx, r)
}

func (w *timedStore) DeleteAuthRequest(ctx context.Context, id string) (err error) {
	defer w.done("DeleteAuthRequest", time.Now(), &err)
	return w.s.DeleteAuthRequest(ctx, id)
}

func (w *timedStore) CreateAuthCode(ctx context.Context, c store.AuthCode) (err error) {
	defer w.done("CreateAuthCode", time.Now(), &err)
	return w.s.CreateAuthCode(ctx, c)
}

func (w *timedStore) GetAuthCode(ctx context.Context, id string) (_ store.AuthCode, err error) {
	defer w.done("GetAuthCode", time.Now(), &err)
	return w.s.GetAuthCode(ctx, id)
}

func (w *timedStore) UpdateAuthCode(ctx context.Context, c store.AuthCode) (err error) {
	defer w.done("UpdateAuthCode", time.Now(), &err)
	return w.s.UpdateAuthCode(ctx, c)
}

// Refresh tokens.

func (w *timedStore) CreateRefreshFamily(ctx context.Context, f store.RefreshFamily, t store.RefreshToken) (err error) {
	defer w.done("CreateRefreshFamily", time.Now(), &err)
	return w.s.CreateRefreshFamily(ctx, f, t)
}

func (w *timedStore) GetRefreshFamily(ctx context.Context, id string) (_ store.RefreshFamily, err error) {
	defer w.done("GetRefreshFamily", time.Now(), &err)
	return w.s.GetRefreshFamily(ctx, id)
}

func (w *timedStore) GetRefreshToken(ctx context.Context, hash string) (_ store.RefreshToken, err error) {
	defer w.done("GetRefreshToken", time.Now(), &err)
	return w.s.GetRefreshToken(ctx, hash)
}

func (w *timedStore) RotateRefresh(ctx context.Context, f store.RefreshFamily, t store.RefreshToken) (err error) {
	defer w.done("RotateRefresh", time.Now(), &err)
	return w.s.RotateRefresh(ctx, f, t)
}

func (w *timedStore) UpdateRefreshFamily(ctx context.Context, f store.RefreshFamily) (err error) {
	defer w.done("UpdateRefreshFamily", time.Now(), &err)
	return w.s.UpdateRefreshFamily(ctx, f)
}

func (w *timedStore) ListRefreshFamilies(ctx context.Context, userID string) (_ []store.RefreshFamily, err error) {
	defer w.done("ListRefreshFamilies", time.Now(), &err)
	return w.s.ListRefreshFamilies(ctx, userID)
}

// Access tokens: revoked ids, and opaque tokens.

func (w *timedStore) DenyAccessToken(ctx context.Context, jti string, expiry time.Time) (err error) {
	defer w.done("DenyAccessToken", time.Now(), &err)
	return w.s.DenyAccessToken(ctx, jti, expiry)
}

func (w *timedStore) AccessTokenDenied(ctx context.Context, jti string) (_ bool, err error) {
	defer w.done("AccessTokenDenied", time.Now(), &err)
	return w.s.AccessTokenDenied(ctx, jti)
}

func (w *timedStore) CreateOpaqueToken(ctx context.Context, t store.OpaqueToken) (err error) {
	defer w.done("CreateOpaqueToken", time.Now(), &err)
	return w.s.CreateOpaqueToken(ctx, t)
}

func (w *timedStore) GetOpaqueToken(ctx context.Context, hash string) (_ store.OpaqueToken, err error) {
	defer w.done("GetOpaqueToken", time.Now(), &err)
	return w.s.GetOpaqueToken(ctx, hash)
}

func (w *timedStore) DeleteOpaqueToken(ctx context.Context, hash string) (err error) {
	defer w.done("DeleteOpaqueToken", time.Now(), &err)
	return w.s.DeleteOpaqueToken(ctx, hash)
}

// Audit events.

func (w *timedStore) CreateAuditEvents(ctx context.Context, events ...store.AuditEvent) (err error) {
	defer w.done("CreateAuditEvents", time.Now(), &err)
	return w.s.CreateAuditEvents(ctx, events...)
}

func (w *timedStore) ListAuditEvents(ctx context.Context, since time.Time, limit int) (_ []store.AuditEvent, err error) {
	defer w.done("ListAuditEvents", time.Now(), &err)
	return w.s.ListAuditEvents(ctx, since, limit)
}

// Records.

func (w *timedStore) GetRecord(ctx context.Context, kind, key string) (_ store.Record, err error) {
	defer w.done("GetRecord", time.Now(), &err)
	return w.s.GetRecord(ctx, kind, key)
}

func (w *timedStore) PutRecord(ctx context.Context, r store.Record) (err error) {
	defer w.done("PutRecord", time.Now(), &err)
	return w.s.PutRecord(ctx, r)
}

func (w *timedStore) DeleteRecord(ctx context.Context, kind, key string) (err error) {
	defer w.done("DeleteRecord", time.Now(), &err)
	return w.s.DeleteRecord(ctx, kind, key)
}

func (w *timedStore) ListRecords(ctx context.Context, kind, prefix string) (_ []store.Record, err error) {
	defer w.done("ListRecords", time.Now(), &err)
	return w.s.ListRecords(ctx, kind, prefix)
}

// Signing keys.

func (w *timedStore) GetKeys(ctx context.Context) (_ store.KeySet, err error) {
	defer w.done("GetKeys", time.Now(), &err)
	return w.s.GetKeys(ctx)
}

func (w *timedStore) UpdateKeys(ctx context.Context, k store.KeySet) (err error) {
	defer w.done("UpdateKeys", time.Now(), &err)
	return w.s.UpdateKeys(ctx, k)
}

func (w *timedStore) Close() (err error) {
	defer w.done("Close", time.Now(), &err)
	return w.s.Close()
}
