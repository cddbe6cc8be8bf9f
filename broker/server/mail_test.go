package server_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/mail"
	"github.com/portico-idp/portico/broker/server"
	"github.com/portico-idp/portico/broker/store/badger"
	"github.com/portico-idp/portico/testenv"
)

// TestMailOutbox: the mail section becomes an outbox that sends through
// the configured server and counts in the given registry; without it
// there is no outbox.
func TestMailOutbox(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	const base = "issuer: https://id.example.com\nstorage: {dir: d}\nconnectors: [{id: local, type: local}]\n"
	cfg, err := config.Parse(fmt.Appendf(nil, "%smail: {smtp: {host: 127.0.0.1, port: %d, tls: none}, from: 'Portico <id@example.com>', retry: {backoff_base: 1m}}\n",
		base, mp.SMTPPort()))
	if err != nil {
		t.Fatal(err)
	}
	st, err := badger.Open(badger.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := prometheus.NewRegistry()
	clock := testenv.NewClock()
	ob, err := server.MailOutbox(cfg, st, reg, slog.New(slog.DiscardHandler), clock.Now)
	if err != nil || ob == nil {
		t.Fatalf("MailOutbox: %v, %v", ob, err)
	}
	m := mail.Message{Kind: "invite", To: "bob@example.org", Subject: "Welcome", Text: "Join: https://id.example.com/i/x"}
	if err := ob.Enqueue(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if n, err := ob.RunOnce(t.Context()); n != 1 || err != nil {
		t.Fatalf("RunOnce: %d, %v", n, err)
	}
	got := mp.WaitMessages(t, 1)
	if got[0].From.Address != "id@example.com" || got[0].From.Name != "Portico" || got[0].Subject != "Welcome" {
		t.Errorf("received %+v", got[0])
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range fams {
		found = found || f.GetName() == "portico_mail_messages_total"
	}
	if !found {
		t.Error("portico_mail_messages_total is not in the registry")
	}

	// A second outbox (another replica in the process, a test) shares the
	// registered metrics instead of failing.
	if _, err := server.MailOutbox(cfg, st, reg, nil, time.Now); err != nil {
		t.Errorf("a second MailOutbox on one registry: %v", err)
	}

	off, err := config.Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if ob, err := server.MailOutbox(off, st, reg, nil, nil); ob != nil || err != nil {
		t.Errorf("MailOutbox without mail: %v, %v; want nil, nil", ob, err)
	}
}
