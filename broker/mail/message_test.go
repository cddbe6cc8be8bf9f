package mail

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Message{Kind: "verify", To: "bob@example.org", Subject: "Hello", Text: "x"}
	tests := []struct {
		name string
		edit func(*Message)
		want string // in the error; "" for valid
	}{
		{"ok", func(m *Message) {}, ""},
		{"display name", func(m *Message) { m.To = "Bob Été <bob@example.org>" }, ""},
		{"html only alongside text", func(m *Message) { m.HTML = "<p>x</p>" }, ""},
		{"kind empty", func(m *Message) { m.Kind = "" }, "kind"},
		{"kind with a space", func(m *Message) { m.Kind = "a b" }, "kind"},
		{"kind too long", func(m *Message) { m.Kind = strings.Repeat("a", 33) }, "kind"},
		{"to empty", func(m *Message) { m.To = "" }, "to"},
		{"to CRLF", func(m *Message) { m.To = "bob@example.org\r\nBcc: eve@example.com" }, "to"},
		{"to LF", func(m *Message) { m.To = "bob@example.org\nBcc: eve@example.com" }, "to"},
		{"to CR in the name", func(m *Message) { m.To = "Bob\r <bob@example.org>" }, "to"},
		{"to NUL", func(m *Message) { m.To = "bob@example.org\x00" }, "to"},
		{"to two addresses", func(m *Message) { m.To = "bob@example.org, eve@example.com" }, "to"},
		{"to a group", func(m *Message) { m.To = "team: bob@example.org, eve@example.com;" }, "to"},
		{"to no domain", func(m *Message) { m.To = "bob" }, "to"},
		{"to too long", func(m *Message) { m.To = strings.Repeat("a", 250) + "@example.org" }, "to"},
		{"to quoted local part", func(m *Message) { m.To = `"bob eve"@example.org` }, "to"},
		{"subject empty", func(m *Message) { m.Subject = "" }, "subject"},
		{"subject CRLF", func(m *Message) { m.Subject = "Hi\r\nBcc: eve@example.com" }, "subject"},
		{"subject LF", func(m *Message) { m.Subject = "Hi\nBcc: eve@example.com" }, "subject"},
		{"subject CR", func(m *Message) { m.Subject = "Hi\rthere" }, "subject"},
		{"subject tab", func(m *Message) { m.Subject = "Hi\tthere" }, "subject"},
		{"subject line separator", func(m *Message) { m.Subject = "Hi\u2028there" }, "subject"},
		{"subject C1 control", func(m *Message) { m.Subject = "Hi\u0085there" }, "subject"},
		{"subject not UTF-8", func(m *Message) { m.Subject = "Hi\xff" }, "subject"},
		{"subject too long", func(m *Message) { m.Subject = strings.Repeat("é", MaxSubject+1) }, "subject"},
		{"subject at the limit", func(m *Message) { m.Subject = strings.Repeat("é", MaxSubject) }, ""},
		{"no text", func(m *Message) { m.Text = "" }, "text"},
		{"text too large", func(m *Message) { m.Text = strings.Repeat("a", MaxBody+1) }, "text"},
		{"html too large", func(m *Message) { m.HTML = strings.Repeat("a", MaxBody+1) }, "html"},
		{"text not UTF-8", func(m *Message) { m.Text = "a\xffb" }, "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok
			tt.edit(&m)
			err := m.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v, want ErrInvalid about %q", err, tt.want)
			}
			// The error never quotes the message.
			if strings.Contains(err.Error(), "eve") || strings.Contains(err.Error(), "example") {
				t.Errorf("the error %q quotes the message", err)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	from, _ := parseAddress("from", "Portico Ïd <id@example.com>")
	date := time.Date(2026, 12, 7, 8, 30, 0, 0, time.UTC)
	long := strings.Repeat("très long ", 30) // a line over 76 characters
	m := Message{Kind: "reset", To: "Zoë <zoe@example.org>", Subject: "Réinitialiser – 1",
		Text: "Bonjour\n" + long + "\nhttps://id.example.com/r?c=ABC=DEF\n", HTML: "<p>Bonjour</p>"}
	raw, err := build(from, m, "<id1@example.com>", date)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 5322: lines of at most 998 bytes, CRLF only, ASCII; RFC 2045:
	// quoted-printable lines of at most 76.
	inBody := false
	for i, line := range strings.Split(string(raw), "\r\n") {
		if line == "" {
			inBody = true
		}
		if len(line) > 998 || (inBody && len(line) > 76) || strings.ContainsAny(line, "\r\n") {
			t.Errorf("line %d is %d bytes or holds a bare CR/LF: %q", i, len(line), line)
		}
		for _, c := range []byte(line) {
			if c >= 0x80 {
				t.Fatalf("line %d holds a non-ASCII byte: %q", i, line)
			}
		}
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	h := msg.Header
	if s, _ := dec.DecodeHeader(h.Get("Subject")); s != m.Subject {
		t.Errorf("Subject %q decodes to %q", h.Get("Subject"), s)
	}
	if a, err := h.AddressList("From"); err != nil || a[0].Name != "Portico Ïd" || a[0].Address != "id@example.com" {
		t.Errorf("From %q: %v %v", h.Get("From"), a, err)
	}
	if a, err := h.AddressList("To"); err != nil || len(a) != 1 || a[0].Name != "Zoë" || a[0].Address != "zoe@example.org" {
		t.Errorf("To %q: %v %v", h.Get("To"), a, err)
	}
	if d, err := h.Date(); err != nil || !d.Equal(date) {
		t.Errorf("Date %q: %v", h.Get("Date"), err)
	}
	if h.Get("Message-Id") != "<id1@example.com>" || h.Get("Mime-Version") != "1.0" {
		t.Errorf("Message-ID %q, MIME-Version %q", h.Get("Message-Id"), h.Get("Mime-Version"))
	}
	if h.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Auto-Submitted %q, want auto-generated (RFC 3834)", h.Get("Auto-Submitted"))
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for _, want := range []struct{ typ, body string }{
		{"text/plain", strings.ReplaceAll(m.Text, "\n", "\r\n")},
		{"text/html", m.HTML + "\r\n"},
	} {
		p, err := mr.NextPart() // decodes quoted-printable
		if err != nil {
			t.Fatal(err)
		}
		if ct := p.Header.Get("Content-Type"); ct != want.typ+`; charset="utf-8"` {
			t.Errorf("part Content-Type %q", ct)
		}
		b, _ := io.ReadAll(p)
		if string(b) != want.body {
			t.Errorf("%s part %q, want %q", want.typ, b, want.body)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("a third part: %v", err)
	}

	// Without HTML: one text/plain part.
	m.HTML = ""
	raw, err = build(from, m, "<id2@example.com>", date)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ = mail.ReadMessage(strings.NewReader(string(raw)))
	if ct := msg.Header.Get("Content-Type"); ct != `text/plain; charset="utf-8"` || msg.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Errorf("text-only Content-Type %q", ct)
	}
}

func TestErrorClass(t *testing.T) {
	reply := func(code int) error { return &textproto.Error{Code: code, Msg: "5.1.1 <bob@example.org> unknown"} }
	tests := []struct {
		err       error
		permanent bool
		class     string
	}{
		{&Error{Stage: "rcpt", Err: reply(550)}, true, "permanent"},
		{&Error{Stage: "mail", Err: reply(553)}, true, "permanent"},
		{&Error{Stage: "data", Err: reply(554)}, true, "permanent"},
		{&Error{Stage: "rcpt", Err: reply(450)}, false, "temporary"},
		{&Error{Stage: "data", Err: reply(421)}, false, "temporary"},
		{&Error{Stage: "auth", Err: reply(535)}, false, "temporary"},
		{&Error{Stage: "hello", Err: reply(554)}, false, "temporary"},
		{&Error{Stage: "dial", Err: &net.OpError{Op: "dial", Err: errors.New("refused")}}, false, "temporary"},
		{&Error{Stage: "tls", Err: errors.New("x509: unknown authority")}, false, "temporary"},
		{&Error{Stage: "config", Err: errors.New("mail: smtp host is required")}, false, "temporary"},
		{invalid("to"), true, "invalid"},
		{errors.New("other sender"), false, "temporary"},
	}
	for _, tt := range tests {
		if got := IsPermanent(tt.err); got != tt.permanent {
			t.Errorf("IsPermanent(%v) = %v", tt.err, got)
		}
		if got := errorClass(tt.err); got != tt.class {
			t.Errorf("errorClass(%v) = %q, want %q", tt.err, got, tt.class)
		}
		if strings.Contains(tt.err.Error(), "bob@") {
			t.Errorf("%q quotes the server's reply", tt.err.Error())
		}
	}
	e := &Error{Stage: "rcpt", Err: reply(550)}
	if e.Status() != "5.1.1" || e.Error() != "mail: smtp rcpt: server replied 550 5.1.1" {
		t.Errorf("Status %q, Error %q", e.Status(), e.Error())
	}
}

func TestBackoff(t *testing.T) {
	b, err := NewOutbox(OutboxOptions{Store: nopStore{}, Sender: &SMTP{}, BackoffBase: time.Minute, BackoffCap: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 4: 8 * time.Minute, 5: 10 * time.Minute, 60: 10 * time.Minute} {
		if got := b.backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
	b.o.Jitter = 0.5
	for range 100 {
		if got := b.backoff(3); got <= 2*time.Minute || got > 4*time.Minute {
			t.Fatalf("backoff(3) with jitter 0.5 = %v, want in (2m, 4m]", got)
		}
	}
}

type nopStore struct{ Store }

// FuzzBuild: whatever a flow passes, a message Validate accepts renders
// to exactly Portico's headers, with the subject and recipient intact: no
// input adds a header or a recipient.
func FuzzBuild(f *testing.F) {
	f.Add("bob@example.org", "Hello", "text", "<p>html</p>")
	f.Add("Bob Été <bob@example.org>", "Vérifiez – 1", "a\nb", "")
	f.Add("bob@example.org\r\nBcc: eve@example.com", "Hi", "x", "")
	f.Add("bob@example.org", "Hi\r\nBcc: eve@example.com", "x", "")
	f.Add("\"Bob\\\r\n\" <bob@example.org>", "=?utf-8?q?Bcc:_eve?=", "\r\n.\r\n", "--")
	f.Add("=?utf-8?q?a=0D=0ABcc:_eve@example.com?= <bob@example.org>", "s", "t", "h")
	f.Add("bob@example.org", "=?utf-8?q?Bcc:_eve?= and more words to pass one encoded word's length", "t", "")
	f.Add("bob@example.org", " padded ", "t", "")
	f.Add("bob@example.org", strings.Repeat("😀", MaxSubject), "t", "")
	from, _ := parseAddress("from", "Portico <id@example.com>")
	date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := []string{"Auto-Submitted", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}
	f.Fuzz(func(t *testing.T, to, subject, text, html string) {
		m := Message{Kind: "verify", To: to, Subject: subject, Text: text, HTML: html}
		if m.Validate() != nil {
			return
		}
		raw, err := build(from, m, "<x@example.com>", date)
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		for _, line := range strings.Split(string(raw), "\r\n") {
			if len(line) > 998 {
				t.Fatalf("a line of %d bytes", len(line))
			}
		}
		msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatalf("the message does not parse: %v", err)
		}
		var got []string
		for k := range msg.Header {
			if k != "Content-Transfer-Encoding" {
				got = append(got, k)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("headers %v, want %v", got, want)
		}
		if s, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil || s != strings.TrimSpace(subject) {
			t.Fatalf("subject %q decodes to %q, %v", subject, s, err)
		}
		tos, err := msg.Header.AddressList("To")
		in, _ := mail.ParseAddress(to)
		if err != nil || len(tos) != 1 || tos[0].Address != in.Address {
			t.Fatalf("To %q reads back as %v, %v", to, tos, err)
		}
	})
}
