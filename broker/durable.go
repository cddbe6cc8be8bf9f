package broker

import (
	"bufio"
	"errors"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/store"
)

// durable holds back each answer until what its request read is durable
// (store.ReadMark): with a store whose reads may see a write just before
// its sync (badger with sync_writes), a request that read it must not
// answer first, or a crash between would take back what the answer stood
// on. Most requests read nothing undurable and pass at once; one that did
// waits for the sync in flight, which it would have waited for at each of
// its reads before (issue 24).
func (b *Broker) durable(c *gin.Context) {
	if b.opts.Syncer == nil {
		c.Next()
		return
	}
	ctx, mark := store.WithReadMark(c.Request.Context())
	c.Request = c.Request.WithContext(ctx)
	w := &durableWriter{ResponseWriter: c.Writer, wait: func() error {
		seq := mark.Seq()
		var err error
		if seq > 0 {
			err = b.opts.Syncer.WaitDurable(ctx, seq)
		}
		mark.Answered(err == nil) // store.AfterAnswer
		return err
	}}
	c.Writer = w
	c.Next()
	// gin sends the header of an answer without a body after the
	// handlers return, on its own writer: decide before.
	w.before()
}

// durableWriter waits before the first byte of the answer leaves; if the
// wait fails, the answer becomes a 503 (the store could not make durable
// what the handler read).
type durableWriter struct {
	gin.ResponseWriter
	wait    func() error
	checked bool
	failed  bool
}

func (w *durableWriter) before() {
	if w.checked || w.ResponseWriter.Written() {
		return
	}
	w.checked = true
	if err := w.wait(); err != nil {
		w.failed = true
		h := w.ResponseWriter.Header()
		clear(h)
		// RFC 6749 §5.2's form, which OAuth clients parse; the rare
		// case (a failed sync) needs no page of its own.
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.ResponseWriter.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.ResponseWriter.WriteString(`{"error":"temporarily_unavailable","error_description":"the store is unavailable; try again later"}` + "\n")
	}
}

func (w *durableWriter) WriteHeaderNow() {
	w.before()
	if !w.failed {
		w.ResponseWriter.WriteHeaderNow()
	}
}

func (w *durableWriter) Write(p []byte) (int, error) {
	w.before()
	if w.failed {
		return len(p), nil // the handler's answer is replaced
	}
	return w.ResponseWriter.Write(p)
}

func (w *durableWriter) WriteString(s string) (int, error) {
	w.before()
	if w.failed {
		return len(s), nil
	}
	return w.ResponseWriter.WriteString(s)
}

func (w *durableWriter) Flush() {
	w.before()
	w.ResponseWriter.Flush()
}

// Unwrap lets http.ResponseController reach the connection (body.go
// answers an oversized body while it still arrives); what it writes goes
// through this writer first.
func (w *durableWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands the connection over only once the wait is done.
func (w *durableWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.before()
	if w.failed {
		return nil, nil, errors.New("the answer was replaced: the store is unavailable")
	}
	return w.ResponseWriter.Hijack()
}
