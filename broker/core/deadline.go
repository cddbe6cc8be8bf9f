package core

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// A connector may take longer than the HTTP server's write timeout allows
// a request (a plugin's deadline can be 5 minutes, a module's default is
// the server's default, 30 s): its answer, the 503 page included, would
// then be written to a connection the server has given up on, and the
// browser would see a reset. So every connector call has a deadline the
// broker enforces, the connector's own, and while it runs the
// connection's write deadline is moved to that deadline plus
// deadlineMargin. The relation between the two holds by construction, for
// any connector, whenever it was added. (The server's read timeout needs
// nothing: net/http lifts it once the body has been read.)

// DefaultConnectorDeadline bounds a call into a connector whose
// Connector.Deadline is not set: the built-in connectors, which bound
// each of their upstream calls themselves, with timeouts of up to five
// minutes (sdk/upstream.MaxTimeout). It is as long, so as to cut no call
// a configured timeout allows; it only stops a connector that does not
// keep to its own.
const DefaultConnectorDeadline = 5 * time.Minute

// deadlineMargin is what a request has after its connector's deadline to
// finish: store writes and the page.
const deadlineMargin = 10 * time.Second

// connDeadline is a request's connection write deadline, which handlers
// may move later (never earlier) through the request's context.
type connDeadline struct {
	mu    sync.Mutex
	rc    *http.ResponseController
	write time.Time // in force; zero when the server sets none
}

type deadlineKey struct{}

// WithDeadline returns r with its connection's write deadline in its
// context; timeout is the server's write timeout (zero: none).
func WithDeadline(w http.ResponseWriter, r *http.Request, timeout time.Duration) *http.Request {
	d := &connDeadline{rc: http.NewResponseController(w)}
	if timeout > 0 {
		d.write = time.Now().Add(timeout)
	}
	return r.WithContext(context.WithValue(r.Context(), deadlineKey{}, d))
}

// extend moves the write deadline to at least t. One the server does not
// set is left unset; so is one the connection cannot change (a test's
// recorder). net/http clears it when the request ends.
func (d *connDeadline) extend(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.write.IsZero() && t.After(d.write) && d.rc.SetWriteDeadline(t) == nil {
		d.write = t
	}
}

// deadlineOf is the deadline the broker holds a call into cn to.
func deadlineOf(cn *Connector) time.Duration {
	if cn.Deadline > 0 {
		return cn.Deadline
	}
	return DefaultConnectorDeadline
}

// WithConnectorDeadline returns the context for a call into cn: it ends
// at cn's deadline, and the request's connection stays open for the
// answer until deadlineMargin after it.
func WithConnectorDeadline(ctx context.Context, cn *Connector) (context.Context, context.CancelFunc) {
	d := deadlineOf(cn)
	if cd, ok := ctx.Value(deadlineKey{}).(*connDeadline); ok {
		cd.extend(time.Now().Add(d + deadlineMargin))
	}
	return context.WithTimeout(ctx, d)
}
