package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/metrics"
)

// opsHandler serves /metrics, /healthz and /readyz.
func (s *Server) opsHandler() http.Handler {
	var h metrics.Health
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Metrics.Handler())
	mux.Handle("GET /healthz", h.Healthz())
	mux.Handle("GET /readyz", h.Readyz(
		metrics.StoreCheck(s.Store),
		metrics.KeysCheck(func() bool { return len(s.Tokens.JWKS()) > len(`{"keys":[]}`) }),
		s.ldapServersCheck(), // issue 18: LDAP failover (ldap_servers.go)
	))
	return mux
}

// handler is the broker, with the operational endpoints beside it unless
// ops.listen moves them to their own address.
func (s *Server) handler() http.Handler {
	if s.Config.Ops.Listen != "" {
		return s.Broker
	}
	ops := s.opsHandler()
	mux := http.NewServeMux()
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		mux.Handle(p, ops)
	}
	mux.Handle("/", s.Broker)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux would redirect "/scim/v2//Users" to its clean form with
		// an HTML body; the APIs answer such paths with their JSON 404.
		if strings.Contains(r.URL.Path, "//") && s.Broker.APIPath(r.URL.Path) {
			s.Broker.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// sync keeps this server in step with what other replicas change in the
// shared store: signing keys (a rotation, scheduled or made elsewhere) and
// connectors changed through the admin API, and empties the client cache.
// It reloads when the
// store signals a change (postgres: LISTEN/NOTIFY, store.Watcher) and
// every interval besides, which does the scheduled rotations and covers
// notifications that cannot arrive (a pooler that drops LISTEN), until ctx
// ends. Revocations and users need nothing: they are read from the store
// at each use.
func (s *Server) sync(ctx context.Context, every time.Duration) {
	var changed <-chan struct{} // nil: never ready
	if s.watch != nil {
		changed = s.watch.Watch(ctx)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-changed:
			s.clients.invalidate() // a client may have changed elsewhere
		}
		if err := s.Tokens.Maintain(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("sync: signing keys", "err", err)
		}
		if err := s.Broker.SyncConnectors(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("sync: connectors", "err", err)
		}
	}
}
