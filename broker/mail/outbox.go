package mail

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sync/atomic"
	"time"

	"github.com/portico-idp/portico/broker/store"
)

// RecordKind is the kind of the store records that hold queued messages.
const RecordKind = "mail-outbox"

// Defaults of OutboxOptions.
const (
	DefaultPollInterval = 15 * time.Second
	DefaultLease        = 5 * time.Minute
	DefaultBackoffBase  = 30 * time.Second
	DefaultBackoffCap   = time.Hour
	DefaultMaxAge       = 24 * time.Hour
	DefaultBatch        = 50
	DefaultMaxQueue     = 5000

	// recordTimeout bounds the store write that records an outcome.
	recordTimeout = 30 * time.Second
)

// ErrQueueFull is Enqueue's answer when the outbox holds MaxQueue
// messages: the SMTP server has been down a long time, or someone is
// making Portico send mail in bulk. A flow answers "try again later".
var ErrQueueFull = errors.New("mail: the outbox is full")

// Store is what the outbox needs of the broker's store (store.Store has
// it): records, with PutRecord a compare-and-swap on Version.
type Store interface {
	GetRecord(ctx context.Context, kind, key string) (store.Record, error)
	PutRecord(ctx context.Context, r store.Record) error
	DeleteRecord(ctx context.Context, kind, key string) error
	ListRecords(ctx context.Context, kind, prefix string) ([]store.Record, error)
}

// OutboxOptions configures NewOutbox. Store and Sender are required.
type OutboxOptions struct {
	Store Store
	// Sender sends each message. An *SMTP gets the Message-ID and Date
	// chosen at Enqueue, so that every attempt sends the same message;
	// another Sender makes its own.
	Sender Sender
	// Owner names this replica in the leases it takes; empty means a
	// random one.
	Owner string
	// Now is the clock of leases, backoff and ages; nil means time.Now.
	// (The store expires a record no worker took by its own clock.)
	Now func() time.Time
	// Logger gets one line per message outcome; nil means slog.Default().
	Logger *slog.Logger
	// Metrics, if not nil, counts outcomes and the queue's depth.
	Metrics *Metrics
	// PollInterval is how often Run looks for due messages when nothing
	// wakes it.
	PollInterval time.Duration
	// Lease is how long a claim on a message lasts: a replica that dies
	// while sending leaves the message to another after it. A send is cut
	// at half the lease, so that it ends before another replica may
	// retry.
	Lease time.Duration
	// A failed attempt n (from 1) is retried after BackoffBase·2^(n-1),
	// at most BackoffCap, less up to Jitter of it (0 to 1) at random so
	// that replicas' retries spread out.
	BackoffBase, BackoffCap time.Duration
	Jitter                  float64
	// MaxAge is how long a message is tried; MaxAttempts, if positive,
	// bounds its attempts too. Then it is dropped, with a log line.
	MaxAge      time.Duration
	MaxAttempts int
	// Batch bounds the messages one pass sends.
	Batch int
	// MaxQueue bounds the messages queued, as this replica last counted
	// them (plus those it queued since): Enqueue refuses more with
	// ErrQueueFull.
	MaxQueue int
}

// Outbox is a queue of messages in the store, sent by a worker (Run) on
// every replica. Safe for concurrent use.
type Outbox struct {
	o    OutboxOptions
	wake chan struct{}
	// depth is the queue's length as the last pass counted it, plus
	// the messages enqueued here since.
	depth atomic.Int64
}

// entry is a queued message as the store keeps it.
type entry struct {
	Message  Message   `json:"message"`
	ID       string    `json:"id"` // the Message-ID header
	Created  time.Time `json:"created"`
	Attempts int       `json:"attempts"` // claims so far
	Next     time.Time `json:"next"`     // when it is due
	// Owner holds a claim until LeaseUntil.
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
}

// NewOutbox returns an outbox; Run starts its worker.
func NewOutbox(o OutboxOptions) (*Outbox, error) {
	if o.Store == nil || o.Sender == nil {
		return nil, errors.New("mail: outbox needs a store and a sender")
	}
	if o.Jitter < 0 || o.Jitter > 1 {
		return nil, errors.New("mail: outbox jitter must be from 0 to 1")
	}
	if o.Owner == "" {
		o.Owner = rand.Text()[:12]
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.PollInterval = cmp.Or(max(o.PollInterval, 0), DefaultPollInterval)
	o.Lease = cmp.Or(max(o.Lease, 0), DefaultLease)
	o.BackoffBase = cmp.Or(max(o.BackoffBase, 0), DefaultBackoffBase)
	o.BackoffCap = max(cmp.Or(max(o.BackoffCap, 0), DefaultBackoffCap), o.BackoffBase)
	o.MaxAge = cmp.Or(max(o.MaxAge, 0), DefaultMaxAge)
	o.Batch = cmp.Or(max(o.Batch, 0), DefaultBatch)
	o.MaxQueue = cmp.Or(max(o.MaxQueue, 0), DefaultMaxQueue)
	return &Outbox{o: o, wake: make(chan struct{}, 1)}, nil
}

// Enqueue validates m and stores it for the worker; it returns once the
// store has it. The message (which may hold a secret link) lives only in
// the store: nothing of it is logged.
func (b *Outbox) Enqueue(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if b.depth.Load() >= int64(b.o.MaxQueue) {
		return ErrQueueFull
	}
	now := b.o.Now()
	e := entry{Message: m, ID: "<" + rand.Text() + "@portico.invalid>", Created: now, Next: now}
	if s, ok := b.o.Sender.(*SMTP); ok {
		if from, err := parseAddress("from", s.From); err == nil {
			e.ID = newID(from)
		}
	}
	val, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("mail: enqueue: %w", err)
	}
	key := rand.Text()
	r := store.Record{Kind: RecordKind, Key: key, Value: val,
		// The store drops what no worker took in time.
		Expiry: now.Add(b.o.MaxAge + b.o.Lease + time.Hour)}
	if err := b.o.Store.PutRecord(ctx, r); err != nil {
		return fmt.Errorf("mail: enqueue: %w", err)
	}
	b.depth.Add(1)
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run sends due messages until ctx ends: at once when Enqueue adds one,
// otherwise every PollInterval. It returns ctx's error.
func (b *Outbox) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-b.wake:
		case <-t.C:
		}
		n, _ := b.pass(ctx)
		wait := b.o.PollInterval
		if n == b.o.Batch {
			wait = 0 // more may be due
		}
		t.Reset(wait)
	}
}

// RunOnce runs one pass: it claims and sends up to Batch due messages,
// one after the other, and returns how many were sent, with an error
// joining the store's and the failed deliveries' errors.
func (b *Outbox) RunOnce(ctx context.Context) (sent int, err error) {
	sent, errs := b.pass(ctx)
	return sent, errors.Join(errs...)
}

func (b *Outbox) pass(ctx context.Context) (sent int, errs []error) {
	recs, err := b.o.Store.ListRecords(ctx, RecordKind, "")
	if err != nil {
		b.o.Logger.Error("mail outbox: listing the queue failed", "err", err)
		return 0, []error{fmt.Errorf("mail: outbox: %w", err)}
	}
	b.depth.Store(int64(len(recs)))
	now := b.o.Now()
	type due struct {
		r store.Record
		e entry
	}
	var todo []due
	for _, r := range recs {
		var e entry
		if err := json.Unmarshal(r.Value, &e); err != nil {
			// Not ours to read: leave it for its Expiry.
			continue
		}
		if e.Next.After(now) || (e.Owner != "" && e.LeaseUntil.After(now)) {
			continue
		}
		todo = append(todo, due{r, e})
	}
	slices.SortFunc(todo, func(x, y due) int { return x.e.Next.Compare(y.e.Next) })
	for _, d := range todo {
		if sent+len(errs) >= b.o.Batch || ctx.Err() != nil {
			break
		}
		ok, err := b.attempt(ctx, d.r, d.e)
		if ok {
			sent++
		} else if err != nil {
			errs = append(errs, err)
			var se *Error
			if errors.As(err, &se) && se.serverDown() {
				// The next message would fail alike: it waits for the
				// next pass, which tries one again.
				break
			}
		}
	}
	b.o.Metrics.setDepth(int(b.depth.Load()))
	return sent, errs
}

// attempt claims r and sends it. It reports whether it sent it; err is
// why not, nil when another replica had claimed it first.
func (b *Outbox) attempt(ctx context.Context, r store.Record, e entry) (bool, error) {
	now := b.o.Now()
	e.Attempts++
	e.Owner, e.LeaseUntil = b.o.Owner, now.Add(b.o.Lease)
	if err := b.put(ctx, &r, e); err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			return false, nil // another replica claimed or sent it
		}
		b.o.Logger.Error("mail outbox: claiming a message failed", "err", err)
		return false, fmt.Errorf("mail: outbox: claim: %w", err)
	}

	sctx, cancel := context.WithTimeout(ctx, b.o.Lease/2)
	var err error
	if s, ok := b.o.Sender.(*SMTP); ok {
		err = s.send(sctx, e.Message, e.ID, e.Created)
	} else {
		err = b.o.Sender.Send(sctx, e.Message)
	}
	cancel()
	now = b.o.Now()

	// What follows records the outcome even when ctx has just ended
	// (the server stopping): a sent message left in the queue would be
	// sent again after its lease.
	ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err == nil {
		b.outcome(e, "sent", nil)
		if derr := b.remove(ctx, r.Key); derr != nil {
			// Sent but still queued: after the lease another attempt
			// sends it again (at least once, docs/mail.md).
			b.o.Logger.Error("mail outbox: removing a sent message failed", "id", e.ID, "err", derr)
		}
		return true, nil
	}

	next := now.Add(b.backoff(e.Attempts))
	giveUp := IsPermanent(err) || next.After(e.Created.Add(b.o.MaxAge)) ||
		(b.o.MaxAttempts > 0 && e.Attempts >= b.o.MaxAttempts)
	if giveUp {
		b.outcome(e, "failed", err)
		if derr := b.remove(ctx, r.Key); derr != nil {
			b.o.Logger.Error("mail outbox: removing a failed message failed", "id", e.ID, "err", derr)
		}
		return false, err
	}
	b.outcome(e, "retried", err)
	e.Owner, e.LeaseUntil, e.Next = "", time.Time{}, next
	if perr := b.put(ctx, &r, e); perr != nil &&
		!errors.Is(perr, store.ErrConflict) && !errors.Is(perr, store.ErrNotFound) {
		b.o.Logger.Error("mail outbox: rescheduling a message failed", "id", e.ID, "err", perr)
	}
	return false, err
}

// remove deletes a message done with; one already gone is no error.
func (b *Outbox) remove(ctx context.Context, key string) error {
	err := b.o.Store.DeleteRecord(ctx, RecordKind, key)
	if err == nil && b.depth.Add(-1) < 0 {
		b.depth.Store(0)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// put stores e in r, a compare-and-swap on r.Version, and moves r to the
// stored version.
func (b *Outbox) put(ctx context.Context, r *store.Record, e entry) error {
	val, err := json.Marshal(e)
	if err != nil {
		return err
	}
	r.Value = val
	if err := b.o.Store.PutRecord(ctx, *r); err != nil {
		return err
	}
	r.Version++
	return nil
}

// backoff is the wait after attempt n (from 1).
func (b *Outbox) backoff(n int) time.Duration {
	d := b.o.BackoffBase
	for i := 1; i < n && d < b.o.BackoffCap; i++ {
		d *= 2
	}
	d = min(d, b.o.BackoffCap)
	if b.o.Jitter > 0 {
		span := int64(float64(d) * b.o.Jitter)
		if span > 0 {
			r, _ := rand.Int(rand.Reader, big.NewInt(span))
			d -= time.Duration(r.Int64())
		}
	}
	return d
}

// outcome logs and counts what became of a message: its kind, Message-ID,
// the recipient's domain, the attempt and the error's class, stage and
// reply code. Never the address, the subject or the body.
func (b *Outbox) outcome(e entry, result string, err error) {
	attrs := []any{
		"kind", e.Message.Kind, "id", e.ID, "domain", domainOf(e.Message.To),
		"attempt", e.Attempts, "result", result,
	}
	level := slog.LevelInfo
	if err != nil {
		attrs = append(attrs, "error_class", errorClass(err))
		var se *Error
		if errors.As(err, &se) {
			attrs = append(attrs, "stage", se.Stage)
			if c := se.Code(); c != 0 {
				attrs = append(attrs, "code", c)
			}
			if st := se.Status(); st != "" {
				attrs = append(attrs, "status", st)
			}
		}
		level = slog.LevelWarn
		if result == "failed" {
			level = slog.LevelError
		}
	}
	b.o.Logger.Log(context.Background(), level, "mail "+result, attrs...)
	b.o.Metrics.count(e.Message.Kind, result)
}
