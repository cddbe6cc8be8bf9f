package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-idp/portico/broker/audit"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// OpenID Connect Back-Channel Logout 1.0: when a session ends — logout,
// an administrator ending it, the user disabled or deleted, a replayed
// refresh token, the refresh token revoked — the token service emits an
// event with Ended set (RevokeFamily, on the one replica whose
// compare-and-swap ended it). If the session's client registered a
// backchannel_logout_uri, a worker here POSTs it a logout token.
//
// Delivery never runs in the request that ended the session: the event
// only queues a job (a full queue drops it, audited), so an RP that is
// down or hangs cannot delay anyone's logout. Jobs wait in one queue per
// client, and at most bclLaneWorkers deliveries to one client run at once,
// so an RP that hangs holds up its own notifications only, never another
// client's (a registrant could otherwise stall everyone's with a slow
// endpoint). Each attempt has a timeout,
// follows no redirect and reads at most a little of the answer; failures
// worth retrying (a network error, 5xx, 429) are retried with backoff
// while the logout token is valid; each delivery ends in one audit event,
// delivered or failed, which metrics count.

const (
	bclWorkers     = 64   // deliveries running at once, in all
	bclLaneWorkers = 2    // of those, to one client
	bclLaneQueue   = 256  // jobs waiting for one client
	bclQueueSize   = 4096 // jobs waiting in all

	bclAttempts       = 5
	bclAttemptTimeout = 5 * time.Second
	bclMaxBackoff     = 30 * time.Second
	bclMaxBody        = 4 << 10 // bytes of an RP's answer read, then dropped
	// bclCloseGrace is how long Close lets queued deliveries run before
	// it cancels them.
	bclCloseGrace = 5 * time.Second
)

// bclJob is one ended session to tell its client about.
type bclJob struct {
	clientID, userID, session string
}

// backchannel delivers logout tokens in the background.
type backchannel struct {
	b      *Server
	client *http.Client
	guard  *http.Client // for dynamically registered clients (outbound.go)
	// wait sleeps before retry attempt+1 (attempt counts from 1); it
	// returns ctx's error if ctx ends first. Tests replace it.
	wait atomic.Pointer[func(ctx context.Context, attempt int) error]
	// grace is how long close lets queued deliveries run (bclCloseGrace).
	grace atomic.Int64

	mu      sync.Mutex // guards what follows
	closed  bool
	lanes   map[string]*bclLane // by client id, while it has jobs or workers
	queued  int                 // jobs waiting in all lanes
	running int                 // workers
	ctx     context.Context
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

func newBackchannel(b *Server) *backchannel {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	bc := &backchannel{
		b: b,
		client: &http.Client{
			Transport: tr,
			// §2.5 names one URL: a redirect is a failure, never followed
			// (it could point anywhere, the token with it).
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		lanes: map[string]*bclLane{},
	}
	bc.guard = withGuard(bc.client, bclAttemptTimeout)
	bc.guard.Transport.(*http.Transport).MaxIdleConnsPerHost = 4
	bc.ctx, bc.cancel = context.WithCancel(context.Background())
	bc.grace.Store(int64(bclCloseGrace))
	wait := backoffWait
	bc.wait.Store(&wait)
	return bc
}

// bclLane is one client's jobs and the workers on them.
type bclLane struct {
	jobs    []bclJob
	running int
}

// backoffWait waits 1s, 2s, 4s, ... (at most bclMaxBackoff) after
// attempt.
func backoffWait(ctx context.Context, attempt int) error {
	d := min(time.Second<<min(attempt-1, 10), bclMaxBackoff)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// sessionEnded queues a delivery for the session e names; it never blocks.
func (bc *backchannel) sessionEnded(ctx context.Context, e tokensvc.Event) {
	if e.ClientID == "" || e.FamilyID == "" {
		return
	}
	j := bclJob{clientID: e.ClientID, userID: e.UserID, session: e.FamilyID}
	queued, closed := bc.enqueue(j)
	if queued {
		return
	}
	reason := "queue_full"
	if closed {
		reason = "shutdown"
	}
	// Most sessions' clients have no URI, and reading
	// the client belongs to the worker; only now, to audit a loss that
	// matters, does the request read it.
	if cl, err := bc.b.store.GetClient(ctx, j.clientID); err == nil && cl.BackchannelLogoutURI != "" {
		bc.b.audit.Record(ctx, store.AuditEvent{Type: audit.BackchannelFailed, Actor: "system", UserID: j.userID, ClientID: j.clientID,
			Details: map[string]string{"session": j.session, "reason": reason}})
	}
}

// enqueue queues j in its client's lane unless that lane, the whole queue
// or the backchannel is full or closed, and starts a worker if the lane
// may have one more.
func (bc *backchannel) enqueue(j bclJob) (queued, closed bool) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.closed {
		return false, true
	}
	l := bc.lanes[j.clientID]
	if l == nil {
		l = &bclLane{}
		bc.lanes[j.clientID] = l
	}
	if len(l.jobs) >= bclLaneQueue || bc.queued >= bclQueueSize {
		return false, false
	}
	l.jobs = append(l.jobs, j)
	bc.queued++
	if l.running < bclLaneWorkers && bc.running < bclWorkers {
		l.running++
		bc.running++
		bc.done.Add(1)
		go bc.run(j.clientID)
	}
	return true, false
}

// next hands a worker that has been on lane id its next job: from that
// lane, or else from another lane with jobs and room for a worker (which
// one started when all workers were busy). ok is false when there is
// none: the worker has left its lane and must stop.
func (bc *backchannel) next(id string) (j bclJob, lane string, ok bool) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	l := bc.lanes[id]
	if len(l.jobs) == 0 {
		l.running--
		if l.running == 0 {
			delete(bc.lanes, id)
		}
		id, l = "", nil
		for oid, ol := range bc.lanes {
			if len(ol.jobs) > 0 && ol.running < bclLaneWorkers {
				id, l = oid, ol
				l.running++
				break
			}
		}
		if l == nil {
			bc.running--
			return bclJob{}, "", false
		}
	}
	j, l.jobs = l.jobs[0], l.jobs[1:]
	bc.queued--
	return j, id, true
}

// close stops taking jobs, lets the queued ones run for bclCloseGrace,
// then cancels what is left and waits for the workers.
func (bc *backchannel) close() {
	bc.mu.Lock()
	bc.closed = true
	bc.mu.Unlock()
	finished := make(chan struct{})
	go func() { bc.done.Wait(); close(finished) }()
	t := time.NewTimer(time.Duration(bc.grace.Load()))
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
		bc.cancel()
		<-finished
	}
	bc.cancel()
}

// run delivers the jobs of lane id, then of any lane short of workers.
func (bc *backchannel) run(id string) {
	defer bc.done.Done()
	for {
		j, lane, ok := bc.next(id)
		if !ok {
			return
		}
		id = lane
		bc.deliver(j)
	}
}

// deliver tells j's client, if it registered a back-channel logout URI,
// that j's session ended, and audits how that went.
func (bc *backchannel) deliver(j bclJob) {
	ctx := bc.ctx
	cl, err := bc.b.store.GetClient(ctx, j.clientID)
	if errors.Is(err, store.ErrNotFound) {
		return // deleted meanwhile: nobody to tell
	}
	if err == nil && cl.BackchannelLogoutURI == "" {
		return
	}
	fail := func(attempts int, reason string, status int) {
		if bc.ctx.Err() != nil {
			reason = "shutdown" // cancelled by close
		}
		d := map[string]string{"session": j.session, "reason": reason, "attempts": strconv.Itoa(attempts)}
		if status != 0 {
			d["status"] = strconv.Itoa(status)
		}
		bc.b.audit.Record(ctx, store.AuditEvent{Type: audit.BackchannelFailed, Actor: "system", UserID: j.userID, ClientID: j.clientID, Details: d})
		bc.b.log.Warn("back-channel logout failed", "client_id", j.clientID, "reason", reason, "attempts", attempts, "status", status)
	}
	if err != nil {
		bc.b.log.Error("back-channel logout: read client", "client_id", j.clientID, "err", err)
		fail(0, "store", 0)
		return
	}
	token, jti, err := bc.b.tokens.LogoutToken(tokensvc.Logout{
		ClientID: cl.ID, Subject: j.userID, Session: j.session, Alg: cl.IDTokenAlg,
	})
	if err != nil {
		bc.b.log.Error("back-channel logout: mint logout token", "client_id", j.clientID, "err", err)
		fail(0, "mint", 0)
		return
	}
	// Retries stop when the token expires: the RP would refuse it.
	ctx, cancel := context.WithTimeout(ctx, tokensvc.LogoutTokenTTL)
	defer cancel()
	body := url.Values{"logout_token": {token}}.Encode()
	for attempt := 1; ; attempt++ {
		status, err := bc.post(ctx, bc.b.guarded(cl), cl.BackchannelLogoutURI, body)
		if err == nil && status >= 200 && status < 300 {
			bc.b.audit.Record(ctx, store.AuditEvent{Type: audit.BackchannelDelivered, Actor: "system", UserID: j.userID, ClientID: j.clientID,
				Details: map[string]string{"session": j.session, "jti": jti, "attempts": strconv.Itoa(attempt), "status": strconv.Itoa(status)}})
			return
		}
		reason := "status"
		if err != nil {
			reason = "unreachable"
		}
		// §2.8: 400 is the RP refusing the token; a redirect or another
		// 4xx will not change on a retry either.
		retry := err != nil || status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
		if !retry || attempt == bclAttempts {
			fail(attempt, reason, status)
			return
		}
		if (*bc.wait.Load())(ctx, attempt) != nil {
			fail(attempt, "deadline", status)
			return
		}
	}
}

// post sends one attempt and returns the answer's status.
func (bc *backchannel) post(ctx context.Context, guarded bool, uri, body string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, bclAttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Portico back-channel logout")
	hc := bc.client
	if guarded {
		hc = bc.guard
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	// Read a little so the connection can be reused; the rest is dropped.
	io.Copy(io.Discard, io.LimitReader(resp.Body, bclMaxBody))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// SetBackchannelWait replaces the wait between back-channel logout
// attempts, so tests decide when a retry happens instead of sleeping.
func (p *Server) SetBackchannelWait(f func(ctx context.Context, attempt int) error) {
	p.backchannel.wait.Store(&f)
}

// SetBackchannelCloseGrace sets how long Close lets deliveries run.
func (p *Server) SetBackchannelCloseGrace(d time.Duration) { p.backchannel.grace.Store(int64(d)) }
