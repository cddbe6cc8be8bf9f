package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMail: the mail section is off unless smtp.host is set, takes its
// defaults, and refuses what could not work or would leak, each with its
// path and without quoting the password.
func TestMail(t *testing.T) {
	const base = "issuer: https://id.example.com\nstorage: {dir: d}\nconnectors: [{id: local, type: local}]\n"
	for _, tc := range []struct {
		name, src string
		err       string // "" for valid
	}{
		{"off", "", ""},
		{"starttls with auth", "mail: {smtp: {host: smtp.example.com, username: portico, password: pw-SECRET}, from: 'Portico <id@example.com>'}", ""},
		{"implicit tls", "mail: {smtp: {host: smtp.example.com, port: 465, tls: tls}, from: id@example.com}", ""},
		{"plain to loopback", "mail: {smtp: {host: 127.0.0.1, port: 1025, tls: none}, from: id@example.com}", ""},
		{"plain to a relay, allowed", "mail: {smtp: {host: relay.internal, tls: none, allow_plaintext: true}, from: id@example.com}", ""},
		{"plain to a relay with a password", "mail: {smtp: {host: relay.internal, tls: none, allow_plaintext: true, username: u, password: pw-SECRET}, from: id@example.com}", "mail.smtp.username: a password is sent only over TLS"},
		{"plain to loopback with a password", "mail: {smtp: {host: localhost, tls: none, username: u, password: pw-SECRET}, from: id@example.com}", ""},
		{"plain to a remote host", "mail: {smtp: {host: smtp.example.com, tls: none}, from: id@example.com}", "mail.smtp.tls: none sends account links in plain text"},
		{"unknown tls", "mail: {smtp: {host: smtp.example.com, tls: ssl}, from: id@example.com}", `mail.smtp.tls: must be "starttls", "tls" or "none"`},
		{"no host", "mail: {from: id@example.com}", "mail.smtp.host: required"},
		{"host with a port", "mail: {smtp: {host: 'smtp.example.com:587'}, from: id@example.com}", "mail.smtp.host: must be a host name"},
		{"host with a space", "mail: {smtp: {host: 'smtp example.com'}, from: id@example.com}", "mail.smtp.host: must be a host name"},
		{"port out of range", "mail: {smtp: {host: smtp.example.com, port: 70000}, from: id@example.com}", "mail.smtp.port"},
		{"no from", "mail: {smtp: {host: smtp.example.com}}", "mail.from: required"},
		{"from with a line break", "mail: {smtp: {host: smtp.example.com}, from: \"id@example.com\\r\\nBcc: eve@example.com\"}", "mail.from: must be one address"},
		{"from two addresses", "mail: {smtp: {host: smtp.example.com}, from: 'a@example.com, b@example.com'}", "mail.from: must be one address"},
		{"password without username", "mail: {smtp: {host: smtp.example.com, password: pw-SECRET}, from: id@example.com}", "mail.smtp: set both username and password"},
		{"username with a line break", "mail: {smtp: {host: smtp.example.com, username: \"a\\r\\nb\", password: pw-SECRET}, from: id@example.com}", "mail.smtp.username: must not hold control characters"},
		{"timeout too long", "mail: {smtp: {host: smtp.example.com, timeout: 11m}, from: id@example.com}", "mail.smtp.timeout: 11m0s is out of range"},
		{"max age too short", "mail: {smtp: {host: smtp.example.com}, from: id@example.com, retry: {max_age: 10s}}", "mail.retry.max_age: 10s is out of range"},
		{"cap under base", "mail: {smtp: {host: smtp.example.com}, from: id@example.com, retry: {backoff_base: 10m, backoff_cap: 1m}}", "mail.retry.backoff_cap: 1m0s is out of range"},
		{"misspelt", "mail: {smtp: {hots: smtp.example.com}}", "mail.smtp.hots: unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(base + tc.src + "\n"))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want it to contain %q", err, tc.err)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("the error %q quotes the password", err)
			}
		})
	}
}

func TestMailDefaults(t *testing.T) {
	cfg, err := Parse([]byte("issuer: https://id.example.com\nstorage: {dir: d}\nconnectors: [{id: local, type: local}]\nmail: {smtp: {host: smtp.example.com}, from: id@example.com}\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Mail
	if !m.Enabled() || m.SMTP.TLS != "starttls" || m.SMTP.Timeout.Std() != time.Minute ||
		m.Retry.MaxAge.Std() != 24*time.Hour || m.Retry.BackoffBase.Std() != 30*time.Second || m.Retry.BackoffCap.Std() != time.Hour {
		t.Errorf("defaults: %+v", m)
	}
	off, err := Parse([]byte("issuer: https://id.example.com\nstorage: {dir: d}\nconnectors: [{id: local, type: local}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if off.Mail.Enabled() {
		t.Error("mail on without a host")
	}
}

// TestMailPasswordFile: the password may come from a file, not with the
// password itself.
func TestMailPasswordFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(f, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const base = "issuer: https://id.example.com\nstorage: {dir: d}\nconnectors: [{id: local, type: local}]\n"
	cfg, err := Parse([]byte(base + "mail: {smtp: {host: smtp.example.com, username: u, password_file: '" + f + "'}, from: id@example.com}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mail.SMTP.Password != "from-file" {
		t.Errorf("password %q, want the file's", cfg.Mail.SMTP.Password)
	}
	_, err = Parse([]byte(base + "mail: {smtp: {host: smtp.example.com, username: u, password: x, password_file: '" + f + "'}, from: id@example.com}\n"))
	if err == nil || !strings.Contains(err.Error(), "mail.smtp: set password or password_file, not both") {
		t.Errorf("both: %v", err)
	}
}
