package testenv

// A real SMTP server for the mail tests: mailpit (github.com/axllent/mailpit)
// runs as a plain process on free loopback ports, with its database,
// certificates and log in the test's temporary directory, and is stopped
// when the test ends. Its HTTP API shows what it received.
//
// mailpit is not a dependency of the module (it is large): `make deps`
// and .ci/run build it into bin/tools with `go install`. MailpitVersion
// is the version they build.

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MailpitVersion is the mailpit the tests are written against.
const MailpitVersion = "v1.33.1"

// mailpitReadyTimeout bounds a start; mailpit is usually ready in 0.2 s.
const mailpitReadyTimeout = time.Minute // a liveness bound, for loaded machines

// Mailpit TLS modes, as MailpitOptions.TLS takes them.
const (
	MailpitPlain    = ""         // no TLS at all
	MailpitStartTLS = "starttls" // STARTTLS offered (required with RequireTLS)
	MailpitTLS      = "tls"      // implicit TLS from the first byte
)

// MailpitOptions configures StartMailpit. The zero value is a plain SMTP
// server without authentication that takes every recipient.
type MailpitOptions struct {
	// TLS is MailpitPlain, MailpitStartTLS or MailpitTLS; the certificate
	// is for 127.0.0.1 and localhost, signed by a CA made for the test
	// (Mailpit.CAPool).
	TLS string
	// RequireTLS, with MailpitStartTLS, refuses mail before STARTTLS.
	RequireTLS bool
	// Users, if not empty, are the accounts of SMTP AUTH (username to
	// password); then mail without AUTH is refused.
	Users map[string]string
	// AllowedRecipients, if set, is a regular expression: recipients
	// that do not match it are refused with a 5xx reply.
	AllowedRecipients string
}

// Mailpit is a running mailpit.
type Mailpit struct {
	t        testing.TB
	bin      string
	dir      string
	args     []string
	smtpPort int
	httpPort int
	caPEM    []byte
	http     *http.Client

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartMailpit starts mailpit and stops it when the test ends. Without the
// mailpit binary (PORTICO_MAILPIT, bin/tools/mailpit of the module, or
// mailpit on PATH) the test is skipped with the reason, or fails under
// CI=true.
func StartMailpit(t testing.TB, opts MailpitOptions) *Mailpit {
	t.Helper()
	bin := mailpitRequire(t)
	m := &Mailpit{t: t, bin: bin, dir: t.TempDir(), http: &http.Client{Timeout: 30 * time.Second}}
	base := []string{
		"--database", filepath.Join(m.dir, "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns",
		"--max", "0", // keep every message: tests count them
	}
	switch opts.TLS {
	case MailpitPlain:
	case MailpitStartTLS, MailpitTLS:
		ca, err := NewSlapdCA("Portico test SMTP CA")
		if err != nil {
			t.Fatalf("mailpit: test CA: %v", err)
		}
		cert, key := filepath.Join(m.dir, "server.pem"), filepath.Join(m.dir, "server.key")
		if err := ca.IssueServer(cert, key); err != nil {
			t.Fatalf("mailpit: server certificate: %v", err)
		}
		m.caPEM = ca.CertPEM
		base = append(base, "--smtp-tls-cert", cert, "--smtp-tls-key", key)
		if opts.TLS == MailpitTLS {
			base = append(base, "--smtp-require-tls")
		} else if opts.RequireTLS {
			base = append(base, "--smtp-require-starttls")
		}
	default:
		t.Fatalf("mailpit: unknown TLS mode %q", opts.TLS)
	}
	if len(opts.Users) > 0 {
		var b strings.Builder
		for u, p := range opts.Users {
			fmt.Fprintf(&b, "%s:%s\n", u, p)
		}
		f := filepath.Join(m.dir, "smtp-users")
		if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		base = append(base, "--smtp-auth-file", f)
		if opts.TLS == MailpitPlain {
			base = append(base, "--smtp-auth-allow-insecure")
		}
	}
	if opts.AllowedRecipients != "" {
		base = append(base, "--smtp-allowed-recipients", opts.AllowedRecipients)
	}

	// The ports are free when chosen but another process may take them
	// before mailpit binds them: try again with new ones.
	for attempt := 1; ; attempt++ {
		ports, err := mailpitFreePorts(2)
		if err != nil {
			t.Fatalf("mailpit: %v", err)
		}
		m.smtpPort, m.httpPort = ports[0], ports[1]
		m.args = append(base[:len(base):len(base)],
			"--smtp", "127.0.0.1:"+strconv.Itoa(m.smtpPort),
			"--listen", "127.0.0.1:"+strconv.Itoa(m.httpPort),
			"--label", "portico-test-"+rand.Text()[:8])
		err = m.start()
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("mailpit: %v", err)
		}
	}
	t.Cleanup(m.Stop)
	return m
}

// SMTPHost is the address mailpit's SMTP server listens on.
func (m *Mailpit) SMTPHost() string { return "127.0.0.1" }

// SMTPPort is the port of mailpit's SMTP server.
func (m *Mailpit) SMTPPort() int { return m.smtpPort }

// APIURL is the base URL of mailpit's HTTP API and web UI.
func (m *Mailpit) APIURL() string { return "http://127.0.0.1:" + strconv.Itoa(m.httpPort) }

// CAPool holds the CA of the server's certificate (nil without TLS).
func (m *Mailpit) CAPool() *x509.CertPool {
	if m.caPEM == nil {
		return nil
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(m.caPEM)
	return p
}

// Log returns what mailpit has logged so far.
func (m *Mailpit) Log() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "mailpit.log"))
	return string(b)
}

// Stop stops mailpit (SIGTERM, then SIGKILL after 5 s): its ports refuse
// connections until Start. Stopping a stopped server does nothing.
func (m *Mailpit) Stop() {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.cmd, m.exited = nil, nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// Start starts mailpit again after Stop, on the same ports and with the
// messages it had.
func (m *Mailpit) Start() {
	m.t.Helper()
	if err := m.start(); err != nil {
		m.t.Fatalf("mailpit: restart: %v", err)
	}
}

func (m *Mailpit) start() error {
	m.mu.Lock()
	running := m.cmd != nil
	m.mu.Unlock()
	if running {
		return errors.New("mailpit is already running")
	}
	logf, err := os.OpenFile(filepath.Join(m.dir, "mailpit.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(m.bin, m.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = m.dir
	cmd.SysProcAttr = slapdSysProcAttr() // killed with the test process
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()

	deadline := time.Now().Add(mailpitReadyTimeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("mailpit exited during start-up: %s\nlog:\n%s", cmd.ProcessState, slapdTail(m.Log(), 20))
		default:
		}
		if err = m.ping(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("mailpit not ready after %v: %v\nlog:\n%s", mailpitReadyTimeout, err, slapdTail(m.Log(), 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.mu.Lock()
	m.cmd, m.exited = cmd, exited
	m.mu.Unlock()
	return nil
}

// ping checks that both servers answer: the API's readiness probe, and
// a connection to the SMTP port.
func (m *Mailpit) ping() error {
	resp, err := m.http.Get(m.APIURL() + "/readyz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %s", resp.Status)
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(m.SMTPHost(), strconv.Itoa(m.smtpPort)), time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// MailpitAddress is an address as mailpit's API gives it.
type MailpitAddress struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// MailpitSummary is a message in mailpit's list.
type MailpitSummary struct {
	ID        string           `json:"ID"` // mailpit's own id
	MessageID string           `json:"MessageID"`
	From      MailpitAddress   `json:"From"`
	To        []MailpitAddress `json:"To"`
	Subject   string           `json:"Subject"`
}

// MailpitMessage is one message, parsed by mailpit.
type MailpitMessage struct {
	MailpitSummary
	Text string `json:"Text"`
	HTML string `json:"HTML"`
	// Headers are the message's headers as sent (not decoded).
	Headers map[string][]string `json:"-"`
	// Raw is the message as received.
	Raw string `json:"-"`
}

// Messages lists the messages received, newest first.
func (m *Mailpit) Messages(t testing.TB) []MailpitSummary {
	t.Helper()
	var list struct {
		Messages []MailpitSummary `json:"messages"`
	}
	m.get(t, "/api/v1/messages?limit=1000", &list)
	return list.Messages
}

// Message returns one message, by mailpit's id, with its parts and
// headers.
func (m *Mailpit) Message(t testing.TB, id string) MailpitMessage {
	t.Helper()
	var msg MailpitMessage
	m.get(t, "/api/v1/message/"+url.PathEscape(id), &msg)
	m.get(t, "/api/v1/message/"+url.PathEscape(id)+"/headers", &msg.Headers)
	msg.Raw = string(m.getRaw(t, "/api/v1/message/"+url.PathEscape(id)+"/raw"))
	return msg
}

// WaitMessages polls until at least n messages have arrived, and
// returns them; it fails the test after a generous deadline.
func (m *Mailpit) WaitMessages(t testing.TB, n int) []MailpitSummary {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		list := m.Messages(t)
		if len(list) >= n {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit: %d messages after a minute, want %d", len(list), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (m *Mailpit) get(t testing.TB, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(m.getRaw(t, path), v); err != nil {
		t.Fatalf("mailpit: GET %s: %v", path, err)
	}
}

func (m *Mailpit) getRaw(t testing.TB, path string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.APIURL()+path, nil)
	resp, err := m.http.Do(req)
	if err != nil {
		t.Fatalf("mailpit: GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit: GET %s: %s %v: %s", path, resp.Status, err, b)
	}
	return b
}

// mailpitRequire returns mailpit's path, or skips (or, with CI=true,
// fails) the test.
func mailpitRequire(t testing.TB) string {
	t.Helper()
	bin, tried := mailpitFind()
	if bin != "" {
		return bin
	}
	msg := "MAIL TESTS NOT RUN: no mailpit binary (tried " + strings.Join(tried, ", ") +
		"). Run `make deps`, or `GOBIN=$PWD/bin/tools go install github.com/axllent/mailpit@" +
		MailpitVersion + "`, or set PORTICO_MAILPIT."
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " CI=true: running without mailpit is a failure.")
	}
	t.Skip(msg)
	return ""
}

// mailpitFind looks for mailpit where the docs say it may be.
func mailpitFind() (bin string, tried []string) {
	if p := os.Getenv("PORTICO_MAILPIT"); p != "" {
		if mailpitExecutable(p) {
			return p, nil
		}
		return "", []string{"PORTICO_MAILPIT=" + p}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		p := filepath.Join(filepath.Dir(file), "..", "bin", "tools", "mailpit")
		tried = append(tried, p)
		if mailpitExecutable(p) {
			return p, nil
		}
	}
	tried = append(tried, "mailpit on PATH")
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, nil
	}
	return "", tried
}

func mailpitExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// freePorts returns n loopback ports free when asked.
func mailpitFreePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}
