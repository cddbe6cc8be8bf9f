package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/journey"
	"github.com/portico-idp/portico/broker/mail"
)

// mailJitter spreads the replicas' retries of messages that failed at
// the same moment (a server outage).
const mailJitter = 0.2

// MailSender is the SMTP sender of cfg.Mail; nil when mail is off.
func MailSender(cfg *config.Config) *mail.SMTP {
	m := cfg.Mail
	if !m.Enabled() {
		return nil
	}
	timeout := m.SMTP.Timeout.Std()
	if timeout <= 0 {
		timeout = config.DefaultMailTimeout
	}
	return &mail.SMTP{
		Host: m.SMTP.Host, Port: m.SMTP.Port, TLS: m.SMTP.TLS,
		AllowPlaintext: m.SMTP.AllowPlaintext,
		Username:       m.SMTP.Username, Password: m.SMTP.Password,
		From:        m.From,
		SendTimeout: timeout, DialTimeout: min(timeout, mail.DefaultDialTimeout),
	}
}

// MailOutbox returns the outbox of cfg.Mail, sending through MailSender,
// with its metrics in reg (Metrics.Registry); nil, nil when mail is off.
// The server calls it once, hands it to the journey (outboxMailer) and
// runs it (runOutbox).
func MailOutbox(cfg *config.Config, st mail.Store, reg prometheus.Registerer, log *slog.Logger, now func() time.Time) (*mail.Outbox, error) {
	s := MailSender(cfg)
	if s == nil {
		return nil, nil
	}
	if err := s.Check(); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	met, err := mail.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("mail metrics: %w", err)
	}
	r := cfg.Mail.Retry
	return mail.NewOutbox(mail.OutboxOptions{
		Store: st, Sender: s, Now: now, Logger: log, Metrics: met,
		// A claim outlives the longest send twice over: the outbox cuts a
		// send at half the lease.
		Lease:       2 * s.SendTimeout,
		BackoffBase: r.BackoffBase.Std(), BackoffCap: r.BackoffCap.Std(), Jitter: mailJitter,
		MaxAge: r.MaxAge.Std(),
	})
}

// outboxMailer queues the journey's mail in the outbox.
type outboxMailer struct{ o *mail.Outbox }

func (m outboxMailer) Send(ctx context.Context, e journey.Email) error {
	return m.o.Enqueue(ctx, mail.Message{Kind: e.Kind, To: e.To, Subject: e.Subject, Text: e.Text, HTML: e.HTML})
}

// runOutbox runs o's worker until the returned stop is called, which
// waits for it; nil o runs nothing.
func runOutbox(o *mail.Outbox, log *slog.Logger) func() {
	if o == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := o.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("mail outbox stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }
}
