package broker_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

func getText(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestOpsMetrics is acceptance 5's scrape: after logins, a refresh and a
// failure, /metrics has the series operators graph; /healthz and /readyz
// answer.
func TestOpsMetrics(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	rp := newRP(t, b)
	tok, _, err := rp.Login(t.Context(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	if r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); r.Status != 200 {
		t.Fatalf("refresh: %d", r.Status)
	}
	if _, err := rp.Authorize(t.Context(), rp.NewFlow().AuthURL, testenv.UserName, "wrong"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`portico_http_requests_total{code="200",method="POST",route="/token"} 2`,
		`portico_http_requests_total{code="200",method="GET",route="/.well-known/openid-configuration"}`,
		`portico_logins_total{connector="local",outcome="success",reason=""} 1`,
		`portico_logins_total{connector="local",outcome="failure",reason="invalid_credentials"} 1`,
		`portico_tokens_total{kind="issued"} 1`,
		`portico_tokens_total{kind="refreshed"} 1`,
		`portico_store_operation_duration_seconds_count{op="GetClient"}`,
		`portico_connector_call_duration_seconds_count{connector="local",kind="builtin",op="login"} 2`,
		`go_goroutines`, `process_resident_memory_bytes`,
	}
	var body string
	// The audit events that feed the counters are recorded as the
	// requests finish; give the last one a moment.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		var st int
		st, body = getText(t, b.URL+"/metrics")
		missing := 0
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing++
			}
		}
		if st == 200 && missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, w := range want {
				if !strings.Contains(body, w) {
					t.Errorf("/metrics lacks %s", w)
				}
			}
			t.Logf("scrape:\n%s", grepLines(body, "portico_"))
			return
		}
	}
	if strings.Contains(body, tok.RefreshToken) || strings.Contains(body, testenv.UserPassword) {
		t.Error("/metrics shows a secret")
	}
	if st, _ := getText(t, b.URL+"/healthz"); st != 200 {
		t.Errorf("/healthz %d", st)
	}
	if st, body := getText(t, b.URL+"/readyz"); st != 200 || !strings.Contains(body, `"store"`) || !strings.Contains(body, `"keys"`) {
		t.Errorf("/readyz %d %s", st, body)
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// tcpProxy forwards a loopback port to target until cut, so a test can
// take a real PostgreSQL away from Portico and give it back.
type tcpProxy struct {
	addr, target string
	mu           sync.Mutex
	l            net.Listener
	conns        []net.Conn
}

func startProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{target: target}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	p.serve(l)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) serve(l net.Listener) {
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
}

// cut closes the listener and every connection: the database is gone.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens again on the same address.
func (p *tcpProxy) restore(t *testing.T) {
	l, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(l)
}

// TestReadyzFollowsPostgres is acceptance 5's readiness: /readyz fails
// while PostgreSQL is unreachable and recovers when it is back, while
// /healthz stays 200.
func TestReadyzFollowsPostgres(t *testing.T) {
	schema := testenv.PostgresSchema(t)
	dsn, err := url.Parse(testenv.PostgresDSN())
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, dsn.Host)
	dsn.Host = proxy.addr
	cfg := testenv.Config(t)
	cfg.Storage = config.Storage{Type: config.StoragePostgres, DSN: dsn.String(), Schema: schema}
	b := testenv.Start(t, cfg)

	wait := func(want int) string {
		t.Helper()
		var body string
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			var st int
			st, body = getText(t, b.URL+"/readyz")
			if st == want {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz stayed %d, want %d: %s", st, want, body)
			}
		}
	}
	wait(200)
	proxy.cut()
	if body := wait(503); !strings.Contains(body, `"store"`) {
		t.Errorf("/readyz does not name the store: %s", body)
	}
	if st, _ := getText(t, b.URL+"/healthz"); st != 200 {
		t.Errorf("/healthz %d while the database is away: the process is alive", st)
	}
	proxy.restore(t)
	wait(200)
	// And it serves again.
	if _, _, err := newRP(t, b).Login(context.Background(), testenv.UserName, testenv.UserPassword); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("login after the database came back: %v", err)
	}
}
