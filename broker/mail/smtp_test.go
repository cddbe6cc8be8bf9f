package mail_test

import (
	"context"
	"errors"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/mail"
	"github.com/portico-idp/portico/testenv"
)

// sample is a message with both parts, a non-ASCII subject and a link.
func sample(to string) mail.Message {
	return mail.Message{
		Kind:    "verify",
		To:      to,
		Subject: "Vérifiez votre adresse – Portico",
		Text:    "Bonjour Zoë,\n\nOpen https://id.example.com/verify?code=SECRET-LINK-CODE to verify.\n",
		HTML:    `<p>Bonjour,</p><p><a href="https://id.example.com/verify?code=SECRET-LINK-CODE">Vérifier</a></p>`,
	}
}

// sender returns an SMTP sender for mp.
func sender(mp *testenv.Mailpit, tlsMode string) *mail.SMTP {
	return &mail.SMTP{
		Host: mp.SMTPHost(), Port: mp.SMTPPort(), TLS: tlsMode,
		From: "Portico Ïd <id@example.com>", RootCAs: mp.CAPool(),
		// Bounds for a stuck test, not for the assertions.
		DialTimeout: 30 * time.Second, SendTimeout: time.Minute,
	}
}

func TestSendModes(t *testing.T) {
	users := map[string]string{"portico": "s3cret-pass"}
	tests := []struct {
		name string
		opts testenv.MailpitOptions
		tls  string
		user string
	}{
		{"starttls with auth", testenv.MailpitOptions{TLS: testenv.MailpitStartTLS, RequireTLS: true, Users: users}, mail.TLSStartTLS, "portico"},
		{"starttls is the default", testenv.MailpitOptions{TLS: testenv.MailpitStartTLS, RequireTLS: true}, "", ""},
		{"implicit tls with auth", testenv.MailpitOptions{TLS: testenv.MailpitTLS, Users: users}, mail.TLSImplicit, "portico"},
		{"plain to loopback", testenv.MailpitOptions{}, mail.TLSNone, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp := testenv.StartMailpit(t, tt.opts)
			s := sender(mp, tt.tls)
			if tt.user != "" {
				s.Username, s.Password = tt.user, users[tt.user]
			}
			m := sample("Bob Été <bob@example.org>")
			if err := s.Send(t.Context(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			list := mp.WaitMessages(t, 1)
			got := mp.Message(t, list[0].ID)
			checkDelivered(t, got, m)
		})
	}
}

// checkDelivered checks what mailpit received against m.
func checkDelivered(t *testing.T, got testenv.MailpitMessage, m mail.Message) {
	t.Helper()
	if got.Subject != m.Subject {
		t.Errorf("subject %q, want %q", got.Subject, m.Subject)
	}
	if got.From.Address != "id@example.com" || got.From.Name != "Portico Ïd" {
		t.Errorf("from %+v", got.From)
	}
	if len(got.To) != 1 || got.To[0].Address != "bob@example.org" || got.To[0].Name != "Bob Été" {
		t.Errorf("to %+v", got.To)
	}
	// Line breaks travel as CRLF (RFC 5322).
	if strings.ReplaceAll(got.Text, "\r\n", "\n") != m.Text {
		t.Errorf("text part %q, want %q", got.Text, m.Text)
	}
	if !strings.Contains(got.HTML, `href="https://id.example.com/verify?code=SECRET-LINK-CODE"`) || !strings.Contains(got.HTML, "Vérifier") {
		t.Errorf("html part %q lacks the link", got.HTML)
	}
	h := got.Headers
	// The subject was sent encoded (RFC 2047), not as raw UTF-8.
	if subj := first(h, "Subject"); !strings.HasPrefix(subj, "=?utf-8?q?") {
		t.Errorf("Subject header %q is not Q-encoded", subj)
	} else if dec, err := new(mime.WordDecoder).DecodeHeader(subj); err != nil || dec != m.Subject {
		t.Errorf("Subject header decodes to %q, %v", dec, err)
	}
	if ct := first(h, "Content-Type"); !strings.HasPrefix(ct, "multipart/alternative; boundary=") {
		t.Errorf("Content-Type %q", ct)
	}
	if v := first(h, "Mime-Version"); v != "1.0" {
		t.Errorf("MIME-Version %q", v)
	}
	if id := first(h, "Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q", id)
	}
	if d := first(h, "Date"); d == "" {
		t.Error("no Date header")
	} else if _, err := time.Parse(time.RFC1123Z, d); err != nil {
		t.Errorf("Date %q: %v", d, err)
	}
	if !strings.Contains(got.Raw, "Content-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable") &&
		!strings.Contains(got.Raw, "Content-Transfer-Encoding: quoted-printable\r\nContent-Type: text/plain; charset=\"utf-8\"") {
		t.Errorf("no quoted-printable UTF-8 text part in:\n%s", got.Raw)
	}
	if !strings.Contains(got.Raw, "text/html; charset=\"utf-8\"") {
		t.Errorf("no UTF-8 HTML part in:\n%s", got.Raw)
	}
}

// first returns the first value of a header, looked up case-insensitively.
func first(h map[string][]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// A server that does not offer STARTTLS gets nothing in the default mode:
// no downgrade to plain text, and the failure is temporary (an operator
// fixes the server or the setting).
func TestStartTLSRequired(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	err := sender(mp, mail.TLSStartTLS).Send(t.Context(), sample("bob@example.org"))
	var se *mail.Error
	if !errors.As(err, &se) || se.Stage != "tls" || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Send without STARTTLS: %v, want a tls stage error", err)
	}
	if mail.IsPermanent(err) {
		t.Error("a missing STARTTLS is permanent; want temporary")
	}
	if n := len(mp.Messages(t)); n != 0 {
		t.Errorf("%d messages arrived in plain text", n)
	}
}

// A certificate the client does not trust stops the send.
func TestUntrustedCertificate(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{TLS: testenv.MailpitTLS})
	s := sender(mp, mail.TLSImplicit)
	s.RootCAs = nil // the system's roots do not hold the test CA
	err := s.Send(t.Context(), sample("bob@example.org"))
	var se *mail.Error
	if !errors.As(err, &se) || se.Stage != "tls" {
		t.Fatalf("Send to an untrusted server: %v, want a tls stage error", err)
	}
	if n := len(mp.Messages(t)); n != 0 {
		t.Errorf("%d messages arrived", n)
	}
}

// Wrong credentials: refused, temporary (every queued message would
// fail alike until an operator fixes them; none is dropped meanwhile).
func TestAuthFailure(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{TLS: testenv.MailpitStartTLS, Users: map[string]string{"portico": "right"}})
	s := sender(mp, mail.TLSStartTLS)
	s.Username, s.Password = "portico", "wrong"
	err := s.Send(t.Context(), sample("bob@example.org"))
	var se *mail.Error
	if !errors.As(err, &se) || se.Stage != "auth" || se.Code() < 500 {
		t.Fatalf("Send with a wrong password: %v, want an auth stage 5xx", err)
	}
	if mail.IsPermanent(err) {
		t.Error("an authentication failure is permanent; want temporary")
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the error %q shows the password", err)
	}
}

// A recipient the server refuses (5xx to RCPT) is a permanent failure,
// and the error does not quote the address the server's reply holds.
func TestRecipientRefused(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{AllowedRecipients: `@example\.org$`})
	err := sender(mp, mail.TLSNone).Send(t.Context(), sample("eve@refused.example"))
	var se *mail.Error
	if !errors.As(err, &se) || se.Stage != "rcpt" || se.Code() < 500 || se.Code() > 599 {
		t.Fatalf("Send to a refused recipient: %v, want an rcpt stage 5xx", err)
	}
	if !mail.IsPermanent(err) {
		t.Error("a refused recipient is temporary; want permanent")
	}
	if strings.Contains(err.Error(), "eve") {
		t.Errorf("the error %q quotes the address", err)
	}
}

// A server that does not answer is cut off at the context's deadline.
func TestSendDeadline(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := sender(mp, mail.TLSNone).Send(ctx, sample("bob@example.org"))
	if err == nil || mail.IsPermanent(err) {
		t.Fatalf("Send with a cancelled context: %v, want a temporary error", err)
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		s    mail.SMTP
		want string // in the error; "" for none
	}{
		{"ok", mail.SMTP{Host: "smtp.example.com", From: "id@example.com"}, ""},
		{"no host", mail.SMTP{From: "id@example.com"}, "host"},
		{"plain text to a remote host", mail.SMTP{Host: "smtp.example.com", TLS: mail.TLSNone, From: "id@example.com"}, "loopback"},
		{"plain text to a remote host, allowed", mail.SMTP{Host: "smtp.example.com", TLS: mail.TLSNone, AllowPlaintext: true, From: "id@example.com"}, ""},
		{"plain text to a remote host with a password", mail.SMTP{Host: "smtp.example.com", TLS: mail.TLSNone, AllowPlaintext: true, Username: "u", Password: "p", From: "id@example.com"}, "password"},
		{"plain text to ::1", mail.SMTP{Host: "::1", TLS: mail.TLSNone, From: "id@example.com"}, ""},
		{"unknown tls", mail.SMTP{Host: "smtp.example.com", TLS: "ssl", From: "id@example.com"}, "tls"},
		{"from with a line break", mail.SMTP{Host: "smtp.example.com", From: "id@example.com\r\nBcc: eve@example.com"}, "from"},
		{"no from", mail.SMTP{Host: "smtp.example.com"}, "from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Check()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Check: %v, want an error about %q", err, tt.want)
			}
		})
	}
}

// A message with a header injected in To or Subject is refused before
// anything is sent.
func TestSendRefusesInjection(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	s := sender(mp, mail.TLSNone)
	for _, m := range []mail.Message{
		{Kind: "verify", To: "bob@example.org\r\nBcc: eve@example.com", Subject: "Hi", Text: "x"},
		{Kind: "verify", To: "bob@example.org", Subject: "Hi\r\nBcc: eve@example.com", Text: "x"},
		{Kind: "verify", To: "bob@example.org", Subject: "Hi\nBcc: eve@example.com", Text: "x"},
		{Kind: "verify", To: "bob@example.org, eve@example.com", Subject: "Hi", Text: "x"},
	} {
		err := s.Send(t.Context(), m)
		if !errors.Is(err, mail.ErrInvalid) || !mail.IsPermanent(err) {
			t.Errorf("Send(%q, %q): %v, want ErrInvalid", m.To, m.Subject, err)
		}
	}
	if n := len(mp.Messages(t)); n != 0 {
		t.Errorf("%d messages arrived", n)
	}
}
