package broker

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
	AuditLoginSuccess = "login.success"
	AuditLoginFailure = "login.failure"
	AuditUserCreate   = "user.create"
	AuditIdentityLink = "identity.link"
	AuditLinkSkipped  = "identity.link_skipped"
	// AuditIdentityLinkRefused: a person's explicit link was refused (the
	// account is another user's, the session ended, the policy).
	AuditIdentityLinkRefused = "identity.link_refused"
	AuditTokenIssue          = "token.issue"
	AuditTokenRefresh        = "token.refresh"
	AuditTokenRevoke         = "token.revoke"
	AuditRefreshReplay       = "security.refresh_replay"
	AuditCodeReplay          = "security.code_replay"
	AuditAssertionReplay     = "security.assertion_replay"
	// AuditPasskeySignCount: a passkey's assertion came with a sign
	// count that did not increase (WebAuthn §6.1.1): the key may have
	// been copied. The login was refused.
	AuditPasskeySignCount = "security.passkey_sign_count"
	// Second factors: enrolled, and a recovery code spent.
	AuditMFAEnrol     = "mfa.enrol"
	AuditRecoveryUsed = "mfa.recovery_used"
	// Consent given to a third-party client, and revoked.
	AuditConsentGrant  = "consent.grant"
	AuditConsentRevoke = "consent.revoke"
	// AuditTokenExchange: a token exchange (RFC 8693), issued or refused.
	AuditTokenExchange = "token.exchange"
	// AuditAdminPrefix begins the types of administrators' changes.
	AuditAdminPrefix = "admin."
)

// DefaultAuditRetention is how long audit events are kept unless set.
const DefaultAuditRetention = 90 * 24 * time.Hour

const (
	auditQueueSize    = 4096
	auditBatchSize    = 256
	auditWriteTimeout = 10 * time.Second
)

// auditor writes audit events to the log at once and to the store in the
// background, in batches: a synchronous (fsynced) write per event would
// halve the token endpoint's throughput. The log is the complete trail;
// the store's copy, for queries, loses events only when the store falls
// more than auditQueueSize events behind, and says so in the log.
type auditor struct {
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

func newAuditor(st store.Store, log *slog.Logger, retention time.Duration, exclude []string, now func() time.Time) *auditor {
	if retention <= 0 {
		retention = DefaultAuditRetention
	}
	a := &auditor{store: st, log: log, retention: retention, exclude: map[string]bool{}, now: now,
		queue: make(chan store.AuditEvent, auditQueueSize), done: make(chan struct{})}
	for _, typ := range exclude {
		a.exclude[typ] = true
	}
	go a.run()
	return a
}

// record completes e (id, time, expiry), logs it and queues it for the store.
func (a *auditor) record(ctx context.Context, e store.AuditEvent) {
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
func (a *auditor) run() {
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

// close writes what is queued and stops; later events are only logged.
func (a *auditor) close() {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.queue)
	}
	a.mu.Unlock()
	<-a.done
}

// audit records an event of the broker's.
func (b *Broker) audit(ctx context.Context, e store.AuditEvent) {
	if b.opts.OnAudit != nil {
		b.opts.OnAudit(e)
	}
	b.auditor.record(ctx, e)
}

// auditRequest records an event caused by request c, with its peer's IP.
// The IP is the TCP peer's, or what a trusted proxy (Options.TrustedProxies)
// says in X-Forwarded-For: the header is anyone's to write.
func (b *Broker) auditRequest(c *gin.Context, e store.AuditEvent) {
	e.IP = c.ClientIP() // the TCP peer, unless it is a trusted proxy
	b.audit(c.Request.Context(), e)
}

// peerKey is the request context's key of the peer's IP, for the token
// service's events, which get only the context.
type peerKey struct{}

// withPeer puts the peer's IP into the request's context, on the endpoints
// where the token service may raise an event.
func withPeer(c *gin.Context) {
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), peerKey{}, c.ClientIP()))
}

// tokenEvent turns the token service's events into audit events.
func (b *Broker) tokenEvent(ctx context.Context, e tokensvc.Event) {
	ev := store.AuditEvent{Actor: actorClient(e.ClientID), UserID: e.UserID, ClientID: e.ClientID}
	ev.IP, _ = ctx.Value(peerKey{}).(string)
	if e.FamilyID != "" {
		ev.Details = map[string]string{"session": e.FamilyID}
	}
	switch e.Type {
	case tokensvc.EventRevoked:
		ev.Type = AuditTokenRevoke
	case tokensvc.EventRefreshReplay:
		ev.Type = AuditRefreshReplay
	default:
		ev.Type = "token." + e.Type
	}
	b.audit(ctx, ev)
	if e.Ended { // back-channel logout (backchannel.go)
		b.backchannel.sessionEnded(ctx, e)
	}
}

func actorUser(id string) string {
	if id == "" {
		return "anonymous"
	}
	return "user:" + id
}

func actorClient(id string) string { return "client:" + id }

// RecordAdminEvent writes an administrator's change to the audit trail
// and the log at once, for tools that change the store without a running
// Broker (the CLI, the configuration's seeding); with st nil, to the log
// only. what becomes the type "admin.<what>"; actor says who ("config",
// "cli:<os user>").
func RecordAdminEvent(ctx context.Context, st store.Store, log *slog.Logger, retention time.Duration, actor, what string, details map[string]string) error {
	if retention <= 0 {
		retention = DefaultAuditRetention
	}
	e := store.AuditEvent{Type: AuditAdminPrefix + what, Actor: actor, Details: details}
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
