package server

import (
	"context"
	"errors"

	"github.com/portico-idp/portico/plugins/process"
	"github.com/portico-idp/portico/plugins/wasm"
)

// wasmFactory loads a connector of type wasm: a WebAssembly module run in
// the broker's process, sandboxed (docs/wasm-abi.md). A module the broker
// refuses (its SHA-256, ABI version or exports are wrong, it imports what
// the broker does not offer, it traps at start) does not stop the broker:
// the refusal is logged and the connector is registered as unavailable,
// as a refused process plugin is. A config the module rejects stops the
// broker, as a built-in connector's would.
func wasmFactory(ctx context.Context, raw []byte, env Env) (any, error) {
	cfg, err := wasm.ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	m, err := wasm.Open(ctx, cfg, wasm.Env{Key: env.Key, Log: env.Log, DataDir: env.DataDir})
	switch {
	case errors.Is(err, wasm.ErrRefused) && env.Strict:
		return nil, err
	case errors.Is(err, wasm.ErrRefused):
		env.Log.Error("connector not loaded: its logins answer 503 until the broker restarts with it fixed", "err", err)
		return process.Unavailable(env.ID, err), nil
	case err != nil:
		return nil, err
	}
	env.Log.Info("connector loaded from a WASM module", "path", cfg.Path, "sha256", m.SHA256(), "reload", cfg.Reload)
	return m.Connector(), nil
}
