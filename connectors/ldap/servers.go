package ldap

// Several servers of one directory (urls), with failover: a server whose
// dial fails, or whose connection stops answering, is marked down and
// skipped while another is up, so that only the first login after the
// failure waits for it; a background health check dials the servers
// marked down every health_check_interval and marks them up when they
// answer. When no server is up, logins try them all in order (the
// directory may be back before the health check sees it).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// server is one directory server.
type server struct {
	url      string
	d        *dialer
	down     atomic.Bool
	attempts atomic.Int64 // dials tried, for tests and debugging
}

// servers are a connector's servers, in the order of urls.
type servers struct {
	list []*server
	log  *slog.Logger

	mu     sync.Mutex
	byConn map[*goldap.Conn]*server // open connections' servers

	stopOnce sync.Once
	done     chan struct{}
	wg       sync.WaitGroup
}

func newServers(cfg Config, tc *tls.Config, log *slog.Logger) (*servers, error) {
	ss := &servers{log: log, byConn: map[*goldap.Conn]*server{}, done: make(chan struct{})}
	for i, u := range cfg.URLs {
		d, err := newDialer(cfg, tc, u)
		if err != nil {
			return nil, fmt.Errorf("ldap: config.urls[%d]: %w", i, err)
		}
		if cfg.BindDN != "" {
			d.bind = func(lc *goldap.Conn) error { return lc.Bind(cfg.BindDN, cfg.BindPassword) }
		}
		ss.list = append(ss.list, &server{url: u, d: d})
	}
	return ss, nil
}

// dial connects to the first server not marked down (or, with all down,
// to the first that answers), marking down each one that fails.
func (ss *servers) dial(ctx context.Context) (*goldap.Conn, error) {
	up := ss.anyUp()
	var errs []error
	for _, s := range ss.list {
		if up && s.down.Load() {
			continue
		}
		s.attempts.Add(1)
		lc, err := s.d.dial(ctx)
		if err == nil {
			ss.markUp(s)
			ss.mu.Lock()
			ss.byConn[lc] = s
			ss.mu.Unlock()
			return lc, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
		ss.markDown(s, err)
	}
	if len(errs) == 0 { // cannot happen: with none up, all are tried
		return nil, errors.New("ldap: no server to try")
	}
	return nil, errors.Join(errs...)
}

// failed marks down the server of lc, which broke under an operation, and
// reports whether it knew lc.
func (ss *servers) failed(lc *goldap.Conn, err error) bool {
	ss.mu.Lock()
	s := ss.byConn[lc]
	ss.mu.Unlock()
	if s == nil {
		return false
	}
	ss.markDown(s, err)
	return true
}

// usable says whether an idle connection may be reused: not when its
// server was marked down since (it would hang or fail too).
func (ss *servers) usable(lc *goldap.Conn) bool {
	ss.mu.Lock()
	s := ss.byConn[lc]
	ss.mu.Unlock()
	return s == nil || !s.down.Load()
}

// forget drops a closed connection.
func (ss *servers) forget(lc *goldap.Conn) {
	ss.mu.Lock()
	delete(ss.byConn, lc)
	ss.mu.Unlock()
}

func (ss *servers) anyUp() bool {
	for _, s := range ss.list {
		if !s.down.Load() {
			return true
		}
	}
	return false
}

func (ss *servers) markDown(s *server, err error) {
	if !s.down.Swap(true) {
		ss.log.Warn("ldap: server marked down; logins go to the next server until the health check sees it back", "url", s.url, "err", err)
	}
}

func (ss *servers) markUp(s *server) {
	if s.down.Swap(false) {
		ss.log.Info("ldap: server back up", "url", s.url)
	}
}

// check dials every server marked down once, and marks it up if it
// answers (connect, TLS and service bind).
func (ss *servers) check(ctx context.Context) {
	for _, s := range ss.list {
		if !s.down.Load() {
			continue
		}
		s.attempts.Add(1)
		lc, err := s.d.dial(ctx)
		if err != nil {
			continue
		}
		lc.Close()
		ss.markUp(s)
	}
}

// start runs the health check every interval until stop.
func (ss *servers) start(interval time.Duration) {
	ss.wg.Add(1)
	go func() {
		defer ss.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ss.done:
				return
			case <-t.C:
				// Close ends a check under way: its dials are bound by
				// connect_timeout, and by this context.
				ctx, cancel := context.WithCancel(context.Background())
				go func() {
					select {
					case <-ss.done:
						cancel()
					case <-ctx.Done():
					}
				}()
				ss.check(ctx)
				cancel()
			}
		}
	}()
}

func (ss *servers) stop() {
	ss.stopOnce.Do(func() { close(ss.done) })
	ss.wg.Wait()
}

// ServerState is one server's state, for metrics and readiness.
type ServerState struct {
	URL string
	Up  bool
}

// Servers reports each server of the connector and whether it is up
// (not marked down by a failure).
func (c *Connector) Servers() []ServerState {
	out := make([]ServerState, len(c.servers.list))
	for i, s := range c.servers.list {
		out[i] = ServerState{URL: s.url, Up: !s.down.Load()}
	}
	return out
}
