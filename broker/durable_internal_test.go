package broker

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/store"
)

// syncer is a store.Syncer that records its calls and what the answer
// held at each.
type syncer struct {
	rec   *httptest.ResponseRecorder
	calls []uint64
	sent  []bool // whether the answer had left when WaitDurable was called
	err   error
}

func (s *syncer) WaitDurable(_ context.Context, seq uint64) error {
	s.calls = append(s.calls, seq)
	s.sent = append(s.sent, s.rec.Body.Len() > 0 || s.rec.Code != http.StatusOK)
	return s.err
}

// TestDurableAnswers: an answer whose request read a write not yet
// durable (store.NoteRead) waits for it before its first byte, whether it
// has a body or not; a request that read nothing such does not wait; a
// failed wait turns the answer into a 503 without the handler's headers.
func TestDurableAnswers(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	handlers := map[string]gin.HandlerFunc{
		"/body":   func(c *gin.Context) { c.JSON(200, gin.H{"ok": true}) },
		"/nobody": func(c *gin.Context) { c.Status(http.StatusNoContent) },
		"/redirect": func(c *gin.Context) {
			c.SetCookie("s", "v", 60, "/", "", true, true)
			c.Redirect(http.StatusFound, "/next")
		},
	}
	for _, tc := range []struct {
		path   string
		read   uint64 // 0: nothing undurable read
		err    error
		status int
	}{
		{"/body", 0, nil, 200},
		{"/body", 7, nil, 200},
		{"/nobody", 7, nil, 204},
		{"/redirect", 7, nil, 302},
		{"/body", 7, errors.New("sync failed"), 503},
		{"/redirect", 7, errors.New("sync failed"), 503},
	} {
		rec := httptest.NewRecorder()
		sy := &syncer{rec: rec, err: tc.err}
		b := &Broker{opts: Options{Syncer: sy}}
		r := gin.New()
		r.Use(b.durable)
		h := handlers[tc.path]
		r.GET(tc.path, func(c *gin.Context) {
			if tc.read > 0 {
				store.NoteRead(c.Request.Context(), tc.read-1)
				store.NoteRead(c.Request.Context(), tc.read)
			}
			h(c)
		})
		r.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if rec.Code != tc.status {
			t.Errorf("%s, read %d, err %v: status %d, want %d", tc.path, tc.read, tc.err, rec.Code, tc.status)
		}
		switch {
		case tc.read == 0 && len(sy.calls) != 0:
			t.Errorf("%s: waited (%v) though nothing undurable was read", tc.path, sy.calls)
		case tc.read > 0 && (len(sy.calls) != 1 || sy.calls[0] != tc.read || sy.sent[0]):
			t.Errorf("%s: waits %v (answer already out: %v), want one for %d before the answer", tc.path, sy.calls, sy.sent, tc.read)
		}
		if tc.status == 503 && (rec.Header().Get("Location") != "" || rec.Header().Get("Set-Cookie") != "") {
			t.Errorf("%s: the 503 kept the handler's headers: %v", tc.path, rec.Header())
		}
		if tc.status == 503 && !strings.Contains(rec.Body.String(), `"error":"temporarily_unavailable"`) {
			t.Errorf("%s: the 503's body %q is not RFC 6749's temporarily_unavailable", tc.path, rec.Body.String())
		}
	}
}

// TestAfterAnswer: what a handler puts off until its answer goes out
// (store.AfterAnswer) runs before the answer's first byte when the wait
// succeeds or there is nothing to wait for, never when the answer is
// replaced, and at once where nothing holds answers back (no Syncer).
func TestAfterAnswer(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	for _, tc := range []struct {
		name   string
		syncer bool
		read   bool
		err    error
		ran    bool
	}{
		{name: "no syncer", ran: true},
		{name: "nothing undurable read", syncer: true, ran: true},
		{name: "wait succeeds", syncer: true, read: true, ran: true},
		{name: "wait fails", syncer: true, read: true, err: errors.New("sync failed")},
	} {
		rec := httptest.NewRecorder()
		b := &Broker{}
		if tc.syncer {
			b.opts.Syncer = &syncer{rec: rec, err: tc.err}
		}
		ran, before := false, false
		r := gin.New()
		r.Use(b.durable)
		r.GET("/", func(c *gin.Context) {
			ctx := c.Request.Context()
			if tc.read {
				store.NoteRead(ctx, 3)
			}
			store.AfterAnswer(ctx, func() { ran, before = true, rec.Body.Len() == 0 })
			if !tc.syncer && !ran {
				t.Errorf("%s: not run at once", tc.name)
			}
			c.JSON(200, gin.H{"ok": true})
		})
		r.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if ran != tc.ran || ran && !before {
			t.Errorf("%s: ran %v (before the answer %v), want %v", tc.name, ran, before, tc.ran)
		}
	}
}
