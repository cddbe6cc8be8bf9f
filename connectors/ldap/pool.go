package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portico-idp/portico/sdk"
)

// maxIdle is how long a pooled connection may sit unused before it is
// closed instead of reused: firewalls and Active Directory (MaxConnIdleTime,
// 15 minutes by default) drop idle connections, sometimes silently.
const maxIdle = 5 * time.Minute

var (
	// errNoAnswer is the cause in errors of operations that timed out.
	errNoAnswer = errors.New("no answer within the timeout")
	// errServiceBind is in errors of dials whose service bind the
	// directory refused.
	errServiceBind = errors.New("the directory refused the service account")
)

// pool keeps up to size connections bound as the service account. A
// connection is either idle (in idle) or held by one caller (holding a
// slot); slots bound the connections open at once, and so the load
// Portico puts on the directory.
type pool struct {
	dial func(context.Context) (*goldap.Conn, error)
	// usable, if set, says whether an idle connection may be reused (its
	// server not marked down); closed, if set, hears of every connection
	// the pool closes.
	usable  func(*goldap.Conn) bool
	closed_ func(*goldap.Conn)
	slots   chan struct{}
	wait    time.Duration // longest wait for a slot

	mu     sync.Mutex
	idle   []idleConn // most recently used last
	closed bool
}

type idleConn struct {
	c     *goldap.Conn
	since time.Time
}

func newPool(size int, wait time.Duration, dial func(context.Context) (*goldap.Conn, error)) *pool {
	return &pool{dial: dial, slots: make(chan struct{}, size), wait: wait}
}

// stats reports the connections callers hold (a slot each) and those
// idle in the pool.
func (p *pool) stats() (inUse, idle int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.slots), len(p.idle)
}

// get returns a connection bound as the service account, and whether it
// was reused from the pool (it may then have died unnoticed). The caller
// must hand it back with put.
func (p *pool) get(ctx context.Context) (c *goldap.Conn, reused bool, err error) {
	select {
	case p.slots <- struct{}{}:
	default:
		t := time.NewTimer(p.wait)
		defer t.Stop()
		select {
		case p.slots <- struct{}{}:
		case <-t.C:
			return nil, false, fmt.Errorf("%w: ldap: all %d directory connections busy for %v", sdk.ErrUnavailable, cap(p.slots), p.wait)
		case <-ctx.Done():
			return nil, false, fmt.Errorf("%w: ldap: waiting for a directory connection: %w", sdk.ErrUnavailable, ctx.Err())
		}
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			<-p.slots
			return nil, false, fmt.Errorf("%w: ldap: connector closed", sdk.ErrUnavailable)
		}
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		ic := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		// A connection the server closed has its reader stopped, which
		// marks it closing: skip it rather than fail an operation on it.
		if ic.c.IsClosing() || time.Since(ic.since) > maxIdle || (p.usable != nil && !p.usable(ic.c)) {
			p.closeConn(ic.c)
			continue
		}
		return ic.c, true, nil
	}
	c, err = p.dial(ctx)
	if err != nil {
		<-p.slots
		return nil, false, err
	}
	return c, false, nil
}

// put returns c to the pool if reusable is true and c is still open, and
// closes it otherwise.
func (p *pool) put(c *goldap.Conn, reusable bool) {
	defer func() { <-p.slots }()
	if reusable && !c.IsClosing() {
		p.mu.Lock()
		if !p.closed {
			p.idle = append(p.idle, idleConn{c, time.Now()})
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	p.closeConn(c)
}

func (p *pool) closeConn(c *goldap.Conn) {
	c.Close()
	if p.closed_ != nil {
		p.closed_(c)
	}
}

// drain closes the idle connections, leaving the pool open.
func (p *pool) drain() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, ic := range idle {
		p.closeConn(ic.c)
	}
}

// close closes the idle connections; connections in use are closed when
// they are put back.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, ic := range idle {
		p.closeConn(ic.c)
	}
}

// dialer makes connections to one directory.
type dialer struct {
	addr      string // host:port
	ldaps     bool
	startTLS  bool
	tls       *tls.Config // nil without TLS
	connect   time.Duration
	timeout   time.Duration
	bind      func(c *goldap.Conn) error // binds the service account; nil for anonymous
	afterDial func()                     // test hook, called after each successful dial
}

func newDialer(cfg Config, tc *tls.Config, rawURL string) (*dialer, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	port := u.Port()
	switch {
	case port != "":
	case u.Scheme == "ldaps":
		port = goldap.DefaultLdapsPort
	default:
		port = goldap.DefaultLdapPort
	}
	d := &dialer{
		addr:     net.JoinHostPort(u.Hostname(), port),
		ldaps:    u.Scheme == "ldaps",
		startTLS: cfg.StartTLS,
		connect:  time.Duration(cfg.ConnectTimeout),
		timeout:  time.Duration(cfg.Timeout),
	}
	if d.ldaps || d.startTLS {
		d.tls = tc.Clone()
		d.tls.ServerName = u.Hostname() // each server is checked against its own name
	}
	return d, nil
}

// dial connects, sets up TLS and binds, all within the connect timeout.
// Every error wraps sdk.ErrUnavailable.
func (d *dialer) dial(parent context.Context) (*goldap.Conn, error) {
	ctx, cancel := context.WithTimeout(parent, d.connect)
	defer cancel()
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, fmt.Errorf("%w: ldap: connect to %s: %w", sdk.ErrUnavailable, d.addr, err)
	}
	tlsCfg, verifyErr := verifying(d.tls)
	if d.ldaps {
		tc := tls.Client(raw, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			if *verifyErr != nil {
				err = *verifyErr
			}
			return nil, fmt.Errorf("%w: ldap: TLS handshake with %s: %w", sdk.ErrUnavailable, d.addr, err)
		}
		raw = tc
	}
	c := goldap.NewConn(raw, d.ldaps)
	c.Start()
	// The watchdogs below and in op bound every operation, and close the
	// connection, which also ends a StartTLS handshake that hangs. go-ldap's
	// own request timeout is only a backstop: a second later, so that a
	// timeout is always the watchdog's (and not retried, see withConn).
	c.SetTimeout(d.timeout + time.Second)
	stop := context.AfterFunc(ctx, func() { c.Close() })
	if d.startTLS {
		err = c.StartTLS(tlsCfg)
		if err != nil {
			if *verifyErr != nil {
				err = *verifyErr
			}
			err = fmt.Errorf("%w: ldap: StartTLS with %s: %w", sdk.ErrUnavailable, d.addr, err)
		}
	}
	if err == nil && d.bind != nil {
		if err = d.bind(c); err != nil {
			if _, ok := resultCode(err); ok {
				err = fmt.Errorf("%w: ldap: %w: %w", sdk.ErrUnavailable, errServiceBind, err)
			} else {
				err = fmt.Errorf("%w: ldap: bind as the service account: %w", sdk.ErrUnavailable, err)
			}
		}
	}
	if !stop() {
		cause := error(errNoAnswer)
		if parent.Err() != nil {
			cause = parent.Err()
		}
		err = fmt.Errorf("%w: ldap: connect to %s: %w (connect_timeout %v)", sdk.ErrUnavailable, d.addr, cause, d.connect)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	if d.afterDial != nil {
		d.afterDial()
	}
	return c, nil
}

// verifying returns a copy of tc that verifies the server's certificate
// itself, as crypto/tls would, and keeps the error for the caller: go-ldap's
// StartTLS turns handshake errors into text, and New needs to tell an
// untrusted certificate (a config error) from an unreachable directory.
func verifying(tc *tls.Config) (*tls.Config, *error) {
	verr := new(error)
	if tc == nil || tc.InsecureSkipVerify {
		return tc, verr
	}
	c := tc.Clone()
	c.InsecureSkipVerify = true // verified below instead
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			*verr = errors.New("ldap: server sent no certificate")
			return *verr
		}
		opts := x509.VerifyOptions{Roots: tc.RootCAs, DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
		for _, ic := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(ic)
		}
		_, *verr = cs.PeerCertificates[0].Verify(opts)
		return *verr
	}
	return c, verr
}

// op runs one LDAP operation on c within the operation timeout and ctx. If
// either ends first, a watchdog closes c under the operation, which then
// fails at once: no operation can hang, whatever the server does. An error
// that is the server's answer (a result code) is returned as it is and c
// stays usable; any other error (network, timeout, a garbled reply) closes
// c and wraps sdk.ErrUnavailable.
func (d *dialer) op(ctx context.Context, c *goldap.Conn, what string, fn func() error) error {
	octx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	stop := context.AfterFunc(octx, func() { c.Close() })
	err := fn()
	if !stop() {
		cause := error(errNoAnswer)
		if ctx.Err() != nil {
			cause = ctx.Err()
		}
		return fmt.Errorf("%w: ldap: %s: %w (timeout %v)", sdk.ErrUnavailable, what, cause, d.timeout)
	}
	if err == nil {
		return nil
	}
	if _, ok := resultCode(err); ok {
		return err
	}
	c.Close()
	return fmt.Errorf("%w: ldap: %s: %w", sdk.ErrUnavailable, what, err)
}

// resultCode returns the LDAP result code of err if err is a server's
// answer, as opposed to a client-side or network error.
func resultCode(err error) (uint16, bool) {
	var le *goldap.Error
	if errors.As(err, &le) && le.ResultCode < goldap.ErrorNetwork {
		return le.ResultCode, true
	}
	return 0, false
}

// withConn runs fn with a pooled connection bound as the service account.
// A reused connection that turns out dead before fn got an answer (the
// directory restarted, say) is replaced by a fresh one, once.
func (c *Connector) withConn(ctx context.Context, fn func(*goldap.Conn) error) error {
	for attempt := 1; ; attempt++ {
		lc, reused, err := c.pool.get(ctx)
		if err != nil {
			return err
		}
		err = fn(lc)
		broken := lc.IsClosing()
		// A connection that broke under an operation (no answer, reset)
		// marks its server down: with several servers, the next login
		// goes straight to another, and this one retries there once.
		failover := false
		if broken && ctx.Err() == nil && errors.Is(err, sdk.ErrUnavailable) {
			failover = c.servers.failed(lc, err) && c.servers.anyUp()
		}
		c.pool.put(lc, !broken)
		if attempt == 1 && ctx.Err() == nil && errors.Is(err, sdk.ErrUnavailable) &&
			(failover || (broken && reused && !errors.Is(err, errNoAnswer))) {
			c.log.DebugContext(ctx, "ldap: connection failed; retrying on a new one", "err", err, "failover", failover)
			continue
		}
		return err
	}
}
