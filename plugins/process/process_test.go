package process_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"runtime"
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

const testPlugin = "github.com/portico-idp/portico/plugins/process/testdata/testplugin"
const badPlugin = "github.com/portico-idp/portico/plugins/process/testdata/badplugin"

func TestMain(m *testing.M) {
	code := m.Run()
	processtest.Cleanup()
	os.Exit(code)
}

// logBuf collects JSON log lines; safe for concurrent use.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

var usersConfig = json.RawMessage(`{"users":{"alice":"pw","bob":"pw2"},"groups":["g1"]}`)

func pluginConfig(t testing.TB, path string) process.Config {
	return process.Config{Path: path, SHA256: processtest.SHA256(t, path), Config: usersConfig,
		Timeout: upstream.Duration(2 * time.Second), StartTimeout: upstream.Duration(10 * time.Second)}
}

// start runs the test plugin until the test ends.
func start(t testing.TB, cfg process.Config, opts ...func(*process.Options)) (*process.Plugin, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("connector", "test")
	o := process.Options{ID: "test", Log: log, MinBackoff: 200 * time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	p, err := process.Start(context.Background(), cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, logs
}

func TestPluginCalls(t *testing.T) {
	ctx := context.Background()
	p, logs := start(t, pluginConfig(t, processtest.Build(t, testPlugin)))
	c := p.Connector()
	pc, ok := c.(sdk.PasswordConnector)
	if !ok {
		t.Fatal("not a password connector")
	}
	if _, ok := c.(sdk.CallbackConnector); ok {
		t.Error("claims the callback capability it lacks")
	}
	id, err := pc.Login(ctx, sdk.Scopes{Groups: true}, "alice", "pw")
	if err != nil || id.Subject != "u-alice" || len(id.Groups) != 1 || id.Attributes["pid"][0] == "" {
		t.Fatalf("login: %+v %v", id, err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"wrong password", func() error { _, err := pc.Login(ctx, sdk.Scopes{}, "alice", "x"); return err }, sdk.ErrInvalidCredentials},
		{"unknown user", func() error { _, err := pc.Login(ctx, sdk.Scopes{}, "carol", "pw"); return err }, sdk.ErrInvalidCredentials},
		{"refresh", func() error {
			_, err := c.(sdk.RefreshConnector).Refresh(ctx, sdk.Scopes{}, sdk.Identity{Username: "bob"})
			return err
		}, nil},
		{"refresh gone", func() error {
			_, err := c.(sdk.RefreshConnector).Refresh(ctx, sdk.Scopes{}, sdk.Identity{Username: "carol"})
			return err
		}, sdk.ErrUserGone},
		{"metadata", func() error {
			d, err := c.(sdk.MetadataConnector).Metadata(ctx)
			if err == nil && !strings.Contains(string(d.Body), "2 users") {
				err = errors.New("metadata body: " + string(d.Body))
			}
			return err
		}, nil},
	} {
		if err := tc.call(); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// The factory's log line reached our log, with the connector's id.
	if l := logs.String(); !strings.Contains(l, `"msg":"users connector configured","connector":"test","plugin":{"users":2}`) {
		t.Errorf("plugin log line missing:\n%s", l)
	}
}

// TestPluginGOMAXPROCS: a plugin served by sdk/plugin runs with one P
// unless its env names GOMAXPROCS ("0": Go's own default), which it then
// leaves alone.
func TestPluginGOMAXPROCS(t *testing.T) {
	bin := processtest.Build(t, testPlugin)
	for _, tc := range []struct{ env, want string }{
		{"", "1"},
		{"3", "3"},
		{"0", "Go's default"},
	} {
		cfg := pluginConfig(t, bin)
		if tc.env != "" {
			cfg.Env = map[string]string{"GOMAXPROCS": tc.env}
		}
		p, _ := start(t, cfg)
		id, err := p.Connector().(sdk.PasswordConnector).Login(context.Background(), sdk.Scopes{}, "procs", "")
		if tc.env == "0" && err == nil && (id.Name != "1" || runtime.NumCPU() == 1) {
			continue // not forced to 1; Go's default depends on the machine's CPU limits
		}
		if err != nil || id.Name != tc.want {
			t.Errorf("env GOMAXPROCS=%q: the plugin has %q (%v), want %s", tc.env, id.Name, err, tc.want)
		}
	}
}

// TestPluginFaults is acceptance 3 at the host: a hang fails at the
// deadline, a panic or an exit is a crash (unavailable, then restarted),
// garbage on stdout and stderr harms nothing.
func TestPluginFaults(t *testing.T) {
	bin := processtest.Build(t, testPlugin)
	for _, tc := range []struct {
		user    string
		crash   bool   // the process dies and is restarted
		wantLog string // in the broker's log afterwards
	}{
		{user: "hang"},
		{user: "huge"}, // an answer over process.MaxAnswer, refused before it is decoded
		{user: "panic", crash: true, wantLog: `"level":"ERROR","msg":"plugin output","connector":"test","stream":"stderr","line":"panic: processtest: panic in Login"`},
		{user: "exit", crash: true, wantLog: `"msg":"plugin down; logins through it fail as unavailable until it is restarted"`},
		{user: "garbage", wantLog: `"msg":"forged?line","connector":"test","plugin":{"connector":"other"}`},
	} {
		t.Run(tc.user, func(t *testing.T) {
			ctx := context.Background()
			cfg := pluginConfig(t, bin)
			cfg.Timeout = upstream.Duration(500 * time.Millisecond)
			p, logs := start(t, cfg)
			pc := p.Connector().(sdk.PasswordConnector)
			pid := p.Pid()
			t0 := time.Now()
			_, err := pc.Login(ctx, sdk.Scopes{}, tc.user, "x")
			took := time.Since(t0)
			switch {
			case tc.user == "garbage":
				if err != nil {
					t.Fatalf("login after garbage: %v", err)
				}
			case !errors.Is(err, sdk.ErrUnavailable):
				t.Fatalf("login: %v, want unavailable", err)
			case took > 30*time.Second: // a liveness bound: "hang" never answers, a loaded machine is slow
				t.Errorf("login took %v: the deadline is 500ms", took)
			}
			if tc.crash {
				waitFor(t, "a restart", func() bool { return p.Pid() != 0 && p.Pid() != pid })
			} else if p.Pid() != pid {
				t.Errorf("pid changed from %d to %d without a crash", pid, p.Pid())
			}
			if _, err := pc.Login(ctx, sdk.Scopes{}, "alice", "pw"); err != nil {
				t.Errorf("login after %s: %v", tc.user, err)
			}
			if tc.wantLog != "" {
				waitFor(t, "the log line "+tc.wantLog, func() bool { return strings.Contains(logs.String(), tc.wantLog) })
			}
		})
	}
}

// TestPluginKill9 is acceptance 2 at the host.
func TestPluginKill9(t *testing.T) {
	ctx := context.Background()
	// A call timeout far above the bound below: the failure must come
	// from the dead process, not from waiting out the timeout, and a
	// loaded machine still meets the bound.
	cfg := pluginConfig(t, processtest.Build(t, testPlugin))
	cfg.Timeout = upstream.Duration(time.Minute)
	p, _ := start(t, cfg)
	pc := p.Connector().(sdk.PasswordConnector)
	pid := p.Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if _, err := pc.Login(ctx, sdk.Scopes{}, "alice", "pw"); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("login right after kill -9: %v", err)
	}
	if took := time.Since(t0); took > 15*time.Second {
		t.Errorf("failing took %v", took)
	}
	waitFor(t, "a restart", func() bool {
		_, err := pc.Login(ctx, sdk.Scopes{}, "alice", "pw")
		return err == nil
	})
	if p.Pid() == pid {
		t.Error("same pid after restart")
	}
}

// TestPluginStuck: a process that stops answering (SIGSTOP) fails its
// health check and is replaced; Close does not wait on a stuck one.
func TestPluginStuck(t *testing.T) {
	bin := processtest.Build(t, testPlugin)
	fast := func(o *process.Options) { o.HealthInterval = 300 * time.Millisecond }
	cfg := pluginConfig(t, bin)
	cfg.Timeout = upstream.Duration(500 * time.Millisecond) // bounds the health check too
	p, logs := start(t, cfg, fast)
	pid := p.Pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a replacement", func() bool { return p.Pid() != 0 && p.Pid() != pid })
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("the stuck process %d is still there", pid)
	}
	if !strings.Contains(logs.String(), "failed its health check") {
		t.Error("no health check failure in the log")
	}
	if _, err := p.Connector().(sdk.PasswordConnector).Login(context.Background(), sdk.Scopes{}, "alice", "pw"); err != nil {
		t.Errorf("login after the replacement: %v", err)
	}

	q, _ := start(t, pluginConfig(t, bin))
	syscall.Kill(q.Pid(), syscall.SIGSTOP)
	t0 := time.Now()
	q.Close()
	if took := time.Since(t0); took > 30*time.Second { // liveness: the stopped process never answers
		t.Errorf("Close of a stopped plugin took %v", took)
	}
}

// TestPluginBusyNotKilled: a plugin that misses a health check (busy, or
// starved of CPU) and then answers again keeps running: only missing
// several in a row gets it killed.
func TestPluginBusyNotKilled(t *testing.T) {
	bin := processtest.Build(t, testPlugin)
	fast := func(o *process.Options) { o.HealthInterval = 300 * time.Millisecond }
	cfg := pluginConfig(t, bin)
	cfg.Timeout = upstream.Duration(500 * time.Millisecond)
	p, logs := start(t, cfg, fast)
	pid := p.Pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a missed health check", func() bool { return strings.Contains(logs.String(), "plugin missed a health check") })
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Connector().(sdk.PasswordConnector).Login(context.Background(), sdk.Scopes{}, "alice", "pw"); err != nil {
		t.Fatalf("login after the pause: %v", err)
	}
	if p.Pid() != pid || strings.Contains(logs.String(), "failed its health check") {
		t.Errorf("a plugin that missed one check was replaced (pid %d, now %d)", pid, p.Pid())
	}
}

// TestPluginRefused is acceptance 4 at the host.
func TestPluginRefused(t *testing.T) {
	good := processtest.Build(t, testPlugin)
	for _, tc := range []struct {
		name string
		cfg  func() process.Config
		want string
		err  error
	}{
		{"checksum", func() process.Config {
			c := pluginConfig(t, good)
			c.SHA256 = strings.Repeat("ab", 32)
			return c
		}, "does not match its configured sha256", process.ErrRefused},
		{"cookie", func() process.Config {
			c := pluginConfig(t, processtest.Build(t, badPlugin))
			c.Args = []string{"cookie"}
			return c
		}, "exited before the handshake: not a Portico connector plugin (another magic cookie)", process.ErrRefused},
		{"version", func() process.Config {
			c := pluginConfig(t, processtest.Build(t, badPlugin))
			c.Args = []string{"version"}
			return c
		}, "speaks connector protocol version 2, this broker speaks 1", process.ErrRefused},
		{"stdout before handshake", func() process.Config {
			c := pluginConfig(t, processtest.Build(t, badPlugin))
			c.Args = []string{"garbage"}
			return c
		}, "wrote something other than the plugin handshake", process.ErrRefused},
		{"not a plugin", func() process.Config {
			return process.Config{Path: "/bin/true", SHA256: processtest.SHA256(t, "/bin/true")}
		}, "exited before the handshake", process.ErrRefused},
		{"bad config", func() process.Config {
			c := pluginConfig(t, good)
			c.Config = json.RawMessage(`{"users":{}}`)
			return c
		}, "at least one user is required", process.ErrConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := processtest.Children(os.Getpid())
			p, err := process.Start(context.Background(), tc.cfg(), process.Options{ID: "bad"})
			if err == nil {
				p.Close()
				t.Fatal("started")
			}
			t.Log(err)
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %v containing %q", err, tc.err, tc.want)
			}
			if after := processtest.Children(os.Getpid()); len(after) > len(before) {
				t.Errorf("a refused plugin left a process: %v", after)
			}
			// What the broker registers instead answers unavailable.
			u := process.Unavailable("bad", err)
			if _, err := u.(sdk.PasswordConnector).Login(context.Background(), sdk.Scopes{}, "a", "b"); !errors.Is(err, sdk.ErrUnavailable) {
				t.Errorf("unavailable connector: %v", err)
			}
		})
	}
}

// TestPluginClose is acceptance 5 at the host: Close leaves no process,
// even with a call hanging in the plugin.
func TestPluginClose(t *testing.T) {
	bin := processtest.Build(t, testPlugin)
	before := len(processtest.Children(os.Getpid()))
	var ps []*process.Plugin
	for range 3 {
		p, _ := start(t, pluginConfig(t, bin))
		ps = append(ps, p)
	}
	go ps[0].Connector().(sdk.PasswordConnector).Login(context.Background(), sdk.Scopes{}, "hang", "")
	if n := len(processtest.Children(os.Getpid())); n != before+3 {
		t.Fatalf("%d children, want %d", n, before+3)
	}
	for _, p := range ps {
		p.Close()
	}
	if c := processtest.Children(os.Getpid()); len(c) != before {
		t.Errorf("children left after Close: %v", c)
	}
	if _, err := ps[1].Connector().(sdk.PasswordConnector).Login(context.Background(), sdk.Scopes{}, "alice", "pw"); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("login after Close: %v", err)
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want string // in the error; "" for none
	}{
		{`{"path":"/x","sha256":"` + strings.Repeat("A", 64) + `","config":{"a":1}}`, ""},
		{`{"path":"x","sha256":"` + strings.Repeat("a", 64) + `"}`, "config.path: \"x\" must be absolute"},
		{`{"path":"/x"}`, "config.sha256: required"},
		{`{"path":"/x","sha256":"abc"}`, "config.sha256: required"},
		{`{"path":"/x","sha256":"` + strings.Repeat("a", 64) + `","timeout":"1h"}`, "config.timeout"},
		{`{"path":"/x","sha256":"` + strings.Repeat("a", 64) + `","timeout":5}`, "not a duration"},
		{`{"path":"/x","sha256":"` + strings.Repeat("a", 64) + `","env":{"A B":"x"}}`, "config.env"},
		{`{"path":"/x","sha256":"` + strings.Repeat("a", 64) + `","pth":"/y"}`, "unknown field"},
	} {
		c, err := process.ParseConfig([]byte(tc.raw))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.raw, err)
		case tc.want == "" && (time.Duration(c.Timeout) != process.DefaultTimeout || c.SHA256 != strings.Repeat("a", 64)):
			t.Errorf("%s: defaults not applied: %+v", tc.raw, c)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.raw, err, tc.want)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
