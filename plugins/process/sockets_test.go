package process_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portico-idp/portico/plugins/process"
	"github.com/portico-idp/portico/plugins/process/processtest"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
)

// transport logs in as "transport": how the call reached the plugin.
func transport(t *testing.T, pc sdk.PasswordConnector) string {
	t.Helper()
	id, err := pc.Login(context.Background(), sdk.Scopes{}, "transport", "")
	if err != nil {
		t.Fatalf("login as transport: %v", err)
	}
	return id.Name
}

// TestPluginCallSockets: calls other than configure go over the call
// sockets (sdk/plugin sockets.go), eight at once, the rest over gRPC; a
// call the broker gives up on is cancelled in the plugin, and its socket
// comes back once the plugin has answered.
func TestPluginCallSockets(t *testing.T) {
	p, logs := start(t, pluginConfig(t, processtest.Build(t, testPlugin)))
	pc := p.Connector().(sdk.PasswordConnector)
	if got := transport(t, pc); got != "socket" {
		t.Fatalf("a login went over %s, want the call socket", got)
	}
	// Eight calls waiting in the plugin hold every socket.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := pc.Login(ctx, sdk.Scopes{}, "wait", "")
			errs <- err
		}()
	}
	waitFor(t, "eight logins waiting in the plugin", func() bool { return strings.Count(logs.String(), "login waiting") == 8 })
	if got := transport(t, pc); got != "grpc" {
		t.Errorf("with every socket busy a login went over %s, want gRPC", got)
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil {
			t.Error("a cancelled login succeeded")
		}
	}
	waitFor(t, "the plugin seeing eight cancellations", func() bool { return strings.Count(logs.String(), "login cancelled") == 8 })
	// The sockets come back once the cancelled calls' answers are read.
	waitFor(t, "a login over a socket again", func() bool { return transport(t, pc) == "socket" })
	for range 20 {
		if got := transport(t, pc); got != "socket" {
			t.Fatalf("after the cancellations a login went over %s", got)
		}
	}

	// Calls that reach their deadline in the plugin give their sockets
	// back too (a socket deadline expiring with the call's once closed
	// them): afterwards eight waiting calls find eight sockets again, once
	// the drains of the cancelled calls' answers are done (retried: a
	// drain may still be reading when a round starts).
	for range 12 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		if _, err := pc.Login(ctx, sdk.Scopes{}, "wait", ""); err == nil {
			t.Fatal("a login past its deadline succeeded")
		}
		cancel()
	}
	cancelled := 20
	waitFor(t, "the deadlines' cancellations", func() bool { return strings.Count(logs.String(), "login cancelled") == cancelled })
	waiting := 20
	for round := 0; ; round++ {
		if round == 50 {
			t.Fatal("eight waiting logins never all went over a socket: sockets were lost to deadlines")
		}
		before := strings.Count(logs.String(), `"transport":"socket"`)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() { defer wg.Done(); pc.Login(ctx, sdk.Scopes{}, "wait", "") }()
		}
		waiting += 8
		waitFor(t, "eight more logins waiting", func() bool { return strings.Count(logs.String(), "login waiting") == waiting })
		n := strings.Count(logs.String(), `"transport":"socket"`) - before
		cancel()
		wg.Wait()
		cancelled += 8
		waitFor(t, "their cancellations", func() bool { return strings.Count(logs.String(), "login cancelled") == cancelled })
		if n == 8 {
			break
		}
	}
}

// TestPluginWithoutCallSockets: a plugin that ignores the sockets (built
// with an older sdk) is served over gRPC.
func TestPluginWithoutCallSockets(t *testing.T) {
	cfg := pluginConfig(t, processtest.Build(t, testPlugin))
	cfg.Env = map[string]string{"TESTPLUGIN_NO_SOCKETS": "1"}
	p, _ := start(t, cfg)
	pc := p.Connector().(sdk.PasswordConnector)
	for range 3 {
		if got := transport(t, pc); got != "grpc" {
			t.Fatalf("a login went over %s, want gRPC", got)
		}
	}
	if _, err := pc.Login(context.Background(), sdk.Scopes{}, "alice", "pw"); err != nil {
		t.Errorf("login: %v", err)
	}
}

// TestPluginMuteSockets: a plugin that greets on its call sockets and
// never answers on them is refused at start within start_timeout, not
// after the call timeout.
func TestPluginMuteSockets(t *testing.T) {
	cfg := pluginConfig(t, processtest.Build(t, testPlugin))
	cfg.Env = map[string]string{"TESTPLUGIN_MUTE_SOCKETS": "1"}
	// Long enough for a handshake on a loaded machine; the info that
	// never comes is then refused at it, not after the call timeout.
	cfg.StartTimeout = upstream.Duration(5 * time.Second)
	cfg.Timeout = upstream.Duration(5 * time.Minute)
	_, err := process.Start(context.Background(), cfg, process.Options{ID: "mute", Log: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, process.ErrRefused) || !strings.Contains(err.Error(), "start_timeout") {
		t.Fatalf("Start: %v; want refused for no answer within start_timeout", err)
	}
}

// TestPluginCloseDuringRestart: Close does not wait for a restart whose
// plugin does not answer (start_timeout and timeout of ten minutes here):
// it ends it.
func TestPluginCloseDuringRestart(t *testing.T) {
	mute := filepath.Join(t.TempDir(), "mute")
	cfg := pluginConfig(t, processtest.Build(t, testPlugin))
	cfg.Env = map[string]string{"TESTPLUGIN_MUTE_IF": mute}
	cfg.StartTimeout = upstream.Duration(10 * time.Minute)
	cfg.Timeout = upstream.Duration(10 * time.Minute)
	p, logs := start(t, cfg)
	if err := os.WriteFile(mute, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restarted plugin, muted", func() bool { return strings.Contains(logs.String(), "testplugin: muted") })
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(time.Minute): // liveness only: the start it waits on lasts ten
		t.Fatal("Close waited for the restart's start_timeout")
	}
}
