// Package testenv runs real Portico servers and real relying parties for
// tests and for `make run`: nothing here is a mock. A broker runs
// in-process on a loopback port; the relying party is built on go-oidc and
// x/oauth2 and drives the code flow like a browser without JavaScript.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/server"
	"github.com/portico-idp/portico/connectors/local"
)

// Demo identities every test config carries.
const (
	UserName     = "alice"
	UserEmail    = "alice@example.com"
	UserPassword = "alice-password"
	ClientID     = "example-app"
	ClientSecret = "example-secret"
	PublicClient = "example-spa"
	RedirectURI  = "http://127.0.0.1:5555/callback"
)

// FastParams are argon2id parameters for tests that hash many times. Tests
// of hashing cost itself use local.DefaultParams.
var FastParams = local.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Config returns a configuration for a test broker: the local connector with
// alice, a confidential client and a public one. Issuer, listen and storage
// dir are filled in by Start.
func Config(t testing.TB) *config.Config {
	t.Helper()
	hash, err := local.Hash(UserPassword, FastParams)
	if err != nil {
		t.Fatal(err)
	}
	return &config.Config{
		Storage:    config.Storage{Type: "badger"},
		Connectors: []config.Connector{{ID: "local", Type: "local", Name: "Email"}},
		Clients: []config.Client{
			{ID: ClientID, Secret: ClientSecret, RedirectURIs: []string{RedirectURI},
				GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, Scopes: []string{"api"}},
			{ID: PublicClient, Public: true, RedirectURIs: []string{RedirectURI},
				GrantTypes: []string{"authorization_code", "refresh_token"}},
		},
		Users: []config.User{{Username: UserName, Email: UserEmail, Name: "Alice Example", Groups: []string{"admins", "staff"}, PasswordHash: hash}},
	}
}

// Broker is a Portico server running in this process.
type Broker struct {
	URL    string // the issuer
	Server *server.Server
	Config *config.Config
	logs   *LogBuffer
	cancel context.CancelFunc
	done   chan error
}

// Logs returns everything the broker logged, at every level, as JSON lines.
// Tests read it for security events, and to prove secrets never appear.
func (b *Broker) Logs() string { return b.logs.String() }

// LogBuffer collects log output; safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Start runs a broker for cfg on a fresh loopback port, with its store in a
// temporary directory unless cfg names one. It stops when the test ends.
func Start(t testing.TB, cfg *config.Config) *Broker {
	t.Helper()
	return start(t, cfg, "127.0.0.1")
}

// StartLocalhost is Start with the issuer at http://localhost:PORT (still
// listening on 127.0.0.1 only): browsers accept "localhost", never an IP
// address, as a WebAuthn relying party id, and treat it as a secure
// context.
func StartLocalhost(t testing.TB, cfg *config.Config) *Broker {
	t.Helper()
	return start(t, cfg, "localhost")
}

func start(t testing.TB, cfg *config.Config, host string) *Broker {
	t.Helper()
	return startCtx(t, context.Background(), cfg, host)
}

func startCtx(t testing.TB, base context.Context, cfg *config.Config, host string) *Broker {
	t.Helper()
	// Test brokers hash with FastParams: with local.DefaultParams each
	// login or unknown name cost about half a second under -race. (StartOn
	// keeps the defaults: `make bench` measures logins at their real cost.)
	base = server.WithHashParams(base, FastParams)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.Dir == "" {
		cfg.Storage.Dir = t.TempDir()
	}
	cfg.Listen = l.Addr().String()
	cfg.Issuer = "http://" + cfg.Listen
	if host != "127.0.0.1" {
		cfg.Issuer = "http://" + net.JoinHostPort(host, fmt.Sprint(l.Addr().(*net.TCPAddr).Port))
	}
	logs := &LogBuffer{}
	b, err := startOn(base, l, cfg, teeLogger(t, logs))
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	b.logs = logs
	t.Cleanup(func() { b.Stop() })
	return b
}

// StartHandler opens a Portico for cfg (issuer set by the caller) without
// serving it, for tests that call its handler directly.
func StartHandler(t testing.TB, cfg *config.Config) http.Handler {
	t.Helper()
	if cfg.Storage.Dir == "" {
		cfg.Storage.Dir = t.TempDir()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:1"
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.Open(server.WithHashParams(context.Background(), FastParams), cfg, teeLogger(t, &LogBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Broker
}

// StartOn runs a broker for cfg (complete, with issuer) on l.
func StartOn(l net.Listener, cfg *config.Config, log *slog.Logger) (*Broker, error) {
	return startOn(context.Background(), l, cfg, log)
}

// startOn is StartOn with a base context (carrying a clock: clock.go).
func startOn(base context.Context, l net.Listener, cfg *config.Config, log *slog.Logger) (*Broker, error) {
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(base)
	srv, err := server.Open(ctx, cfg, log)
	if err != nil {
		cancel()
		return nil, err
	}
	b := &Broker{URL: cfg.Issuer, Server: srv, Config: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { b.done <- srv.Serve(ctx, l) }()
	return b, nil
}

// Stop shuts the broker down gracefully and closes its store. It may be
// called more than once.
func (b *Broker) Stop() error {
	if b.cancel == nil {
		return nil
	}
	b.cancel()
	b.cancel = nil
	err := <-b.done
	if cerr := b.Server.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Restart stops the broker and starts it again on the same address and
// data directory, as an operator's restart would.
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	if err := b.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	l, err := net.Listen("tcp", b.Config.Listen)
	if err != nil {
		t.Fatal(err)
	}
	logs := b.logs
	if logs == nil {
		logs = &LogBuffer{}
	}
	nb, err := startOn(server.WithHashParams(context.Background(), FastParams), l, b.Config, teeLogger(t, logs))
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	nb.logs = logs
	*b = *nb
}

// Logger logs to the test's output, or nowhere unless PORTICO_TEST_LOG is set.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("PORTICO_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// teeLogger logs JSON at every level into logs, and to the test's output
// when PORTICO_TEST_LOG is set.
func teeLogger(t testing.TB, logs *LogBuffer) *slog.Logger {
	var w io.Writer = logs
	if os.Getenv("PORTICO_TEST_LOG") != "" {
		w = io.MultiWriter(logs, tWriter{t})
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
