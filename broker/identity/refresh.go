package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/sdk"
)

// Refresh asks the connector, if it can refresh, whether the user
// still exists, and takes the profile it returns.
func (s *Service) Refresh(ctx context.Context, connectorID string, user store.User, scopes []string) (store.User, error) {
	return s.refresh(ctx, connectorID, user, nil, scopes)
}

// RefreshLinked is Refresh for a caller that read the user's identities
// with the user (store.GetUserIdentities: one read, not two).
func (s *Service) RefreshLinked(ctx context.Context, connectorID string, user store.User, idents []store.Identity, scopes []string) (store.User, error) {
	if idents == nil {
		idents = []store.Identity{} // read: none linked
	}
	return s.refresh(ctx, connectorID, user, idents, scopes)
}

// refresh reads the identities when idents is nil.
func (s *Service) refresh(ctx context.Context, connectorID string, user store.User, idents []store.Identity, scopes []string) (store.User, error) {
	cn := s.conns.Load().ByID[connectorID]
	if cn == nil {
		return user, errors.New("connector " + connectorID + " is no longer configured")
	}
	rc, ok := cn.Impl.(sdk.RefreshConnector)
	if !ok {
		return user, nil
	}
	if idents == nil {
		var err error
		if idents, err = s.store.ListIdentities(ctx, user.ID); err != nil {
			return user, fmt.Errorf("%w: %w", core.ErrStore, err)
		}
	}
	i := slices.IndexFunc(idents, func(x store.Identity) bool { return x.ConnectorID == connectorID })
	if i < 0 {
		return user, errors.New("identity no longer linked")
	}
	rec := idents[i]
	cctx, done := s.conns.Call(ctx, cn, "refresh")
	fresh, err := rc.Refresh(cctx, sdk.ParseScopes(scopes), sdk.Identity{
		Subject: rec.Subject, Username: rec.Username, Email: rec.Email, EmailVerified: rec.EmailVerified,
		Name: rec.Name, Groups: rec.Groups, Attributes: rec.Attributes, ConnectorData: rec.ConnectorData,
	})
	done(err)
	if err != nil {
		return user, err
	}
	fresh.Subject = rec.Subject
	a, err := s.Admit(connectorID, fresh) // as at login: nothing unchecked is stored or minted
	if ie := (*Error)(nil); errors.As(err, &ie) {
		s.log.WarnContext(ctx, "refresh refused: the connector's identity breaks its limits (docs/identity.md#identity-limits)",
			"connector", connectorID, "user", user.ID, "field", ie.Field, "problem", ie.Problem)
		return user, err
	} else if err != nil {
		return user, err
	}
	// Most refreshes change nothing: then there is nothing to write.
	next := user
	applyProfile(&next, a.m)
	if sameIdentity(identityRecord(connectorID, user.ID, a.id, a.m, rec.LastSeen), rec) && sameProfile(next, user) {
		return user, nil
	}
	u, err := s.Resolve(ctx, connectorID, a, false)
	if err != nil && !errors.Is(err, core.ErrUserDisabled) && !errors.Is(err, core.ErrContention) {
		err = fmt.Errorf("%w: %w", core.ErrStore, err)
	}
	return u, err
}
