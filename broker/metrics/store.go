package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

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

// WrapStoreTraced is WrapStore that also records a span per operation
// ("store.GetUser", ...) under the caller's, so a trace runs from the HTTP
// request through the connector to the store.
func (m *Metrics) WrapStoreTraced(s store.Store, tr trace.Tracer) store.Store {
	return &timedStore{s: s, m: m, tr: tr}
}

// timedStore is written out method by method rather than generated: the
// interface changes rarely, and the compiler rejects a wrapper that misses
// a method, through the assertions below.
type timedStore struct {
	s  store.Store
	m  *Metrics
	tr trace.Tracer // nil: no spans

	// refused is the last write the store refused as unavailable, nil
	// since a write succeeded, for a backend that cannot tell otherwise
	// whether it takes writes (PostgreSQL). Atomic: every write passes
	// here, and a lock would serialize them.
	refused atomic.Pointer[refusal]
}

type refusal struct {
	at  time.Time
	err error
}

var (
	_ store.Store    = (*timedStore)(nil)
	_ tokensvc.Store = (*timedStore)(nil)
)

// done records an operation that began at start; deferred with the
// address of the method's named error, it sees the error returned.
func (w *timedStore) done(sp trace.Span, op string, start time.Time, err *error) {
	w.m.storeDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if isWrite(op) {
		w.noteWrite(*err)
	}
	if failed(*err) {
		w.m.storeErrors.WithLabelValues(op).Inc()
	}
	if sp != nil {
		if failed(*err) {
			sp.SetStatus(codes.Error, op+" failed")
		}
		sp.End()
	}
}

// WriteChecker is a store that can tell, without writing, whether it
// takes writes now: the Badger store, by the free space of its filesystem.
type WriteChecker interface {
	// CheckWrites returns nil while writes are taken, or why not
	// (wrapping store.ErrUnavailable).
	CheckWrites(ctx context.Context) error
}

// spaceReporter is a store that keeps its data on a local filesystem and a
// floor of free space on it: the Badger store. ok is false when it has
// none (in memory).
type spaceReporter interface {
	FreeSpace() (free, floor uint64, ok bool)
}

// refusalHold is how long CheckWrites reports writes refused after a
// backend that cannot check them beforehand (PostgreSQL) refused one as
// unavailable, unless a write succeeds meanwhile: long enough for the
// readiness probes of a few periods (Kubernetes' default is every 10 s)
// to see it, and short enough that a replica taken out of traffic, which
// then writes nothing, comes back to try again.
const refusalHold = 30 * time.Second

// isWrite tells the store's writing methods by name.
func isWrite(op string) bool {
	for _, p := range []string{"Create", "Update", "Delete", "Put", "Rotate", "Deny"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

// noteWrite remembers a write refused as unavailable, and forgets it when
// a write succeeds.
func (w *timedStore) noteWrite(err error) {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		w.refused.Store(&refusal{at: w.m.now(), err: err})
	case err == nil && w.refused.Load() != nil:
		w.refused.Store(nil)
	}
}

// CheckWrites asks the store, if it can tell (WriteChecker); otherwise it
// reports the last write refused as unavailable within refusalHold, unless
// a write succeeded since.
func (w *timedStore) CheckWrites(ctx context.Context) error {
	if c, ok := w.s.(WriteChecker); ok {
		return c.CheckWrites(ctx)
	}
	if r := w.refused.Load(); r != nil {
		if ago := w.m.now().Sub(r.at); ago < refusalHold {
			return fmt.Errorf("a write was refused %s ago: %w", ago.Round(time.Second), r.err)
		}
	}
	return nil
}

// FreeSpace passes on the store's, if it has one.
func (w *timedStore) FreeSpace() (free, floor uint64, ok bool) {
	if r, ok := w.s.(spaceReporter); ok {
		return r.FreeSpace()
	}
	return 0, 0, false
}

// WatchStore sets, before each scrape, portico_store_refusing_writes from
// whether st takes writes (CheckWrites, when st has it: a store from
// WrapStore does), and, for a store with a free-space floor (Badger on
// disk), portico_store_free_bytes and portico_store_min_free_bytes, which
// exist only then. Call it once, with the store the server uses.
func (m *Metrics) WatchStore(st store.Store) {
	c, ok := st.(WriteChecker)
	if !ok {
		return
	}
	r, hasSpace := st.(spaceReporter)
	if hasSpace {
		_, _, hasSpace = r.FreeSpace()
	}
	if hasSpace {
		m.reg.MustRegister(m.storeFree, m.storeMinFree)
	}
	m.BeforeScrape(func() {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultReadyTimeout)
		defer cancel()
		refusing := 0.0
		if c.CheckWrites(ctx) != nil {
			refusing = 1
		}
		m.storeRefusing.Set(refusing)
		if hasSpace {
			free, floor, _ := r.FreeSpace()
			m.storeFree.Set(float64(free))
			m.storeMinFree.Set(float64(floor))
		}
	})
}

// span starts op's span when tracing is on.
func (w *timedStore) span(ctx context.Context, op string) (context.Context, trace.Span) {
	if w.tr == nil {
		return ctx, nil
	}
	return w.tr.Start(ctx, "store."+op, trace.WithSpanKind(trace.SpanKindClient))
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
	ctx, sp := w.span(ctx, "CreateUser")
	defer w.done(sp, "CreateUser", time.Now(), &err)
	return w.s.CreateUser(ctx, u, ids...)
}

func (w *timedStore) GetUser(ctx context.Context, id string) (_ store.User, err error) {
	ctx, sp := w.span(ctx, "GetUser")
	defer w.done(sp, "GetUser", time.Now(), &err)
	return w.s.GetUser(ctx, id)
}

func (w *timedStore) ListUsers(ctx context.Context) (_ []store.User, err error) {
	ctx, sp := w.span(ctx, "ListUsers")
	defer w.done(sp, "ListUsers", time.Now(), &err)
	return w.s.ListUsers(ctx)
}

func (w *timedStore) UpdateUser(ctx context.Context, u store.User) (err error) {
	ctx, sp := w.span(ctx, "UpdateUser")
	defer w.done(sp, "UpdateUser", time.Now(), &err)
	return w.s.UpdateUser(ctx, u)
}

func (w *timedStore) DeleteUser(ctx context.Context, id string) (err error) {
	ctx, sp := w.span(ctx, "DeleteUser")
	defer w.done(sp, "DeleteUser", time.Now(), &err)
	return w.s.DeleteUser(ctx, id)
}

// Identities.

func (w *timedStore) GetIdentity(ctx context.Context, connectorID, subject string) (_ store.Identity, err error) {
	ctx, sp := w.span(ctx, "GetIdentity")
	defer w.done(sp, "GetIdentity", time.Now(), &err)
	return w.s.GetIdentity(ctx, connectorID, subject)
}

func (w *timedStore) CreateIdentity(ctx context.Context, id store.Identity) (err error) {
	ctx, sp := w.span(ctx, "CreateIdentity")
	defer w.done(sp, "CreateIdentity", time.Now(), &err)
	return w.s.CreateIdentity(ctx, id)
}

func (w *timedStore) UpdateIdentity(ctx context.Context, id store.Identity) (err error) {
	ctx, sp := w.span(ctx, "UpdateIdentity")
	defer w.done(sp, "UpdateIdentity", time.Now(), &err)
	return w.s.UpdateIdentity(ctx, id)
}

func (w *timedStore) DeleteIdentity(ctx context.Context, connectorID, subject string) (err error) {
	ctx, sp := w.span(ctx, "DeleteIdentity")
	defer w.done(sp, "DeleteIdentity", time.Now(), &err)
	return w.s.DeleteIdentity(ctx, connectorID, subject)
}

func (w *timedStore) ListIdentities(ctx context.Context, userID string) (_ []store.Identity, err error) {
	ctx, sp := w.span(ctx, "ListIdentities")
	defer w.done(sp, "ListIdentities", time.Now(), &err)
	return w.s.ListIdentities(ctx, userID)
}

func (w *timedStore) GetUserIdentities(ctx context.Context, id string) (_ store.User, _ []store.Identity, err error) {
	ctx, sp := w.span(ctx, "GetUserIdentities")
	defer w.done(sp, "GetUserIdentities", time.Now(), &err)
	return w.s.GetUserIdentities(ctx, id)
}

func (w *timedStore) ListIdentitiesByVerifiedEmail(ctx context.Context, email string) (_ []store.Identity, err error) {
	ctx, sp := w.span(ctx, "ListIdentitiesByVerifiedEmail")
	defer w.done(sp, "ListIdentitiesByVerifiedEmail", time.Now(), &err)
	return w.s.ListIdentitiesByVerifiedEmail(ctx, email)
}

// Local accounts.

func (w *timedStore) CreateLocalAccount(ctx context.Context, a store.LocalAccount) (err error) {
	ctx, sp := w.span(ctx, "CreateLocalAccount")
	defer w.done(sp, "CreateLocalAccount", time.Now(), &err)
	return w.s.CreateLocalAccount(ctx, a)
}

func (w *timedStore) GetLocalAccount(ctx context.Context, id string) (_ store.LocalAccount, err error) {
	ctx, sp := w.span(ctx, "GetLocalAccount")
	defer w.done(sp, "GetLocalAccount", time.Now(), &err)
	return w.s.GetLocalAccount(ctx, id)
}

func (w *timedStore) GetLocalAccountByLogin(ctx context.Context, login string) (_ store.LocalAccount, err error) {
	ctx, sp := w.span(ctx, "GetLocalAccountByLogin")
	defer w.done(sp, "GetLocalAccountByLogin", time.Now(), &err)
	return w.s.GetLocalAccountByLogin(ctx, login)
}

func (w *timedStore) ListLocalAccounts(ctx context.Context) (_ []store.LocalAccount, err error) {
	ctx, sp := w.span(ctx, "ListLocalAccounts")
	defer w.done(sp, "ListLocalAccounts", time.Now(), &err)
	return w.s.ListLocalAccounts(ctx)
}

func (w *timedStore) UpdateLocalAccount(ctx context.Context, a store.LocalAccount) (err error) {
	ctx, sp := w.span(ctx, "UpdateLocalAccount")
	defer w.done(sp, "UpdateLocalAccount", time.Now(), &err)
	return w.s.UpdateLocalAccount(ctx, a)
}

func (w *timedStore) DeleteLocalAccount(ctx context.Context, id string) (err error) {
	ctx, sp := w.span(ctx, "DeleteLocalAccount")
	defer w.done(sp, "DeleteLocalAccount", time.Now(), &err)
	return w.s.DeleteLocalAccount(ctx, id)
}

// Clients.

func (w *timedStore) CreateClient(ctx context.Context, c store.Client) (err error) {
	ctx, sp := w.span(ctx, "CreateClient")
	defer w.done(sp, "CreateClient", time.Now(), &err)
	return w.s.CreateClient(ctx, c)
}

func (w *timedStore) GetClient(ctx context.Context, id string) (_ store.Client, err error) {
	ctx, sp := w.span(ctx, "GetClient")
	defer w.done(sp, "GetClient", time.Now(), &err)
	return w.s.GetClient(ctx, id)
}

func (w *timedStore) ListClients(ctx context.Context) (_ []store.Client, err error) {
	ctx, sp := w.span(ctx, "ListClients")
	defer w.done(sp, "ListClients", time.Now(), &err)
	return w.s.ListClients(ctx)
}

func (w *timedStore) UpdateClient(ctx context.Context, c store.Client) (err error) {
	ctx, sp := w.span(ctx, "UpdateClient")
	defer w.done(sp, "UpdateClient", time.Now(), &err)
	return w.s.UpdateClient(ctx, c)
}

func (w *timedStore) DeleteClient(ctx context.Context, id string) (err error) {
	ctx, sp := w.span(ctx, "DeleteClient")
	defer w.done(sp, "DeleteClient", time.Now(), &err)
	return w.s.DeleteClient(ctx, id)
}

// Authorization requests and codes.

func (w *timedStore) CreateAuthRequest(ctx context.Context, r store.AuthRequest) (err error) {
	ctx, sp := w.span(ctx, "CreateAuthRequest")
	defer w.done(sp, "CreateAuthRequest", time.Now(), &err)
	return w.s.CreateAuthRequest(ctx, r)
}

func (w *timedStore) GetAuthRequest(ctx context.Context, id string) (_ store.AuthRequest, err error) {
	ctx, sp := w.span(ctx, "GetAuthRequest")
	defer w.done(sp, "GetAuthRequest", time.Now(), &err)
	return w.s.GetAuthRequest(ctx, id)
}

func (w *timedStore) UpdateAuthRequest(ctx context.Context, r store.AuthRequest) (err error) {
	ctx, sp := w.span(ctx, "UpdateAuthRequest")
	defer w.done(sp, "UpdateAuthRequest", time.Now(), &err)
	return w.s.UpdateAuthRequest(ctx, r)
}

func (w *timedStore) DeleteAuthRequest(ctx context.Context, id string) (err error) {
	ctx, sp := w.span(ctx, "DeleteAuthRequest")
	defer w.done(sp, "DeleteAuthRequest", time.Now(), &err)
	return w.s.DeleteAuthRequest(ctx, id)
}

func (w *timedStore) CreateAuthCode(ctx context.Context, c store.AuthCode) (err error) {
	ctx, sp := w.span(ctx, "CreateAuthCode")
	defer w.done(sp, "CreateAuthCode", time.Now(), &err)
	return w.s.CreateAuthCode(ctx, c)
}

func (w *timedStore) GetAuthCode(ctx context.Context, id string) (_ store.AuthCode, err error) {
	ctx, sp := w.span(ctx, "GetAuthCode")
	defer w.done(sp, "GetAuthCode", time.Now(), &err)
	return w.s.GetAuthCode(ctx, id)
}

func (w *timedStore) UpdateAuthCode(ctx context.Context, c store.AuthCode) (err error) {
	ctx, sp := w.span(ctx, "UpdateAuthCode")
	defer w.done(sp, "UpdateAuthCode", time.Now(), &err)
	return w.s.UpdateAuthCode(ctx, c)
}

// Refresh tokens.

func (w *timedStore) CreateRefreshFamily(ctx context.Context, f store.RefreshFamily, t store.RefreshToken) (err error) {
	ctx, sp := w.span(ctx, "CreateRefreshFamily")
	defer w.done(sp, "CreateRefreshFamily", time.Now(), &err)
	return w.s.CreateRefreshFamily(ctx, f, t)
}

func (w *timedStore) GetRefreshFamily(ctx context.Context, id string) (_ store.RefreshFamily, err error) {
	ctx, sp := w.span(ctx, "GetRefreshFamily")
	defer w.done(sp, "GetRefreshFamily", time.Now(), &err)
	return w.s.GetRefreshFamily(ctx, id)
}

func (w *timedStore) GetRefreshToken(ctx context.Context, hash string) (_ store.RefreshToken, err error) {
	ctx, sp := w.span(ctx, "GetRefreshToken")
	defer w.done(sp, "GetRefreshToken", time.Now(), &err)
	return w.s.GetRefreshToken(ctx, hash)
}

func (w *timedStore) GetRefreshTokenFamily(ctx context.Context, hash string) (_ store.RefreshToken, _ store.RefreshFamily, err error) {
	ctx, sp := w.span(ctx, "GetRefreshTokenFamily")
	defer w.done(sp, "GetRefreshTokenFamily", time.Now(), &err)
	return w.s.GetRefreshTokenFamily(ctx, hash)
}

func (w *timedStore) RotateRefresh(ctx context.Context, f store.RefreshFamily, t store.RefreshToken) (err error) {
	ctx, sp := w.span(ctx, "RotateRefresh")
	defer w.done(sp, "RotateRefresh", time.Now(), &err)
	return w.s.RotateRefresh(ctx, f, t)
}

func (w *timedStore) UpdateRefreshFamily(ctx context.Context, f store.RefreshFamily) (err error) {
	ctx, sp := w.span(ctx, "UpdateRefreshFamily")
	defer w.done(sp, "UpdateRefreshFamily", time.Now(), &err)
	return w.s.UpdateRefreshFamily(ctx, f)
}

func (w *timedStore) ListRefreshFamilies(ctx context.Context, userID string) (_ []store.RefreshFamily, err error) {
	ctx, sp := w.span(ctx, "ListRefreshFamilies")
	defer w.done(sp, "ListRefreshFamilies", time.Now(), &err)
	return w.s.ListRefreshFamilies(ctx, userID)
}

// Access tokens: revoked ids, and opaque tokens.

func (w *timedStore) DenyAccessToken(ctx context.Context, jti string, expiry time.Time) (err error) {
	ctx, sp := w.span(ctx, "DenyAccessToken")
	defer w.done(sp, "DenyAccessToken", time.Now(), &err)
	return w.s.DenyAccessToken(ctx, jti, expiry)
}

func (w *timedStore) AccessTokenDenied(ctx context.Context, jti string) (_ bool, err error) {
	ctx, sp := w.span(ctx, "AccessTokenDenied")
	defer w.done(sp, "AccessTokenDenied", time.Now(), &err)
	return w.s.AccessTokenDenied(ctx, jti)
}

func (w *timedStore) CreateOpaqueToken(ctx context.Context, t store.OpaqueToken) (err error) {
	ctx, sp := w.span(ctx, "CreateOpaqueToken")
	defer w.done(sp, "CreateOpaqueToken", time.Now(), &err)
	return w.s.CreateOpaqueToken(ctx, t)
}

func (w *timedStore) GetOpaqueToken(ctx context.Context, hash string) (_ store.OpaqueToken, err error) {
	ctx, sp := w.span(ctx, "GetOpaqueToken")
	defer w.done(sp, "GetOpaqueToken", time.Now(), &err)
	return w.s.GetOpaqueToken(ctx, hash)
}

func (w *timedStore) DeleteOpaqueToken(ctx context.Context, hash string) (err error) {
	ctx, sp := w.span(ctx, "DeleteOpaqueToken")
	defer w.done(sp, "DeleteOpaqueToken", time.Now(), &err)
	return w.s.DeleteOpaqueToken(ctx, hash)
}

// Audit events.

func (w *timedStore) CreateAuditEvents(ctx context.Context, events ...store.AuditEvent) (err error) {
	ctx, sp := w.span(ctx, "CreateAuditEvents")
	defer w.done(sp, "CreateAuditEvents", time.Now(), &err)
	return w.s.CreateAuditEvents(ctx, events...)
}

func (w *timedStore) ListAuditEvents(ctx context.Context, since time.Time, limit int) (_ []store.AuditEvent, err error) {
	ctx, sp := w.span(ctx, "ListAuditEvents")
	defer w.done(sp, "ListAuditEvents", time.Now(), &err)
	return w.s.ListAuditEvents(ctx, since, limit)
}

// Records.

func (w *timedStore) GetRecords(ctx context.Context, kind string, keys ...string) (_ []store.Record, err error) {
	ctx, sp := w.span(ctx, "GetRecords")
	defer w.done(sp, "GetRecords", time.Now(), &err)
	return w.s.GetRecords(ctx, kind, keys...)
}

func (w *timedStore) GetRecord(ctx context.Context, kind, key string) (_ store.Record, err error) {
	ctx, sp := w.span(ctx, "GetRecord")
	defer w.done(sp, "GetRecord", time.Now(), &err)
	return w.s.GetRecord(ctx, kind, key)
}

func (w *timedStore) PutRecord(ctx context.Context, r store.Record) (err error) {
	ctx, sp := w.span(ctx, "PutRecord")
	defer w.done(sp, "PutRecord", time.Now(), &err)
	return w.s.PutRecord(ctx, r)
}

func (w *timedStore) DeleteRecord(ctx context.Context, kind, key string) (err error) {
	ctx, sp := w.span(ctx, "DeleteRecord")
	defer w.done(sp, "DeleteRecord", time.Now(), &err)
	return w.s.DeleteRecord(ctx, kind, key)
}

func (w *timedStore) ListRecords(ctx context.Context, kind, prefix string) (_ []store.Record, err error) {
	ctx, sp := w.span(ctx, "ListRecords")
	defer w.done(sp, "ListRecords", time.Now(), &err)
	return w.s.ListRecords(ctx, kind, prefix)
}

// Signing keys.

func (w *timedStore) GetKeys(ctx context.Context) (_ store.KeySet, err error) {
	ctx, sp := w.span(ctx, "GetKeys")
	defer w.done(sp, "GetKeys", time.Now(), &err)
	return w.s.GetKeys(ctx)
}

func (w *timedStore) UpdateKeys(ctx context.Context, k store.KeySet) (err error) {
	ctx, sp := w.span(ctx, "UpdateKeys")
	defer w.done(sp, "UpdateKeys", time.Now(), &err)
	return w.s.UpdateKeys(ctx, k)
}

func (w *timedStore) Close() (err error) {
	defer w.done(nil, "Close", time.Now(), &err)
	return w.s.Close()
}
