package config

import (
	"net"
	"regexp"
	"time"

	"github.com/portico-idp/portico/broker/mail"
)

// Mail configures how Portico sends email: account verification, password
// reset and invitation messages ([mail.md](mail.md)). Off unless
// `smtp.host` is set. Messages wait in the store until sent, so they
// survive restarts and one replica sends each.
type Mail struct {
	// SMTP is the server that takes Portico's messages: a relay of your
	// own or a provider's submission port.
	SMTP MailSMTP `yaml:"smtp"`
	// From is the sender of every message, an address or a display name
	// and an address: `Portico <id@example.com>`. Required with
	// `smtp.host`. Use an address of a domain whose SPF and DKIM allow the
	// server, or receivers will file the messages as spam.
	From string `yaml:"from"`
	// Retry bounds how a message that could not be sent is tried again.
	Retry MailRetry `yaml:"retry"`
}

// MailSMTP is the SMTP server of Mail.
type MailSMTP struct {
	// Host is the server's name or IP address. Setting it turns mail on.
	Host string `yaml:"host"`
	// Port is the server's port: `587` unless set, `465` with `tls: tls`,
	// `25` with `tls: none`.
	Port int `yaml:"port"`
	// TLS is how the connection is protected: `starttls` (upgrade a plain
	// connection; a server that does not offer STARTTLS gets nothing),
	// `tls` (TLS from the first byte, port 465) or `none` (plain text,
	// only to a loopback host unless `allow_plaintext`). The server's
	// certificate is verified against the system's CAs for `host`.
	TLS string `yaml:"tls"`
	// AllowPlaintext, `true`, lets `tls: none` reach a host that is not
	// loopback, such as a relay on a private network. Messages hold
	// account links: anyone on the path can read them.
	AllowPlaintext bool `yaml:"allow_plaintext"`
	// Username, if set, logs in with AUTH PLAIN (only over TLS, or to a
	// loopback host).
	Username string `yaml:"username"`
	// Password of `username` (better from the environment or a file).
	Password string `yaml:"password"`
	// PasswordFile is a file holding `password` (a mounted secret), read
	// at start ([Secrets in files](#secrets-in-files)).
	PasswordFile string `yaml:"password_file"`
	// Timeout bounds the sending of one message, from the connection to
	// the server's answer, at most `10m`; the connection itself gets at
	// most 10 s of it.
	Timeout Duration `yaml:"timeout"`
}

// MailRetry is Mail's retry policy.
type MailRetry struct {
	// MaxAge is how long a message is tried, from `1m` to `720h`; then it
	// is dropped with a log line. A link in it has usually expired by
	// then.
	MaxAge Duration `yaml:"max_age"`
	// BackoffBase is the wait after a first failure, from `1s` to `1h`;
	// it doubles with each further failure up to `backoff_cap`.
	BackoffBase Duration `yaml:"backoff_base"`
	// BackoffCap is the longest wait between two attempts, from
	// `backoff_base` to `24h`.
	BackoffCap Duration `yaml:"backoff_cap"`
}

// Defaults of the mail section.
const (
	DefaultMailTLS     = mail.TLSStartTLS
	DefaultMailTimeout = time.Minute
)

// Enabled reports whether mail is configured.
func (m Mail) Enabled() bool { return m.SMTP.Host != "" }

func (m *Mail) applyDefaults() {
	if m.SMTP.TLS == "" {
		m.SMTP.TLS = DefaultMailTLS
	}
	for _, d := range []struct {
		f   *Duration
		def time.Duration
	}{
		{&m.SMTP.Timeout, DefaultMailTimeout},
		{&m.Retry.MaxAge, mail.DefaultMaxAge},
		{&m.Retry.BackoffBase, mail.DefaultBackoffBase},
		{&m.Retry.BackoffCap, mail.DefaultBackoffCap},
	} {
		if *d.f == 0 {
			*d.f = Duration(d.def)
		}
	}
}

// mailHostRE is a DNS name (an IP address is checked apart).
var mailHostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)

func (c *Config) validateMail(v *validator) {
	m, s := c.Mail, c.Mail.SMTP
	if !m.Enabled() {
		if s.Username != "" || s.Password != "" || s.Port != 0 || m.From != "" || s.AllowPlaintext {
			v.add("mail.smtp.host", "required when the mail section is set")
		}
		return
	}
	if len(s.Host) > 253 || (net.ParseIP(s.Host) == nil && !mailHostRE.MatchString(s.Host)) {
		v.add("mail.smtp.host", "must be a host name or an IP address, without a port")
	}
	if s.Port < 0 || s.Port > 65535 {
		v.add("mail.smtp.port", "must be from 1 to 65535")
	}
	switch s.TLS {
	case mail.TLSStartTLS, mail.TLSImplicit:
	case mail.TLSNone:
		if !s.AllowPlaintext && !isLoopback(s.Host) {
			v.add("mail.smtp.tls", "none sends account links in plain text: only to a loopback host (%s) unless allow_plaintext is true", loopbackHosts)
		} else if s.Username != "" && !isLoopback(s.Host) {
			v.add("mail.smtp.username", "a password is sent only over TLS, or to a loopback host (%s)", loopbackHosts)
		}
	default:
		v.add("mail.smtp.tls", `must be "starttls", "tls" or "none"`)
	}
	if (s.Username == "") != (s.Password == "") {
		v.add("mail.smtp", "set both username and password, or neither")
	}
	if len(s.Username) > 256 || len(s.Password) > 1024 {
		v.add("mail.smtp", "username or password too long")
	}
	if err := checkLineField(s.Username); err != "" {
		v.add("mail.smtp.username", "%s", err)
	}
	if m.From == "" {
		v.add("mail.from", "required when mail.smtp.host is set")
	} else if err := mail.CheckAddress(m.From); err != nil {
		v.add("mail.from", "must be one address, or a name and an address (Portico <id@example.com>), without line breaks")
	}
	rangeCheck := func(path string, d Duration, lo, hi time.Duration) {
		if d.Std() < lo || d.Std() > hi {
			v.add(path, "%v is out of range [%v, %v]", d.Std(), lo, hi)
		}
	}
	rangeCheck("mail.smtp.timeout", s.Timeout, time.Second, 10*time.Minute)
	rangeCheck("mail.retry.max_age", m.Retry.MaxAge, time.Minute, 720*time.Hour)
	rangeCheck("mail.retry.backoff_base", m.Retry.BackoffBase, time.Second, time.Hour)
	rangeCheck("mail.retry.backoff_cap", m.Retry.BackoffCap, max(time.Second, m.Retry.BackoffBase.Std()), 24*time.Hour)
}

// checkLineField returns what is wrong with a value sent on one protocol
// line: a control character.
func checkLineField(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "must not hold control characters"
		}
	}
	return ""
}
