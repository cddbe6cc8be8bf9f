package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/portico-idp/portico/broker/store"
)

// notifyChannel is the channel migration 0002's triggers notify; the
// payload is "<schema>/<table>", as one database may hold several schemas.
const notifyChannel = "portico_sync"

// Backoff between attempts to listen again after a lost connection: short
// at first (a restarted server is back quickly), never hammering a dead one.
const (
	relistenMin = 100 * time.Millisecond
	relistenMax = 10 * time.Second
)

var _ store.Watcher = (*Store)(nil)

// Watch implements store.Watcher with LISTEN on a connection of its own,
// outside the pool (a pooled connection goes back to others, and LISTEN
// must hold one for as long as it waits). The channel receives after each
// notification for this store's schema, and after each LISTEN that
// succeeds, the first included: notifications sent while no connection
// was listening are lost, so the receiver reloads then too. A lost
// connection is listened on again with a backoff. Sends coalesce in a
// buffer of one; the watch ends with ctx or Close.
func (s *Store) Watch(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.jobCtx, cancel) // Close ends it too
	s.watchers.Add(1)
	go func() {
		defer s.watchers.Done()
		defer stop()
		defer cancel()
		signal := func() {
			select {
			case ch <- struct{}{}:
			default: // one is pending: the receiver reloads everything anyway
			}
		}
		wait := relistenMin
		for ctx.Err() == nil {
			listened, err := s.listen(ctx, signal)
			if ctx.Err() != nil {
				return
			}
			if listened {
				wait = relistenMin
			}
			s.log.Warn("postgres: listening for other replicas' changes failed; listening again (the poll covers the gap)",
				"err", err, "retry_in", wait)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, relistenMax)
		}
	}()
	return ch
}

// listen connects, listens and signals until the connection fails or ctx
// ends; listened says whether LISTEN succeeded.
func (s *Store) listen(ctx context.Context, signal func()) (listened bool, err error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	// Lets an operator (and a test) find this connection in
	// pg_stat_activity.
	cfg.RuntimeParams["application_name"] = "portico listen " + s.schema
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return false, err
	}
	signal()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		if i := strings.LastIndexByte(n.Payload, '/'); i >= 0 && n.Payload[:i] == s.schema {
			signal()
		}
	}
}
