package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds of a message. A message is short and machine-written (a link
// and a few lines around it); these leave room for a styled HTML part
// and keep a queued record small.
const (
	MaxAddress = 254      // RFC 5321's limit on a forward path
	MaxSubject = 200      // characters
	MaxBody    = 64 << 10 // bytes, of each of Text and HTML
)

// Message is one email to one recipient, as a flow hands it over: Portico
// adds the From, Date and Message-ID headers.
type Message struct {
	// Kind says what the message is for ("verify", "reset", "invite"):
	// 1-32 of a-z, 0-9 and -. Only logs and metrics use it, so it must
	// come from the code, never from a request.
	Kind string `json:"kind"`
	// To is the recipient, an address such as bob@example.com, or with a
	// display name (Bob <bob@example.com>).
	To string `json:"to"`
	// Subject is the subject line in plain text, UTF-8.
	Subject string `json:"subject"`
	// Text is the plain-text body; it is required. HTML, if not empty, is
	// sent as its alternative (multipart/alternative).
	Text string `json:"text"`
	HTML string `json:"html,omitempty"`
}

// ErrInvalid is wrapped by every error about a message or an address
// that cannot be sent as it is; such a message is never retried.
var ErrInvalid = errors.New("mail: invalid message")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

var kindRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// Validate reports what makes m unfit to send, wrapping ErrInvalid; its
// errors never quote the address or the body.
func (m Message) Validate() error {
	if !kindRE.MatchString(m.Kind) {
		return invalid("kind must be 1-32 of a-z, 0-9 and -")
	}
	if _, err := parseAddress("to", m.To); err != nil {
		return err
	}
	if strings.TrimSpace(m.Subject) == "" || utf8.RuneCountInString(m.Subject) > MaxSubject {
		return invalid("subject must be 1-%d characters", MaxSubject)
	}
	if err := checkLine("subject", m.Subject); err != nil {
		return err
	}
	if m.Text == "" {
		return invalid("text is required")
	}
	for _, b := range []struct{ name, s string }{{"text", m.Text}, {"html", m.HTML}} {
		if len(b.s) > MaxBody {
			return invalid("%s is larger than %d bytes", b.name, MaxBody)
		}
		if !utf8.ValidString(b.s) {
			return invalid("%s is not UTF-8", b.name)
		}
	}
	return nil
}

// checkLine refuses what would end or split a header: CR, LF and the
// other control characters, and invalid UTF-8.
func checkLine(name, s string) error {
	if !utf8.ValidString(s) {
		return invalid("%s is not UTF-8", name)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return invalid("%s holds a line break or control character", name)
		}
	}
	return nil
}

// CheckAddress reports what makes s unfit as a sender or recipient: one
// address, bob@example.com or with a display name (Bob <bob@example.com>),
// without line breaks or other control characters. Its errors wrap
// ErrInvalid and do not quote s.
func CheckAddress(s string) error {
	_, err := parseAddress("address", s)
	return err
}

// parseAddress parses one address (with or without a display name) and
// refuses header injection, groups and lists.
func parseAddress(name, s string) (*mail.Address, error) {
	if s == "" || len(s) > MaxAddress+200 {
		return nil, invalid("%s must be one address of at most %d characters", name, MaxAddress)
	}
	if err := checkLine(name, s); err != nil {
		return nil, err
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, invalid("%s is not an email address", name)
	}
	if len(a.Address) > MaxAddress || strings.ContainsAny(a.Address, "<>,;\"\\ ") {
		return nil, invalid("%s must be one plain address of at most %d characters", name, MaxAddress)
	}
	if local, domain, ok := strings.Cut(a.Address, "@"); !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return nil, invalid("%s is not an email address", name)
	}
	return a, nil
}

// domainOf returns the lowercased domain of an address, the only part of
// a recipient the logs carry; "" if it has none.
func domainOf(addr string) string {
	a, err := mail.ParseAddress(addr)
	if err != nil {
		return ""
	}
	_, d, _ := strings.Cut(a.Address, "@")
	return strings.ToLower(d)
}

// newID returns a Message-ID: random, so that it tells nothing about the
// recipient, at the sender's domain.
func newID(from *mail.Address) string {
	_, domain, _ := strings.Cut(from.Address, "@")
	for _, r := range domain {
		if r >= 0x80 || r == '>' {
			domain = "portico.invalid" // a header stays ASCII
			break
		}
	}
	return "<" + rand.Text() + "@" + domain + ">"
}

// build renders m as an RFC 5322 message with CRLF line ends: a
// multipart/alternative of a text/plain and a text/html part when m has
// HTML, a text/plain one otherwise, both quoted-printable UTF-8. m must
// have been validated.
func build(from *mail.Address, m Message, id string, date time.Time) ([]byte, error) {
	to, err := parseAddress("to", m.To)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", from.String()) // String quotes or Q-encodes the name
	h("To", to.String())
	h("Subject", encodeSubject(strings.TrimSpace(m.Subject)))
	h("Date", date.Format(time.RFC1123Z))
	h("Message-ID", id)
	h("MIME-Version", "1.0")
	// RFC 3834: no vacation responder or autoresponder answers it.
	h("Auto-Submitted", "auto-generated")
	if m.HTML == "" {
		h("Content-Type", `text/plain; charset="utf-8"`)
		h("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h("Content-Type", "multipart/alternative;\r\n boundary=\""+mw.Boundary()+"\"") // folded
	b.WriteString("\r\n")
	for _, p := range []struct{ typ, s string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.typ + `; charset="utf-8"`},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, p.s); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	// multipart.Writer ends lines with CRLF already.
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

// encodeSubject encodes s as RFC 2047 words where it needs it, one word
// per folded line, so that no line passes 998 bytes. An ASCII subject
// that holds "=?" is encoded whole: a reader would decode what looks like
// an encoded word in it.
func encodeSubject(s string) string {
	var enc string
	if strings.Contains(s, "=?") && !strings.ContainsFunc(s, func(r rune) bool { return r >= utf8.RuneSelf }) {
		var words []string
		for len(s) > 0 {
			n := min(len(s), 45) // 60 base64 characters: a word of 72
			words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
			s = s[n:]
		}
		enc = strings.Join(words, " ")
	} else {
		enc = mime.QEncoding.Encode("utf-8", s)
	}
	// Whitespace between two encoded words is not part of the text, so
	// folding there changes nothing.
	return strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
}

// writeQP writes s quoted-printable: lines of at most 76 characters, line
// breaks as CRLF, and a final line break.
func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(s)); err != nil {
		return err
	}
	if !strings.HasSuffix(s, "\n") {
		if _, err := qp.Write([]byte("\n")); err != nil {
			return err
		}
	}
	return qp.Close()
}
