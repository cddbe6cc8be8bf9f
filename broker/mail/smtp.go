package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// TLS modes of an SMTP server.
const (
	// TLSStartTLS connects in plain text and upgrades with STARTTLS; a
	// server that does not offer it gets nothing (port 587).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465).
	TLSImplicit = "tls"
	// TLSNone sends in plain text: only to a loopback host (a local
	// relay) unless AllowPlaintext is set.
	TLSNone = "none"
)

// Defaults of SMTP's timeouts.
const (
	DefaultDialTimeout = 10 * time.Second
	DefaultSendTimeout = time.Minute
)

// Sender sends one message. SMTP is the one Portico has; the Outbox
// takes any.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// SMTP sends messages through one SMTP server (a relay or a provider's
// submission port), one connection per message. Set its fields before
// the first Send and leave them; it is then safe for concurrent use.
type SMTP struct {
	// Host and Port of the server; Port 0 means 587, or 465 with TLS
	// "tls", or 25 with "none".
	Host string
	Port int
	// TLS is TLSStartTLS (when empty), TLSImplicit or TLSNone.
	TLS string
	// AllowPlaintext lets TLS "none" reach a host that is not loopback.
	AllowPlaintext bool
	// Username and Password, if Username is set, log in with AUTH PLAIN,
	// which net/smtp does only over TLS (or to localhost).
	Username, Password string
	// From is the sender, bob@example.com or Portico <id@example.com>.
	From string
	// DialTimeout bounds the connection and the TLS handshake;
	// SendTimeout the whole of a message when ctx has no earlier
	// deadline. Zero means the defaults.
	DialTimeout, SendTimeout time.Duration
	// RootCAs verify the server's certificate (nil: the system's), for
	// ServerName (empty: Host).
	RootCAs    *x509.CertPool
	ServerName string
	// LocalName is the name sent in EHLO; empty means "localhost".
	LocalName string
	// Now is the clock of the Date header; nil means time.Now.
	Now func() time.Time
}

// Check reports what is wrong with s's settings.
func (s *SMTP) Check() error {
	if s.Host == "" {
		return errors.New("mail: smtp host is required")
	}
	if s.Port < 0 || s.Port > 65535 {
		return errors.New("mail: smtp port out of range")
	}
	switch s.TLS {
	case "", TLSStartTLS, TLSImplicit:
	case TLSNone:
		if !s.AllowPlaintext && !isLoopback(s.Host) {
			return fmt.Errorf("mail: smtp tls %q sends passwords and links in plain text: only to a loopback host unless plaintext is allowed", TLSNone)
		}
		if s.Username != "" && !isLoopback(s.Host) {
			// net/smtp would refuse at AUTH; say why before any attempt.
			return errors.New("mail: smtp: a password is sent only over TLS or to a loopback host")
		}
	default:
		return fmt.Errorf("mail: smtp tls must be %q, %q or %q", TLSStartTLS, TLSImplicit, TLSNone)
	}
	if _, err := parseAddress("from", s.From); err != nil {
		// %v: a wrong setting is no reason to drop the messages queued.
		return fmt.Errorf("mail: smtp from: %v", err)
	}
	return nil
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send renders m and sends it. Its errors are *Error (delivery) or wrap
// ErrInvalid (m, or s's settings).
func (s *SMTP) Send(ctx context.Context, m Message) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return s.send(ctx, m, "", now())
}

// send is Send with the Message-ID (empty: a new one) and Date the
// outbox keeps for a message, so that a retry is the same message.
func (s *SMTP) send(ctx context.Context, m Message, id string, date time.Time) error {
	if err := s.Check(); err != nil {
		return &Error{Stage: "config", Err: err}
	}
	if err := m.Validate(); err != nil {
		return err
	}
	from, _ := parseAddress("from", s.From)
	to, _ := parseAddress("to", m.To)
	if id == "" {
		id = newID(from)
	}
	data, err := build(from, m, id, date)
	if err != nil {
		return err
	}
	return s.deliver(ctx, from.Address, to.Address, data)
}

func (s *SMTP) deliver(ctx context.Context, from, to string, data []byte) error {
	sendTimeout := orDefault(s.SendTimeout, DefaultSendTimeout)
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	port := s.Port
	if port == 0 {
		port = map[string]int{TLSImplicit: 465, TLSNone: 25}[s.TLS]
		if port == 0 {
			port = 587
		}
	}
	addr := net.JoinHostPort(s.Host, strconv.Itoa(port))
	d := net.Dialer{Timeout: orDefault(s.DialTimeout, DefaultDialTimeout)}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return &Error{Stage: "dial", Err: err}
	}
	defer conn.Close()
	// A server that stops answering, or ctx ending, cuts the connection:
	// net/smtp has no context of its own.
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	tlsConf := &tls.Config{
		ServerName: s.ServerName,
		RootCAs:    s.RootCAs,
		MinVersion: tls.VersionTLS12,
	}
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = s.Host
	}
	if s.TLS == TLSImplicit {
		tc := tls.Client(conn, tlsConf)
		hctx, hcancel := context.WithTimeout(ctx, orDefault(s.DialTimeout, DefaultDialTimeout))
		err := tc.HandshakeContext(hctx)
		hcancel()
		if err != nil {
			return &Error{Stage: "tls", Err: err}
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		return &Error{Stage: "greeting", Err: err}
	}
	defer c.Close()
	local := s.LocalName
	if local == "" {
		local = "localhost"
	}
	if err := c.Hello(local); err != nil {
		return &Error{Stage: "hello", Err: err}
	}
	if s.TLS == "" || s.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return &Error{Stage: "tls", Err: errors.New("the server does not offer STARTTLS")}
		}
		if err := c.StartTLS(tlsConf); err != nil {
			return &Error{Stage: "tls", Err: err}
		}
	}
	if s.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return &Error{Stage: "auth", Err: errors.New("the server does not offer AUTH")}
		}
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, s.Host)); err != nil {
			return &Error{Stage: "auth", Err: err}
		}
	}
	if err := c.Mail(from); err != nil {
		return &Error{Stage: "mail", Err: err}
	}
	if err := c.Rcpt(to); err != nil {
		return &Error{Stage: "rcpt", Err: err}
	}
	w, err := c.Data()
	if err != nil {
		return &Error{Stage: "data", Err: err}
	}
	if _, err := w.Write(data); err != nil {
		return &Error{Stage: "data", Err: err}
	}
	// Close waits for the server's reply to the message: once it says
	// 250 the message is the server's.
	if err := w.Close(); err != nil {
		return &Error{Stage: "data", Err: err}
	}
	c.Quit() // the message is accepted; a failed QUIT changes nothing
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Error is a failed delivery. Its message names the stage and the
// server's reply code, never the server's text, which often quotes the
// recipient's address (read it through Unwrap if needed).
type Error struct {
	// Stage is where it failed: config, dial, tls, greeting, hello,
	// auth, mail, rcpt or data.
	Stage string
	Err   error
}

func (e *Error) Error() string {
	if code := e.Code(); code != 0 {
		if st := e.Status(); st != "" {
			return fmt.Sprintf("mail: smtp %s: server replied %d %s", e.Stage, code, st)
		}
		return fmt.Sprintf("mail: smtp %s: server replied %d", e.Stage, code)
	}
	if e.Stage == "config" {
		return e.Err.Error()
	}
	var ne net.Error
	if !e.serverDown() && !errors.As(e.Err, &ne) {
		// Not a reply and not the network: say no more than the stage.
		return fmt.Sprintf("mail: smtp %s failed", e.Stage)
	}
	// Network, TLS and session errors name hosts and certificates, not
	// recipients.
	return fmt.Sprintf("mail: smtp %s: %v", e.Stage, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Code is the server's reply code, or 0 when the server did not reply
// (network, TLS).
func (e *Error) Code() int {
	var te *textproto.Error
	if errors.As(e.Err, &te) {
		return te.Code
	}
	return 0
}

// enhancedRE is an enhanced status code (RFC 3463) at the start of a
// reply's text.
var enhancedRE = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}\b`)

// Status is the enhanced status code of the server's reply (RFC 3463,
// such as 5.1.1 for an unknown mailbox), or "".
func (e *Error) Status() string {
	var te *textproto.Error
	if errors.As(e.Err, &te) {
		return enhancedRE.FindString(te.Msg)
	}
	return ""
}

// Permanent reports whether the server refused this message for good: a
// 5xx reply to MAIL, RCPT or DATA. Everything else may pass later: a
// network or TLS failure, a 4xx reply, and an authentication or
// settings problem too, which an operator fixes for every queued message
// at once, so none is dropped meanwhile.
func (e *Error) Permanent() bool {
	switch e.Stage {
	case "mail", "rcpt", "data":
		return e.Code() >= 500
	}
	return false
}

// serverDown reports whether e is about the server rather than the
// message: it failed before the message was offered.
func (e *Error) serverDown() bool {
	switch e.Stage {
	case "mail", "rcpt", "data":
		return false
	}
	return true
}

// IsPermanent reports whether err means the message will never be
// delivered as it is: an invalid message, or a permanent *Error.
func IsPermanent(err error) bool {
	if errors.Is(err, ErrInvalid) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.Permanent()
}

// errorClass is the logs' and metrics' name of err's class.
func errorClass(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrInvalid):
		return "invalid"
	case errors.As(err, &e):
		if e.Permanent() {
			return "permanent"
		}
		return "temporary"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "temporary"
}
