package mail

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts the outbox's outcomes and tracks its queue. A nil
// *Metrics counts nothing.
type Metrics struct {
	messages *prometheus.CounterVec
	depth    prometheus.Gauge
}

// NewMetrics makes the mail metrics and registers them with reg (the
// broker's registry, metrics.Metrics.Registry): two outboxes given one
// registry share them.
//
//   - portico_mail_messages_total{kind,result}: outcomes of attempts,
//     result sent, retried (a temporary failure) or failed (given up).
//   - portico_mail_queue_depth: messages waiting, as this replica last
//     counted them.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_mail_messages_total",
			Help: "Email delivery attempts by message kind and result: sent, retried (a temporary failure, tried again later) or failed (given up).",
		}, []string{"kind", "result"}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_mail_queue_depth",
			Help: "Messages waiting in the mail outbox, as this replica last counted them (at the end of its worker's last pass).",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.messages, err = register(reg, m.messages)
	if err != nil {
		return nil, err
	}
	m.depth, err = register(reg, m.depth)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered in
// its place.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old, nil
			}
		}
		return c, err
	}
	return c, nil
}

func (m *Metrics) count(kind, result string) {
	if m != nil {
		m.messages.WithLabelValues(kind, result).Inc()
	}
}

func (m *Metrics) setDepth(n int) {
	if m != nil {
		m.depth.Set(float64(n))
	}
}
