package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/mapping"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/sdk"
)

// Resolve maps an upstream identity to its canonical Portico user,
// creating both on first login. The user's id (the `sub`) is random and
// never changes; the profile follows the identity last used to log in,
// after the connector's claim mapping. A first login may instead join an
// existing user, when the linking policy allows (link). At login (login
// true) the user's LastLogin is recorded; at refresh the user and identity
// are written only when the upstream changed them, so refreshes of one
// user's many sessions do not contend on the record. The identity is one
// Admit accepted, mapped.
func (s *Service) Resolve(ctx context.Context, connectorID string, a Admitted, login bool) (store.User, error) {
	id, m := a.id, a.m
	now := s.opts.Now()
	for range 8 {
		ident, err := s.store.GetIdentity(ctx, connectorID, id.Subject)
		if errors.Is(err, store.ErrNotFound) {
			if login {
				linked, err := s.link(ctx, connectorID, id, m, now)
				if err != nil {
					return store.User{}, err
				} else if linked {
					continue // the identity exists now: log in as its user
				}
			}
			u := store.User{ID: NewSubject(), CreatedAt: now, LastLogin: now}
			applyProfile(&u, m)
			err := s.store.CreateUser(ctx, u, identityRecord(connectorID, u.ID, id, m, now))
			if errors.Is(err, store.ErrAlreadyExists) {
				continue // a concurrent first login created it; use theirs
			} else if err != nil {
				return store.User{}, fmt.Errorf("create user: %w", err)
			}
			s.audit.Record(ctx, store.AuditEvent{Type: audit.UserCreate, Actor: "system", UserID: u.ID, ConnectorID: connectorID})
			return u, nil
		} else if err != nil {
			return store.User{}, fmt.Errorf("read identity: %w", err)
		}
		u, err := s.store.GetUser(ctx, ident.UserID)
		if err != nil {
			return store.User{}, fmt.Errorf("read user %s: %w", ident.UserID, err)
		}
		if u.Disabled {
			return u, core.ErrUserDisabled // u for the audit trail only
		}
		rec := identityRecord(connectorID, u.ID, id, m, now)
		rec.Version = ident.Version
		if login || !sameIdentity(rec, ident) {
			if err := s.store.UpdateIdentity(ctx, rec); err != nil && !errors.Is(err, store.ErrConflict) {
				return store.User{}, fmt.Errorf("update identity: %w", err)
			}
		}
		next := u
		applyProfile(&next, m)
		if login {
			if !u.LastLogin.Before(now) && sameProfile(next, u) {
				// A concurrent login of the same person recorded a time
				// as late: writing an earlier one would only contend
				// (25 at once ran out of retries, a 503 each).
				return u, nil
			}
			next.LastLogin = now
		} else if sameProfile(next, u) {
			return u, nil
		}
		switch err := s.store.UpdateUser(ctx, next); {
		case err == nil:
			next.Version++
			return next, nil
		case errors.Is(err, store.ErrConflict):
			continue
		default:
			return store.User{}, fmt.Errorf("update user: %w", err)
		}
	}
	return store.User{}, fmt.Errorf("resolve user: %w", core.ErrContention)
}

// link joins a first login's identity to an existing user when the policy
// lets this connector link by verified email and exactly one user has an
// identity, through another connector that takes part, with the same
// verified email (after claim mapping). It reports whether it linked;
// false means "make a new user". An unverified email never links.
func (s *Service) link(ctx context.Context, connectorID string, id sdk.Identity, m mapping.Result, now time.Time) (bool, error) {
	email := m.Identity.Email
	if !s.linkByEmail[connectorID] || !m.Identity.EmailVerified || email == "" {
		return false, nil
	}
	idents, err := s.store.ListIdentitiesByVerifiedEmail(ctx, email)
	if err != nil {
		return false, fmt.Errorf("link: look up the verified email: %w", err)
	}
	var users []string
	for _, i := range idents {
		if i.ConnectorID != connectorID && s.linkByEmail[i.ConnectorID] && !slices.Contains(users, i.UserID) {
			users = append(users, i.UserID)
		}
	}
	switch {
	case len(users) == 0:
		return false, nil
	case len(users) > 1:
		// Two people claim the address: joining either could hand one
		// the other's account.
		s.audit.Record(ctx, store.AuditEvent{Type: audit.LinkSkipped, Actor: "system", ConnectorID: connectorID,
			Details: map[string]string{"reason": "the verified email belongs to several users", "users": strings.Join(users, " ")}})
		return false, nil
	}
	switch err := s.store.CreateIdentity(ctx, identityRecord(connectorID, users[0], id, m, now)); {
	case err == nil:
		s.audit.Record(ctx, store.AuditEvent{Type: audit.IdentityLink, Actor: "system", UserID: users[0], ConnectorID: connectorID,
			Details: map[string]string{"by": "verified_email", "subject": id.Subject}})
		return true, nil
	case errors.Is(err, store.ErrAlreadyExists):
		return true, nil // a concurrent first login stored it; the caller reads it
	case errors.Is(err, store.ErrNotFound):
		return false, nil // the user was deleted meanwhile
	default:
		return false, fmt.Errorf("link identity: %w", err)
	}
}

func sameIdentity(a, b store.Identity) bool {
	return a.Username == b.Username && a.Email == b.Email && a.EmailVerified == b.EmailVerified &&
		a.Name == b.Name && slices.Equal(a.Groups, b.Groups) && bytes.Equal(a.ConnectorData, b.ConnectorData) &&
		maps.EqualFunc(a.Attributes, b.Attributes, slices.Equal) && a.VerifiedEmail == b.VerifiedEmail
}

func sameProfile(a, b store.User) bool {
	return a.Username == b.Username && a.Email == b.Email && a.EmailVerified == b.EmailVerified &&
		a.Name == b.Name && slices.Equal(a.Groups, b.Groups) && maps.EqualFunc(a.Attributes, b.Attributes, slices.Equal)
}

// identityRecord keeps what the connector said (Refresh gets it back as it
// was), plus the verified email after mapping, for linking.
func identityRecord(connectorID, userID string, id sdk.Identity, m mapping.Result, now time.Time) store.Identity {
	rec := store.Identity{
		ConnectorID: connectorID, Subject: id.Subject, UserID: userID,
		Username: id.Username, Email: id.Email, EmailVerified: id.EmailVerified, Name: id.Name,
		Groups: slices.Clone(id.Groups), Attributes: id.Attributes, ConnectorData: id.ConnectorData,
		LastSeen: now,
	}
	if m.Identity.EmailVerified {
		rec.VerifiedEmail = m.Identity.Email
	}
	return rec
}

// applyProfile sets u's profile from the mapped identity; Portico's own
// LocalGroups and Roles stay as they are.
func applyProfile(u *store.User, m mapping.Result) {
	id := m.Identity
	u.Username = id.PreferredUsername
	if u.Username == "" {
		u.Username = id.Username
	}
	u.Email, u.EmailVerified, u.Name = id.Email, id.EmailVerified, id.Name
	u.Groups = slices.Clone(id.Groups)
	u.Attributes = maps.Clone(m.Claims)
}

// newSubject returns a random UUID (version 4): the `sub` of a new user.
func NewSubject() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
