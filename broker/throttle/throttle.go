// Package throttle slows down online guessing: of passwords at the login
// form, of TOTP and recovery codes at the second factor, of client secrets
// at the token endpoint.
//
// # Why
//
// Whoever can post a form can guess. A 6-digit TOTP code falls to a few
// hundred thousand posts; a password from a list of common ones to far
// fewer. A Limiter answers each failure with an exponentially growing
// delay (Policy.BaseDelay, doubling, capped at Policy.MaxDelay) once a key
// has used its Policy.FreeFailures, and locks the key for Policy.LockFor
// after Policy.LockAfter failures. With the defaults an account gets about
// ten guesses, then one per LockFor: a lock cannot be waited out for a
// fresh set, because failures are remembered for Policy.Window after the
// penalty they caused ends, and one more failure locks again at once.
//
// # Per account and per address
//
// Both are needed, for two different attacks. Distributed guessing sends
// one account's guesses from many addresses (a botnet, a cloud's address
// pool): only a counter per account sees it. Password spraying tries one or
// two common passwords against many accounts from one address: every
// account sees one failure, which no per-account counter minds; only a
// counter per address sees it. So a login passes both keys, Login(name)
// and IP(addr), and is refused while either is throttled. IPv6 addresses
// are counted per /64, which one subscriber usually holds whole. Many
// people share one address behind a NAT, so the "ip" scope usually gets a
// more lenient Policy (WithScope) than the account.
//
// # Unknown accounts are throttled the same
//
// The caller keys by the login name as submitted, normalised by Login, not
// by the account it finds (or by whether it finds one). If only existing
// accounts were delayed and locked, a 429 where a 401 was expected would
// tell an attacker which names exist; keyed by the submitted name, "alice"
// and "no-such-user" follow the same schedule, and no account lookup is
// needed before deciding. The caller must also answer a throttled attempt
// the same way for both.
//
// # Why the state is in the store
//
// Counters in memory would be reset by every restart, and with several
// replicas behind a load balancer each would count a share of the guesses:
// n replicas would give an attacker n times the budget. Kept as store
// records (kind "throttle"), the counters hold across restarts and
// replicas, are updated by compare-and-swap so that concurrent failures
// are all counted, and carry an Expiry so that the store drops them once
// they no longer matter. Record keys are the scope and a SHA-256 of the
// ID, not the ID itself: people type passwords into the username field,
// and what they submitted should not be kept readable, nor be longer than
// a hash.
//
// # Check reserves the attempt
//
// Checking first and counting the failure after verification leaves a
// window: a burst of requests sent together all pass the check before the
// first failure is recorded, and each of them gets its guess verified. So
// Check, when it allows, counts the attempt as pending on every key, and
// pending attempts count against the key as if they had failed: of fifty
// guesses sent at once for a fresh key, FreeFailures+1 get through. The
// caller then reports how the attempt ended:
//
//	d, err := l.Check(ctx, throttle.Login(name), throttle.IP(addr))
//	// err: answer 503; !d.Allowed: answer 429 with d.RetryAfterHeader(),
//	// without verifying anything.
//	switch ok, err := verify(); {
//	case err != nil: // no answer about the credential (503)
//		l.Release(ctx, throttle.Login(name), throttle.IP(addr))
//	case !ok:
//		l.Fail(ctx, throttle.Login(name), throttle.IP(addr))
//	default:
//		l.Succeed(ctx, throttle.Login(name), throttle.IP(addr))
//	}
//
// A pending attempt that is never reported lapses after
// Policy.AttemptTimeout.
//
// Success forgets the failures of the account it proved, but not those of
// the address: an attacker spraying from one address who owns one real
// account could otherwise reset the address's counter by logging in to it
// between guesses. The address's failures lapse after the Window instead.
//
// The price of locks is that anyone can lock an account for LockFor by
// failing to log in to it. It is bounded, and a back-off alone (LockAfter
// negative) leaves guessing open at MaxDelay per guess; the defaults
// choose the lock.
//
// For rates that are not about guessing, such as token requests per
// client, see Rate.
package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/store"
)

// Records is the part of store.Store this package uses.
type Records interface {
	GetRecord(ctx context.Context, kind, key string) (store.Record, error)
	PutRecord(ctx context.Context, r store.Record) error
	DeleteRecord(ctx context.Context, kind, key string) error
}

// Kind is the record kind of a Limiter's counters.
const Kind = "throttle"

// Scopes of the keys Login and IP make. Callers may use others, such as
// "totp" keyed by user id for second-factor codes, or "client" keyed by
// client id for client secrets.
const (
	ScopeLogin = "login"
	ScopeIP    = "ip"
)

// Key names what is counted: a scope and an ID within it.
type Key struct {
	Scope string
	ID    string
}

// Login is the key of a login name as submitted, trimmed and lower-cased,
// whether or not an account has it: see the package doc.
func Login(name string) Key {
	return Key{Scope: ScopeLogin, ID: strings.ToLower(strings.TrimSpace(name))}
}

// IP is the key of a client address: an IPv4 address itself, an IPv6
// address's /64. Something that is not an address is kept as it is
// (trimmed), so that it is throttled too, if all such together.
func IP(addr string) Key {
	addr = strings.TrimSpace(addr)
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return Key{Scope: ScopeIP, ID: addr}
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		return Key{Scope: ScopeIP, ID: netip.PrefixFrom(a, 64).Masked().String()}
	}
	return Key{Scope: ScopeIP, ID: a.String()}
}

// recordKey is the scope and the hashed ID (see the package doc).
func (k Key) recordKey() string {
	sum := sha256.Sum256([]byte(k.ID))
	return k.Scope + "/" + base64.RawURLEncoding.EncodeToString(sum[:])
}

func (k Key) validate() error {
	if k.Scope == "" || strings.Contains(k.Scope, "/") {
		return fmt.Errorf("throttle: invalid scope %q: empty or with a '/'", k.Scope)
	}
	return nil
}

// Policy is how a Limiter treats the keys of a scope. Zero fields take the
// defaults given; negative durations are invalid.
type Policy struct {
	// FreeFailures are the failures a key may have without delay. 0 means
	// 3; a negative value means none.
	FreeFailures int
	// BaseDelay is the delay after the first failure beyond FreeFailures;
	// each further failure doubles it. 0 means 1s.
	BaseDelay time.Duration
	// MaxDelay caps the doubling. 0 means 5m.
	MaxDelay time.Duration
	// LockAfter is the number of failures that locks the key, and every
	// failure beyond it locks it again. 0 means 10; a negative value means
	// never.
	LockAfter int
	// LockFor is how long a lock lasts. 0 means 15m.
	LockFor time.Duration
	// Window is how long failures are remembered after the delay or lock
	// of the latest one has ended. 0 means 15m.
	Window time.Duration
	// AttemptTimeout is how long an attempt Check allowed counts as
	// pending when neither Fail, Succeed nor Release reports its end.
	// 0 means 1m; it should exceed the slowest verification.
	AttemptTimeout time.Duration
}

func (p Policy) withDefaults() (Policy, error) {
	for name, d := range map[string]time.Duration{
		"BaseDelay": p.BaseDelay, "MaxDelay": p.MaxDelay, "LockFor": p.LockFor,
		"Window": p.Window, "AttemptTimeout": p.AttemptTimeout,
	} {
		if d < 0 {
			return p, fmt.Errorf("throttle: policy: %s %v is negative", name, d)
		}
	}
	orDefault := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	orDefault(&p.BaseDelay, time.Second)
	orDefault(&p.MaxDelay, 5*time.Minute)
	orDefault(&p.LockFor, 15*time.Minute)
	orDefault(&p.Window, 15*time.Minute)
	orDefault(&p.AttemptTimeout, time.Minute)
	switch {
	case p.FreeFailures == 0:
		p.FreeFailures = 3
	case p.FreeFailures < 0:
		p.FreeFailures = 0
	}
	if p.LockAfter == 0 {
		p.LockAfter = 10
	}
	return p, nil
}

// penalty is how long a key with n failures waits after the latest.
func (p Policy) penalty(n int) time.Duration {
	if p.LockAfter > 0 && n >= p.LockAfter {
		return p.LockFor
	}
	if n <= p.FreeFailures {
		return 0
	}
	d := p.BaseDelay
	// At most 63 doublings before the cap stops it; halving the cap
	// instead of doubling d keeps the comparison from overflowing.
	for range n - p.FreeFailures - 1 {
		if d > p.MaxDelay/2 {
			return p.MaxDelay
		}
		d *= 2
	}
	return min(d, p.MaxDelay)
}

// Decision is whether an attempt may go ahead, and if not, when to retry.
type Decision struct {
	Allowed bool
	// RetryAfter is zero when allowed, otherwise rounded up to whole
	// seconds, the unit of HTTP's Retry-After.
	RetryAfter time.Duration
}

// RetryAfterHeader is the value of a 429 answer's Retry-After header.
func (d Decision) RetryAfterHeader() string {
	return fmt.Sprint(int64(d.RetryAfter / time.Second))
}

var allowed = Decision{Allowed: true}

func deny(wait time.Duration) Decision {
	return Decision{RetryAfter: roundUp(wait)}
}

// roundUp rounds d up to a whole second, and at least one: a client told
// to retry after 0 seconds would retry at once and be refused again.
func roundUp(d time.Duration) time.Duration {
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return max(d, time.Second)
}

// worst combines the decisions about several keys: refused if any refuses,
// after the longest wait.
func worst(a, b Decision) Decision {
	if a.Allowed {
		return b
	}
	if b.Allowed {
		return a
	}
	return Decision{RetryAfter: max(a.RetryAfter, b.RetryAfter)}
}

// Limiter throttles keys by failures, in store records. It is safe for
// concurrent use, and several Limiters on one store (replicas) share the
// counters.
type Limiter struct {
	recs   Records
	now    func() time.Time
	policy Policy
	scoped map[string]Policy
	clean  *cleanMemory // nil: every Peek reads (WithCleanMemory)
	unrec  *unrecorded  // failures the store refused, shared by copies
}

// New returns a Limiter that applies p to every scope without a policy of
// its own (see WithScope). now is the clock (time.Now outside tests); it
// should agree with the store's, which drops expired records by its own.
func New(recs Records, p Policy, now func() time.Time) (*Limiter, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	if recs == nil || now == nil {
		return nil, errors.New("throttle: new limiter: no store or no clock")
	}
	return &Limiter{recs: recs, now: now, policy: p, unrec: newUnrecorded()}, nil
}

// WithScope returns a copy of l that applies p to the keys of scope; l is
// unchanged.
func (l *Limiter) WithScope(scope string, p Policy) (*Limiter, error) {
	if err := (Key{Scope: scope}).validate(); err != nil {
		return nil, err
	}
	p, err := p.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("scope %s: %w", scope, err)
	}
	c := *l
	c.scoped = make(map[string]Policy, len(l.scoped)+1)
	for s, sp := range l.scoped {
		c.scoped[s] = sp
	}
	c.scoped[scope] = p
	return &c, nil
}

func (l *Limiter) policyOf(scope string) Policy {
	if p, ok := l.scoped[scope]; ok {
		return p
	}
	return l.policy
}

// state is a key's record value.
type state struct {
	Failures int `json:"f,omitempty"`
	// Pending counts attempts Check allowed whose end is not reported;
	// they lapse at PendingUntil.
	Pending      int       `json:"p,omitempty"`
	PendingUntil time.Time `json:"pu,omitzero"`
	// Last is the latest failure or allowed attempt: penalties run from it.
	Last time.Time `json:"l"`
}

// load decodes r as it stands at now: a missing or expired record is a
// fresh state, lapsed pending attempts are gone. The record's Expiry is
// compared with the Limiter's clock, not left to the store's.
func load(r store.Record, now time.Time) (state, error) {
	var s state
	if r.Version == 0 || !now.Before(r.Expiry) {
		return s, nil
	}
	if err := json.Unmarshal(r.Value, &s); err != nil {
		return state{}, fmt.Errorf("decode record: %w", err)
	}
	if !now.Before(s.PendingUntil) {
		s.Pending, s.PendingUntil = 0, time.Time{}
	}
	return s, nil
}

// until is when the key's penalty ends, counting pending attempts as
// failures.
func (s state) until(p Policy) time.Time {
	return s.Last.Add(p.penalty(s.Failures + s.Pending))
}

// expiry is when the state stops mattering: the penalty's end, plus the
// Window if there were failures, and not before pending attempts lapse. A
// state with nothing in it expires at once.
func (s state) expiry(p Policy) time.Time {
	end := s.until(p)
	if s.Failures > 0 {
		end = end.Add(p.Window)
	}
	if s.Pending > 0 && s.PendingUntil.After(end) {
		end = s.PendingUntil
	}
	return end
}

// Peek is Check without reserving the attempt: for showing whether keys
// are throttled, never for deciding whether to verify a credential.
func (l *Limiter) Peek(ctx context.Context, keys ...Key) (Decision, error) {
	d := allowed
	var gen uint64
	if l.clean != nil {
		now := l.now()
		unknown := keys[:0:0]
		for _, k := range keys {
			ok, g := l.clean.known(k.recordKey(), now)
			if _, un := l.unrec.of(k.recordKey(), now); !ok || un {
				unknown = append(unknown, k)
			}
			gen = g
		}
		if len(unknown) == 0 {
			return d, nil
		}
		keys = unknown
	}
	recs, err := l.read(ctx, keys)
	if err != nil {
		return Decision{}, err
	}
	var clean []string
	for _, k := range keys {
		now := l.now()
		p := l.policyOf(k.Scope)
		r, ok := recs[k.recordKey()]
		if _, un := l.unrec.of(k.recordKey(), now); !ok && !un {
			clean = append(clean, k.recordKey())
			continue
		}
		s, err := load(r, now)
		if err != nil {
			return Decision{}, fmt.Errorf("throttle: peek %s: %w", k.Scope, err)
		}
		s = l.unrec.with(s, k.recordKey(), now)
		if u := s.until(p); now.Before(u) {
			d = worst(d, deny(u.Sub(now)))
		}
	}
	if l.clean != nil && len(clean) > 0 {
		l.clean.remember(clean, gen, l.now())
	}
	return d, nil
}

// multiGetter is a store that reads several records at one point in
// time: Peek reads every key at each client authentication, and each read
// transaction waits for the commits in flight (docs/performance.md).
type multiGetter interface {
	GetRecords(ctx context.Context, kind string, keys ...string) ([]store.Record, error)
}

// read returns the live counters of keys, by record key, in one read if
// the store can.
func (l *Limiter) read(ctx context.Context, keys []Key) (map[string]store.Record, error) {
	names := make([]string, len(keys))
	for i, k := range keys {
		if err := k.validate(); err != nil {
			return nil, err
		}
		names[i] = k.recordKey()
	}
	out := make(map[string]store.Record, len(keys))
	if m, ok := l.recs.(multiGetter); ok {
		recs, err := m.GetRecords(ctx, Kind, names...)
		if err != nil {
			return nil, fmt.Errorf("throttle: peek: %w", err)
		}
		for _, r := range recs {
			out[r.Key] = r
		}
		return out, nil
	}
	for i, name := range names {
		r, err := l.recs.GetRecord(ctx, Kind, name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("throttle: peek %s: %w", keys[i].Scope, err)
		}
		out[name] = r
	}
	return out, nil
}

// Check decides whether an attempt on keys may go ahead: refused while any
// key is throttled. When allowed, the attempt is pending on every key
// until the caller reports its end with Fail, Succeed or Release (see the
// package doc). When refused, nothing is counted, and the caller must not
// verify the credential: an answer to it, even a late one, would let the
// guessing go on.
func (l *Limiter) Check(ctx context.Context, keys ...Key) (Decision, error) {
	keys = unique(keys)
	// Reading first keeps a refusal from reserving some keys only to
	// release them, the usual case under attack.
	if d, err := l.Peek(ctx, keys...); err != nil || !d.Allowed {
		return d, err
	}
	for i, k := range keys {
		d := allowed
		p := l.policyOf(k.Scope)
		err := l.update(ctx, k, func(s *state, now time.Time) bool {
			if u := l.unrec.with(*s, k.recordKey(), now).until(p); now.Before(u) { // lost a race since Peek
				d = deny(u.Sub(now))
				return false
			}
			d = allowed
			s.Pending++
			s.PendingUntil = now.Add(p.AttemptTimeout)
			s.Last = latest(s.Last, now)
			return true
		})
		if err == nil && d.Allowed {
			continue
		}
		if rerr := l.Release(ctx, keys[:i]...); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if err != nil {
			return Decision{}, fmt.Errorf("throttle: check %s: %w", k.Scope, err)
		}
		return d, nil
	}
	return allowed, nil
}

// endTimeout bounds recording an attempt's end, which its request's
// context does not: a client that hung up still made its guess, and an
// attempt left pending would count as a failure until it lapsed (a login
// abandoned by the browser answered the next one 429).
const endTimeout = 10 * time.Second

func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
}

// Fail records a failed attempt on every key, ending an attempt Check
// allowed, whether or not ctx has ended. It tries every key and returns
// what went wrong with any.
func (l *Limiter) Fail(ctx context.Context, keys ...Key) error {
	ctx, cancel := detach(ctx)
	defer cancel()
	var errs []error
	for _, k := range unique(keys) {
		err := l.update(ctx, k, func(s *state, now time.Time) bool {
			s.Failures++
			if s.Pending > 0 {
				s.Pending--
			}
			s.Last = latest(s.Last, now)
			return true
		})
		if err != nil {
			// Counted here until it would have expired: a store refusing
			// writes must not open the door (unrecorded).
			l.unrec.add(k.recordKey(), l.policyOf(k.Scope), l.now())
			errs = append(errs, fmt.Errorf("throttle: record failure of %s: %w", k.Scope, err))
		}
	}
	return errors.Join(errs...)
}

// Succeed ends an attempt that proved the credential of account: the
// account's failures are forgotten, so that its owner is not delayed by
// guesses that came before (and attempts pending on it at that moment are
// forgotten with them). The attempt's other keys (the address) only lose
// it as pending, keeping their failures: see the package doc.
func (l *Limiter) Succeed(ctx context.Context, account Key, others ...Key) error {
	if err := account.validate(); err != nil {
		return err
	}
	ctx, cancel := detach(ctx)
	defer cancel()
	others = slices.DeleteFunc(unique(others), func(k Key) bool { return k == account })
	l.unrec.forget(account.recordKey())
	err := l.recs.DeleteRecord(ctx, Kind, account.recordKey())
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	} else if err != nil {
		err = fmt.Errorf("throttle: forget failures of %s: %w", account.Scope, err)
	}
	return errors.Join(err, l.Release(ctx, others...))
}

// Release ends an attempt Check allowed that neither failed nor succeeded,
// such as one the connector could not answer: it stops counting as
// pending, and counts as nothing.
func (l *Limiter) Release(ctx context.Context, keys ...Key) error {
	ctx, cancel := detach(ctx)
	defer cancel()
	var errs []error
	for _, k := range unique(keys) {
		err := l.update(ctx, k, func(s *state, _ time.Time) bool {
			if s.Pending == 0 {
				return false
			}
			s.Pending--
			return true
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("throttle: release %s: %w", k.Scope, err))
		}
	}
	return errors.Join(errs...)
}

// update applies change to k's state by compare-and-swap; change returns
// false to write nothing. It may run several times, on fresh reads.
func (l *Limiter) update(ctx context.Context, k Key, change func(s *state, now time.Time) bool) error {
	if err := k.validate(); err != nil {
		return err
	}
	p := l.policyOf(k.Scope)
	if l.clean != nil {
		defer l.clean.forget(k.recordKey()) // after the write: see cleanMemory
	}
	return modify(ctx, l.recs, Kind, k.recordKey(), func(r store.Record) (store.Record, bool, error) {
		now := l.now()
		s, err := load(r, now)
		if err != nil {
			return r, false, err
		}
		if !change(&s, now) {
			return r, false, nil
		}
		v, err := json.Marshal(s)
		if err != nil {
			return r, false, fmt.Errorf("encode record: %w", err)
		}
		return store.Record{Value: v, Expiry: s.expiry(p)}, true, nil
	})
}

// maxAttempts bounds the read-decide-write rounds of one update. Each lost
// round means another writer's round won, so a writer among n contending
// ones loses at most n-1 times; giving up after many more is a store that
// keeps failing, not a race.
const maxAttempts = 100

// modify is the compare-and-swap loop on the record of kind and key.
// decide gets the stored record (Version 0 if there is none) and returns
// the Value and Expiry to store, or false to store nothing. On a lost race
// (another writer's version, a record created or expired meanwhile) it
// reads again, after a short random pause that spreads the retries.
func modify(ctx context.Context, recs Records, kind, key string, decide func(store.Record) (store.Record, bool, error)) error {
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := pause(ctx, attempt); err != nil {
				return err
			}
		}
		cur, err := recs.GetRecord(ctx, kind, key)
		if errors.Is(err, store.ErrNotFound) {
			cur = store.Record{Kind: kind, Key: key}
		} else if err != nil {
			return err
		}
		next, write, err := decide(cur)
		if err != nil || !write {
			return err
		}
		next.Kind, next.Key, next.Version = kind, key, cur.Version
		err = recs.PutRecord(ctx, next)
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrAlreadyExists) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		return err
	}
	return fmt.Errorf("gave up after %d lost races: %w", maxAttempts, store.ErrConflict)
}

// pause waits a random time that grows with the attempt, up to about 5ms.
func pause(ctx context.Context, attempt int) error {
	t := time.NewTimer(rand.N(time.Duration(min(attempt, 50)) * 100 * time.Microsecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// unique drops repeated keys, so that a key passed twice is counted once.
func unique(keys []Key) []Key {
	out := make([]Key, 0, len(keys))
	for _, k := range keys {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
