// Package process runs connector plugins as child processes over
// hashicorp/go-plugin in gRPC mode, and gives the broker a value that
// implements the sdk interfaces the plugin implements.
//
// A plugin's executable is checked against its configured SHA-256 before
// every start, then started, handshaken (magic cookie, protocol version =
// wire.Version), version-checked again over sdk/wire (info), configured
// with its config block and asked what it implements. After that the
// plugin is supervised: a crash (or a failed health check) marks it down,
// calls fail at once with sdk.ErrUnavailable, and it is started again
// with exponential backoff. Every call has a deadline. Close kills it.
//
// What the plugin writes on stderr and stdout goes into the broker's log
// under the connector's id; see logWriter.
package process

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/portico-idp/portico/plugins/internal/signing"
	"github.com/portico-idp/portico/sdk"
	sdkplugin "github.com/portico-idp/portico/sdk/plugin"
	"github.com/portico-idp/portico/sdk/upstream"
	"github.com/portico-idp/portico/sdk/wire"
)

// ErrRefused is wrapped by every failure to start a plugin that comes from
// the plugin itself: its binary does not match the checksum, it fails the
// handshake (another magic cookie, another protocol version), or it exits
// or hangs before it is configured.
var ErrRefused = errors.New("plugin refused")

// ErrConfig is wrapped when the plugin rejected its config block: an
// operator's mistake, reported like a built-in connector's bad config.
var ErrConfig = errors.New("plugin rejected its config")

// Options are the broker's side of a plugin: who it is and how it is
// supervised. Zero values mean the defaults.
type Options struct {
	// ID is the connector id, for log lines and errors.
	ID string
	// Log receives the plugin's log and the supervisor's. Nil discards.
	Log *slog.Logger
	// Host, if set, is served to the plugin (see sdk/plugin.HostFunc).
	Host sdkplugin.HostFunc

	// OnRestart, if set, is called each time the supervisor has started
	// a new instance after the previous one died (for metrics).
	OnRestart func()

	MinBackoff     time.Duration // first restart delay (500ms)
	MaxBackoff     time.Duration // longest restart delay (30s)
	HealthInterval time.Duration // between health checks (5s)
	PollInterval   time.Duration // between checks for an exited process (100ms)
}

func (o *Options) defaults() {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.MinBackoff, 500*time.Millisecond)
	def(&o.MaxBackoff, 30*time.Second)
	def(&o.HealthInterval, 5*time.Second)
	def(&o.PollInterval, 100*time.Millisecond)
}

// Plugin is a supervised plugin process.
type Plugin struct {
	cfg  Config
	opts Options
	log  *slog.Logger
	sum  []byte
	keys signing.Keys // publisher keys; none: no signature is checked
	info wire.Info    // what the first instance implemented; later ones must match

	mu     sync.Mutex
	cur    *instance // nil while down
	closed bool

	poke chan struct{}
	stop chan struct{}
	done chan struct{}
}

// instance is one run of the plugin's process.
type instance struct {
	client  *goplugin.Client
	cmd     *exec.Cmd
	remote  *wire.Remote
	t       wire.Transport
	started time.Time
	pid     int
	stderr  *logWriter // the process's stderr: the SDK logger, panics
	stdout  *logWriter // os.Stdout after plugin.Serve, forwarded by go-plugin
	stdio   *logWriter // os.Stderr after plugin.Serve, forwarded by go-plugin
	signer  signing.Signer
	socks   *sdkplugin.Sockets // the call sockets (sdk/plugin sockets.go)
}

// Start starts the plugin and configures it; the returned Plugin keeps it
// running until Close. A failure wraps ErrRefused or ErrConfig when it is
// the plugin's or its config's fault.
func Start(ctx context.Context, cfg Config, opts Options) (*Plugin, error) {
	opts.defaults()
	sum, err := cfg.checksum()
	if err != nil {
		return nil, err
	}
	keys, err := cfg.keys()
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = upstream.Duration(DefaultTimeout)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = upstream.Duration(DefaultStartTimeout)
	}
	p := &Plugin{cfg: cfg, opts: opts, log: opts.Log, sum: sum, keys: keys,
		poke: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	inst, err := p.launch(ctx)
	if err != nil {
		return nil, err
	}
	p.info = inst.remote.Info()
	p.cur = inst
	if keys.Required() {
		p.log.Info("plugin signature verified", "key", inst.signer.KeyID, "comment", inst.signer.Comment)
	}
	go p.supervise()
	return p, nil
}

// MaxAnswer bounds one answer of a plugin, in bytes: an identity (with
// its connector data) is far smaller, and a larger answer fails the call
// as unavailable instead of costing the broker its size in memory.
const MaxAnswer = 4 << 20

// Info is what the plugin implements.
func (p *Plugin) Info() wire.Info { return p.info }

// Connector returns the plugin as the broker sees a connector: a value
// implementing exactly the sdk interfaces the plugin reported, and
// io.Closer (the broker closes connectors at shutdown).
func (p *Plugin) Connector() any { return compose(p.info, remote{p}, p) }

// Close stops supervising and kills the process; a restart in progress
// is ended, not waited for.
func (p *Plugin) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	inst := p.cur
	p.cur = nil
	p.mu.Unlock()
	close(p.stop)
	<-p.done
	if inst != nil {
		inst.kill(false)
	}
	return nil
}

// current returns the running instance, or an error wrapping
// sdk.ErrUnavailable: calls while the plugin is down fail at once.
func (p *Plugin) current() (*instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		if p.closed {
			return nil, fmt.Errorf("%w: connector %s: plugin stopped", sdk.ErrUnavailable, p.opts.ID)
		}
		return nil, fmt.Errorf("%w: connector %s: plugin is not running (restarting)", sdk.ErrUnavailable, p.opts.ID)
	}
	return p.cur, nil
}

// Pid is the running process's id, or 0 while it is down.
func (p *Plugin) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return 0
	}
	return p.cur.pid
}

// launch runs one instance: signature, checksum, start, handshake, info,
// configure, info again.
func (p *Plugin) launch(ctx context.Context) (*instance, error) {
	inst := &instance{started: time.Now(), stderr: newLogWriter(p.log, "stderr", true),
		stdout: newLogWriter(p.log, "stdout", false), stdio: newLogWriter(p.log, "stderr", true)}
	// Like the checksum, before every start: the file may have been
	// replaced since the last.
	signer, err := p.keys.VerifyFile(p.cfg.Path, p.cfg.Signature)
	if err != nil {
		return nil, fmt.Errorf("%w: connector %s: %w: not starting it", ErrRefused, p.opts.ID, err)
	}
	inst.signer = signer
	cmd := exec.Command(p.cfg.Path, p.cfg.Args...)
	socks, err := sdkplugin.NewSockets(sdkplugin.CallSockets)
	if err != nil { // not on Linux: calls go over gRPC
		p.log.Debug("plugin: no call sockets", "err", err)
	}
	inst.socks = socks
	cmd.ExtraFiles = socks.Files()
	cmd.Env = append(p.env(), socks.Env())
	setSysProcAttr(cmd)
	inst.cmd = cmd
	inst.client = goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  sdkplugin.Handshake,
		Plugins:          goplugin.PluginSet{sdkplugin.PluginName: &sdkplugin.GRPCPlugin{Host: p.opts.Host}},
		Cmd:              cmd,
		SecureConfig:     &goplugin.SecureConfig{Checksum: p.sum, Hash: sha256.New()},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		StartTimeout:     time.Duration(p.cfg.StartTimeout),
		// Off, so go-plugin neither parses the plugin's stderr (see
		// logWriter) nor writes its own chatter to the broker's stderr.
		Logger:      hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Off}),
		Stderr:      inst.stderr,
		SyncStdout:  inst.stdout,
		SyncStderr:  inst.stdio,
		AutoMTLS:    true, // the socket is on disk: only this broker may talk to it
		SkipHostEnv: true,
		// go-plugin lets a plugin answer up to 2 GiB; an answer is decoded
		// whole before the broker checks it, so bound it as a WASM
		// module's is (plugins/wasm maxAnswer).
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxAnswer))},
	})
	fail := func(err error) (*instance, error) {
		inst.kill(false)
		return nil, err
	}
	rpc, err := inst.client.Client()
	socks.CloseChild() // the plugin has its ends, or never will
	if err != nil {
		return fail(p.startError(err, inst))
	}
	raw, err := rpc.Dispense(sdkplugin.PluginName)
	if err != nil {
		return fail(fmt.Errorf("%w: connector %s: %s serves no connector: %v", ErrRefused, p.opts.ID, p.cfg.Path, err))
	}
	cl, ok := raw.(*sdkplugin.Client)
	if !ok {
		return fail(fmt.Errorf("connector %s: unexpected plugin client %T", p.opts.ID, raw))
	}
	cl.UseSockets(socks, MaxAnswer)
	t := p.transport(cl)
	inst.t = t
	// The version check is part of the start: a plugin that does not
	// answer it is refused within start_timeout, not the call timeout
	// (up to 5m, while the broker's start waits).
	if err := p.startCheck(ctx, t); err != nil {
		return fail(fmt.Errorf("%w: connector %s: %s: %v", ErrRefused, p.opts.ID, p.cfg.Path, err))
	}
	resp, err := t(ctx, wire.Request{Op: wire.OpConfigure, Config: p.cfg.Config})
	switch {
	case err != nil:
		return fail(fmt.Errorf("%w: connector %s: configure: %v%s", ErrRefused, p.opts.ID, err, lastWords(inst)))
	case resp.Error != nil:
		return fail(fmt.Errorf("%w: connector %s: %w", ErrConfig, p.opts.ID, resp.Error))
	}
	if cmd.Process != nil {
		inst.pid = cmd.Process.Pid
	}
	if inst.remote, err = wire.Dial(ctx, t); err != nil {
		return fail(fmt.Errorf("%w: connector %s: info: %v", ErrRefused, p.opts.ID, err))
	}
	return inst, nil
}

// startCheck is wire.Dial within start_timeout.
func (p *Plugin) startCheck(ctx context.Context, t wire.Transport) error {
	ctx, cancel := context.WithTimeoutCause(ctx, time.Duration(p.cfg.StartTimeout),
		fmt.Errorf("no answer to info within start_timeout (%s)", time.Duration(p.cfg.StartTimeout)))
	defer cancel()
	_, err := wire.Dial(ctx, t)
	if err != nil && context.Cause(ctx) != nil {
		err = context.Cause(ctx)
	}
	return err
}

// transport is one instance's wire.Transport, with the per-call deadline.
func (p *Plugin) transport(cl *sdkplugin.Client) wire.Transport {
	timeout := time.Duration(p.cfg.Timeout)
	return func(ctx context.Context, req wire.Request) (wire.Response, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		resp, err := cl.Call(ctx, req)
		if err != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The process may be gone: let the supervisor look now.
			select {
			case p.poke <- struct{}{}:
			default:
			}
		}
		return resp, err
	}
}

// passEnv is what a plugin gets of the broker's environment.
var passEnv = []string{"PATH", "TMPDIR", "TZ", "LANG", "LC_ALL", "SSL_CERT_FILE", "SSL_CERT_DIR",
	"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"}

func (p *Plugin) env() []string {
	var env []string
	for _, k := range passEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	keys := make([]string, 0, len(p.cfg.Env))
	for k := range p.cfg.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = append(env, k+"="+p.cfg.Env[k])
	}
	level := "info"
	if p.log.Enabled(context.Background(), slog.LevelDebug) {
		level = "debug"
	}
	return append(env, sdkplugin.EnvLogLevel+"="+level)
}

var versionRE = regexp.MustCompile(`Plugin version: (\d+)`)

// startError explains why go-plugin could not start the plugin, in terms
// an operator can act on.
func (p *Plugin) startError(err error, inst *instance) error {
	id, path := p.opts.ID, p.cfg.Path
	msg := err.Error()
	switch {
	case errors.Is(err, goplugin.ErrChecksumsDoNotMatch):
		return fmt.Errorf("%w: connector %s: %s does not match its configured sha256 %s (the file's is %s): not starting it",
			ErrRefused, id, path, p.cfg.SHA256, fileSum(path))
	case strings.Contains(msg, "incompatible API version"):
		v := "another"
		if m := versionRE.FindStringSubmatch(msg); m != nil {
			v = m[1]
		}
		return fmt.Errorf("%w: connector %s: %s speaks connector protocol version %s, this broker speaks %d: rebuild it against a compatible portico sdk",
			ErrRefused, id, path, v, wire.Version)
	case strings.Contains(msg, "exited before we could connect"), strings.Contains(msg, "Failed to read any lines"):
		return fmt.Errorf("%w: connector %s: %s exited before the handshake: not a Portico connector plugin (another magic cookie), or it failed at start%s",
			ErrRefused, id, path, lastWords(inst))
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		return fmt.Errorf("%w: connector %s: %s wrote something other than the plugin handshake to stdout: not a go-plugin gRPC plugin, or it prints before plugin.Serve%s",
			ErrRefused, id, path, lastWords(inst))
	case strings.Contains(msg, "timeout while waiting"):
		return fmt.Errorf("%w: connector %s: %s did not complete the handshake within %s%s",
			ErrRefused, id, path, time.Duration(p.cfg.StartTimeout), lastWords(inst))
	}
	return fmt.Errorf("%w: connector %s: start %s: %v%s", ErrRefused, id, path, err, lastWords(inst))
}

func lastWords(inst *instance) string {
	inst.stderr.Flush()
	t := inst.stderr.Tail()
	if len(t) == 0 {
		return ""
	}
	return "; its last output: " + strings.Join(t, " | ")
}

func fileSum(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unreadable"
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unreadable"
	}
	return hex.EncodeToString(h.Sum(nil))
}

// killGrace is how long go-plugin's graceful shutdown may take before the
// process is killed outright: its shutdown call has no deadline of its
// own, and a stopped or wedged process would never answer it.
const killGrace = 3 * time.Second

// kill ends the process, at once when force is set (it no longer answers).
func (inst *instance) kill(force bool) {
	if inst == nil {
		return
	}
	defer inst.socks.Close()
	if inst.client == nil {
		return
	}
	if force {
		inst.sigkill()
	}
	done := make(chan struct{})
	go func() {
		inst.client.Kill()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(killGrace):
		inst.sigkill()
		<-done
	}
	inst.stderr.Flush()
	inst.stdout.Flush()
	inst.stdio.Flush()
}

func (inst *instance) sigkill() {
	if inst.cmd != nil && inst.cmd.Process != nil {
		inst.cmd.Process.Kill()
	}
}

func (inst *instance) exited() bool { return inst.client.Exited() }
