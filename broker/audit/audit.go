// Package audit is the broker's audit trail: the event types, and the
// writer that logs every event at once and stores it in the background.
//
// Every subject records events here (logins in broker/journey, tokens in
// broker/protocol, administrators' changes in broker/admin), so the list
// of types, the actors' spelling and the trail's guarantees are in one
// place; config.AuditTypes must name the same types. It imports nothing
// of the broker but its store.
package audit

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// Audit event types (store.AuditEvent.Type); docs/identity.md lists what
// each records, and config.AuditTypes must name the same.
const (
	LoginSuccess = "login.success"
	LoginFailure = "login.failure"
	UserCreate   = "user.create"
	IdentityLink = "identity.link"
	LinkSkipped  = "identity.link_skipped"
	// IdentityLinkRefused: a person's explicit link was refused (the
	// account is another user's, the session ended, the policy).
	IdentityLinkRefused = "identity.link_refused"
	TokenIssue          = "token.issue"
	TokenRefresh        = "token.refresh"
	TokenRevoke         = "token.revoke"
	RefreshReplay       = "security.refresh_replay"
	CodeReplay          = "security.code_replay"
	AssertionReplay     = "security.assertion_replay"
	// PasskeySignCount: a passkey's assertion came with a sign
	// count that did not increase (WebAuthn §6.1.1): the key may have
	// been copied. The login was refused.
	PasskeySignCount = "security.passkey_sign_count"
	// Second factors: enrolled, and a recovery code spent.
	MFAEnrol     = "mfa.enrol"
	RecoveryUsed = "mfa.recovery_used"
	// A person's own changes on the account page: new recovery codes, a
	// passkey renamed or removed, the password changed, sessions ended.
	RecoveryRegenerate = "mfa.recovery_regenerate"
	PasskeyRename      = "mfa.passkey_rename"
	PasskeyRemove      = "mfa.passkey_remove"
	PasswordChange     = "user.password_change"
	SessionsEnd        = "user.sessions_end"
	// Consent given to a third-party client, and revoked.
	ConsentGrant  = "consent.grant"
	ConsentRevoke = "consent.revoke"
	// TokenExchange: a token exchange (RFC 8693), issued or refused.
	TokenExchange = "token.exchange"
	// Back-channel logout (OpenID Connect Back-Channel Logout 1.0): a
	// logout token delivered to a client, or given up on.
	BackchannelDelivered = "logout.backchannel_delivered"
	BackchannelFailed    = "logout.backchannel_failed"
	// A person approved or denied a device's request (RFC 8628).
	// Self-service of local accounts (broker/journey selfservice.go).
	AccountRegister    = "account.register"
	AccountVerify      = "account.email_verified"
	ResetRequest       = "account.reset_requested"
	RegisterRequest    = "account.register_requested"
	PasswordReset      = "account.password_reset"
	InvitationAccepted = "account.invitation_accepted"
	LinkMailed         = "account.link_mailed"

	DeviceApprove = "device.approve"
	DeviceDeny    = "device.deny"
	// AdminPrefix begins the types of administrators' changes.
	AdminPrefix = "admin."
)

// DefaultRetention is how long audit events are kept unless set.
const DefaultRetention = 90 * 24 * time.Hour

const (
	auditQueueSize    = 4096
	auditBatchSize    = 256
	auditWriteTimeout = 10 * time.Second
)

// Trail writes audit events to the log at once and to the store in the
// background, in batches: a synchronous (fsynced) write per event would
// halve the token endpoint's throughput. The log is the complete trail;
// the store's copy, for queries, loses events only when the store falls
// more than auditQueueSize events behind, and says so in the log.
type Trail struct {
	// onRecord sees every event as it is recorded (metrics).
	onRecord  func(store.AuditEvent)
	store     store.Store
	log       *slog.Logger
	retention time.Duration
	exclude   map[string]bool // types logged only
	now       func() time.Time

	mu       sync.Mutex // guards the fields below, and sends on queue against its close
	closed   bool
	dropped  int       // events not stored since lastWarn
	lastWarn time.Time // of the last "store is behind" line, at most one a second
	queue    chan store.AuditEvent
	done     chan struct{}
}

// New starts a trail that keeps events for retention (DefaultRetention
// when 0) and stores none of the types in exclude. onRecord, if set, sees
// every event. Close it before closing the store.
func New(st store.Store, log *slog.Logger, retention time.Duration, exclude []string, now func() time.Time, onRecord func(store.AuditEvent)) *Trail {
	if retention <= 0 {
		retention = DefaultRetention
	}
	a := &Trail{store: st, log: log, retention: retention, exclude: map[string]bool{}, now: now, onRecord: onRecord,
		queue: make(chan store.AuditEvent, auditQueueSize), done: make(chan struct{})}
	for _, typ := range exclude {
		a.exclude[typ] = true
	}
	go a.run()
	return a
}

// Record completes e (id, time, expiry), logs it and queues it for the
// store.
func (a *Trail) Record(ctx context.Context, e store.AuditEvent) {
	if a.onRecord != nil {
		a.onRecord(e)
	}
	stamp(&e, a.now(), a.retention)
	logEvent(ctx, a.log, e)
	if a.exclude[e.Type] {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	select {
	case a.queue <- e:
	default:
		a.dropped++
		if now := time.Now(); now.Sub(a.lastWarn) >= time.Second {
			a.log.ErrorContext(ctx, "audit: the store is behind; events kept in the log only", "events", a.dropped)
			a.dropped, a.lastWarn = 0, now
		}
	}
}

func stamp(e *store.AuditEvent, now time.Time, retention time.Duration) {
	e.ID = tokensvc.NewID()
	e.Time = now.UTC().Truncate(time.Microsecond)
	e.Expiry = e.Time.Add(retention)
}

// logEvent writes e as one structured line whose "audit" attribute holds
// the event: security events at warn, the others at info.
func logEvent(ctx context.Context, log *slog.Logger, e store.AuditEvent) {
	level := slog.LevelInfo
	if strings.HasPrefix(e.Type, "security.") {
		level = slog.LevelWarn
	}
	if !log.Enabled(ctx, level) {
		return
	}
	attrs := []any{"id", e.ID, "type", e.Type, "time", e.Time}
	for _, kv := range [][2]string{{"actor", e.Actor}, {"user", e.UserID}, {"client_id", e.ClientID}, {"connector", e.ConnectorID}, {"ip", e.IP}} {
		if kv[1] != "" {
			attrs = append(attrs, kv[0], kv[1])
		}
	}
	if len(e.Details) > 0 {
		var details []any
		for _, k := range slices.Sorted(maps.Keys(e.Details)) {
			details = append(details, k, e.Details[k])
		}
		attrs = append(attrs, slog.Group("details", details...))
	}
	log.Log(ctx, level, "audit: "+e.Type, slog.Group("audit", attrs...))
}

// auditLinger is how long the writer gathers events before a commit. Every
// commit is fsynced, and Badger makes each read transaction wait for the
// commits in flight, so back-to-back audit commits would slow every other
// request; gathering bounds them to a few dozen a second.
const auditLinger = 50 * time.Millisecond

// run writes queued events until the queue is closed and drained.
func (a *Trail) run() {
	defer close(a.done)
	timer := time.NewTimer(auditLinger)
	defer timer.Stop()
	for e := range a.queue {
		batch := []store.AuditEvent{e}
		timer.Reset(auditLinger)
	fill:
		for len(batch) < auditBatchSize {
			select {
			case next, ok := <-a.queue:
				if !ok {
					break fill
				}
				batch = append(batch, next)
			case <-timer.C:
				break fill
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), auditWriteTimeout)
		if err := a.store.CreateAuditEvents(ctx, batch...); err != nil {
			a.log.Error("audit: store events; they are in the log only", "events", len(batch), "err", err)
		}
		cancel()
	}
}

// Close writes what is queued and stops; later events are only logged.
func (a *Trail) Close() {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.queue)
	}
	a.mu.Unlock()
	<-a.done
}

// Request records an event caused by request c, with its peer's IP.
// The IP is the TCP peer's, or what a trusted proxy (the broker's
// TrustedProxies) says in X-Forwarded-For: the header is anyone's to write.
func (a *Trail) Request(c *gin.Context, e store.AuditEvent) {
	e.IP = c.ClientIP() // the TCP peer, unless it is a trusted proxy
	a.Record(c.Request.Context(), e)
}

// peerKey is the request context's key of the peer's IP, for the token
// service's events, which get only the context.
type peerKey struct{}

// WithPeer puts the peer's IP into the request's context, on the endpoints
// where the token service may raise an event (Peer reads it).
func WithPeer(c *gin.Context) {
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), peerKey{}, c.ClientIP()))
}

// Peer is the IP WithPeer put in ctx, or "".
func Peer(ctx context.Context) string {
	ip, _ := ctx.Value(peerKey{}).(string)
	return ip
}

// User is the actor of an event a person caused.
func User(id string) string {
	if id == "" {
		return "anonymous"
	}
	return "user:" + id
}

// Client is the actor of an event a client caused.
func Client(id string) string { return "client:" + id }

// RecordAdminEvent writes an administrator's change to the audit trail
// and the log at once, for tools that change the store without a running
// Broker (the CLI, the configuration's seeding); with st nil, to the log
// only. what becomes the type "admin.<what>"; actor says who ("config",
// "cli:<os user>").
func RecordAdminEvent(ctx context.Context, st store.Store, log *slog.Logger, retention time.Duration, actor, what string, details map[string]string) error {
	if retention <= 0 {
		retention = DefaultRetention
	}
	e := store.AuditEvent{Type: AdminPrefix + what, Actor: actor, Details: details}
	stamp(&e, time.Now(), retention)
	if log != nil {
		logEvent(ctx, log, e)
	}
	if st == nil {
		return nil
	}
	if err := st.CreateAuditEvents(ctx, e); err != nil {
		return fmt.Errorf("audit %s: %w", e.Type, err)
	}
	return nil
}

// FromToken is the audit event of a token service's event, with the IP
// WithPeer put in ctx.
func FromToken(ctx context.Context, e tokensvc.Event) store.AuditEvent {
	ev := store.AuditEvent{Actor: Client(e.ClientID), UserID: e.UserID, ClientID: e.ClientID, IP: Peer(ctx)}
	if e.FamilyID != "" {
		ev.Details = map[string]string{"session": e.FamilyID}
	}
	switch e.Type {
	case tokensvc.EventRevoked:
		ev.Type = TokenRevoke
	case tokensvc.EventRefreshReplay:
		ev.Type = RefreshReplay
	default:
		ev.Type = "token." + e.Type
	}
	return ev
}
