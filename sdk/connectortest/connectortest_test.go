package connectortest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/portico-idp/portico/sdk"
)

// memStore is a store a test can break: down (an outage), stalled
// (requests wait until released or cancelled), accounts removed.
type memStore struct {
	mu       sync.Mutex
	accounts map[string]Account // by username
	down     bool
	stall    chan struct{} // closed to release; nil: not stalled
	arrived  chan struct{}
}

func newMemStore(as ...Account) *memStore {
	s := &memStore{accounts: map[string]Account{}}
	for _, a := range as {
		s.accounts[a.Username] = a
	}
	return s
}

// get asks the store, honouring ctx while it stalls.
func (s *memStore) get(ctx context.Context, username string) (Account, bool, error) {
	s.mu.Lock()
	down, stall, arrived := s.down, s.stall, s.arrived
	a, ok := s.accounts[username]
	s.mu.Unlock()
	if stall != nil {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-stall:
		case <-ctx.Done():
			return Account{}, false, fmt.Errorf("%w: %w", sdk.ErrUnavailable, ctx.Err())
		}
	}
	if down {
		return Account{}, false, fmt.Errorf("%w: store down", sdk.ErrUnavailable)
	}
	return a, ok, nil
}

func (s *memStore) set(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

// memConnector is a correct password and refresh connector over a
// memStore, unless fault names a rule it breaks on purpose.
type memConnector struct {
	store *memStore
	fault string
	n     int
	mu    sync.Mutex
}

func (c *memConnector) identity(a Account) sdk.Identity {
	id := a.Want
	id.Subject = "sub-" + a.Username
	switch c.fault {
	case "unstable-subject":
		c.mu.Lock()
		c.n++
		id.Subject = fmt.Sprintf("sub-%d", c.n)
		c.mu.Unlock()
	case "control-character":
		id.Name += "\x1b[31m"
	case "ascii-only":
		id.Name = strings.Map(func(r rune) rune {
			if r >= 0x80 {
				return '?'
			}
			return r
		}, id.Name)
	}
	return id
}

func (c *memConnector) Login(ctx context.Context, _ sdk.Scopes, username, password string) (sdk.Identity, error) {
	if c.fault != "ignores-context" {
		if err := ctx.Err(); err != nil {
			return sdk.Identity{}, fmt.Errorf("%w: %w", sdk.ErrUnavailable, err)
		}
	}
	if c.fault == "empty-password" && password == "" {
		return c.identity(c.store.accounts[username]), nil
	}
	a, ok, err := c.store.get(ctx, username)
	if err != nil {
		if c.fault == "outage-is-wrong-password" {
			return sdk.Identity{}, sdk.ErrInvalidCredentials
		}
		return sdk.Identity{}, err
	}
	if !ok {
		if c.fault == "tells-unknown-users" {
			return sdk.Identity{}, fmt.Errorf("%w: no such user", sdk.ErrInvalidCredentials)
		}
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	want := a.Password
	if c.fault == "truncates-at-nul" {
		password, _, _ = strings.Cut(password, "\x00")
	}
	if subtle.ConstantTimeCompare([]byte(password), []byte(want)) != 1 {
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	return c.identity(a), nil
}

func (c *memConnector) Refresh(ctx context.Context, _ sdk.Scopes, id sdk.Identity) (sdk.Identity, error) {
	if err := ctx.Err(); err != nil {
		return sdk.Identity{}, fmt.Errorf("%w: %w", sdk.ErrUnavailable, err)
	}
	a, ok, err := c.store.get(ctx, id.Username)
	switch {
	case err != nil && c.fault == "outage-ends-sessions":
		return sdk.Identity{}, sdk.ErrUserGone
	case err != nil:
		return sdk.Identity{}, err
	case !ok && c.fault == "never-gone":
		return sdk.Identity{}, sdk.ErrUnavailable
	case !ok:
		return sdk.Identity{}, sdk.ErrUserGone
	}
	out := c.identity(a)
	if c.fault == "refresh-new-subject" {
		out.Subject += "-2"
	}
	return out, nil
}

var alice = Account{Username: "alice", Password: "correct horse", Want: sdk.Identity{
	Username: "alice", Name: "Alice", Email: "alice@example.org", Groups: []string{"staff"},
}}

// memSuite is a Suite over a fresh memStore, for connector c.
func memSuite(fault string) (Suite, *memConnector) {
	store := newMemStore(alice, UnicodeAccount)
	c := &memConnector{store: store, fault: fault}
	return Suite{
		User: alice, Unicode: UnicodeAccount,
		Outage: func(testing.TB) func() {
			store.set(func() { store.down = true })
			return func() { store.set(func() { store.down = false }) }
		},
		Stall: func(testing.TB) (<-chan struct{}, func()) {
			arrived, release := make(chan struct{}, 1), make(chan struct{})
			store.set(func() { store.stall, store.arrived = release, arrived })
			return arrived, func() {
				store.set(func() { store.stall = nil })
				close(release)
			}
		},
		Remove: func(_ testing.TB, a Account) func() {
			store.set(func() { delete(store.accounts, a.Username) })
			return func() { store.set(func() { store.accounts[a.Username] = a }) }
		},
	}, c
}

// strictFactory returns c for an empty config or an empty JSON object.
func strictFactory(c any) Factory {
	return func(_ context.Context, raw json.RawMessage, _ *slog.Logger) (any, error) {
		if len(raw) == 0 {
			return c, nil
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var cfg struct{}
		if err := dec.Decode(&cfg); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		return c, nil
	}
}

// TestRunCorrectConnector runs the whole kit, through Run, on a correct
// connector: every rule passes and none is skipped.
func TestRunCorrectConnector(t *testing.T) {
	s, c := memSuite("")
	s.Factory = strictFactory(c)
	Run(t, s)
}

func TestCheckFactory(t *testing.T) {
	for _, tc := range []struct {
		name    string
		factory Factory
		says    string
	}{
		{"strict", strictFactory(struct{}{}), ""},
		{"takes anything", func(context.Context, json.RawMessage, *slog.Logger) (any, error) { return struct{}{}, nil }, "accepted the config \"not json\""},
		{"ignores unknown fields", func(_ context.Context, raw json.RawMessage, _ *slog.Logger) (any, error) {
			var cfg struct{}
			return cfg, json.Unmarshal(raw, &cfg)
		}, "connectortest_unknown_field"},
		{"panics", func(_ context.Context, raw json.RawMessage, _ *slog.Logger) (any, error) {
			return raw[100], nil
		}, "panicked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckFactory(t.Context(), tc.factory)
			if (err == nil) != (tc.says == "") || err != nil && !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("CheckFactory: got %v, want %q", err, tc.says)
			}
		})
	}
}

// TestRulesCatchViolations shows each rule failing on a connector that
// breaks it, and passing on the same connector without the fault.
func TestRulesCatchViolations(t *testing.T) {
	for _, tc := range []struct {
		fault, rule, says string
	}{
		{"unstable-subject", "login", "Subject changed"},
		{"control-character", "login", "control character"},
		{"ascii-only", "unicode", "differs from the store's"},
		{"tells-unknown-users", "wrong-password-unknown-user", "can tell unknown users"},
		{"empty-password", "empty-and-hostile-input", "an empty password logged in"},
		{"truncates-at-nul", "empty-and-hostile-input", "NUL byte"},
		{"outage-is-wrong-password", "outage", "a wrong password"},
		{"outage-ends-sessions", "outage", "ErrUserGone would end"},
		{"ignores-context", "cancelled", "must stop when its context is done"},
		{"refresh-new-subject", "refresh", "changed the Subject"},
		{"never-gone", "refresh-user-gone", "want sdk.ErrUserGone"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			r := rule(t, tc.rule)
			s, bad := memSuite(tc.fault)
			err := r.Check(t, bad, s)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("rule %s on a connector that breaks it: got %v, want an error saying %q", tc.rule, err, tc.says)
			}
			s, good := memSuite("")
			if err := r.Check(t, good, s); err != nil {
				t.Fatalf("rule %s on a correct connector: %v", tc.rule, err)
			}
		})
	}
}

func rule(t *testing.T, name string) Rule {
	for _, r := range Rules {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no rule %q", name)
	return Rule{}
}

// TestStallReleasedByCancel shows the stall rule on the correct
// connector: the login is in the store when it is cancelled.
func TestStallReleasedByCancel(t *testing.T) {
	s, c := memSuite("")
	if err := rule(t, "cancelled-in-store").Check(t, c, s); err != nil {
		t.Fatal(err)
	}
	// A stall hook that the connector never reaches is reported, not
	// waited on.
	s.Stall = func(testing.TB) (<-chan struct{}, func()) { return make(chan struct{}), func() {} }
	s.User.Password = "wrong"
	err := rule(t, "cancelled-in-store").Check(t, c, s)
	if err == nil || !strings.Contains(err.Error(), "without asking the store") {
		t.Fatalf("got %v, want the hook reported as not reaching the store", err)
	}
}

func TestValidate(t *testing.T) {
	s, _ := memSuite("")
	s.Factory = func(context.Context, json.RawMessage, *slog.Logger) (any, error) { return nil, errors.New("unused") }
	for _, tc := range []struct {
		name   string
		change func(*Suite)
		says   string
	}{
		{"ok", func(*Suite) {}, ""},
		{"no factory", func(s *Suite) { s.Factory = nil }, "Factory or Suite.Package is required"},
		{"ascii unicode account", func(s *Suite) { s.Unicode = alice }, "outside ASCII"},
		{"no outage", func(s *Suite) { s.Outage = nil }, "Suite.Outage is required"},
		{"no outage, no store", func(s *Suite) { s.Outage, s.NoStore = nil, "accounts in the config" }, ""},
		{"built form without a package", func(s *Suite) { s.Forms = []Form{WASM} }, "needs Suite.Package"},
		{"no password", func(s *Suite) { s.User.Password = "" }, "Suite.User needs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := s
			tc.change(&s)
			err := s.validate()
			if (err == nil) != (tc.says == "") || err != nil && !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("validate: got %v, want %q", err, tc.says)
			}
		})
	}
}
