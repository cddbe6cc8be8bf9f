// Package plugin turns a connector into a Portico plugin: a program the
// broker starts as a child process and talks to over gRPC
// (hashicorp/go-plugin). A plugin's main is one call:
//
//	func main() {
//		plugin.Serve(func(ctx context.Context, config json.RawMessage, log *slog.Logger) (any, error) {
//			return newConnector(config, log)
//		})
//	}
//
// The factory gets the connector's config block from the broker's file, as
// JSON, and a logger whose records end up in the broker's log tagged with
// the connector's id. It returns a value implementing any of the sdk
// capability interfaces (sdk.PasswordConnector, sdk.CallbackConnector,
// sdk.RefreshConnector, sdk.MetadataConnector); the broker sees exactly
// those. Every call crosses as one sdk/wire message, so errors keep their
// meaning: return sdk.ErrInvalidCredentials, sdk.ErrUnavailable or
// sdk.ErrUserGone (wrapped or not) as a built-in connector would.
//
// This package is kept apart from package sdk so that sdk (and a connector
// written against it alone) also builds for GOOS=wasip1, where there are
// no processes and no gRPC.
package plugin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"runtime"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/portico-idp/portico/sdk/wire"
)

// Factory builds the plugin's connector from its config block. It runs
// once, when the broker configures the plugin (at broker start and after
// every restart of the plugin). Its context lives as long as the plugin:
// a connector may keep it for background work. An error is the config's
// fault: at broker start it stops the broker, as a built-in connector's
// bad config does.
type Factory func(ctx context.Context, config json.RawMessage, log *slog.Logger) (any, error)

// Handshake is what broker and plugin check before they talk. The magic
// cookie only tells a plugin it was started by Portico (run by hand it
// says so and exits); it is not a secret. ProtocolVersion is wire.Version:
// a broker refuses a plugin built for another protocol version at start.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  wire.Version,
	MagicCookieKey:   "PORTICO_CONNECTOR_PLUGIN",
	MagicCookieValue: "f6b1c0de-portico-connector",
}

// PluginName is the name the connector service is dispensed under.
const PluginName = "connector"

// EnvLogLevel is the environment variable the broker sets to the lowest
// level it logs (debug or info), so a plugin does not send records the
// broker would drop.
const EnvLogLevel = "PORTICO_PLUGIN_LOG_LEVEL"

// Serve serves the connector factory builds until the broker stops the
// plugin. It does not return: it exits the process. Run by hand (without
// the broker's handshake) it prints an explanation and exits with status 1.
//
// The plugin runs with GOMAXPROCS=1 unless its environment sets
// GOMAXPROCS (the plugin's env in the broker's config; "0" is Go's own
// default): a connector that does CPU work in parallel, such as hashing
// passwords, should set it.
func Serve(factory Factory) {
	// go-plugin points os.Stdout and os.Stderr at pipes forwarded over gRPC
	// once it serves; the logger keeps the real stderr, which the broker
	// reads line by line and parses.
	stderr := os.Stderr
	level := slog.LevelInfo
	if os.Getenv(EnvLogLevel) == "debug" {
		level = slog.LevelDebug
	}
	log := NewLogger(stderr, level)
	// One P unless the environment says otherwise (the plugin's env in
	// the broker's config; "0" means Go's own default). A call crosses
	// about eight goroutine hand-offs, and after each a Go scheduler
	// with an idle P wakes a thread that spins looking for work: one P
	// took 7–18% off a login through a plugin (docs/performance.md, the
	// connector boundary). Connector calls mostly wait on an upstream;
	// one that does CPU work in parallel sets GOMAXPROCS.
	if _, ok := os.LookupEnv("GOMAXPROCS"); !ok {
		runtime.GOMAXPROCS(1)
	}
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         goplugin.PluginSet{PluginName: &GRPCPlugin{Factory: factory, Log: log, sockets: true}},
		GRPCServer:      goplugin.DefaultGRPCServer,
		Logger:          hclog.New(&hclog.LoggerOptions{Output: stderr, JSONFormat: true, Level: hclogLevel(level)}),
	})
}

func hclogLevel(l slog.Level) hclog.Level {
	if l <= slog.LevelDebug {
		return hclog.Debug
	}
	return hclog.Info
}

// NewLogger returns a logger writing JSON lines in hclog's format
// ("@level", "@message", "@timestamp" and the attributes), which is what
// the broker's side of go-plugin parses. Serve gives the factory one on
// stderr; tests may make their own.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.LevelKey:
				return slog.String("@level", levelName(a.Value.Any()))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	}))
}

// levelName maps a slog level to hclog's names.
func levelName(v any) string {
	l, _ := v.(slog.Level)
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}
