package broker

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/sdk"
)

var errUserDisabled = errors.New("user is disabled")

// resolveUser maps an upstream identity to its canonical Portico user,
// creating both on first login. The user's id (the `sub`) is random and
// never changes; the profile follows the identity last used to log in.
// At login (login true) the user's LastLogin is recorded; at refresh the
// user and identity are written only when the upstream changed them, so
// refreshes of one user's many sessions do not contend on the record.
func (b *Broker) resolveUser(ctx context.Context, connectorID string, id sdk.Identity, login bool) (store.User, error) {
	if id.Subject == "" {
		return store.User{}, fmt.Errorf("connector %s returned an identity without a subject", connectorID)
	}
	now := b.opts.Now()
	for range 8 {
		ident, err := b.store.GetIdentity(ctx, connectorID, id.Subject)
		if errors.Is(err, store.ErrNotFound) {
			u := store.User{ID: newSubject(), CreatedAt: now, LastLogin: now}
			applyProfile(&u, id)
			err := b.store.CreateUser(ctx, u, identityRecord(connectorID, u.ID, id, now))
			if errors.Is(err, store.ErrAlreadyExists) {
				continue // a concurrent first login created it; use theirs
			} else if err != nil {
				return store.User{}, fmt.Errorf("create user: %w", err)
			}
			return u, nil
		} else if err != nil {
			return store.User{}, fmt.Errorf("read identity: %w", err)
		}
		u, err := b.store.GetUser(ctx, ident.UserID)
		if err != nil {
			return store.User{}, fmt.Errorf("read user %s: %w", ident.UserID, err)
		}
		if u.Disabled {
			return store.User{}, errUserDisabled
		}
		rec := identityRecord(connectorID, u.ID, id, now)
		rec.Version = ident.Version
		if login || !sameIdentity(rec, ident) {
			if err := b.store.UpdateIdentity(ctx, rec); err != nil && !errors.Is(err, store.ErrConflict) {
				return store.User{}, fmt.Errorf("update identity: %w", err)
			}
		}
		next := u
		applyProfile(&next, id)
		if login {
			next.LastLogin = now
		} else if sameProfile(next, u) {
			return u, nil
		}
		switch err := b.store.UpdateUser(ctx, next); {
		case err == nil:
			next.Version++
			return next, nil
		case errors.Is(err, store.ErrConflict):
			continue
		default:
			return store.User{}, fmt.Errorf("update user: %w", err)
		}
	}
	return store.User{}, fmt.Errorf("resolve user: %w", errContention)
}

// errContention: the user record kept changing under us; try again later.
var errContention = errors.New("too many concurrent updates")

func sameIdentity(a, b store.Identity) bool {
	return a.Username == b.Username && a.Email == b.Email && a.EmailVerified == b.EmailVerified &&
		a.Name == b.Name && slices.Equal(a.Groups, b.Groups) && bytes.Equal(a.ConnectorData, b.ConnectorData) &&
		maps.EqualFunc(a.Attributes, b.Attributes, slices.Equal)
}

func sameProfile(a, b store.User) bool {
	return a.Username == b.Username && a.Email == b.Email && a.EmailVerified == b.EmailVerified &&
		a.Name == b.Name && slices.Equal(a.Groups, b.Groups)
}

func identityRecord(connectorID, userID string, id sdk.Identity, now time.Time) store.Identity {
	return store.Identity{
		ConnectorID: connectorID, Subject: id.Subject, UserID: userID,
		Username: id.Username, Email: id.Email, EmailVerified: id.EmailVerified, Name: id.Name,
		Groups: slices.Clone(id.Groups), Attributes: id.Attributes, ConnectorData: id.ConnectorData,
		LastSeen: now,
	}
}

func applyProfile(u *store.User, id sdk.Identity) {
	u.Username = id.PreferredUsername
	if u.Username == "" {
		u.Username = id.Username
	}
	u.Email, u.EmailVerified, u.Name = id.Email, id.EmailVerified, id.Name
	u.Groups = slices.Clone(id.Groups)
}

// newSubject returns a random UUID (version 4): the `sub` of a new user.
func newSubject() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
