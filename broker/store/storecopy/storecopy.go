// Package storecopy moves what Portico keeps from one store to another,
// such as from badger to postgres when one process becomes several
// replicas. It reads and writes only through store.Store, so it works
// between any two backends.
//
// What it copies is what a person would miss after the move:
//
//   - users with their identities, local accounts and clients;
//   - the signing keys, so that tokens signed before the move verify after;
//   - live refresh families (sessions) with their current refresh token,
//     ids and hashes as they are, so that a refresh token issued before the
//     move still refreshes after it, and an access token's session (sid)
//     is still alive; revoked or expired families are skipped;
//   - the audit trail;
//   - the generic records of the kinds in DefaultRecordKinds: connectors
//     added at runtime ("connector"), second factors ("mfa") and consents
//     ("consent").
//
// What it does not copy, because it is short-lived or cannot be listed:
// browser sessions ("sso", people log in again), throttle and rate
// counters ("throttle", "rate"), passkey ceremonies ("webauthn"), pending
// authorization requests and codes (minutes), a family's older refresh
// tokens (presenting one after the move is refused as unknown rather than
// detected as a replay), opaque access tokens and denied access-token ids
// (the store cannot list them: holders of an opaque access token refresh,
// and an access token revoked shortly before the move is accepted again
// until it expires).
//
// Records keep their Version where a create takes it (users, identities,
// accounts, clients, families: Create* stores the record as given), so
// that a version an administrator read before the move still matches.
// Generic records and the key set can only be created at Version 0
// (PutRecord, UpdateKeys), so they start again at 1 in the target; both
// are read again before any compare-and-swap, so nothing depends on it.
package storecopy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/portico-idp/portico/broker/store"
)

// DefaultRecordKinds are the generic record kinds copied when
// Options.RecordKinds is nil: those that outlive a login.
var DefaultRecordKinds = []string{"connector", "mfa", "consent"}

// ErrNotEmpty is returned when the target holds users, clients or signing
// keys and Options.Merge is not set: copying into a store in use would mix
// two installations, and a second run of a copy is more likely a mistake.
var ErrNotEmpty = errors.New("storecopy: the target store is not empty")

// Options configure Copy.
type Options struct {
	// Merge allows a target that is not empty: what it already has (by id)
	// is left as it is and counted Existing, the rest is copied. It makes
	// a copy that stopped halfway resumable.
	Merge bool
	// RecordKinds are the generic record kinds to copy; nil means
	// DefaultRecordKinds.
	RecordKinds []string
}

// Count is what happened to the records of one kind.
type Count struct {
	Copied int
	// Existing were in the target already (Options.Merge).
	Existing int
	// Skipped were left out: revoked or expired refresh families, and
	// (Merge) the source's signing keys when the target has a key set of
	// its own.
	Skipped int
}

// Counts are Copy's counts per kind of record.
type Counts struct {
	Users, Identities, LocalAccounts, Clients Count
	// SigningKeys counts keys, all of one key set.
	SigningKeys     Count
	RefreshFamilies Count
	// RefreshTokens are the families' current tokens; a family of a login
	// without offline_access has none.
	RefreshTokens Count
	AuditEvents   Count
	// Records counts the generic records by kind.
	Records map[string]Count
}

// Row is one kind's line of Counts.
type Row struct {
	Kind string // such as "users", "records/mfa"
	Count
}

// Rows are the counts in a fixed order, for printing.
func (c Counts) Rows() []Row {
	rows := []Row{
		{"users", c.Users}, {"identities", c.Identities}, {"local_accounts", c.LocalAccounts},
		{"clients", c.Clients}, {"signing_keys", c.SigningKeys}, {"refresh_families", c.RefreshFamilies},
		{"refresh_tokens", c.RefreshTokens}, {"audit_events", c.AuditEvents},
	}
	kinds := make([]string, 0, len(c.Records))
	for k := range c.Records {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		rows = append(rows, Row{"records/" + k, c.Records[k]})
	}
	return rows
}

// auditPage is how many audit events Copy reads and writes at once: the
// trail may be large, and one transaction per event would be slow.
var auditPage = 500

// copier holds one Copy's state.
type copier struct {
	from, to store.Store
	merge    bool
	n        Counts
}

// Copy copies from's records into to, which must be empty unless
// opts.Merge. It returns what it copied so far even when it fails; a
// failed copy can be resumed with opts.Merge. The source must not change
// meanwhile: stop the servers that use it.
//
// Without opts.Merge, a record already in the target is an error wrapping
// store.ErrAlreadyExists that names it.
func Copy(ctx context.Context, from, to store.Store, opts Options) (Counts, error) {
	c := &copier{from: from, to: to, merge: opts.Merge, n: Counts{Records: map[string]Count{}}}
	if !opts.Merge {
		if err := checkEmpty(ctx, to); err != nil {
			return c.n, err
		}
	}
	kinds := opts.RecordKinds
	if kinds == nil {
		kinds = DefaultRecordKinds
	}
	// Keys first: they are one record, and a target that has them is not
	// empty, so a copy that failed later is not mistaken for a fresh one.
	// Users come before their refresh families.
	steps := []func(context.Context) error{c.keys, c.clients, c.localAccounts, c.users}
	for _, k := range kinds {
		steps = append(steps, func(ctx context.Context) error { return c.records(ctx, k) })
	}
	steps = append(steps, c.audit)
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return c.n, err
		}
	}
	return c.n, nil
}

// checkEmpty is ErrNotEmpty, saying what is there, when to holds users,
// clients or keys: what any store that served or was copied into has.
func checkEmpty(ctx context.Context, to store.Store) error {
	users, err := to.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("storecopy: list the target's users: %w", err)
	}
	clients, err := to.ListClients(ctx)
	if err != nil {
		return fmt.Errorf("storecopy: list the target's clients: %w", err)
	}
	keys, err := to.GetKeys(ctx)
	if err != nil {
		return fmt.Errorf("storecopy: read the target's signing keys: %w", err)
	}
	if len(users) == 0 && len(clients) == 0 && keys.Version == 0 {
		return nil
	}
	return fmt.Errorf("%w: it has %d users, %d clients and %d signing keys (a server ran on it, or a copy did)",
		ErrNotEmpty, len(users), len(clients), len(keys.Keys))
}

// exists sorts the error of a create: nil is copied, ErrAlreadyExists of
// a record that present() finds is existing in merge mode. Any other
// ErrAlreadyExists (a username taken by another account) is a conflict
// that merging cannot settle.
func (c *copier) exists(err error, n *Count, what string, present func() (bool, error)) error {
	if err == nil {
		n.Copied++
		return nil
	}
	if !errors.Is(err, store.ErrAlreadyExists) {
		return fmt.Errorf("storecopy: copy %s: %w", what, err)
	}
	if !c.merge {
		return fmt.Errorf("storecopy: %s is already in the target (a copy ran before? merge to copy only what is missing): %w", what, err)
	}
	ok, perr := false, error(nil)
	if present != nil {
		ok, perr = present()
	}
	if perr != nil {
		return fmt.Errorf("storecopy: %s: read it in the target: %w", what, perr)
	}
	if !ok {
		return fmt.Errorf("storecopy: %s conflicts with another record of the target: %w", what, err)
	}
	n.Existing++
	return nil
}

// found turns a Get's error into whether the record is there.
func found(err error) (bool, error) {
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (c *copier) keys(ctx context.Context) error {
	ks, err := c.from.GetKeys(ctx)
	if err != nil {
		return fmt.Errorf("storecopy: read signing keys: %w", err)
	}
	if ks.Version == 0 {
		return nil // the source never served
	}
	have, err := c.to.GetKeys(ctx)
	if err != nil {
		return fmt.Errorf("storecopy: read the target's signing keys: %w", err)
	}
	if have.Version != 0 {
		// Only with Merge (checkEmpty refused it otherwise). The target's
		// set is kept whole: mixing two sets' active and next keys would
		// leave the rotation to guess which one signs.
		if !c.merge {
			return fmt.Errorf("storecopy: the target has signing keys: %w", store.ErrAlreadyExists)
		}
		for _, k := range ks.Keys {
			if slices.ContainsFunc(have.Keys, func(h store.SigningKey) bool { return h.ID == k.ID }) {
				c.n.SigningKeys.Existing++
			} else {
				c.n.SigningKeys.Skipped++
			}
		}
		return nil
	}
	ks.Version = 0 // UpdateKeys creates the set at Version 0 only
	if err := c.to.UpdateKeys(ctx, ks); err != nil {
		if errors.Is(err, store.ErrConflict) {
			err = fmt.Errorf("%w (a server started on the target meanwhile?)", err)
		}
		return fmt.Errorf("storecopy: write signing keys: %w", err)
	}
	c.n.SigningKeys.Copied += len(ks.Keys)
	return nil
}

func (c *copier) clients(ctx context.Context) error {
	cs, err := c.from.ListClients(ctx)
	if err != nil {
		return fmt.Errorf("storecopy: list clients: %w", err)
	}
	for _, cl := range cs {
		err := c.to.CreateClient(ctx, cl)
		if err := c.exists(err, &c.n.Clients, "client "+cl.ID, func() (bool, error) {
			return found(errOf(c.to.GetClient(ctx, cl.ID)))
		}); err != nil {
			return err
		}
	}
	return nil
}

func (c *copier) localAccounts(ctx context.Context) error {
	as, err := c.from.ListLocalAccounts(ctx)
	if err != nil {
		return fmt.Errorf("storecopy: list local accounts: %w", err)
	}
	for _, a := range as {
		err := c.to.CreateLocalAccount(ctx, a)
		if err := c.exists(err, &c.n.LocalAccounts, fmt.Sprintf("local account %s (%s)", a.ID, a.Username), func() (bool, error) {
			return found(errOf(c.to.GetLocalAccount(ctx, a.ID)))
		}); err != nil {
			return err
		}
	}
	return nil
}

// users copies each user with its identities in one create, then its
// sessions.
func (c *copier) users(ctx context.Context) error {
	us, err := c.from.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("storecopy: list users: %w", err)
	}
	for _, u := range us {
		ids, err := c.from.ListIdentities(ctx, u.ID)
		if err != nil {
			return fmt.Errorf("storecopy: list identities of user %s: %w", u.ID, err)
		}
		err = c.to.CreateUser(ctx, u, ids...)
		switch {
		case err == nil:
			c.n.Users.Copied++
			c.n.Identities.Copied += len(ids)
		case errors.Is(err, store.ErrAlreadyExists) && c.merge:
			if err := c.mergeUser(ctx, u, ids); err != nil {
				return err
			}
		default:
			// exists reports it, with the hint to merge.
			if err := c.exists(err, &c.n.Users, "user "+u.ID+" (or one of its identities)", nil); err != nil {
				return err
			}
		}
		if err := c.families(ctx, u.ID); err != nil {
			return err
		}
	}
	return nil
}

// mergeUser handles a user whose create failed in merge mode: the user is
// there, or one of its identities is linked to another user.
func (c *copier) mergeUser(ctx context.Context, u store.User, ids []store.Identity) error {
	ok, err := found(errOf(c.to.GetUser(ctx, u.ID)))
	if err != nil {
		return fmt.Errorf("storecopy: user %s: read it in the target: %w", u.ID, err)
	}
	if !ok {
		return fmt.Errorf("storecopy: an identity of user %s is linked to another user of the target: %w", u.ID, store.ErrAlreadyExists)
	}
	c.n.Users.Existing++
	for _, id := range ids {
		what := fmt.Sprintf("identity %s/%s of user %s", id.ConnectorID, id.Subject, u.ID)
		err := c.to.CreateIdentity(ctx, id)
		if err := c.exists(err, &c.n.Identities, what, func() (bool, error) {
			have, err := c.to.GetIdentity(ctx, id.ConnectorID, id.Subject)
			if ok, err := found(err); !ok {
				return false, err
			}
			return have.UserID == u.ID, nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// families copies a user's live sessions with their current refresh
// token, hash and all: the token holder's secret is not in the store, only
// its hash, so the same hash is what makes the old token work.
func (c *copier) families(ctx context.Context, userID string) error {
	fs, err := c.from.ListRefreshFamilies(ctx, userID)
	if err != nil {
		return fmt.Errorf("storecopy: list refresh families of user %s: %w", userID, err)
	}
	now := time.Now()
	for _, f := range fs {
		if f.Revoked || !now.Before(f.Expiry) {
			c.n.RefreshFamilies.Skipped++
			continue
		}
		var t store.RefreshToken
		if f.Current != "" {
			t, err = c.from.GetRefreshToken(ctx, f.Current)
			switch {
			case errors.Is(err, store.ErrNotFound):
				// Gone with its expiry between the two reads: the
				// session stays (its access tokens name it), without
				// refresh.
				t = store.RefreshToken{}
			case err != nil:
				return fmt.Errorf("storecopy: read the current refresh token of family %s: %w", f.ID, err)
			}
		}
		err := c.to.CreateRefreshFamily(ctx, f, t)
		existed := c.n.RefreshFamilies.Existing
		if err := c.exists(err, &c.n.RefreshFamilies, "refresh family "+f.ID, func() (bool, error) {
			return found(errOf(c.to.GetRefreshFamily(ctx, f.ID)))
		}); err != nil {
			return err
		}
		switch {
		case t.Hash == "":
		case c.n.RefreshFamilies.Existing > existed:
			c.n.RefreshTokens.Existing++
		default:
			c.n.RefreshTokens.Copied++
		}
	}
	return nil
}

// records copies the live records of one kind, created anew (Version 0).
func (c *copier) records(ctx context.Context, kind string) error {
	rs, err := c.from.ListRecords(ctx, kind, "")
	if err != nil {
		return fmt.Errorf("storecopy: list %s records: %w", kind, err)
	}
	n := c.n.Records[kind]
	defer func() { c.n.Records[kind] = n }()
	for _, r := range rs {
		r.Version = 0
		err := c.to.PutRecord(ctx, r)
		if err := c.exists(err, &n, fmt.Sprintf("%s record %q", kind, r.Key), func() (bool, error) {
			return found(errOf(c.to.GetRecord(ctx, kind, r.Key)))
		}); err != nil {
			return err
		}
	}
	return nil
}

// audit copies the live audit trail page by page, oldest first. A page
// starts at the last event's time, so it repeats the events of that time
// already copied: ties list in ID order, so those are its first ones, and
// it asks for that many more.
func (c *copier) audit(ctx context.Context) error {
	var (
		since  time.Time
		atLast int // events copied whose Time equals since
	)
	for {
		es, err := c.from.ListAuditEvents(ctx, since, auditPage+atLast)
		if err != nil {
			return fmt.Errorf("storecopy: list audit events since %s: %w", since.Format(time.RFC3339Nano), err)
		}
		if len(es) < atLast {
			return fmt.Errorf("storecopy: audit events since %s changed during the copy; stop the servers that use the source",
				since.Format(time.RFC3339Nano))
		}
		page := es[atLast:]
		if len(page) > 0 {
			if err := c.auditBatch(ctx, page); err != nil {
				return err
			}
		}
		if len(es) < auditPage+atLast {
			return nil // the last page
		}
		if last := page[len(page)-1].Time; last.Equal(since) {
			atLast += len(page)
		} else {
			since, atLast = last, 0
			for _, e := range page {
				if e.Time.Equal(last) {
					atLast++
				}
			}
		}
	}
}

// auditBatch stores events in one transaction; in merge mode, when some
// are there already, one by one.
func (c *copier) auditBatch(ctx context.Context, events []store.AuditEvent) error {
	err := c.to.CreateAuditEvents(ctx, events...)
	if err == nil {
		c.n.AuditEvents.Copied += len(events)
		return nil
	}
	if !errors.Is(err, store.ErrAlreadyExists) || !c.merge {
		return c.exists(err, &c.n.AuditEvents, fmt.Sprintf("an audit event of %s to %s",
			events[0].Time.Format(time.RFC3339Nano), events[len(events)-1].Time.Format(time.RFC3339Nano)), nil)
	}
	for _, e := range events {
		err := c.to.CreateAuditEvents(ctx, e)
		// An event is known by its ID and Time, and cannot be read
		// alone: ErrAlreadyExists is that very event.
		if err := c.exists(err, &c.n.AuditEvents, "audit event "+e.ID, func() (bool, error) { return true, nil }); err != nil {
			return err
		}
	}
	return nil
}

// errOf is the error of a Get.
func errOf[T any](_ T, err error) error { return err }
