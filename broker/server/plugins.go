package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/plugins/process"
	"github.com/portico-idp/portico/sdk"
	sdkplugin "github.com/portico-idp/portico/sdk/plugin"
	"github.com/portico-idp/portico/sdk/upstream"
)

// EnvSelf names the portico executable that runs connectors with
// isolation: process, when it is not this process's own executable: tests
// run inside a test binary, which cannot serve a connector.
const EnvSelf = "PORTICO_SELF"

// Timeouts for a built-in connector in a child process. They are wide:
// the connector bounds its own upstream calls, the deadline only catches
// a child that stopped answering.
const (
	isolatedTimeout      = 30 * time.Second
	isolatedStartTimeout = 30 * time.Second
)

// pluginFactory starts a connector of type plugin.
func pluginFactory(ctx context.Context, raw []byte, env Env) (any, error) {
	cfg, err := process.ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return startProcess(ctx, cfg, process.Options{ID: env.ID, Log: env.Log, OnRestart: env.OnRestart}, env.Strict)
}

// startProcess starts a plugin process. A plugin the broker refuses (its
// checksum, handshake or protocol version is wrong, or it dies at start)
// does not stop the broker: the refusal is logged and the connector is
// registered as unavailable, so its logins answer 503 and the others work.
// A config the plugin rejects does stop it, as a built-in's would.
func startProcess(ctx context.Context, cfg process.Config, opts process.Options, strict bool) (any, error) {
	p, err := process.Start(ctx, cfg, opts)
	switch {
	case errors.Is(err, process.ErrRefused) && strict:
		return nil, err
	case errors.Is(err, process.ErrRefused):
		opts.Log.Error("connector not started: its logins answer 503 until the broker restarts with it fixed", "err", err)
		return process.Unavailable(opts.ID, err), nil
	case err != nil:
		return nil, err
	}
	opts.Log.Info("connector started in a child process", "path", cfg.Path, "pid", p.Pid())
	return p.Connector(), nil
}

// childConfig is what a child serving a built-in connector is configured
// with: its Env, which it cannot compute, and the connector's own block.
// It crosses the plugin's gRPC connection (a private socket, mutual TLS),
// never the command line or the environment, since Key is a secret.
type childConfig struct {
	ID          string          `json:"id"`
	Issuer      string          `json:"issuer"`
	CallbackURL string          `json:"callback_url"`
	DataDir     string          `json:"data_dir,omitempty"`
	Key         []byte          `json:"key"`
	Config      json.RawMessage `json:"config"`
}

// isolated is the factory for connector type typ run with isolation:
// process: a child `portico connector serve TYPE`, speaking the plugin
// protocol. The local connector gets the accounts through a host service:
// the child cannot open the store, which the broker holds.
func isolated(typ string) factory {
	return func(ctx context.Context, raw []byte, env Env) (any, error) {
		path, sum, err := selfExecutable()
		if err != nil {
			return nil, fmt.Errorf("isolation: process: %w", err)
		}
		cc, err := json.Marshal(childConfig{ID: env.ID, Issuer: env.Issuer, CallbackURL: env.CallbackURL,
			DataDir: env.DataDir, Key: env.Key, Config: raw})
		if err != nil {
			return nil, err
		}
		cfg := process.Config{Path: path, SHA256: sum, Args: []string{"connector", "serve", typ}, Config: cc,
			Timeout: upstream.Duration(isolatedTimeout), StartTimeout: upstream.Duration(isolatedStartTimeout)}
		opts := process.Options{ID: env.ID, Log: env.Log, OnRestart: env.OnRestart}
		if typ == "local" {
			opts.Host = accountsHost(Accounts{env.Store})
		}
		return startProcess(ctx, cfg, opts, env.Strict)
	}
}

var self struct {
	sync.Mutex
	path, sum string
}

// selfExecutable is the portico binary children run, and its SHA-256,
// taken once: a binary replaced on disk (an upgrade) is refused as a
// child until the broker itself restarts, so one broker never mixes
// versions.
func selfExecutable() (string, string, error) {
	self.Lock()
	defer self.Unlock()
	if self.path != "" {
		return self.path, self.sum, nil
	}
	path := os.Getenv(EnvSelf)
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", "", fmt.Errorf("find the portico executable: %w (set %s)", err, EnvSelf)
		}
		if strings.HasSuffix(exe, ".test") {
			return "", "", fmt.Errorf("running in a test binary, which cannot serve connectors: set %s to a built portico", EnvSelf)
		}
		path = exe
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("open the portico executable: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", "", fmt.Errorf("checksum the portico executable: %w", err)
	}
	self.path, self.sum = path, hex.EncodeToString(h.Sum(nil))
	return self.path, self.sum, nil
}

// ServeConnector serves one built-in connector type over the plugin
// protocol: the hidden `portico connector serve TYPE`, run by a broker
// for a connector with isolation: process. It does not return unless typ
// is unknown.
func ServeConnector(typ string) error {
	f := factories[typ]
	if f == nil || typ == "plugin" {
		return fmt.Errorf("unknown connector type %q", typ)
	}
	sdkplugin.Serve(func(ctx context.Context, config json.RawMessage, log *slog.Logger) (any, error) {
		var cc childConfig
		if err := json.Unmarshal(config, &cc); err != nil {
			return nil, fmt.Errorf("connector serve %s: config from the broker: %w", typ, err)
		}
		env := Env{ID: cc.ID, Issuer: cc.Issuer, CallbackURL: cc.CallbackURL, DataDir: cc.DataDir, Key: cc.Key, Log: log}
		if typ == "local" {
			host := sdkplugin.Host(ctx)
			if host == nil {
				return nil, errors.New("connector serve local: the broker offers no accounts service")
			}
			env.accounts = hostAccounts{host}
		}
		raw := cc.Config
		if len(raw) == 0 {
			raw = json.RawMessage("null")
		}
		return f(ctx, raw, env)
	})
	return nil
}

// The accounts service: the local connector in a child asks the broker's
// store through these messages. Password hashes cross, as they must for
// the child to check passwords; only Portico's own binary is offered it.
type accountsRequest struct {
	Op      string `json:"op"` // by_login, by_id, set_hash
	Login   string `json:"login,omitempty"`
	ID      string `json:"id,omitempty"`
	OldHash string `json:"old_hash,omitempty"`
	NewHash string `json:"new_hash,omitempty"`
}

type accountsResponse struct {
	Account *local.Account `json:"account,omitempty"`
	// Error is "no_account", "conflict", or another failure's text.
	Error string `json:"error,omitempty"`
}

// accountsHost serves the accounts messages from a.
func accountsHost(a Accounts) sdkplugin.HostFunc {
	return func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
		var req accountsRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			return nil, fmt.Errorf("accounts: unreadable request: %w", err)
		}
		var acct local.Account
		var err error
		switch req.Op {
		case "by_login":
			acct, err = a.AccountByLogin(ctx, req.Login)
		case "by_id":
			acct, err = a.AccountByID(ctx, req.ID)
		case "set_hash":
			err = a.SetPasswordHash(ctx, req.ID, req.OldHash, req.NewHash)
		default:
			return nil, fmt.Errorf("accounts: unknown operation %q", req.Op)
		}
		var resp accountsResponse
		switch {
		case errors.Is(err, local.ErrNoAccount):
			resp.Error = "no_account"
		case errors.Is(err, store.ErrConflict):
			resp.Error = "conflict"
		case err != nil:
			resp.Error = err.Error()
		case req.Op != "set_hash":
			resp.Account = &acct
		}
		return json.Marshal(resp)
	}
}

// hostAccounts is local.Accounts in the child, over the host service.
type hostAccounts struct{ call sdkplugin.HostFunc }

func (h hostAccounts) do(ctx context.Context, req accountsRequest) (local.Account, error) {
	raw, err := json.Marshal(req)
	if err != nil {
		return local.Account{}, err
	}
	out, err := h.call(ctx, raw)
	if err != nil {
		return local.Account{}, fmt.Errorf("%w: accounts: %w", sdk.ErrUnavailable, err)
	}
	var resp accountsResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return local.Account{}, fmt.Errorf("accounts: unreadable answer: %w", err)
	}
	switch resp.Error {
	case "":
	case "no_account":
		return local.Account{}, local.ErrNoAccount
	case "conflict":
		return local.Account{}, fmt.Errorf("accounts: %w", store.ErrConflict)
	default:
		return local.Account{}, fmt.Errorf("accounts: %s", resp.Error)
	}
	if resp.Account == nil {
		return local.Account{}, nil
	}
	return *resp.Account, nil
}

func (h hostAccounts) AccountByLogin(ctx context.Context, login string) (local.Account, error) {
	return h.do(ctx, accountsRequest{Op: "by_login", Login: login})
}

func (h hostAccounts) AccountByID(ctx context.Context, id string) (local.Account, error) {
	return h.do(ctx, accountsRequest{Op: "by_id", ID: id})
}

func (h hostAccounts) SetPasswordHash(ctx context.Context, id, oldHash, newHash string) error {
	_, err := h.do(ctx, accountsRequest{Op: "set_hash", ID: id, OldHash: oldHash, NewHash: newHash})
	return err
}
