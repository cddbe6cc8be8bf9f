package local

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/connectortest"
)

// kitStore is an Accounts for the conformance kit: an in-memory store
// that can be down, stall, or lose an account. Like a store that does not
// look at its context, it answers a cancelled lookup, so the kit sees
// what the connector itself does with a cancelled context.
type kitStore struct {
	mu      sync.Mutex
	byName  map[string]Account
	down    bool
	stall   chan struct{}
	arrived chan struct{}
}

func (s *kitStore) wait(ctx context.Context) error {
	s.mu.Lock()
	down, stall, arrived := s.down, s.stall, s.arrived
	s.mu.Unlock()
	if stall != nil {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-stall:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if down {
		return errors.New("connection refused")
	}
	return nil
}

func (s *kitStore) AccountByLogin(ctx context.Context, login string) (Account, error) {
	if err := s.wait(ctx); err != nil {
		return Account{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.byName[login]; ok {
		return a, nil
	}
	return Account{}, ErrNoAccount
}

func (s *kitStore) AccountByID(ctx context.Context, id string) (Account, error) {
	if err := s.wait(ctx); err != nil {
		return Account{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.byName {
		if a.ID == id {
			return a, nil
		}
	}
	return Account{}, ErrNoAccount
}

func (s *kitStore) SetPasswordHash(context.Context, string, string, string) error { return nil }

func (s *kitStore) set(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

// TestConformance runs the SDK's conformance kit against the local
// connector, in process (its process form, isolation: process, needs the
// broker's host service).
func TestConformance(t *testing.T) {
	alice := connectortest.Account{Username: "alice", Password: "correct horse", Want: sdk.Identity{
		Subject: "id-alice", Username: "alice", PreferredUsername: "alice", Email: "alice@example.org", EmailVerified: true, Name: "Alice", Groups: []string{"staff"},
	}}
	s := &kitStore{byName: map[string]Account{}}
	for _, a := range []connectortest.Account{alice, connectortest.UnicodeAccount} {
		h, err := Hash(a.Password, cheap)
		if err != nil {
			t.Fatal(err)
		}
		s.byName[a.Username] = Account{ID: "id-" + a.Username, Username: a.Username, Email: a.Want.Email,
			EmailVerified: a.Want.EmailVerified, Name: a.Want.Name, Groups: a.Want.Groups, PasswordHash: h}
	}
	c := New(s, Config{Params: cheap})
	connectortest.Run(t, connectortest.Suite{
		// The broker builds the local connector from its own config;
		// this factory takes none.
		Factory: func(_ context.Context, raw json.RawMessage, _ *slog.Logger) (any, error) {
			if len(raw) > 0 {
				return nil, errors.New("local: no config block")
			}
			return c, nil
		},
		User:    alice,
		Unicode: connectortest.UnicodeAccount,
		Outage: func(testing.TB) func() {
			s.set(func() { s.down = true })
			return func() { s.set(func() { s.down = false }) }
		},
		Stall: func(testing.TB) (<-chan struct{}, func()) {
			arrived, release := make(chan struct{}, 1), make(chan struct{})
			s.set(func() { s.stall, s.arrived = release, arrived })
			return arrived, func() {
				s.set(func() { s.stall = nil })
				close(release)
			}
		},
		Remove: func(_ testing.TB, a connectortest.Account) func() {
			var gone Account
			s.set(func() { gone = s.byName[a.Username]; delete(s.byName, a.Username) })
			return func() { s.set(func() { s.byName[a.Username] = gone }) }
		},
	})
}
