package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/testenv"
)

// benchUserPassword is the password of every user the benchmark creates.
const benchUserPassword = "bench-password"

// benchUser is the username worker w logs in as for the refresh scenario.
func benchUser(w int) string { return fmt.Sprintf("bench-%03d", w) }

// brokers starts one Portico per signing algorithm on first use, each with
// its own Badger store under root, and stops them all at the end.
type brokers struct {
	root    string // temporary directory, removed by close
	users   int    // bench users to seed besides alice
	log     *slog.Logger
	mu      sync.Mutex
	running map[string]*testenv.Broker
}

func newBrokers(users int, log *slog.Logger) (*brokers, error) {
	root, err := os.MkdirTemp("", "portico-bench-")
	if err != nil {
		return nil, err
	}
	return &brokers{root: root, users: users, log: log, running: map[string]*testenv.Broker{}}, nil
}

// get returns the broker that signs with alg, starting it if needed.
func (bs *brokers) get(alg string) (*testenv.Broker, error) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b := bs.running[alg]; b != nil {
		return b, nil
	}
	cfg, err := bs.config(alg)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cfg.Listen = l.Addr().String()
	cfg.Issuer = "http://" + cfg.Listen
	b, err := testenv.StartOn(l, cfg, bs.log)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("start %s broker: %w", alg, err)
	}
	bs.running[alg] = b
	return b, nil
}

// config is the broker configuration: the local connector with alice and
// the bench users, and testenv's confidential client, which may use
// client_credentials, authorization_code and refresh_token. Storage is
// Badger with the production default of synchronous writes.
func (bs *brokers) config(alg string) (*config.Config, error) {
	aliceHash, err := local.Hash(testenv.UserPassword, testenv.FastParams)
	if err != nil {
		return nil, err
	}
	benchHash, err := local.Hash(benchUserPassword, testenv.FastParams)
	if err != nil {
		return nil, err
	}
	users := []config.User{{Username: testenv.UserName, Email: testenv.UserEmail, Name: "Alice Example",
		Groups: []string{"admins", "staff"}, PasswordHash: aliceHash}}
	for w := range bs.users {
		users = append(users, config.User{Username: benchUser(w), Email: benchUser(w) + "@example.com",
			Name: "Bench User " + benchUser(w), Groups: []string{"staff"}, PasswordHash: benchHash})
	}
	return &config.Config{
		Storage:    config.Storage{Type: "badger", Dir: filepath.Join(bs.root, alg)},
		Connectors: []config.Connector{{ID: "local", Type: "local", Name: "Email"}},
		Clients: []config.Client{{
			ID: testenv.ClientID, Secret: testenv.ClientSecret, RedirectURIs: []string{testenv.RedirectURI},
			GrantTypes: []string{config.GrantAuthorizationCode, config.GrantRefreshToken, config.GrantClientCredentials},
			Scopes:     []string{"api"},
		}},
		Users:  users,
		Tokens: config.Tokens{SigningAlg: alg},
	}, nil
}

// close stops every broker and removes the temporary directory.
func (bs *brokers) close() error {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	var errs []error
	for alg, b := range bs.running {
		if err := b.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop %s broker: %w", alg, err))
		}
	}
	bs.running = nil
	if err := os.RemoveAll(bs.root); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// login runs the code flow for username on b, as a relying party does, and
// returns the refresh token.
func login(ctx context.Context, b *testenv.Broker, username, password string) (string, error) {
	rp, err := testenv.NewRP(ctx, b.URL, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		return "", err
	}
	tok, _, err := rp.Login(ctx, username, password)
	if err != nil {
		return "", fmt.Errorf("login %s: %w", username, err)
	}
	if tok.RefreshToken == "" {
		return "", fmt.Errorf("login %s: no refresh token", username)
	}
	return tok.RefreshToken, nil
}
