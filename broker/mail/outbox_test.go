package mail_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portico-idp/portico/broker/mail"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/store/badger"
	"github.com/portico-idp/portico/broker/store/postgres"
	"github.com/portico-idp/portico/testenv"
)

// logs captures slog output, safe for concurrent use.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the captured lines that contain s.
func (l *logs) lines(s string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

// rig is an outbox with what a test looks at: its clock, logs and
// metrics.
type rig struct {
	*mail.Outbox
	clock *testenv.Clock
	t0    time.Time // the clock when the rig was made, for messages
	logs  *logs
	reg   *prometheus.Registry
}

func newRig(t *testing.T, st mail.Store, snd mail.Sender, clock *testenv.Clock, opts mail.OutboxOptions) *rig {
	t.Helper()
	r := &rig{clock: clock, t0: clock.Now(), logs: &logs{}, reg: prometheus.NewRegistry()}
	met, err := mail.NewMetrics(r.reg)
	if err != nil {
		t.Fatal(err)
	}
	opts.Store, opts.Sender, opts.Now, opts.Metrics = st, snd, clock.Now, met
	opts.Logger = slog.New(slog.NewTextHandler(r.logs, nil))
	if opts.BackoffBase == 0 {
		opts.BackoffBase, opts.BackoffCap = time.Minute, 10*time.Minute
	}
	if r.Outbox, err = mail.NewOutbox(opts); err != nil {
		t.Fatal(err)
	}
	return r
}

// metric returns the value of a series of the rig's registry, 0 if none.
func (r *rig) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// runOnce runs one pass and checks how many messages it sent.
func (r *rig) runOnce(t *testing.T, wantSent int, wantErr bool) {
	t.Helper()
	n, err := r.RunOnce(t.Context())
	if n != wantSent || (err != nil) != wantErr {
		t.Fatalf("RunOnce at +%v: sent %d, %v; want %d sent, error %v", r.clock.Now().Sub(r.t0), n, err, wantSent, wantErr)
	}
}

func openBadger(t *testing.T, dir string) *badger.Store {
	t.Helper()
	s, err := badger.Open(badger.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("badger.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openPostgres opens n stores on one fresh schema, as n replicas would.
func openPostgres(t *testing.T, n int) []store.Store {
	t.Helper()
	schema := testenv.PostgresSchema(t)
	var out []store.Store
	for range n {
		s, err := postgres.Open(t.Context(), postgres.Options{DSN: testenv.PostgresDSN(), Schema: schema, CleanupInterval: -1,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("postgres.Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out
}

func queued(t *testing.T, st mail.Store) int {
	t.Helper()
	recs, err := st.ListRecords(t.Context(), mail.RecordKind, "")
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// The server is down: the message waits in the store, each failed pass
// schedules the next attempt by the backoff on the injected clock, and
// once the server is back the message arrives, once.
func TestOutboxOutage(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	st := openBadger(t, t.TempDir())
	clock := testenv.NewClock()
	r := newRig(t, st, sender(mp, mail.TLSNone), clock, mail.OutboxOptions{})

	mp.Stop()
	if err := r.Enqueue(t.Context(), sample("Bob Été <bob@example.org>")); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	r.runOnce(t, 0, true) // attempt 1 fails: next in 1m
	if got := r.metric(t, "portico_mail_messages_total", map[string]string{"kind": "verify", "result": "retried"}); got != 1 {
		t.Errorf("retried = %v, want 1", got)
	}
	if got := r.metric(t, "portico_mail_queue_depth", nil); got != 1 {
		t.Errorf("queue depth = %v, want 1", got)
	}
	r.runOnce(t, 0, false) // not due: nothing tried
	clock.Advance(time.Minute - time.Second)
	r.runOnce(t, 0, false)
	clock.Advance(time.Second)
	r.runOnce(t, 0, true) // attempt 2 fails: next in 2m
	clock.Advance(2*time.Minute - time.Second)
	r.runOnce(t, 0, false)
	if got := r.metric(t, "portico_mail_messages_total", map[string]string{"kind": "verify", "result": "retried"}); got != 2 {
		t.Errorf("retried = %v, want 2", got)
	}

	mp.Start()
	clock.Advance(time.Second)
	r.runOnce(t, 1, false) // attempt 3
	r.runOnce(t, 0, false)
	clock.Advance(time.Hour)
	r.runOnce(t, 0, false)
	if n := queued(t, st); n != 0 {
		t.Errorf("%d messages still queued", n)
	}
	list := mp.WaitMessages(t, 1)
	if len(list) != 1 {
		t.Fatalf("%d messages arrived, want 1", len(list))
	}
	checkDelivered(t, mp.Message(t, list[0].ID), sample("Bob Été <bob@example.org>"))
	if got := r.metric(t, "portico_mail_messages_total", map[string]string{"kind": "verify", "result": "sent"}); got != 1 {
		t.Errorf("sent = %v, want 1", got)
	}
	if got := r.metric(t, "portico_mail_queue_depth", nil); got != 0 {
		t.Errorf("queue depth after the sending = %v, want 0", got)
	}
	if l := r.logs.lines("result=sent"); len(l) != 1 || !strings.Contains(l[0], "attempt=3") {
		t.Errorf("log lines of the sending: %q", l)
	}
}

// A message that keeps failing is tried until its maximum age, then
// dropped with a log line and a metric.
func TestOutboxGivesUp(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	mp.Stop()
	st := openBadger(t, t.TempDir())
	clock := testenv.NewClock()
	r := newRig(t, st, sender(mp, mail.TLSNone), clock, mail.OutboxOptions{
		BackoffBase: 4 * time.Minute, BackoffCap: time.Hour, MaxAge: 10 * time.Minute})
	if err := r.Enqueue(t.Context(), sample("bob@example.org")); err != nil {
		t.Fatal(err)
	}
	r.runOnce(t, 0, true) // next at +4m
	clock.Advance(4 * time.Minute)
	r.runOnce(t, 0, true) // the next would be at +12m, after the 10m: given up
	if n := queued(t, st); n != 0 {
		t.Errorf("%d messages still queued after giving up", n)
	}
	if got := r.metric(t, "portico_mail_messages_total", map[string]string{"kind": "verify", "result": "failed"}); got != 1 {
		t.Errorf("failed = %v, want 1", got)
	}
	if l := r.logs.lines("result=failed"); len(l) != 1 || !strings.Contains(l[0], "error_class=temporary") || !strings.Contains(l[0], "stage=dial") {
		t.Errorf("log lines of the failure: %q", l)
	}
}

// A permanent refusal drops the message at once. The log line says what
// happened without the address, subject, body or link.
func TestOutboxPermanentFailure(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{AllowedRecipients: `@example\.org$`})
	st := openBadger(t, t.TempDir())
	clock := testenv.NewClock()
	r := newRig(t, st, sender(mp, mail.TLSNone), clock, mail.OutboxOptions{})

	refused, ok := sample("Eve Secretname <eve.secretname@refused.example>"), sample("bob.secretname@example.org")
	ok.Kind = "reset"
	for _, m := range []mail.Message{refused, ok} {
		if err := r.Enqueue(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	n, err := r.RunOnce(t.Context())
	if n != 1 || !mail.IsPermanent(err) {
		t.Fatalf("RunOnce: sent %d, %v; want 1 sent and a permanent error", n, err)
	}
	if n := queued(t, st); n != 0 {
		t.Errorf("%d messages still queued", n)
	}
	clock.Advance(time.Hour)
	r.runOnce(t, 0, false)
	if got := len(mp.WaitMessages(t, 1)); got != 1 {
		t.Errorf("%d messages arrived, want 1", got)
	}

	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"kind": "verify", "result": "failed"}, 1},
		{map[string]string{"kind": "verify", "result": "retried"}, 0},
		{map[string]string{"kind": "reset", "result": "sent"}, 1},
	} {
		if got := r.metric(t, "portico_mail_messages_total", c.labels); got != c.want {
			t.Errorf("portico_mail_messages_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	failed := r.logs.lines("result=failed")
	if len(failed) != 1 {
		t.Fatalf("log lines of the failure: %q", failed)
	}
	t.Logf("the failure's log line: %s", failed[0])
	for _, want := range []string{"level=ERROR", "kind=verify", "domain=refused.example", "attempt=1",
		"error_class=permanent", "stage=rcpt", "code=5", "id=<"} {
		if !strings.Contains(failed[0], want) {
			t.Errorf("the failure's log line %q lacks %q", failed[0], want)
		}
	}
	if sent := r.logs.lines("result=sent"); len(sent) != 1 || !strings.Contains(sent[0], "domain=example.org") || !strings.Contains(sent[0], "kind=reset") {
		t.Errorf("log lines of the sending: %q", sent)
	}
	// Nothing of the messages but the domains: not the addresses, names,
	// subject, body or link.
	all := r.logs.String()
	for _, secret := range []string{"secretname", "SECRET-LINK-CODE", "Bonjour", "rifier", "Eve"} {
		if strings.Contains(all, secret) {
			t.Errorf("the logs hold %q:\n%s", secret, all)
		}
	}
}

// A message enqueued on one store is sent after the store is closed and
// opened again (a restart), by a new outbox.
func TestOutboxSurvivesRestart(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	dir := t.TempDir()
	clock := testenv.NewClock()
	st, err := badger.Open(badger.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, st, sender(mp, mail.TLSNone), clock, mail.OutboxOptions{})
	if err := r.Enqueue(t.Context(), sample("Bob Été <bob@example.org>")); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st2 := openBadger(t, dir)
	r2 := newRig(t, st2, sender(mp, mail.TLSNone), clock, mail.OutboxOptions{})
	r2.runOnce(t, 1, false)
	list := mp.WaitMessages(t, 1)
	if len(list) != 1 {
		t.Fatalf("%d messages arrived, want 1", len(list))
	}
	checkDelivered(t, mp.Message(t, list[0].ID), sample("Bob Été <bob@example.org>"))
}

// Replicas sharing a store send each message once, however their passes
// interleave.
func TestOutboxReplicas(t *testing.T) {
	stores := map[string]func(t *testing.T) []store.Store{
		"badger": func(t *testing.T) []store.Store {
			s := openBadger(t, t.TempDir()) // one process holds a Badger directory
			return []store.Store{s, s}
		},
		"postgres": func(t *testing.T) []store.Store { return openPostgres(t, 2) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
			sts := open(t)
			clock := testenv.NewClock()
			var rigs []*rig
			for i, st := range sts {
				rigs = append(rigs, newRig(t, st, sender(mp, mail.TLSNone), clock, mail.OutboxOptions{
					Owner: fmt.Sprintf("replica-%d", i), Batch: 3}))
			}
			const n = 24
			for i := range n {
				m := sample("bob@example.org")
				m.Subject = fmt.Sprintf("message %d", i)
				if err := rigs[i%2].Enqueue(t.Context(), m); err != nil {
					t.Fatal(err)
				}
			}
			// Both replicas pass until the queue is empty; a pass may
			// find every due message claimed by the other.
			var wg sync.WaitGroup
			sent := make([]int, len(rigs))
			for i, r := range rigs {
				wg.Go(func() {
					for range 100 * n { // a bound for a broken outbox, not for a slow machine
						k, err := r.RunOnce(t.Context())
						if err != nil {
							t.Errorf("replica %d: %v", i, err)
							return
						}
						sent[i] += k
						if k > 0 {
							continue
						}
						recs, err := sts[i].ListRecords(t.Context(), mail.RecordKind, "")
						if err != nil {
							t.Errorf("replica %d: %v", i, err)
							return
						}
						if len(recs) == 0 {
							return
						}
					}
				})
			}
			wg.Wait()
			if sent[0]+sent[1] != n {
				t.Errorf("replicas sent %v, want %d in all", sent, n)
			}
			list := mp.WaitMessages(t, n)
			seen := map[string]int{}
			for _, m := range list {
				seen[m.Subject]++
			}
			for i := range n {
				if c := seen[fmt.Sprintf("message %d", i)]; c != 1 {
					t.Errorf("message %d arrived %d times", i, c)
				}
			}
			if len(list) != n {
				t.Errorf("%d messages arrived, want %d", len(list), n)
			}
			t.Logf("replicas sent %v", sent)
		})
	}
}

// stuckSender claims like any sender but never finishes: a replica that
// died mid-send, as far as the store can tell.
type stuckSender struct{ called chan struct{} }

func (s stuckSender) Send(ctx context.Context, m mail.Message) error {
	close(s.called)
	<-ctx.Done()
	return ctx.Err()
}

// A message claimed by a replica that never finishes is sent by another
// once the lease is over, and only then.
func TestOutboxLeaseExpiry(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	st := openBadger(t, t.TempDir())
	clock := testenv.NewClock()
	opts := mail.OutboxOptions{Lease: 10 * time.Minute}
	stuck := stuckSender{called: make(chan struct{})}
	dead := newRig(t, st, stuck, clock, opts)
	live := newRig(t, st, sender(mp, mail.TLSNone), clock, opts)
	if err := live.Enqueue(t.Context(), sample("bob@example.org")); err != nil {
		t.Fatal(err)
	}

	ctx, kill := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, err := dead.RunOnce(ctx); done <- err }()
	<-stuck.called

	live.runOnce(t, 0, false) // leased by the other
	clock.Advance(10*time.Minute - time.Second)
	live.runOnce(t, 0, false)
	clock.Advance(time.Second)
	live.runOnce(t, 1, false)

	kill()
	if err := <-done; err == nil {
		t.Error("the stuck replica's pass reported no error")
	}
	// The stuck replica's late reschedule does not bring it back.
	if n := queued(t, st); n != 0 {
		t.Errorf("%d messages queued after the sending", n)
	}
	clock.Advance(time.Hour)
	live.runOnce(t, 0, false)
	if got := len(mp.WaitMessages(t, 1)); got != 1 {
		t.Errorf("%d messages arrived, want 1", got)
	}
}

// Run sends a message as soon as Enqueue adds it, without waiting for its
// poll interval.
func TestOutboxRunWakes(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	st := openBadger(t, t.TempDir())
	r := newRig(t, st, sender(mp, mail.TLSNone), testenv.NewClock(), mail.OutboxOptions{PollInterval: 24 * time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	if err := r.Enqueue(t.Context(), sample("bob@example.org")); err != nil {
		t.Fatal(err)
	}
	mp.WaitMessages(t, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
}

// Enqueue refuses what could not be sent, and stores nothing.
func TestOutboxEnqueueRefuses(t *testing.T) {
	st := openBadger(t, t.TempDir())
	r := newRig(t, st, &mail.SMTP{Host: "127.0.0.1", TLS: mail.TLSNone, From: "id@example.com"}, testenv.NewClock(), mail.OutboxOptions{})
	bad := sample("bob@example.org\r\nBcc: eve@example.com")
	if err := r.Enqueue(t.Context(), bad); !errors.Is(err, mail.ErrInvalid) {
		t.Errorf("Enqueue with an injected header: %v, want ErrInvalid", err)
	}
	if n := queued(t, st); n != 0 {
		t.Errorf("%d messages queued", n)
	}
}

// The outbox holds at most MaxQueue messages: more are refused until
// some are sent.
func TestOutboxQueueFull(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	mp.Stop()
	st := openBadger(t, t.TempDir())
	clock := testenv.NewClock()
	r := newRig(t, st, sender(mp, mail.TLSNone), clock, mail.OutboxOptions{MaxQueue: 2})
	for range 2 {
		if err := r.Enqueue(t.Context(), sample("bob@example.org")); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Enqueue(t.Context(), sample("bob@example.org")); !errors.Is(err, mail.ErrQueueFull) {
		t.Fatalf("a third Enqueue: %v, want ErrQueueFull", err)
	}
	r.runOnce(t, 0, true) // the first fails; the second waits: still full
	if got := r.metric(t, "portico_mail_messages_total", map[string]string{"kind": "verify", "result": "retried"}); got != 1 {
		t.Errorf("retried = %v, want 1: a pass tries one message while the server is down", got)
	}
	if err := r.Enqueue(t.Context(), sample("bob@example.org")); !errors.Is(err, mail.ErrQueueFull) {
		t.Fatalf("Enqueue after a failed pass: %v, want ErrQueueFull", err)
	}
	mp.Start()
	clock.Advance(time.Minute)
	r.runOnce(t, 2, false)
	if err := r.Enqueue(t.Context(), sample("bob@example.org")); err != nil {
		t.Errorf("Enqueue after the queue emptied: %v", err)
	}
	if n := queued(t, st); n != 1 {
		t.Errorf("%d queued, want 1", n)
	}
}

// failingDeletes is a store that loses every delete, as a replica that
// dies (or loses the database) right after the server took a message.
type failingDeletes struct{ mail.Store }

func (failingDeletes) DeleteRecord(context.Context, string, string) error {
	return store.ErrUnavailable
}

// Delivery is at least once, as docs/mail.md says: a message sent but
// not removed is sent again after the lease, with the same Message-ID.
func TestOutboxAtLeastOnce(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	st := openBadger(t, t.TempDir())
	clock := testenv.NewClock()
	opts := mail.OutboxOptions{Lease: 10 * time.Minute}
	dying := newRig(t, failingDeletes{st}, sender(mp, mail.TLSNone), clock, opts)
	live := newRig(t, st, sender(mp, mail.TLSNone), clock, opts)
	if err := dying.Enqueue(t.Context(), sample("bob@example.org")); err != nil {
		t.Fatal(err)
	}
	dying.runOnce(t, 1, false)
	if l := dying.logs.lines("removing a sent message failed"); len(l) != 1 {
		t.Errorf("log lines of the lost delete: %q", l)
	}
	live.runOnce(t, 0, false) // still leased
	clock.Advance(10 * time.Minute)
	live.runOnce(t, 1, false)
	list := mp.WaitMessages(t, 2)
	if len(list) != 2 || list[0].MessageID == "" || list[0].MessageID != list[1].MessageID {
		t.Errorf("the two copies: %+v, want the same Message-ID", list)
	}
	if n := queued(t, st); n != 0 {
		t.Errorf("%d messages queued", n)
	}
}
