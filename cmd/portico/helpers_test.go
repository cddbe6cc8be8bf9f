package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// runMainEnv makes the test binary act as the portico command, so that tests
// can run it as a real process (signals, exit status, a second process on
// the same data directory) without building it.
const runMainEnv = "PORTICO_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// readyTimeout bounds how long a server may take to answer discovery after
// start. It is a readiness wait, not a performance assertion.
const readyTimeout = time.Minute // issue 19: a hog on both cores slows starts by several times

// Identities of the config files the tests write.
const (
	rpClient   = "rp"
	rpSecret   = "rp-secret-value"
	rpRedirect = "http://127.0.0.1:5555/callback"
	// The admin client, for commands given --server.
	adminClient = "adm"
	adminSecret = "adm-secret-value"
)

// result is what one in-process run of the command produced.
type result struct {
	out, errOut string
	err         error
}

// run runs portico with args in this process, with stdin as its input.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runWithin(t, 2*time.Minute, stdin, args...)
}

// runWithin is run with a limit: the command's context ends after d, and
// if the command has not returned shortly after, the test fails rather
// than hanging (a serve that should have refused to start serves forever).
func runWithin(t *testing.T, d time.Duration, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	root := newRoot()
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(out)
	root.SetErr(errOut)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	select {
	case err := <-done:
		return result{out.String(), errOut.String(), err}
	case <-time.After(d + 10*time.Second):
		t.Fatalf("portico %s still running after %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), d, out, errOut)
		return result{}
	}
}

// mustRun runs portico and fails the test if it fails.
func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := run(t, stdin, args...)
	if r.err != nil {
		t.Fatalf("portico %s: %v\nstderr:\n%s", strings.Join(args, " "), r.err, r.errOut)
	}
	return r.out
}

// mustFail runs portico, expects it to fail, and returns the error text.
func mustFail(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := run(t, stdin, args...)
	if r.err == nil {
		t.Fatalf("portico %s succeeded, want an error\nstdout:\n%s", strings.Join(args, " "), r.out)
	}
	return r.err.Error()
}

// syncBuffer is a bytes.Buffer that a server may write while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// freeAddr returns a loopback address with a port that was free just now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeConfig writes a config file for a server on addr with its store in
// dataDir: the local connector, the confidential client rp (which may use
// every grant) and whatever extra YAML adds at the top level.
func writeConfig(t *testing.T, dataDir, addr, extra string) string {
	t.Helper()
	yaml := fmt.Sprintf(`issuer: http://%[1]s
listen: %[1]s
storage:
  dir: %[2]s
connectors:
  - id: local
    type: local
    name: Email
clients:
  - id: %[3]s
    secret: %[4]s
    redirect_uris: [%[5]s]
    grant_types: [authorization_code, refresh_token, client_credentials]
  - id: %[7]s
    secret: %[8]s
    grant_types: [client_credentials]
    scopes: [admin]
    admin: true
log:
  level: warn
%[6]s`, addr, dataDir, rpClient, rpSecret, rpRedirect, extra, adminClient, adminSecret)
	path := filepath.Join(t.TempDir(), "portico.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitReady polls issuer's discovery document until it names issuer. It
// gives up after readyTimeout, or when exited reports that the server ended.
func waitReady(issuer string, exited <-chan struct{}, exitErr func() error) error {
	deadline := time.Now().Add(readyTimeout)
	c := &http.Client{Timeout: 2 * time.Second}
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("server exited before it was ready: %v", exitErr())
		default:
		}
		resp, err := c.Get(issuer + "/.well-known/openid-configuration")
		if err == nil {
			var doc struct {
				Issuer string `json:"issuer"`
			}
			err = json.NewDecoder(resp.Body).Decode(&doc)
			resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK && doc.Issuer == issuer {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("status %d, issuer %q", resp.StatusCode, doc.Issuer)
			}
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no discovery document at %s after %s: %v", issuer, readyTimeout, last)
}

// serving is `portico serve` running in this process.
type serving struct {
	t      *testing.T
	issuer string
	out    *syncBuffer
	errOut *syncBuffer
	cancel context.CancelFunc
	exited chan struct{}
	err    error // valid once exited is closed
}

// startServe runs `portico serve args...` in a goroutine and waits until
// issuer answers. The test's end stops it.
func startServe(t *testing.T, issuer string, args ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{t: t, issuer: issuer, out: &syncBuffer{}, errOut: &syncBuffer{}, cancel: cancel, exited: make(chan struct{})}
	root := newRoot()
	root.SetArgs(append([]string{"serve"}, args...))
	root.SetIn(strings.NewReader(""))
	root.SetOut(s.out)
	root.SetErr(s.errOut)
	go func() {
		defer close(s.exited)
		s.err = root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			// Leaked, still holding its port and data directory; a hang
			// here would hide every later test's result.
			t.Error("serve did not stop within 30s of its context ending")
		}
	})
	if err := waitReady(issuer, s.exited, func() error { return s.err }); err != nil {
		t.Fatalf("portico serve %s: %v\nstderr:\n%s", strings.Join(args, " "), err, s.errOut)
	}
	return s
}

// stop cancels the command's context, as SIGINT does, and expects a clean
// exit with the data directory released.
func (s *serving) stop() {
	s.t.Helper()
	s.cancel()
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.t.Fatal("serve did not stop within 30s of its context ending")
	}
	if s.err != nil {
		s.t.Fatalf("serve ended with %v\nstderr:\n%s", s.err, s.errOut)
	}
}

// process is portico running as a separate process.
type process struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	errOut *syncBuffer
	exited chan struct{}
	err    error // cmd.Wait's, valid once exited is closed
}

// startProcess runs the test binary as `portico args...`. The test's end
// kills it if it is still running.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: exec.Command(exe, args...), out: &syncBuffer{}, errOut: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), runMainEnv+"=1")
	p.cmd.Stdin = strings.NewReader("")
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.errOut
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.exited)
		p.err = p.cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// wait waits up to d for the process to exit and returns cmd.Wait's error.
func (p *process) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(d):
		t.Fatalf("process %v still running after %s\nstderr:\n%s", p.cmd.Args[1:], d, p.errOut)
		return nil
	}
}

// discovery returns the token endpoint and JWKS URI issuer publishes.
func discovery(t *testing.T, issuer string) (tokenURL, jwksURI string) {
	t.Helper()
	var doc struct {
		Token string `json:"token_endpoint"`
		JWKS  string `json:"jwks_uri"`
	}
	getJSON(t, issuer+"/.well-known/openid-configuration", &doc)
	if doc.Token == "" || doc.JWKS == "" {
		t.Fatalf("discovery lacks token_endpoint or jwks_uri: %+v", doc)
	}
	return doc.Token, doc.JWKS
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// clientCredentialsToken asks issuer for a token with the client_credentials
// grant, authenticating with HTTP Basic.
func clientCredentialsToken(t *testing.T, issuer, id, secret string) (*oauth2.Token, error) {
	t.Helper()
	tokenURL, _ := discovery(t, issuer)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}
	return cc.Token(ctx)
}

// jwtHeader returns the kid and alg of a compact JWS.
func jwtHeader(t *testing.T, raw string) (kid, alg string) {
	t.Helper()
	head, _, ok := strings.Cut(raw, ".")
	if !ok {
		t.Fatalf("not a JWT: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	var h struct {
		Kid string `json:"kid"`
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	if h.Kid == "" {
		t.Fatalf("JWT header without kid: %s", b)
	}
	return h.Kid, h.Alg
}

// isExitError reports whether err is a process's non-zero exit.
func isExitError(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() != 0
}
