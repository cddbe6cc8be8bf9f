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
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/portico-idp/portico/sdk/plugin"
	"github.com/portico-idp/portico/sdk/wire"
)

var (
	buildMu sync.Mutex
	builds  = map[string]*built{}
)

type built struct {
	once sync.Once
	path string
	err  error
}

// build builds the package in dir natively (a process plugin) or for
// wasip1 (a reactor module), once per test process, and returns the file.
func build(t *testing.T, dir string, wasm bool) string {
	t.Helper()
	goCmd := needGo(t)
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatalf("connectortest: %v", err)
	}
	key := fmt.Sprintf("%s\x00%v", abs, wasm)
	buildMu.Lock()
	b := builds[key]
	if b == nil {
		b = &built{}
		builds[key] = b
	}
	buildMu.Unlock()
	b.once.Do(func() {
		out, err := os.MkdirTemp("", "connectortest-")
		if err != nil {
			b.err = err
			return
		}
		// Kept for the life of the process: other tests may use the build.
		args := []string{"build", "-o"}
		env := os.Environ()
		if wasm {
			b.path = filepath.Join(out, "connector.wasm")
			args = append(args, b.path, "-buildmode=c-shared")
			env = append(env, "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		} else {
			b.path = filepath.Join(out, "connector")
			args = append(args, b.path)
		}
		cmd := exec.Command(goCmd, append(args, ".")...)
		cmd.Dir, cmd.Env = abs, env
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Run(); err != nil {
			b.err = fmt.Errorf("%s (in %s): %v\n%s", strings.Join(cmd.Args, " "), abs, err, log.Bytes())
		}
	})
	if b.err != nil {
		t.Fatalf("connectortest: build: %v", b.err)
	}
	return b.path
}

// startProcess starts a built plugin as the broker does (go-plugin's
// handshake over gRPC, then info and configure) and returns the
// connector as the broker would hold it.
func startProcess(t *testing.T, path string, config json.RawMessage) (any, error) {
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake,
		Plugins:          goplugin.PluginSet{plugin.PluginName: &plugin.GRPCPlugin{}},
		Cmd:              exec.Command(path),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: "plugin", Output: newTestWriter(t), Level: hclog.Debug,
		}),
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
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
