package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/portico-idp/portico/broker/journey"
	"github.com/portico-idp/portico/sdk/configschema"

	"github.com/portico-idp/portico/broker"
	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/connectors/github"
	"github.com/portico-idp/portico/connectors/ldap"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/connectors/oidc"
	"github.com/portico-idp/portico/connectors/saml"
	"github.com/portico-idp/portico/plugins/process"
	"github.com/portico-idp/portico/plugins/wasm"
)

// Env is what a connector factory may use besides its own config.
type Env struct {
	ID     string // the connector's id
	Issuer string
	// CallbackURL is where the connector's upstream sends the browser
	// back; a SAML SP's ACS URL, an OAuth redirect_uri.
	CallbackURL string
	// DataDir is a directory the connector may keep files in (keys it
	// generated, caches); empty when the store is not on disk.
	DataDir string
	// Key is 32 secret bytes for this connector alone, stable across
	// restarts: for encrypting what it keeps in ConnectorData (an upstream
	// refresh token) or signing its state.
	Key   []byte
	Store store.Store
	Log   *slog.Logger
	// OnRestart is called when a connector in a child process had to be
	// restarted (metrics).
	OnRestart func()
	// Strict is set when an administrator adds the connector at runtime
	// (the admin API): a plugin or module the broker refuses is then an
	// error the caller sees, not a connector registered as unavailable
	// (which is for start, so that one bad connector does not stop the
	// broker).
	Strict bool

	// hashing is the process's password hashing semaphore
	// (login.hash.memory_budget), which every local connector shares; nil
	// gives the connector its own.
	hashing *local.Limiter

	// accounts replaces Store for the local connector in a child process
	// (isolation: process), which reaches the broker's store through it.
	accounts local.Accounts
}

// factory builds one type of connector from its config block, as JSON.
type factory func(ctx context.Context, raw []byte, env Env) (any, error)

// factories are the built-in connector types.
var factories = map[string]factory{
	"local": func(ctx context.Context, raw []byte, env Env) (any, error) {
		// The config is the broker's (self-service), not the connector's.
		if _, err := config.ParseLocalConfig(raw); err != nil {
			return nil, err
		}
		var accounts local.Accounts = Accounts{env.Store}
		if env.accounts != nil {
			accounts = env.accounts
		}
		return local.New(accounts, local.Config{Logger: env.Log, Params: hashParamsFrom(ctx), Limiter: env.hashing, QueueTimeout: env.hashing.QueueTimeout()}), nil // hashparams.go
	},
	"ldap": func(ctx context.Context, raw []byte, env Env) (any, error) {
		cfg, err := ldap.ParseConfig(raw)
		if err != nil {
			return nil, err
		}
		return ldap.New(ctx, cfg, env.Log)
	},
	"saml": func(ctx context.Context, raw []byte, env Env) (any, error) {
		cfg, err := saml.ParseConfig(raw)
		if err != nil {
			return nil, err
		}
		return saml.New(ctx, cfg, saml.Env{ID: env.ID, ACSURL: env.CallbackURL, MetadataURL: journey.MetadataURL(env.Issuer, env.ID), DataDir: env.DataDir, Log: env.Log})
	},
	"oidc":      oidcFactory(oidc.ParseConfig),
	"google":    oidcFactory(oidc.ParseGoogleConfig),
	"microsoft": oidcFactory(oidc.ParseMicrosoftConfig),
	"github": func(_ context.Context, raw []byte, env Env) (any, error) {
		cfg, err := github.ParseConfig(raw)
		if err != nil {
			return nil, err
		}
		return github.New(cfg, env.Key, env.Log)
	},
	"plugin": pluginFactory, // plugins.go
	"wasm":   wasmFactory,   // wasm.go
}

// oidcFactory builds the OIDC connector from a config that parse derives
// (generic, or a Google or Microsoft preset).
func oidcFactory(parse func([]byte) (oidc.Config, error)) factory {
	return func(ctx context.Context, raw []byte, env Env) (any, error) {
		cfg, err := parse(raw)
		if err != nil {
			return nil, err
		}
		return oidc.New(ctx, cfg, env.Key, env.Log)
	}
}

// connectors builds the configured connectors. On error, those already
// built are closed.
func connectors(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger, hashing *local.Limiter, restarted func(runtime, id string)) (out []broker.Connector, err error) {
	defer func() {
		if err != nil {
			closeConnectors(out)
		}
	}()
	master, err := masterKey(cfg.Storage.Dir)
	if err != nil {
		return nil, err
	}
	for i, c := range cfg.Connectors {
		f := factories[c.Type]
		if f == nil {
			return out, fmt.Errorf("connectors[%d].type: unknown connector type %q", i, c.Type)
		}
		if c.Isolation == config.IsolationProcess {
			f = isolated(c.Type)
		}
		raw, err := json.Marshal(c.Config)
		if err != nil {
			return out, fmt.Errorf("connectors[%d].config: %w", i, err)
		}
		env := Env{
			ID: c.ID, Issuer: cfg.Issuer, CallbackURL: journey.CallbackURL(cfg.Issuer, c.ID),
			Key: connectorKey(master, c.ID), Store: st, Log: log.With("connector", c.ID),
			OnRestart: func() { restarted(runtimeOf(c.Type, c.Isolation), c.ID) },
			hashing:   hashing,
		}
		if cfg.Storage.Dir != "" {
			env.DataDir = cfg.Storage.Dir
		}
		impl, err := f(ctx, raw, env)
		if err != nil {
			return out, fmt.Errorf("connectors[%d] (%s): %w", i, c.ID, err)
		}
		name := c.Name
		if name == "" {
			name = c.ID
		}
		out = append(out, broker.Connector{ID: c.ID, Type: c.Type, Name: name, Icon: c.Icon, Impl: impl,
			Runtime: runtimeOf(c.Type, c.Isolation), Deadline: deadlineOf(c.Type, c.Isolation, raw)})
	}
	return out, nil
}

// runtimeOf says where a connector runs, for metrics.
// deadlineOf is how long one call into a connector may take: the timeout
// a plugin or a module is configured with (it enforces it too), the child
// process's for a built-in with isolation: process, and for a built-in in
// the broker's process 0, the broker's default (built-ins bound each of
// their upstream calls). The broker holds every call to it and keeps the
// request's connection open past it (broker/deadline.go). raw has been
// accepted by the connector's factory.
func deadlineOf(typ, isolation string, raw []byte) time.Duration {
	switch {
	case isolation == config.IsolationProcess:
		return isolatedTimeout
	case typ == "plugin":
		if c, err := process.ParseConfig(raw); err == nil {
			return time.Duration(c.Timeout)
		}
	case typ == "wasm":
		if c, err := wasm.ParseConfig(raw); err == nil {
			return time.Duration(c.Timeout)
		}
	}
	return 0
}

func runtimeOf(typ, isolation string) string {
	switch {
	case typ == "wasm":
		return "wasm"
	case typ == "plugin" || isolation == config.IsolationProcess:
		return "process"
	}
	return "builtin"
}

// closeConnectors releases what connectors hold (LDAP pools, processes).
func closeConnectors(cs []broker.Connector) {
	for _, c := range cs {
		if cl, ok := c.Impl.(io.Closer); ok {
			cl.Close()
		}
	}
}

// masterKey returns the secret connector keys derive from, kept in the data
// directory (created on first start, readable by the owner only), or a
// random one for a store that is not on disk.
func masterKey(dir string) ([]byte, error) {
	key := make([]byte, 32)
	if dir == "" {
		rand.Read(key)
		return key, nil
	}
	// With postgres the directory holds only this file: make it, as
	// badger makes its own.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("key directory: %w", err)
	}
	path := filepath.Join(dir, "connector-master.key")
	if b, err := os.ReadFile(path); err == nil && len(b) == 32 {
		return b, nil
	} else if err == nil {
		return nil, fmt.Errorf("%s: want 32 bytes, found %d", path, len(b))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	rand.Read(key)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return masterKey(dir) // another process made it first
	} else if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	defer f.Close()
	if _, err := f.Write(key); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return key, f.Sync()
}

// connectorKey derives one connector's key, so no two connectors share one.
func connectorKey(master []byte, id string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("portico connector key\x00" + id))
	return m.Sum(nil)
}

// ConnectorSchemas are the built-in connector types' configurations as
// JSON Schema (sdk/configschema), from the Go types their config blocks
// decode into: what the admin console's form shows for each type. The
// local connector takes no config.
func ConnectorSchemas() map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for typ, v := range map[string]any{
		"ldap": ldap.Config{}, "saml": saml.Config{}, "github": github.Config{},
		"oidc": oidc.Config{}, "google": oidc.Config{}, "microsoft": oidc.Config{},
		"local": config.LocalConfig{},
	} {
		raw, err := json.Marshal(configschema.For(v))
		if err != nil {
			panic("server: schema of " + typ + ": " + err.Error()) // a Go type's schema always marshals
		}
		out[typ] = raw
	}
	return out
}
