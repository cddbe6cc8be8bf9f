package connectortest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/portico-idp/portico/sdk/plugin"
	"github.com/portico-idp/portico/sdk/wire"
)

// build builds the package in dir natively (a process plugin) or for
// wasip1 (a reactor module) into t's temporary directory and returns the
// file. The go command's build cache makes a second build cheap.
func build(t *testing.T, dir string, wasm bool) string {
	t.Helper()
	goCmd := needGo(t)
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatalf("connectortest: %v", err)
	}
	out := filepath.Join(t.TempDir(), "connector")
	args := []string{"build", "-o", out}
	env := os.Environ()
	if wasm {
		out += ".wasm"
		args = []string{"build", "-o", out, "-buildmode=c-shared"}
		env = append(env, "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	}
	cmd := exec.Command(goCmd, append(args, ".")...)
	cmd.Dir, cmd.Env = abs, env
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		t.Fatalf("connectortest: build: %s (in %s): %v\n%s", strings.Join(cmd.Args, " "), abs, err, log.Bytes())
	}
	return out
}

// startProcess starts a built plugin as the broker does (go-plugin's
// handshake over gRPC, then info and configure) and returns the
// connector as the broker would hold it.
func startProcess(t *testing.T, path string, config json.RawMessage) (any, error) {
	// The call sockets, as the broker passes them (sdk/plugin sockets.go).
	socks, _ := plugin.NewSockets(plugin.CallSockets) // nil, and calls over gRPC, but on Linux
	t.Cleanup(socks.Close)
	cmd := exec.Command(path)
	cmd.ExtraFiles = socks.Files()
	cmd.Env = append(os.Environ(), socks.Env())
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake,
		Plugins:          goplugin.PluginSet{plugin.PluginName: &plugin.GRPCPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: "plugin", Output: newTestWriter(t), Level: hclog.Debug,
		}),
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	socks.CloseChild()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	raw, err := rpc.Dispense(plugin.PluginName)
	if err != nil {
		return nil, fmt.Errorf("dispense: %w", err)
	}
	pc, ok := raw.(*plugin.Client)
	if !ok {
		return nil, fmt.Errorf("dispense: got %T, want *plugin.Client", raw)
	}
	if n := pc.UseSockets(socks, maxAnswer); n == 0 {
		t.Logf("%s greeted on no call socket: its calls go over gRPC", path)
	}
	return dial(t.Context(), pc.Call, config)
}

// dial configures the connector behind t and asks what it implements, as
// the broker does.
func dial(ctx context.Context, t wire.Transport, config json.RawMessage) (any, error) {
	r, err := wire.Dial(ctx, t)
	if err != nil {
		return nil, err
	}
	if err := r.Configure(ctx, config); err != nil {
		return nil, fmt.Errorf("configure: %w", err)
	}
	// The capabilities are those of the configured connector.
	if r, err = wire.Dial(ctx, t); err != nil {
		return nil, err
	}
	return wire.Connector(r), nil
}
