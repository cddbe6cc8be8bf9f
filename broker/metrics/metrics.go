// Package metrics gives Portico its operational endpoints: Prometheus
// metrics (/metrics) and the liveness and readiness probes (/healthz,
// /readyz). It provides building blocks (a gin middleware, an audit
// observer, a store decorator, connector observers, health handlers); the
// server assembly decides where they are wired and served.
//
// Every label takes its values from a bounded set: route patterns, never
// raw paths; configured connector ids; constant kinds and reasons. A label
// fed from request data would let any client create series without bound
// and exhaust the server's memory and the Prometheus server's.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/internal/version"
	"github.com/portico-idp/portico/sdk"
)

// Connector kinds, the values of the kind label.
const (
	KindBuiltin = "builtin" // compiled into Portico (local, LDAP, OIDC, SAML)
	KindProcess = "process" // a go-plugin child process
	KindWasm    = "wasm"    // a WebAssembly module
)

// Label values that stand for "none" or "outside the known set".
const (
	// RouteUnmatched is the route label of requests no route matched
	// (404, 405): their paths are anyone's to invent.
	RouteUnmatched = "unmatched"
	// ConnectorNone is the connector label of a login event without a
	// connector (a passkey login that failed before one was known).
	ConnectorNone = "none"
	// Other replaces a label value outside its bounded set.
	Other = "other"
)

// Metrics holds Portico's collectors in a registry of its own, so that two
// servers in one process (tests, testenv) never share or clash over series.
// It is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry
	// beforeScrape run before each scrape: gauges read at that moment,
	// such as the LDAP pools'.
	mu           sync.Mutex
	beforeScrape []func()

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	logins   *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	security *prometheus.CounterVec
	// backchannel counts back-channel logout deliveries by result.
	backchannel *prometheus.CounterVec

	storeDuration *prometheus.HistogramVec
	storeErrors   *prometheus.CounterVec
	// Whether the store takes writes, and Badger's free space and floor:
	// set before each scrape by WatchStore.
	storeRefusing prometheus.Gauge
	storeFree     prometheus.Gauge
	storeMinFree  prometheus.Gauge
	// now is the clock of the store decorator's memory of refused writes.
	now func() time.Time

	connectorDuration *prometheus.HistogramVec
	connectorErrors   *prometheus.CounterVec
	connectorRestarts *prometheus.CounterVec
	ldapPool          *prometheus.GaugeVec
	ldapServerUp      *prometheus.GaugeVec // issue 18: LDAP failover
}

// Histogram buckets, in seconds. Store operations take microseconds to a
// few milliseconds (more when fsyncing or when PostgreSQL is remote);
// connector calls include password hashing and upstream round trips.
var (
	storeBuckets     = prometheus.ExponentialBuckets(0.0001, 2.5, 12) // 100µs to ~2.4s
	connectorBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
)

// New returns Metrics registered in a new registry together with the Go
// runtime, process and build information collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_logins_total",
			Help: "Logins, by connector and outcome (success, failure), with the failure's reason.",
		}, []string{"connector", "outcome", "reason"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_tokens_total",
			Help: "Token operations: issued, refreshed, revoked.",
		}, []string{"kind"}),
		security: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_security_events_total",
			Help: "Security audit events (replays, cloned passkeys), by audit type.",
		}, []string{"type"}),
		backchannel: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_backchannel_logouts_total",
			Help: "Back-channel logout deliveries to relying parties, by result (delivered, failed).",
		}, []string{"result"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_store_operation_duration_seconds",
			Help:    "Time of a store operation, by method.",
			Buckets: storeBuckets,
		}, []string{"op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_store_errors_total",
			Help: "Store operations that failed, by method; not-found, conflict and already-exists are answers, not failures.",
		}, []string{"op"}),
		storeRefusing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_store_refusing_writes",
			Help: "1 while the store refuses writes (Badger's filesystem below storage.min_free_space, PostgreSQL out of disk or another resource), else 0.",
		}),
		storeFree: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_store_free_bytes",
			Help: "Free space on the filesystem of the Badger data directory, as last measured.",
		}),
		storeMinFree: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_store_min_free_bytes",
			Help: "Free space below which the Badger store refuses writes (storage.min_free_space).",
		}),
		now: time.Now,
		connectorDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_connector_call_duration_seconds",
			Help:    "Time of a call into a connector, by connector kind, id and operation.",
			Buckets: connectorBuckets,
		}, []string{"kind", "connector", "op"}),
		connectorErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_connector_call_errors_total",
			Help: "Connector calls that failed; invalid credentials and a gone user are answers, not failures.",
		}, []string{"kind", "connector", "op"}),
		connectorRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_connector_restarts_total",
			Help: "Restarts of an out-of-process or WebAssembly connector.",
		}, []string{"kind", "connector"}),
		ldapPool: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portico_ldap_pool_connections",
			Help: "Connections of an LDAP connector's pool, by state (in_use, idle).",
		}, []string{"connector", "state"}),
		ldapServerUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portico_ldap_server_up",
			Help: "1 when an LDAP connector's server is up, 0 while it is marked down after a failure (until the health check sees it back).",
		}, []string{"connector", "server"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		newBuildInfo(version.Get()), // issue 19: portico_build_info
		m.httpRequests, m.httpDuration,
		m.logins, m.tokens, m.security, m.backchannel,
		m.storeDuration, m.storeErrors, m.storeRefusing,
		m.connectorDuration, m.connectorErrors, m.connectorRestarts, m.ldapPool, m.ldapServerUp,
	)
	// Series that exist from the start, at zero, so that rate() and alerts
	// see a first increase rather than a series appearing.
	for _, kind := range []string{"issued", "refreshed", "revoked"} {
		m.tokens.WithLabelValues(kind)
	}
	for _, r := range []string{"delivered", "failed"} {
		m.backchannel.WithLabelValues(r)
	}
	return m
}

// Registry is the registry the metrics are in, for a caller that adds
// collectors of its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats. A
// collector failing leaves its series out of the scrape rather than
// failing the whole scrape, and the failures are counted in
// promhttp_metric_handler_errors_total.
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:      m.reg,
		ErrorHandling: promhttp.ContinueOnError,
		// A scrape slower than this is abandoned; Prometheus's own
		// default scrape timeout is 10 s.
		Timeout: 10 * time.Second,
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		fs := m.beforeScrape
		m.mu.Unlock()
		for _, f := range fs {
			f()
		}
		h.ServeHTTP(w, r)
	})
}

// BeforeScrape runs f before each scrape, to set gauges that are read
// rather than kept up to date (a pool's size).
func (m *Metrics) BeforeScrape(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.beforeScrape = append(m.beforeScrape, f)
}

// GinMiddleware records every request's count and duration by route
// pattern (gin's FullPath), never by raw path. Use it before the broker's
// recoverer, so that it sees the 500 that a recovered panic becomes.
func (m *Metrics) GinMiddleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = RouteUnmatched
		}
		method := boundedMethod(c.Request.Method)
		m.httpRequests.WithLabelValues(route, method, strconv.Itoa(c.Writer.Status())).Inc()
		m.httpDuration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	}
}

// boundedMethod keeps the standard methods and folds any other into Other:
// a client may send any token as a method, and a 404 or 405 still counts.
func boundedMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return Other
}

// Audit event types counted; they are the broker's (broker/audit.go), which
// this package cannot import: the broker imports it.
const (
	auditLoginSuccess = "login.success"
	auditLoginFailure = "login.failure"
	auditTokenIssue   = "token.issue"
	auditTokenRefresh = "token.refresh"
	auditTokenRevoke  = "token.revoke"
	auditSecurity     = "security."
	// Back-channel logout outcomes (broker/backchannel.go).
	auditBackchannelDelivered = "logout.backchannel_delivered"
	auditBackchannelFailed    = "logout.backchannel_failed"
)

// ObserveAudit counts the logins, token operations and security events
// among audit events. The broker calls it for every event it records; it
// is cheap and never blocks.
func (m *Metrics) ObserveAudit(e store.AuditEvent) {
	switch {
	case e.Type == auditLoginSuccess:
		m.logins.WithLabelValues(connectorLabel(e.ConnectorID), "success", "").Inc()
	case e.Type == auditLoginFailure:
		m.logins.WithLabelValues(connectorLabel(e.ConnectorID), "failure", constantLabel(e.Details["reason"])).Inc()
	case e.Type == auditTokenIssue:
		m.tokens.WithLabelValues("issued").Inc()
	case e.Type == auditTokenRefresh:
		m.tokens.WithLabelValues("refreshed").Inc()
	case e.Type == auditTokenRevoke:
		m.tokens.WithLabelValues("revoked").Inc()
	case e.Type == auditBackchannelDelivered:
		m.backchannel.WithLabelValues("delivered").Inc()
	case e.Type == auditBackchannelFailed:
		m.backchannel.WithLabelValues("failed").Inc()
	case strings.HasPrefix(e.Type, auditSecurity):
		m.security.WithLabelValues(constantLabel(e.Type)).Inc()
	}
}

func connectorLabel(id string) string {
	if id == "" {
		return ConnectorNone
	}
	return id
}

// constantLabel passes a value that has the shape of the broker's constants
// (audit types, failure reasons: "invalid_credentials",
// "security.code_replay") and folds anything else into Other. The broker
// sets these from constants only, so the set is bounded; the shape check
// keeps a free-text value (an error message, a name) from ever becoming a
// series should one be written there, without a list here to keep in step
// with the broker's.
func constantLabel(v string) string {
	if v == "" {
		return "unknown"
	}
	if len(v) > 48 {
		return Other
	}
	for _, r := range v {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' && r != '.' {
			return Other
		}
	}
	return v
}

// ObserveConnectorCall records a call into a connector: kind is KindBuiltin,
// KindProcess or KindWasm, connector its configured id, op what was asked
// ("login", "callback", "refresh"). An error counts as a failure unless it
// is a connector's answer (sdk.ErrInvalidCredentials, sdk.ErrUserGone) or
// the caller gave up (context.Canceled).
func (m *Metrics) ObserveConnectorCall(kind, connector, op string, d time.Duration, err error) {
	m.connectorDuration.WithLabelValues(kind, connector, op).Observe(d.Seconds())
	if err != nil && !errors.Is(err, sdk.ErrInvalidCredentials) && !errors.Is(err, sdk.ErrUserGone) &&
		!errors.Is(err, context.Canceled) {
		m.connectorErrors.WithLabelValues(kind, connector, op).Inc()
	}
}

// ConnectorRestarted counts a restart of a connector's process or module.
func (m *Metrics) ConnectorRestarted(kind, connector string) {
	m.connectorRestarts.WithLabelValues(kind, connector).Inc()
}

// SetLDAPServer reports whether one server (its URL) of an LDAP connector
// is up.
func (m *Metrics) SetLDAPServer(connector, server string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.ldapServerUp.WithLabelValues(connector, server).Set(v)
}

// SetLDAPPool reports an LDAP connector's pool: connections in use and idle.
func (m *Metrics) SetLDAPPool(connector string, inUse, idle int) {
	m.ldapPool.WithLabelValues(connector, "in_use").Set(float64(inUse))
	m.ldapPool.WithLabelValues(connector, "idle").Set(float64(idle))
}
