package broker

import (
	"context"
	"errors"

	"github.com/portico-idp/portico/broker/store"
)

// browsers is the journey's side of the admin API (admin.Browsers).
type browsers struct{ b *Broker }

func (j browsers) EndUserSessions(ctx context.Context, userID string) (int, error) {
	return j.b.endUserSSO(ctx, userID)
}

func (j browsers) ResetMFA(ctx context.Context, userID string) error {
	if err := j.b.store.DeleteRecord(ctx, mfaKind, userID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// clientRules is the protocol's side of the admin API (admin.Clients).
type clientRules struct{ b *Broker }

func (p clientRules) CheckExchange(c store.Client) error { return p.b.checkClientExchange(c) }
