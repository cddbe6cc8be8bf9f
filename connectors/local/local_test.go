package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-idp/portico/sdk"
)

// cheap keeps most tests fast; the real DefaultParams are used in
// TestDefaultParams.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// memAccounts is an in-memory Accounts: a map guarded by a mutex.
type memAccounts struct {
	mu   sync.Mutex
	byID map[string]Account
}

var errHashChanged = errors.New("memAccounts: password hash changed meanwhile")

func newMemAccounts(accts ...Account) *memAccounts {
	m := &memAccounts{byID: map[string]Account{}}
	for _, a := range accts {
		m.byID[a.ID] = a
	}
	return m
}

func (m *memAccounts) AccountByLogin(_ context.Context, login string) (Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range m.byID {
		if a.Username == login || a.Email != "" && strings.EqualFold(a.Email, login) {
			a.Groups = slices.Clone(a.Groups)
			return a, nil
		}
	}
	return Account{}, fmt.Errorf("login %q: %w", login, ErrNoAccount)
}

func (m *memAccounts) AccountByID(_ context.Context, id string) (Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.byID[id]
	if !ok {
		return Account{}, fmt.Errorf("id %q: %w", id, ErrNoAccount)
	}
	a.Groups = slices.Clone(a.Groups)
	return a, nil
}

func (m *memAccounts) SetPasswordHash(_ context.Context, id, oldHash, newHash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.byID[id]
	if !ok {
		return fmt.Errorf("id %q: %w", id, ErrNoAccount)
	}
	if a.PasswordHash != oldHash {
		return errHashChanged
	}
	a.PasswordHash = newHash
	m.byID[id] = a
	return nil
}

func (m *memAccounts) put(a Account) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byID[a.ID] = a
}

func (m *memAccounts) delete(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byID, id)
}

func (m *memAccounts) hash(id string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byID[id].PasswordHash
}

// downAccounts is a store that cannot be reached.
type downAccounts struct{ err error }

func (d downAccounts) AccountByLogin(context.Context, string) (Account, error) {
	return Account{}, d.err
}
func (d downAccounts) AccountByID(context.Context, string) (Account, error) { return Account{}, d.err }
func (d downAccounts) SetPasswordHash(context.Context, string, string, string) error {
	return d.err
}

// readOnlyAccounts reads from a memAccounts but refuses every write.
type readOnlyAccounts struct{ *memAccounts }

func (readOnlyAccounts) SetPasswordHash(context.Context, string, string, string) error {
	return errors.New("store is read-only")
}

func mustHash(t testing.TB, password string, p Params) string {
	t.Helper()
	h, err := Hash(password, p)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	return h
}

// logBuffer returns a logger writing to a buffer, to check what is logged.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

const alicePassword = "correct horse battery staple"

func alice(t testing.TB, p Params) Account {
	return Account{
		ID: "u-alice", Username: "alice", Email: "Alice@Example.org", EmailVerified: true,
		Name: "Alice Liddell", Groups: []string{"admins", "staff"},
		PasswordHash: mustHash(t, alicePassword, p),
	}
}

func TestLogin(t *testing.T) {
	a := alice(t, cheap)
	store := newMemAccounts(a, Account{ID: "u-bob", Username: "bob", Email: "bob@example.org", PasswordHash: mustHash(t, "hunter2", cheap)})
	logger, logs := logBuffer()
	c := New(store, Config{Params: cheap, Logger: logger})

	wantAlice := sdk.Identity{
		Subject: "u-alice", Username: "alice", PreferredUsername: "alice",
		Email: "Alice@Example.org", EmailVerified: true, Name: "Alice Liddell",
		Groups: []string{"admins", "staff"},
	}
	tests := []struct {
		name     string
		login    string
		password string
		want     sdk.Identity
		wantErr  error
	}{
		{"by username", "alice", alicePassword, wantAlice, nil},
		{"by email, same case", "Alice@Example.org", alicePassword, wantAlice, nil},
		{"by email, other case", "aLICE@example.ORG", alicePassword, wantAlice, nil},
		{"other account", "bob", "hunter2", sdk.Identity{Subject: "u-bob", Username: "bob", PreferredUsername: "bob", Email: "bob@example.org"}, nil},
		{"wrong password", "alice", "correct horse battery stapler", sdk.Identity{}, sdk.ErrInvalidCredentials},
		{"other account's password", "alice", "hunter2", sdk.Identity{}, sdk.ErrInvalidCredentials},
		{"username in other case", "Alice", alicePassword, sdk.Identity{}, sdk.ErrInvalidCredentials},
		{"unknown user", "mallory", alicePassword, sdk.Identity{}, sdk.ErrInvalidCredentials},
		{"empty password", "alice", "", sdk.Identity{}, sdk.ErrInvalidCredentials},
		{"empty username", "", alicePassword, sdk.Identity{}, sdk.ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Login(t.Context(), sdk.Scopes{Groups: true}, tt.login, tt.password)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Login(%q) error = %v, want %v", tt.login, err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Login(%q) = %+v, want %+v", tt.login, got, tt.want)
			}
		})
	}

	// Unknown user and wrong password must look the same, text included.
	_, errUnknown := c.Login(t.Context(), sdk.Scopes{}, "mallory", "x")
	_, errWrong := c.Login(t.Context(), sdk.Scopes{}, "alice", "x")
	if errUnknown == nil || errWrong == nil || errUnknown.Error() != errWrong.Error() {
		t.Errorf("unknown user error %q and wrong password error %q differ", errUnknown, errWrong)
	}
	if store.hash("u-alice") != a.PasswordHash {
		t.Error("a login with unchanged params rewrote the hash")
	}
	if strings.Contains(logs.String(), alicePassword) || strings.Contains(logs.String(), "$argon2") {
		t.Errorf("log contains a password or hash:\n%s", logs)
	}
}

func TestLoginReturnsCopyOfGroups(t *testing.T) {
	store := newMemAccounts(alice(t, cheap))
	c := New(store, Config{Params: cheap})
	id, err := c.Login(t.Context(), sdk.Scopes{}, "alice", alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	id.Groups[0] = "changed"
	a, _ := store.AccountByID(t.Context(), "u-alice")
	if a.Groups[0] != "admins" {
		t.Error("identity groups alias the store's")
	}
}

func TestLoginUnusableHash(t *testing.T) {
	tests := []struct {
		name    string
		hash    string
		wantLog string // substring of the log; "" means nothing logged
	}{
		{"no password set", "", ""},
		{"argon2i hash", "$argon2i$v=19$m=1024,t=2,p=1$c29tZXNhbHQ$/AomWzXGuO56QhmXE3p9/0R81VDwTUaD1xQMkGw+IbQ", "unusable"},
		// bcrypt verifies (foreign.go), but not at a cost that ties up the server.
		{"bcrypt hash, cost out of bounds", "$2b$20$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "unusable"},
		{"garbage", "hunter2", "unusable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemAccounts(Account{ID: "u1", Username: "u", PasswordHash: tt.hash})
			logger, logs := logBuffer()
			c := New(store, Config{Params: cheap, Logger: logger})
			const password = "pw-never-logged"
			_, err := c.Login(t.Context(), sdk.Scopes{}, "u", password)
			if err != sdk.ErrInvalidCredentials {
				t.Fatalf("Login error = %v, want sdk.ErrInvalidCredentials", err)
			}
			if tt.wantLog == "" && logs.Len() != 0 || !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log = %q, want it to contain %q", logs, tt.wantLog)
			}
			if strings.Contains(logs.String(), password) ||
				tt.hash != "" && strings.Contains(logs.String(), tt.hash[max(0, len(tt.hash)-20):]) {
				t.Errorf("log contains the password or the stored hash: %q", logs)
			}
		})
	}
}

func TestStoreFailure(t *testing.T) {
	storeErr := errors.New("connection refused")
	c := New(downAccounts{storeErr}, Config{Params: cheap})
	tests := []struct {
		name string
		call func() error
	}{
		{"Login", func() error {
			_, err := c.Login(t.Context(), sdk.Scopes{}, "alice", alicePassword)
			return err
		}},
		{"Refresh", func() error {
			_, err := c.Refresh(t.Context(), sdk.Scopes{}, sdk.Identity{Subject: "u-alice"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, sdk.ErrUnavailable) || !errors.Is(err, storeErr) {
				t.Errorf("error = %v, want one wrapping sdk.ErrUnavailable and the store's error", err)
			}
			if errors.Is(err, sdk.ErrInvalidCredentials) || errors.Is(err, sdk.ErrUserGone) {
				t.Errorf("error = %v also claims invalid credentials or a gone user", err)
			}
		})
	}
}

// TestQueueFull holds the only hashing slot with a login blocked in the test
// hook, and checks that other logins fail with sdk.ErrUnavailable, whether
// their queue timeout runs out or their context ends.
func TestQueueFull(t *testing.T) {
	store := newMemAccounts(alice(t, cheap))
	c := New(store, Config{Params: cheap, MaxConcurrent: 1, QueueTimeout: time.Millisecond})

	entered, release := make(chan struct{}), make(chan struct{})
	var first sync.Once
	c.testHookHashing = func() {
		first.Do(func() {
			close(entered)
			<-release
		})
	}
	type result struct {
		id  sdk.Identity
		err error
	}
	done := make(chan result)
	go func() {
		id, err := c.Login(context.Background(), sdk.Scopes{}, "alice", alicePassword)
		done <- result{id, err}
	}()
	<-entered // the first login holds the slot until release is closed

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name         string
		ctx          context.Context
		queueTimeout time.Duration
		login        string
		wantAlso     error
	}{
		// With a live context only the queue timeout can end the wait...
		{"known user, timeout", context.Background(), time.Millisecond, "alice", nil},
		{"unknown user, timeout", context.Background(), time.Millisecond, "mallory", nil},
		// ...and with an hour-long timeout only the context can.
		{"known user, context canceled", canceled, time.Hour, "alice", context.Canceled},
		{"unknown user, context canceled", canceled, time.Hour, "mallory", context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.queueTimeout = tt.queueTimeout // no login is waiting now
			_, err := c.Login(tt.ctx, sdk.Scopes{}, tt.login, alicePassword)
			if !errors.Is(err, sdk.ErrUnavailable) {
				t.Fatalf("Login error = %v, want sdk.ErrUnavailable", err)
			}
			if errors.Is(err, sdk.ErrInvalidCredentials) {
				t.Errorf("Login error = %v also claims invalid credentials", err)
			}
			if tt.wantAlso != nil && !errors.Is(err, tt.wantAlso) {
				t.Errorf("Login error = %v, want it to wrap %v too", err, tt.wantAlso)
			}
		})
	}

	close(release)
	if r := <-done; r.err != nil || r.id.Subject != "u-alice" {
		t.Fatalf("held login = %+v, %v; want alice", r.id, r.err)
	}
	// The slot is free again.
	c.queueTimeout = time.Hour
	if _, err := c.Login(t.Context(), sdk.Scopes{}, "alice", alicePassword); err != nil {
		t.Fatalf("login after the slot was released: %v", err)
	}
	if _, err := c.Login(t.Context(), sdk.Scopes{}, "mallory", alicePassword); err != sdk.ErrInvalidCredentials {
		t.Fatalf("unknown user after the slot was released: %v", err)
	}
}

// TestConcurrencyBound runs many logins at once and checks that no more than
// MaxConcurrent of them are ever inside a hashing slot.
func TestConcurrencyBound(t *testing.T) {
	const limit, logins = 2, 16
	store := newMemAccounts(alice(t, cheap))
	c := New(store, Config{Params: cheap, MaxConcurrent: limit, QueueTimeout: time.Hour})
	var active, peak atomic.Int32
	c.testHookHashing = func() {
		n := active.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		runtime.Gosched()
		active.Add(-1)
	}
	var wg sync.WaitGroup
	for i := range logins {
		wg.Go(func() {
			login, want := "alice", error(nil)
			if i%2 == 1 {
				login, want = "nobody", sdk.ErrInvalidCredentials
			}
			if _, err := c.Login(t.Context(), sdk.Scopes{}, login, alicePassword); err != want {
				t.Errorf("Login(%q) error = %v, want %v", login, err, want)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > limit || p < 1 {
		t.Errorf("peak concurrent hashes = %d, want 1..%d", p, limit)
	}
}

func TestRehashOnLogin(t *testing.T) {
	old := Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}
	upgraded := Params{Memory: 128, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}
	tests := []struct {
		name        string
		stored      Params
		cfg         Params
		readOnly    bool
		wantRehash  bool
		wantLogPart string
	}{
		{"upgrade", old, upgraded, false, true, "upgraded"},
		{"downgrade follows the config too", upgraded, old, false, true, "upgraded"},
		{"same params", upgraded, upgraded, false, false, ""},
		{"store refuses the write", old, upgraded, true, false, "could not store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := alice(t, tt.stored)
			mem := newMemAccounts(a)
			var store Accounts = mem
			if tt.readOnly {
				store = readOnlyAccounts{mem}
			}
			logger, logs := logBuffer()
			c := New(store, Config{Params: tt.cfg, Logger: logger})
			if _, err := c.Login(t.Context(), sdk.Scopes{}, "alice", alicePassword); err != nil {
				t.Fatalf("Login: %v", err)
			}
			got := mem.hash(a.ID)
			if rehashed := got != a.PasswordHash; rehashed != tt.wantRehash {
				t.Fatalf("rehashed = %v, want %v", rehashed, tt.wantRehash)
			}
			if tt.wantRehash {
				if NeedsRehash(got, tt.cfg) {
					t.Errorf("new hash %s does not have the configured params %+v", got, tt.cfg)
				}
				if ok, err := Verify(alicePassword, got); !ok || err != nil {
					t.Errorf("Verify(new hash) = %v, %v", ok, err)
				}
				// And the login keeps working with the new hash.
				if _, err := c.Login(t.Context(), sdk.Scopes{}, "alice", alicePassword); err != nil {
					t.Errorf("Login after rehash: %v", err)
				}
			}
			if !strings.Contains(logs.String(), tt.wantLogPart) {
				t.Errorf("log = %q, want it to contain %q", logs, tt.wantLogPart)
			}
			if strings.Contains(logs.String(), alicePassword) || strings.Contains(logs.String(), "$argon2") {
				t.Errorf("log contains a password or hash:\n%s", logs)
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	store := newMemAccounts(alice(t, cheap))
	c := New(store, Config{Params: cheap})
	id, err := c.Login(t.Context(), sdk.Scopes{}, "alice", alicePassword)
	if err != nil {
		t.Fatal(err)
	}

	// Groups change between login and refresh.
	changed := alice(t, cheap)
	changed.Groups = []string{"staff"}
	changed.Name = "Alice L."
	store.put(changed)
	got, err := c.Refresh(t.Context(), sdk.Scopes{}, id)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if !slices.Equal(got.Groups, []string{"staff"}) || got.Name != "Alice L." || got.Subject != id.Subject {
		t.Errorf("Refresh = %+v, want the changed account", got)
	}

	store.delete(id.Subject)
	tests := []struct {
		name string
		id   sdk.Identity
	}{
		{"deleted account", id},
		{"never existed", sdk.Identity{Subject: "u-nobody"}},
		{"no subject", sdk.Identity{Username: "alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Refresh(t.Context(), sdk.Scopes{}, tt.id)
			if !errors.Is(err, sdk.ErrUserGone) {
				t.Errorf("Refresh error = %v, want sdk.ErrUserGone", err)
			}
			if errors.Is(err, sdk.ErrUnavailable) {
				t.Errorf("Refresh error = %v also claims unavailable", err)
			}
		})
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		password string
		p        Params
	}{
		{"cheap", "hunter2", cheap},
		{"empty password", "", cheap},
		{"unicode password", "pässwörd 🔑 パスワード", cheap},
		{"long password", strings.Repeat("x", 10_000), cheap},
		{"several lanes, odd memory", "hunter2", Params{Memory: 1001, Time: 2, Threads: 3, SaltLen: 8, KeyLen: 16}},
		{"long salt and key", "hunter2", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 64, KeyLen: 64}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h1 := mustHash(t, tt.password, tt.p)
			h2 := mustHash(t, tt.password, tt.p)
			if h1 == h2 {
				t.Error("two hashes of one password are equal: the salt is not random")
			}
			wantPrefix := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", tt.p.Memory, tt.p.Time, tt.p.Threads)
			if !strings.HasPrefix(h1, wantPrefix) {
				t.Errorf("Hash = %s, want prefix %s", h1, wantPrefix)
			}
			if ok, err := Verify(tt.password, h1); !ok || err != nil {
				t.Errorf("Verify(right password) = %v, %v", ok, err)
			}
			if ok, err := Verify(tt.password+"x", h1); ok || err != nil {
				t.Errorf("Verify(wrong password) = %v, %v", ok, err)
			}
			if NeedsRehash(h1, tt.p) {
				t.Error("NeedsRehash with the same params = true")
			}
			other := tt.p
			other.Time++
			if !NeedsRehash(h1, other) {
				t.Error("NeedsRehash with other params = false")
			}
			h, err := parsePHC(h1)
			if err != nil || h.params != tt.p || h.String() != h1 {
				t.Errorf("parsePHC(%s) = %+v, %v", h1, h, err)
			}
		})
	}
}

// TestDefaultParams uses the real DefaultParams, for Hash and for a login
// through a connector configured with the zero Config.
func TestDefaultParams(t *testing.T) {
	if err := DefaultParams.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Params{Memory: 64 * 1024, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}
	if DefaultParams != want {
		t.Errorf("DefaultParams = %+v, want RFC 9106's second recommended option %+v", DefaultParams, want)
	}
	a := alice(t, DefaultParams)
	if !strings.HasPrefix(a.PasswordHash, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Errorf("Hash = %s", a.PasswordHash)
	}
	store := newMemAccounts(a)
	c := New(store, Config{})
	if c.Params() != DefaultParams {
		t.Errorf("zero Config params = %+v", c.Params())
	}
	if _, err := c.Login(t.Context(), sdk.Scopes{}, "alice", alicePassword); err != nil {
		t.Errorf("Login: %v", err)
	}
	if _, err := c.Login(t.Context(), sdk.Scopes{}, "nobody", alicePassword); err != sdk.ErrInvalidCredentials {
		t.Errorf("Login(unknown) = %v", err)
	}
	if store.hash(a.ID) != a.PasswordHash {
		t.Error("hash rewritten although the params are unchanged")
	}
}

// Vectors from the reference implementation: the argon2 CLI of Debian
// package argon2 0~20171227-0.3+deb12u1 (libargon2 20171227), each made with
// the command in its comment (-m N is 2^N KiB, -k N is N KiB, -l the hash
// length in bytes, -e prints the PHC string).
var referenceVectors = []struct {
	password, phc string
}{
	// echo -n password | argon2 somesalt -id -t 2 -m 16 -p 1 -e
	{"password", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
	// echo -n password | argon2 somesalt -id -t 1 -k 64 -p 1 -e
	{"password", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$cpx6VEQbwTVZvcpxNIxOVUWZ5xnAipUmAe1cg2GMG70"},
	// echo -n password | argon2 somesalt -id -t 1 -k 8 -p 1 -l 32 -e (the smallest memory)
	{"password", "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$8Tf44YakA6Z5zNBgblq13Nr+Q8FkCFWsjG4z6b1j7rM"},
	// echo -n 'correct horse battery staple' | argon2 portico-vector-salt -id -t 3 -m 12 -p 2 -l 32 -e
	{"correct horse battery staple", "$argon2id$v=19$m=4096,t=3,p=2$cG9ydGljby12ZWN0b3Itc2FsdA$jaQ5J/R+uaX8/NDqocEbFCd4YPN7tMqEYq0duA0WpKU"},
	// echo -n 'correct horse battery staple' | argon2 'pörtico-salt' -id -t 3 -k 1001 -p 3 -l 32 -e
	// (memory not a multiple of 4*p: rounded down inside, but hashed as given)
	{"correct horse battery staple", "$argon2id$v=19$m=1001,t=3,p=3$cMO2cnRpY28tc2FsdA$+dq0HaYjCgi3QanVsN2erIR/QDGzZ4q2rfGdEIlxvww"},
	// printf 'p\xc3\xa4ss w0rd' | argon2 0123456789abcdef -id -t 2 -k 256 -p 2 -l 64 -e
	{"päss w0rd", "$argon2id$v=19$m=256,t=2,p=2$MDEyMzQ1Njc4OWFiY2RlZg$dUi0x6Lpbf9FY6AfG1N0yZ342mRzHoukL1hj2SOGN8OYEPa7I0TFci2159UoO0kUswBBylMRgKOqg3EQmvDlxw"},
}

func TestVerifyReferenceVectors(t *testing.T) {
	for _, v := range referenceVectors {
		t.Run(v.phc[:strings.LastIndexByte(v.phc, '$')], func(t *testing.T) {
			if ok, err := Verify(v.password, v.phc); !ok || err != nil {
				t.Errorf("Verify(%q) = %v, %v; want true", v.password, ok, err)
			}
			if ok, err := Verify(v.password+" ", v.phc); ok || err != nil {
				t.Errorf("Verify(wrong password) = %v, %v; want false", ok, err)
			}
			h, err := parsePHC(v.phc)
			if err != nil {
				t.Fatal(err)
			}
			if h.String() != v.phc {
				t.Errorf("parsePHC(%s).String() = %s", v.phc, h)
			}
		})
	}
	// A vector stored in a connector logs in, and is upgraded to the
	// configured parameters on the way.
	store := newMemAccounts(Account{ID: "u1", Username: "seeded", PasswordHash: referenceVectors[3].phc})
	c := New(store, Config{Params: cheap})
	if _, err := c.Login(t.Context(), sdk.Scopes{}, "seeded", referenceVectors[3].password); err != nil {
		t.Fatalf("Login with a seeded reference hash: %v", err)
	}
	if NeedsRehash(store.hash("u1"), cheap) {
		t.Error("seeded hash not upgraded")
	}
}

const (
	goodSalt = "c29tZXNhbHQ"                                 // "somesalt", 8 bytes
	goodKey  = "cpx6VEQbwTVZvcpxNIxOVUWZ5xnAipUmAe1cg2GMG70" // 32 bytes
)

func TestParsePHCErrors(t *testing.T) {
	tests := []struct {
		name, phc, wantMsg string
	}{
		{"empty", "", "empty"},
		{"no leading $", "argon2id$v=19$m=64,t=1,p=1$" + goodSalt + "$" + goodKey, "does not start"},
		// The next three are the same hash made by the argon2 CLI with -i,
		// -d and -id -v 10 respectively.
		{"argon2i", "$argon2i$v=19$m=1024,t=2,p=1$c29tZXNhbHQ$/AomWzXGuO56QhmXE3p9/0R81VDwTUaD1xQMkGw+IbQ", "argon2i is not supported"},
		{"argon2d", "$argon2d$v=19$m=1024,t=2,p=1$c29tZXNhbHQ$7WlpgAteZBAUBN8fsClBmqjAK0wlZUrln2Vai1gUJKs", "argon2d is not supported"},
		{"version 16", "$argon2id$v=16$m=1024,t=2,p=1$c29tZXNhbHQ$DJkDlhYQjMAOfRGtyek9T6PwKEE/HIKrG4LbYkikiYw", `version "16"`},
		{"md5-crypt", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "unknown algorithm"},
		{"upper-case algorithm", "$Argon2id$v=19$m=64,t=1,p=1$" + goodSalt + "$" + goodKey, "unknown algorithm"},
		// A secret pasted into the field is not echoed (black-box finding).
		{"not a hash", "$MY-API-KEY-sk_live_0123$x$y$z$w", "unknown algorithm, want"},
		{"no version", "$argon2id$m=64,t=1,p=1$" + goodSalt + "$" + goodKey, "fields"},
		{"version field wrong", "$argon2id$x=19$m=64,t=1,p=1$" + goodSalt + "$" + goodKey, "missing version"},
		{"no params", "$argon2id$v=19$" + goodSalt + "$" + goodKey, "fields"},
		{"no hash", "$argon2id$v=19$m=64,t=1,p=1$" + goodSalt, "fields"},
		{"no hash, trailing $", "$argon2id$v=19$m=64,t=1,p=1$" + goodSalt + "$", "hash: empty"},
		{"extra field", "$argon2id$v=19$m=64,t=1,p=1$" + goodSalt + "$" + goodKey + "$x", "fields"},
		{"empty salt", "$argon2id$v=19$m=64,t=1,p=1$$" + goodKey, "salt: empty"},
		{"two params", "$argon2id$v=19$m=64,t=1$" + goodSalt + "$" + goodKey, "want exactly"},
		{"four params", "$argon2id$v=19$m=64,t=1,p=1,keyid=x$" + goodSalt + "$" + goodKey, "want exactly"},
		{"params out of order", "$argon2id$v=19$t=1,m=64,p=1$" + goodSalt + "$" + goodKey, "in that order"},
		{"param without =", "$argon2id$v=19$m64,t=1,p=1$" + goodSalt + "$" + goodKey, "in that order"},
		{"empty number", "$argon2id$v=19$m=,t=1,p=1$" + goodSalt + "$" + goodKey, "empty number"},
		{"negative number", "$argon2id$v=19$m=-64,t=1,p=1$" + goodSalt + "$" + goodKey, "not a decimal"},
		{"plus sign", "$argon2id$v=19$m=+64,t=1,p=1$" + goodSalt + "$" + goodKey, "not a decimal"},
		{"hex number", "$argon2id$v=19$m=0x40,t=1,p=1$" + goodSalt + "$" + goodKey, "leading zero"},
		{"leading zero", "$argon2id$v=19$m=064,t=1,p=1$" + goodSalt + "$" + goodKey, "leading zero"},
		{"number overflows uint32", "$argon2id$v=19$m=99999999999,t=1,p=1$" + goodSalt + "$" + goodKey, "too long"},
		{"memory over 1 GiB", "$argon2id$v=19$m=1048577,t=1,p=1$" + goodSalt + "$" + goodKey, "over 1048576"},
		// A hash within each bound whose product would hold a hashing
		// slot for minutes per wrong guess (black-box finding).
		{"memory × time over the work bound", "$argon2id$v=19$m=262144,t=9,p=1$" + goodSalt + "$" + goodKey, "m·t=2359296"},
		{"the old maximum", "$argon2id$v=19$m=4194304,t=1024,p=1$" + goodSalt + "$" + goodKey, "over"},
		{"memory under 8p", "$argon2id$v=19$m=15,t=1,p=2$" + goodSalt + "$" + goodKey, "under 8*p"},
		{"memory 0", "$argon2id$v=19$m=0,t=1,p=1$" + goodSalt + "$" + goodKey, "under 8*p"},
		{"time 0", "$argon2id$v=19$m=64,t=0,p=1$" + goodSalt + "$" + goodKey, "time t=0"},
		{"time absurd", "$argon2id$v=19$m=64,t=4294967295,p=1$" + goodSalt + "$" + goodKey, "time t=4294967295"},
		{"parallelism 0", "$argon2id$v=19$m=64,t=1,p=0$" + goodSalt + "$" + goodKey, "parallelism p=0"},
		{"parallelism over 255", "$argon2id$v=19$m=65536,t=1,p=256$" + goodSalt + "$" + goodKey, "parallelism p=256"},
		{"padded salt", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ=$" + goodKey, "salt: not unpadded"},
		{"url-safe base64", "$argon2id$v=19$m=64,t=1,p=1$" + goodSalt + "$cpx6VEQbwTVZvcpxNIxOVUWZ5xnAipUmAe1cg2GMG70_-", "hash: not unpadded"},
		{"newline in hash", "$argon2id$v=19$m=64,t=1,p=1$" + goodSalt + "$cpx6VEQbwTVZvcpx\nNIxOVUWZ5xnAipUmAe1cg2GMG70", "hash: not unpadded"},
		{"non-zero trailing bits", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHR$" + goodKey, "salt: not unpadded"},
		{"impossible base64 length", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQxx$" + goodKey[:len(goodKey)-2] + "A", "not unpadded"},
		{"salt too short", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + goodKey, "salt is 4 bytes"},
		{"hash too short", "$argon2id$v=19$m=64,t=1,p=1$" + goodSalt + "$AAAAAAAAAAAAAAAAAAAA", "hash is 15 bytes"},
		{"too long", "$argon2id$v=19$m=64,t=1,p=1$" + goodSalt + "$" + strings.Repeat("A", 5000), "longer than"},
		{"trailing space", "$argon2id$v=19$m=64,t=1,p=1$" + goodSalt + "$" + goodKey + " ", "hash: not unpadded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parsePHC(tt.phc)
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("parsePHC error = %v, want ErrMalformedHash", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("parsePHC error = %q, want it to contain %q", err, tt.wantMsg)
			}
			ok, verr := Verify("password", tt.phc)
			if ok || !errors.Is(verr, ErrMalformedHash) {
				t.Errorf("Verify = %v, %v; want false, ErrMalformedHash", ok, verr)
			}
			if !NeedsRehash(tt.phc, cheap) {
				t.Error("NeedsRehash(malformed) = false")
			}
		})
	}
	// The base hash of the table is valid: each case breaks one thing.
	if _, err := parsePHC("$argon2id$v=19$m=64,t=1,p=1$" + goodSalt + "$" + goodKey); err != nil {
		t.Fatalf("base of the table: %v", err)
	}
}

func TestParamsValidate(t *testing.T) {
	tests := []struct {
		name    string
		p       Params
		wantErr string
	}{
		{"default", DefaultParams, ""},
		{"cheap", cheap, ""},
		{"zero", Params{}, "time 0"},
		{"time 0", Params{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}, "time 0"},
		{"threads 0", Params{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32}, "threads"},
		{"memory under 8p", Params{Memory: 31, Time: 1, Threads: 4, SaltLen: 16, KeyLen: 32}, "memory 31"},
		{"memory over 1 GiB", Params{Memory: 1<<20 + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, "memory"},
		{"memory × time over the work bound", Params{Memory: 1 << 20, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}, "memory × time"},
		{"short salt", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 7, KeyLen: 32}, "salt length 7"},
		{"short key", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 15}, "hash length 15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
			if _, herr := Hash("x", tt.p); herr == nil {
				t.Error("Hash accepted invalid params")
			}
			if tt.p != (Params{}) {
				func() {
					defer func() {
						if recover() == nil {
							t.Error("New accepted invalid params")
						}
					}()
					New(newMemAccounts(), Config{Params: tt.p})
				}()
			}
		})
	}
}

// FuzzParsePHC checks that no input makes parsePHC or Verify panic, that
// whatever parses is canonical (formats back to the same string) and within
// the bounds of Params.Validate, and that cheap parsed hashes can be
// verified. Seeds: the f.Add calls below and testdata/fuzz/FuzzParsePHC.
func FuzzParsePHC(f *testing.F) {
	for _, v := range referenceVectors {
		f.Add(v.phc)
	}
	f.Add("$argon2id$v=19$m=64,t=1,p=1$" + goodSalt + "$" + goodKey)
	f.Add("$argon2i$v=19$m=1024,t=2,p=1$c29tZXNhbHQ$/AomWzXGuO56QhmXE3p9/0R81VDwTUaD1xQMkGw+IbQ")
	f.Add("$argon2id$v=19$m=4194304,t=1024,p=255$" + goodSalt + "$" + goodKey)
	f.Add("$argon2id$v=19$m=64,t=1,p=1$$")
	f.Add("$$$$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePHC(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("error %v does not wrap ErrMalformedHash", err)
			}
			if Algorithm(s) != "" && Algorithm(s) != "argon2id" {
				return // a foreign hash: FuzzParseForeign
			}
			if ok, verr := Verify("password", s); ok || verr == nil {
				t.Fatalf("Verify of an unparseable string = %v, %v", ok, verr)
			}
			return
		}
		if got := h.String(); got != s {
			t.Fatalf("parsePHC(%q).String() = %q: not canonical", s, got)
		}
		if err := h.params.Validate(); err != nil {
			t.Fatalf("parsePHC accepted params that Validate refuses: %v", err)
		}
		if h.params.Memory <= 64 && h.params.Time <= 2 { // keep each exec fast
			if _, err := Verify("password", s); err != nil {
				t.Fatalf("Verify of a parsed string: %v", err)
			}
		}
	})
}
