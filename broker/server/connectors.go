package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/portico-idp/portico/broker"
	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/connectors/ldap"
	"github.com/portico-idp/portico/connectors/local"
)

// Env is what a connector factory may use besides its own config.
type Env struct {
	Issuer string
	// CallbackURL is where the connector's upstream sends the browser
	// back; a SAML SP's ACS URL, an OAuth redirect_uri.
	CallbackURL string
	// DataDir is a directory the connector may keep files in (keys it
	// generated, caches); empty when the store is not on disk.
	DataDir string
	Store   store.Store
	Log     *slog.Logger
}

// factory builds one type of connector from its config block, as JSON.
type factory func(ctx context.Context, raw []byte, env Env) (any, error)

// factories are the built-in connector types.
var factories = map[string]factory{
	"local": func(_ context.Context, raw []byte, env Env) (any, error) {
		if string(raw) != "null" && string(raw) != "{}" {
			return nil, fmt.Errorf("the local connector takes no config")
		}
		return local.New(Accounts{env.Store}, local.Config{Logger: env.Log}), nil
	},
	"ldap": func(ctx context.Context, raw []byte, env Env) (any, error) {
		cfg, err := ldap.ParseConfig(raw)
		if err != nil {
			return nil, err
		}
		return ldap.New(ctx, cfg, env.Log)
	},
}

// connectors builds the configured connectors. On error, those already
// built are closed.
func connectors(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger) (out []broker.Connector, err error) {
	defer func() {
		if err != nil {
			closeConnectors(out)
		}
	}()
	for i, c := range cfg.Connectors {
		f := factories[c.Type]
		if f == nil {
			return out, fmt.Errorf("connectors[%d].type: unknown connector type %q", i, c.Type)
		}
		raw, err := json.Marshal(c.Config)
		if err != nil {
			return out, fmt.Errorf("connectors[%d].config: %w", i, err)
		}
		env := Env{
			Issuer: cfg.Issuer, CallbackURL: broker.CallbackURL(cfg.Issuer, c.ID),
			Store: st, Log: log.With("connector", c.ID),
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
		out = append(out, broker.Connector{ID: c.ID, Type: c.Type, Name: name, Impl: impl})
	}
	return out, nil
}

// closeConnectors releases what connectors hold (LDAP pools, processes).
func closeConnectors(cs []broker.Connector) {
	for _, c := range cs {
		if cl, ok := c.Impl.(io.Closer); ok {
			cl.Close()
		}
	}
}
