// Package local is the connector for accounts whose passwords Portico keeps
// itself. It checks a username (or email) and password against an argon2id
// hash held by the broker's store, reached through the small Accounts
// interface; it knows nothing else of the broker.
//
// # Why argon2id
//
// A stolen password database is attacked offline, on GPUs and ASICs that
// compute fast hashes by the billion. argon2id, the winner of the Password
// Hashing Competition and the recommendation of RFC 9106 and OWASP, makes
// every guess cost a configurable amount of memory as well as time, which
// is what such hardware is short of; the "id" variant resists both
// side-channel attacks (as argon2i) and time-memory trade-offs (as argon2d).
// DefaultParams is RFC 9106's second recommended option.
//
// # Why PHC strings
//
// Hashes imported from other systems (bcrypt, PBKDF2, scrypt: foreign.go)
// verify too, under the same semaphore and cost bounds, and are replaced
// by argon2id at the account's next successful login.
//
// Each hash is stored as a self-describing PHC string
// ($argon2id$v=19$m=65536,t=3,p=4$salt$hash) that carries its own
// parameters. Hashes made with older or other parameters therefore keep
// verifying, and are upgraded on the next successful login (see
// NeedsRehash). It is also the format of the reference argon2 CLI and
// library, passlib, argon2-cffi and PHP's password_hash, so accounts can be
// seeded or migrated from them. Parsing is strict: only argon2id version 19
// with m, t, p in that order and unpadded standard base64 is accepted, and
// absurd costs are refused before any work is done.
//
// # Why a semaphore
//
// One hash with DefaultParams holds 64 MiB for tens of milliseconds. With no
// bound, a burst of logins (or an attacker posting passwords) would allocate
// 64 MiB per request until the process ran out of memory. At most
// Config.MaxConcurrent hashes run at once (or as many as a Limiter's memory
// budget allows, across the connectors sharing it); a login that cannot get a slot
// within Config.QueueTimeout fails with an error wrapping sdk.ErrUnavailable,
// which the broker answers with 503 ("try later") rather than "wrong
// password".
//
// # Why a dummy hash
//
// If an unknown username were rejected at once and a known one only after a
// hash, response times would tell an attacker which usernames exist. For an
// unknown user the connector computes one argon2id hash with the configured
// parameters anyway (under the same semaphore) and then returns the same
// sdk.ErrInvalidCredentials as for a wrong password. An empty username or
// password is rejected at once, whoever it names, which tells nothing either.
// (An account whose stored hash has other parameters than the configured
// ones takes the time of its own parameters, until its first successful
// login upgrades it; the store's own lookup time is the store's concern.)
package local

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/portico-idp/portico/sdk"
)

// Account is a local account as the connector needs it.
type Account struct {
	ID            string // stable subject; never changes
	Username      string
	Email         string
	EmailVerified bool
	Name          string
	Groups        []string
	PasswordHash  string // PHC string (argon2id, or a foreign hash: foreign.go); empty means no password login
}

// Accounts is what the connector needs from the broker's store.
type Accounts interface {
	// AccountByLogin finds an account by username (exact) or email
	// (case-insensitive). It returns an error wrapping ErrNoAccount if
	// there is none.
	AccountByLogin(ctx context.Context, login string) (Account, error)
	// AccountByID finds an account by ID, or returns an error wrapping
	// ErrNoAccount.
	AccountByID(ctx context.Context, id string) (Account, error)
	// SetPasswordHash replaces the password hash of account id with newHash
	// if it is still oldHash (compare-and-swap), and fails otherwise. The
	// connector uses it to upgrade hash parameters on login.
	SetPasswordHash(ctx context.Context, id, oldHash, newHash string) error
}

// ErrNoAccount is returned (possibly wrapped) by Accounts when no account
// matches.
var ErrNoAccount = errors.New("local: no such account")

// DefaultQueueTimeout is how long a login waits for a hashing slot when
// Config.QueueTimeout is zero.
const DefaultQueueTimeout = 2 * time.Second

// Config configures a Connector. The zero value is usable.
type Config struct {
	// Params for new hashes, and the target of upgrades on login. The zero
	// value means DefaultParams.
	Params Params
	// MaxConcurrent bounds the hashes computed at once (each uses
	// Params.Memory KiB). Zero or less means runtime.GOMAXPROCS(0), which
	// is runtime.NumCPU() unless a container CPU limit or GOMAXPROCS
	// lowers it.
	MaxConcurrent int
	// Limiter, if set, is the semaphore instead of one of MaxConcurrent
	// slots: a limiter shared with other connectors holds them all to one
	// memory budget.
	Limiter *Limiter
	// QueueTimeout is how long a login waits for a hashing slot before it
	// fails with sdk.ErrUnavailable. Zero or less means DefaultQueueTimeout.
	QueueTimeout time.Duration
	// Logger receives warnings (an unusable stored hash, a failed upgrade,
	// a full queue). It is never given a password or a hash. Nil discards.
	Logger *slog.Logger
}

// Connector checks passwords of local accounts. It implements
// sdk.PasswordConnector and sdk.RefreshConnector and is safe for concurrent
// use.
type Connector struct {
	accounts     Accounts
	params       Params
	slots        chan struct{} // semaphore: one token per running hash (lim's)
	lim          *Limiter
	queueTimeout time.Duration
	log          *slog.Logger
	dummySalt    []byte // salt of the dummy hash computed for unknown users
	dummyKey     []byte

	// testHookHashing, if set, is called while a hashing slot is held,
	// before the hash is computed. Tests use it to hold the slot.
	testHookHashing func()
}

var (
	_ sdk.PasswordConnector = (*Connector)(nil)
	_ sdk.RefreshConnector  = (*Connector)(nil)
)

// New returns a connector over accounts. It panics if accounts is nil or
// cfg.Params is non-zero and invalid (check it first with Params.Validate).
func New(accounts Accounts, cfg Config) *Connector {
	if accounts == nil {
		panic("local: New with nil Accounts")
	}
	p := cfg.Params
	if p == (Params{}) {
		p = DefaultParams
	}
	if err := p.Validate(); err != nil {
		panic("local: New: " + err.Error())
	}
	n := cfg.MaxConcurrent
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	qt := cfg.QueueTimeout
	if qt <= 0 {
		qt = DefaultQueueTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Connector{
		accounts:     accounts,
		params:       p,
		queueTimeout: qt,
		log:          log,
		dummySalt:    make([]byte, p.SaltLen),
		dummyKey:     make([]byte, p.KeyLen),
	}
	c.lim = cfg.Limiter
	if c.lim == nil {
		c.lim = newLimiter(n, p, qt)
	}
	c.slots = c.lim.slots
	rand.Read(c.dummySalt) // never fails (crypto/rand crashes the program instead)
	rand.Read(c.dummyKey)
	return c
}

// MaxConcurrent is the number of hashes its semaphore lets run at once
// (shared with other connectors when Config.Limiter was).
func (c *Connector) MaxConcurrent() int { return cap(c.slots) }

// Params returns the parameters the connector hashes with.
func (c *Connector) Params() Params { return c.params }

// Login checks username (or email) and password. It returns
// sdk.ErrInvalidCredentials, unwrapped, for an empty username or password,
// an unknown account, an account without a usable hash and a wrong password
// alike, and an error wrapping sdk.ErrUnavailable when the store fails or no
// hashing slot frees up in time.
func (c *Connector) Login(ctx context.Context, _ sdk.Scopes, username, password string) (sdk.Identity, error) {
	if username == "" || password == "" {
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	acct, err := c.accounts.AccountByLogin(ctx, username)
	if errors.Is(err, ErrNoAccount) {
		return sdk.Identity{}, c.dummyHash(ctx, password)
	}
	if err != nil {
		return sdk.Identity{}, fmt.Errorf("%w: local: looking up account: %w", sdk.ErrUnavailable, err)
	}
	if acct.ID == "" {
		return sdk.Identity{}, fmt.Errorf("%w: local: store returned an account without an ID", sdk.ErrUnavailable)
	}

	release, err := c.acquire(ctx, HashMemory(acct.PasswordHash))
	if err != nil {
		return sdk.Identity{}, err
	}
	defer release() // held through a rehash too: that is a second hash
	if c.testHookHashing != nil {
		c.testHookHashing()
	}
	ok, err := Verify(password, acct.PasswordHash)
	if err != nil {
		// Broken or absent hash: nobody can log in with a password. Spend
		// the time of a real check so this account does not stand out.
		if acct.PasswordHash != "" {
			c.log.ErrorContext(ctx, "local: stored password hash is unusable", "account", acct.ID, "err", err)
		}
		c.computeDummy(password)
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	if !ok {
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	if NeedsRehash(acct.PasswordHash, c.params) {
		c.rehash(ctx, acct, password)
	}
	return identity(acct), nil
}

// ChangePassword replaces the password of account id with next if current
// is its password. It checks current and hashes next under one hashing
// slot, as a login with a rehash does, so it costs the server no more
// than a login. It returns sdk.ErrInvalidCredentials, unwrapped, for an
// empty or wrong current password, an empty next, or an account without
// a usable hash, and an error wrapping sdk.ErrUnavailable when the store
// fails, no slot frees up in time, or the hash changed meanwhile (another
// change won: the caller may try again).
func (c *Connector) ChangePassword(ctx context.Context, id, current, next string) error {
	if id == "" || current == "" || next == "" {
		return sdk.ErrInvalidCredentials
	}
	acct, err := c.accounts.AccountByID(ctx, id)
	if errors.Is(err, ErrNoAccount) {
		return c.dummyHash(ctx, current)
	} else if err != nil {
		return fmt.Errorf("%w: local: looking up account: %w", sdk.ErrUnavailable, err)
	}
	release, err := c.acquire(ctx, HashMemory(acct.PasswordHash))
	if err != nil {
		return err
	}
	defer release()
	if c.testHookHashing != nil {
		c.testHookHashing()
	}
	ok, err := Verify(current, acct.PasswordHash)
	if err != nil || !ok {
		return sdk.ErrInvalidCredentials
	}
	newHash, err := Hash(next, c.params)
	if err != nil {
		return fmt.Errorf("%w: local: hashing the new password: %w", sdk.ErrUnavailable, err)
	}
	if err := c.accounts.SetPasswordHash(ctx, acct.ID, acct.PasswordHash, newHash); err != nil {
		return fmt.Errorf("%w: local: storing the new password: %w", sdk.ErrUnavailable, err)
	}
	return nil
}

// AccountKey names the account login denotes (its id), without checking
// any password, so that a caller throttling guesses counts an account's
// username and email against one budget. ok is false when no account has
// the name.
func (c *Connector) AccountKey(ctx context.Context, login string) (key string, ok bool, err error) {
	if login == "" {
		return "", false, nil
	}
	acct, err := c.accounts.AccountByLogin(ctx, login)
	switch {
	case errors.Is(err, ErrNoAccount):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("%w: local: looking up account: %w", sdk.ErrUnavailable, err)
	case acct.ID == "":
		return "", false, nil
	}
	return acct.ID, true, nil
}

// Refresh re-reads the account of id.Subject. It returns an error wrapping
// sdk.ErrUserGone if the account no longer exists, and one wrapping
// sdk.ErrUnavailable if the store fails.
func (c *Connector) Refresh(ctx context.Context, _ sdk.Scopes, id sdk.Identity) (sdk.Identity, error) {
	if id.Subject == "" {
		return sdk.Identity{}, fmt.Errorf("local: refresh of an identity without subject: %w", sdk.ErrUserGone)
	}
	acct, err := c.accounts.AccountByID(ctx, id.Subject)
	if errors.Is(err, ErrNoAccount) {
		return sdk.Identity{}, fmt.Errorf("local: account %q: %w", id.Subject, sdk.ErrUserGone)
	}
	if err != nil {
		return sdk.Identity{}, fmt.Errorf("%w: local: looking up account %q: %w", sdk.ErrUnavailable, id.Subject, err)
	}
	return identity(acct), nil
}

func identity(a Account) sdk.Identity {
	return sdk.Identity{
		Subject:           a.ID,
		Username:          a.Username,
		PreferredUsername: a.Username,
		Email:             a.Email,
		EmailVerified:     a.EmailVerified,
		Name:              a.Name,
		Groups:            slices.Clone(a.Groups),
	}
}

// acquire takes the hashing turns a hash holding mem bytes needs
// (Limiter.acquire), waiting at most c.queueTimeout and while ctx lasts.
// The error wraps sdk.ErrUnavailable (and ctx's error if ctx ended).
func (c *Connector) acquire(ctx context.Context, mem uint64) (release func(), err error) {
	// A login nobody waits for any more (the browser left, the deadline
	// passed) is not worth a hash: it would cost the memory and time of a
	// real one and could still succeed (sdk/connectortest's rule).
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: local: %w", sdk.ErrUnavailable, err)
	}
	release, err = c.lim.acquire(ctx, mem, c.queueTimeout)
	if errors.Is(err, errQueueFull) {
		c.log.WarnContext(ctx, "local: password hashing queue full", "max_concurrent", cap(c.slots), "waited", c.queueTimeout)
	}
	return release, err
}

// dummyHash spends one hash with the configured parameters on password and
// returns sdk.ErrInvalidCredentials, or the error of acquire.
func (c *Connector) dummyHash(ctx context.Context, password string) error {
	release, err := c.acquire(ctx, 0)
	if err != nil {
		return err
	}
	defer release()
	if c.testHookHashing != nil {
		c.testHookHashing()
	}
	c.computeDummy(password)
	return sdk.ErrInvalidCredentials
}

// computeDummy does what Verify does for a hash with c.params, and throws the
// result away. The caller holds a slot.
func (c *Connector) computeDummy(password string) {
	p := c.params
	key := argon2.IDKey([]byte(password), c.dummySalt, p.Time, p.Memory, p.Threads, p.KeyLen)
	subtle.ConstantTimeCompare(key, c.dummyKey)
}

// rehash stores a hash of password with c.params in place of acct's. A
// failure is logged and otherwise ignored: the login has succeeded. The
// caller holds a slot.
func (c *Connector) rehash(ctx context.Context, acct Account, password string) {
	newHash, err := Hash(password, c.params)
	if err != nil {
		c.log.WarnContext(ctx, "local: could not rehash password", "account", acct.ID, "err", err)
		return
	}
	if err := c.accounts.SetPasswordHash(ctx, acct.ID, acct.PasswordHash, newHash); err != nil {
		c.log.WarnContext(ctx, "local: could not store upgraded password hash", "account", acct.ID, "err", err)
		return
	}
	c.log.InfoContext(ctx, "local: upgraded password hash parameters", "account", acct.ID, "from", Algorithm(acct.PasswordHash))
}
