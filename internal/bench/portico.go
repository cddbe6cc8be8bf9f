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
	"time"

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
	pools   map[string]tokenPool // by poolKey
}

func newBrokers(users int, log *slog.Logger) (*brokers, error) {
	root, err := os.MkdirTemp("", "portico-bench-")
	if err != nil {
		return nil, err
	}
	return &brokers{root: root, users: users, log: log, running: map[string]*testenv.Broker{}, pools: map[string]tokenPool{}}, nil
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
// the bench users; testenv's confidential client, which may use
// client_credentials, authorization_code and refresh_token and gets JWT
// access tokens; bench-opaque, the same for client_credentials with opaque
// access tokens; and bench-rs, a resource server that introspects (its
// client_credentials grant is only there because a client needs a grant).
// Storage is Badger with the production default of synchronous writes.
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
	cfg := &config.Config{
		Storage:    config.Storage{Type: "badger", Dir: filepath.Join(bs.root, alg)},
		Connectors: []config.Connector{{ID: "local", Type: "local", Name: "Email"}},
		Clients: []config.Client{{
			ID: testenv.ClientID, Secret: testenv.ClientSecret, RedirectURIs: []string{testenv.RedirectURI},
			GrantTypes: []string{config.GrantAuthorizationCode, config.GrantRefreshToken, config.GrantClientCredentials},
			Scopes:     []string{"api"},
		}, {
			ID: opaqueClient.id, Secret: opaqueClient.secret, GrantTypes: []string{config.GrantClientCredentials},
			Scopes: []string{"api"}, TokenFormat: "opaque",
		}, {
			ID: rsClient.id, Secret: rsClient.secret, GrantTypes: []string{config.GrantClientCredentials},
			Scopes: []string{"api"}, Introspection: config.IntrospectAny,
		}, deviceClientConfig()},
		Users:  users,
		Tokens: config.Tokens{SigningAlg: alg},
		// The load comes from one address: the per-address bound on
		// authorization requests would measure itself.
		Login: config.Login{Throttle: config.Throttle{AuthorizeRate: -1}},
	}
	return cfg, addExchange(cfg) // token exchange (exchange.go)
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
	bs.running, bs.pools = nil, nil
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

// poolSize is how many tokens an introspection scenario cycles through:
// enough that it is not one record read over and over, few enough to get
// in about a second.
const poolSize = 512

// tokenPool is a set of access tokens got beforehand.
type tokenPool struct {
	tokens []string
	at     time.Time // when they were issued
}

// poolKey names a pool: the broker, the client, and whether revoked.
func poolKey(alg string, cl creds, revoked bool) string {
	return fmt.Sprintf("%s/%s/%t", alg, cl.id, revoked)
}

// pool returns poolSize client_credentials access tokens of cl from the
// alg broker, got over HTTP by workers goroutines, untimed; with revoked,
// each is then revoked through /revoke. A pool is kept for reuse while
// younger than maxAge (access tokens live 10 minutes).
func (bs *brokers) pool(ctx context.Context, alg string, cl creds, revoked bool, workers int, maxAge time.Duration) (*testenv.Broker, []string, error) {
	b, err := bs.get(alg)
	if err != nil {
		return nil, nil, err
	}
	key := poolKey(alg, cl, revoked)
	bs.mu.Lock()
	p, ok := bs.pools[key]
	bs.mu.Unlock()
	if ok && time.Since(p.at) < maxAge {
		return b, p.tokens, nil
	}
	at := time.Now()
	tokens, err := fetchPool(ctx, []*testenv.Broker{b}, cl, revoked, workers)
	if err != nil {
		return nil, nil, fmt.Errorf("token pool %s: %w", key, err)
	}
	p = tokenPool{tokens: tokens, at: at}
	bs.mu.Lock()
	bs.pools[key] = p
	bs.mu.Unlock()
	return b, p.tokens, nil
}

// fetchPool gets poolSize client_credentials access tokens of cl over HTTP
// by workers goroutines, token i from targets[i%len(targets)] (replicas of
// one issuer take turns); with revoked, each is then revoked through
// /revoke on the replica that issued it.
func fetchPool(ctx context.Context, targets []*testenv.Broker, cl creds, revoked bool, workers int) ([]string, error) {
	c := newHTTPClient(workers)
	defer c.CloseIdleConnections()
	tokens := make([]string, poolSize)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < poolSize && errs[w] == nil; i += workers {
				b := targets[i%len(targets)]
				if tokens[i], errs[w] = clientCredentialsToken(ctx, c, b, cl); errs[w] != nil {
					break
				}
				if revoked {
					errs[w] = revokeToken(ctx, c, b, cl, tokens[i])
				}
			}
		})
	}
	wg.Wait()
	return tokens, errors.Join(errs...)
}
