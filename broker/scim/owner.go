package scim

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/portico-idp/portico/broker/store"
)

// Ownership is exclusive: a Portico user is provisioned by at most one
// provisioner. An ownership record (kind scim.owner, key the user id,
// value the owner's scope: id and generation) is created if absent before
// a provisioner makes or adopts a user, so of racing provisioners exactly
// one wins. An ownership record whose provisioner was deleted (or made
// again, with another generation) is stale: the user is un-owned and the
// next provisioner to adopt it takes the record over by compare-and-swap.

const kindOwner = "scim.owner"

// errOwned: another provisioner owns the user.
var errOwned = errors.New("scim: the user is another provisioner's")

// claimOwner makes p the owner of user id. It reports whether it made
// the record (the caller's undo removes it on a later failure).
func claimOwner(ctx context.Context, st Store, p Provisioner, id string) (bool, error) {
	rec := store.Record{Kind: kindOwner, Key: id, Value: []byte(p.scope())}
	err := st.PutRecord(ctx, rec)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, store.ErrAlreadyExists) {
		return false, err
	}
	old, err := st.GetRecord(ctx, kindOwner, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, errOwned // released meanwhile: a race, let the caller retry
	case err != nil:
		return false, err
	case string(old.Value) == p.scope():
		return false, nil
	}
	live, err := liveOwner(ctx, st, string(old.Value))
	if err != nil {
		return false, err
	}
	if live {
		return false, errOwned
	}
	rec.Version = old.Version
	switch err := st.PutRecord(ctx, rec); {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		return false, errOwned
	case err != nil:
		return false, err
	}
	return false, nil
}

// liveOwner reports whether scope names a provisioner that exists now
// with that generation.
func liveOwner(ctx context.Context, st RecordStore, scope string) (bool, error) {
	id, gen, _ := strings.Cut(scope, ".")
	p, err := GetProvisioner(ctx, st, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return p.Generation == gen, nil
}

// releaseOwner removes p's ownership of user id, if it is p's.
func releaseOwner(ctx context.Context, st RecordStore, p Provisioner, id string) error {
	r, err := st.GetRecord(ctx, kindOwner, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil || string(r.Value) != p.scope() {
		return err
	}
	if err := st.DeleteRecord(ctx, kindOwner, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// DeleteProvisioner removes a provisioner: its credential stops working
// at once. The users it provisioned stay (they are Portico's) but are
// un-owned: they leave its groups (their provisioned_groups are
// emptied), and another provisioner may adopt them. Its records go.
func DeleteProvisioner(ctx context.Context, st Store, p Provisioner) error {
	if err := st.DeleteRecord(ctx, kindProvisioner, p.ID); err != nil {
		return err
	}
	users, err := st.ListRecords(ctx, kindUser, p.scope()+"/")
	if err != nil {
		return err
	}
	for _, r := range users {
		id := strings.TrimPrefix(r.Key, p.scope()+"/")
		if o, err := st.GetRecord(ctx, kindOwner, id); err == nil && string(o.Value) == p.scope() {
			if err := updateUser(ctx, st, id, func(u *store.User) { u.ProvisionedGroups = nil }); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("scim: user %s: %w", id, err)
			}
		}
		if err := releaseOwner(ctx, st, p, id); err != nil {
			return err
		}
	}
	for _, kind := range []string{kindUser, kindUserName, kindGroup, kindGroupName} {
		recs, err := st.ListRecords(ctx, kind, p.scope()+"/")
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := st.DeleteRecord(ctx, kind, r.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// updateUser changes the Portico user with f, retrying lost races.
func updateUser(ctx context.Context, st Store, id string, f func(*store.User)) error {
	for range 8 {
		u, err := st.GetUser(ctx, id)
		if err != nil {
			return err
		}
		f(&u)
		if err = st.UpdateUser(ctx, u); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("scim: user %s: too many concurrent updates: %w", id, store.ErrConflict)
}
