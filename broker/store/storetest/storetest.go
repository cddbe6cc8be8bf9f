// Package storetest is the conformance suite of store.Store. Every backend
// runs Run, so the broker gets one behaviour whichever backend an operator
// picks, and a new backend is done when the suite passes.
//
// Where store.go leaves a choice open, the suite decides, so that backends
// agree:
//
//   - Times keep at least microsecond precision, PostgreSQL's: the instant
//     must round-trip, the location need not. The suite writes times already
//     truncated to microseconds and compares them exactly as UTC instants,
//     so a backend keeping nanoseconds passes too. Callers that compare a
//     stored time with one in hand truncate to microseconds before storing.
//   - Nil and empty slices and maps are equal (JSON omitempty and SQL NULL
//     cannot tell them apart).
//   - Create* stores the record as given, Version included (callers pass 0);
//     the first successful update stores Version 1.
//   - Update*, RotateRefresh and Delete* of a missing or expired record
//     return ErrNotFound, not ErrConflict.
//   - A token hash, username or email that is taken makes the create, rotate
//     or rename ErrAlreadyExists: retrying cannot help, so not ErrConflict.
//   - CreateIdentity for a user that does not exist returns ErrNotFound.
//   - Verified emails compare case-insensitively (as strings.ToLower), and
//     an empty email lists nothing.
//   - Audit events list oldest first; an Expiry that has passed hides an
//     event as it hides any record.
//   - Lists come in any order; an empty list is not an error.
//   - A record's kind and key are opaque strings: any bytes, separators
//     included, and a prefix list matches byte-wise ("u1" lists "u10/...").
package storetest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/store"
)

// Run runs the suite. open returns a new, empty store for one subtest; Run
// closes it when that subtest ends, so open must not.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	o := func(t *testing.T) store.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	t.Run("Users", func(t *testing.T) { runKind(t, o, userKind); testUsers(t, o) })
	t.Run("Identities", func(t *testing.T) { runKind(t, o, identityKind); testIdentities(t, o); testIdentityEmails(t, o) })
	t.Run("LocalAccounts", func(t *testing.T) { runKind(t, o, localKind); testLocalAccounts(t, o) })
	t.Run("Clients", func(t *testing.T) { runKind(t, o, clientKind) })
	t.Run("AuthRequests", func(t *testing.T) { runKind(t, o, authRequestKind) })
	t.Run("AuthCodes", func(t *testing.T) { runKind(t, o, authCodeKind) })
	t.Run("RefreshFamilies", func(t *testing.T) { runKind(t, o, familyKind); testRefresh(t, o) })
	t.Run("ReadAhead", func(t *testing.T) { testReadAhead(t, o) })
	t.Run("DeniedAccessTokens", func(t *testing.T) { testDenied(t, o) })
	t.Run("OpaqueTokens", func(t *testing.T) { testOpaque(t, o) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, o) })
	t.Run("AuditEvents", func(t *testing.T) { testAudit(t, o) })
	t.Run("Records", func(t *testing.T) { testRecords(t, o) })
	t.Run("Expiry", func(t *testing.T) { testExpiry(t, o) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, o) })
	t.Run("UnstorableKeysAreNotFound", func(t *testing.T) { testUnstorableKeys(t, o) })
}

// testUnstorableKeys: a key no record can have — a NUL, bytes that are
// not UTF-8, which some backends cannot even hold — names nothing: a
// lookup is ErrNotFound like any other miss, never a store failure (which
// callers answer 503, so that anyone could make one by sending such a
// client_id).
func testUnstorableKeys(t *testing.T, o opener) {
	s, ctx := o(t), t.Context()
	for _, key := range []string{"a\x00b", "\xff\xfe", "ok\xc3"} {
		errs := map[string]error{}
		_, errs["GetClient"] = s.GetClient(ctx, key)
		_, errs["GetUser"] = s.GetUser(ctx, key)
		_, _, errs["GetUserIdentities"] = s.GetUserIdentities(ctx, key)
		_, errs["GetLocalAccount"] = s.GetLocalAccount(ctx, key)
		_, errs["GetLocalAccountByLogin"] = s.GetLocalAccountByLogin(ctx, key)
		_, errs["GetAuthRequest"] = s.GetAuthRequest(ctx, key)
		_, errs["GetAuthCode"] = s.GetAuthCode(ctx, key)
		_, errs["GetRefreshFamily"] = s.GetRefreshFamily(ctx, key)
		_, errs["GetRefreshToken"] = s.GetRefreshToken(ctx, key)
		_, _, errs["GetRefreshTokenFamily"] = s.GetRefreshTokenFamily(ctx, key)
		_, errs["GetIdentity"] = s.GetIdentity(ctx, key, key)
		for op, err := range errs {
			wantErr(t, err, store.ErrNotFound, fmt.Sprintf("%s(%q)", op, key))
		}
	}
}

type opener = func(t *testing.T) store.Store

// kind describes one record type, so that the behaviour every type shares
// (round trip, duplicates, compare-and-swap, copies) is tested once.
type kind[R any] struct {
	setup   func(t *testing.T, s store.Store) // records the fixtures need; may be nil
	fixture func(n int) R                     // the n-th distinct record, Version 0
	id      func(R) string                    // primary key, to sort lists
	create  func(ctx context.Context, s store.Store, r R) error
	get     func(ctx context.Context, s store.Store, r R) (R, error) // by r's key
	list    func(ctx context.Context, s store.Store) ([]R, error)    // nil: none
	update  func(ctx context.Context, s store.Store, r R) error      // nil: none
	del     func(ctx context.Context, s store.Store, r R) error      // nil: none
	edit    func(r R) R                                              // same key, other contents
	version func(r *R) *int64                                        // nil: no Version
	strs    func(r *R) []string                                      // a slice field, for the copy test
}

func runKind[R any](t *testing.T, open opener, k kind[R]) {
	fresh := func(t *testing.T) store.Store {
		s := open(t)
		if k.setup != nil {
			k.setup(t, s)
		}
		return s
	}
	t.Run("CreateThenGetRoundTrips", func(t *testing.T) {
		s, ctx, r := fresh(t), t.Context(), k.fixture(0)
		requireEveryField(t, r)
		must(t, k.create(ctx, s, r), "create")
		got, err := k.get(ctx, s, r)
		must(t, err, "get")
		same(t, "get", got, r)
	})
	t.Run("GetMissingIsNotFound", func(t *testing.T) {
		s, ctx := fresh(t), t.Context()
		_, err := k.get(ctx, s, k.fixture(0))
		wantErr(t, err, store.ErrNotFound, "get missing")
	})
	t.Run("DuplicateCreateIsAlreadyExists", func(t *testing.T) {
		s, ctx, r := fresh(t), t.Context(), k.fixture(0)
		must(t, k.create(ctx, s, r), "create")
		wantErr(t, k.create(ctx, s, k.edit(k.fixture(0))), store.ErrAlreadyExists, "create again")
		got, err := k.get(ctx, s, r)
		must(t, err, "get")
		same(t, "after the failed create", got, r)
	})
	t.Run("ReturnedRecordsAreCopies", func(t *testing.T) {
		s, ctx, r := fresh(t), t.Context(), k.fixture(0)
		must(t, k.create(ctx, s, r), "create")
		k.strs(&r)[0] = "changed by the caller after create"
		got, err := k.get(ctx, s, r)
		must(t, err, "get")
		k.strs(&got)[0] = "changed by the caller after get"
		got, err = k.get(ctx, s, r)
		must(t, err, "get again")
		same(t, "get again", got, k.fixture(0))
		if k.list != nil {
			l, err := k.list(ctx, s)
			must(t, err, "list")
			k.strs(&l[0])[0] = "changed by the caller after list"
			got, err = k.get(ctx, s, r)
			must(t, err, "get after list")
			same(t, "get after list", got, k.fixture(0))
		}
	})
	if k.list != nil {
		t.Run("ListReturnsEveryRecord", func(t *testing.T) {
			s, ctx := fresh(t), t.Context()
			l, err := k.list(ctx, s)
			must(t, err, "list empty store")
			if len(l) != 0 {
				t.Fatalf("list of an empty store: %d records, want 0", len(l))
			}
			var want []R
			for n := range 3 {
				want = append(want, k.fixture(n))
				must(t, k.create(ctx, s, k.fixture(n)), "create")
			}
			l, err = k.list(ctx, s)
			must(t, err, "list")
			sameList(t, k, l, want)
		})
	}
	if k.update != nil {
		testUpdate(t, fresh, k)
	}
	if k.del != nil {
		t.Run("DeleteRemovesOnlyThatRecord", func(t *testing.T) {
			s, ctx := fresh(t), t.Context()
			r0, r1 := k.fixture(0), k.fixture(1)
			must(t, k.create(ctx, s, r0), "create 0")
			must(t, k.create(ctx, s, r1), "create 1")
			must(t, k.del(ctx, s, r0), "delete 0")
			_, err := k.get(ctx, s, r0)
			wantErr(t, err, store.ErrNotFound, "get deleted")
			wantErr(t, k.del(ctx, s, r0), store.ErrNotFound, "delete again")
			got, err := k.get(ctx, s, r1)
			must(t, err, "get the other")
			same(t, "the other", got, r1)
			if k.list != nil {
				l, err := k.list(ctx, s)
				must(t, err, "list")
				sameList(t, k, l, []R{r1})
			}
			must(t, k.create(ctx, s, r0), "create again after delete")
		})
	}
}

func testUpdate[R any](t *testing.T, fresh opener, k kind[R]) {
	t.Run("UpdateStoresNextVersion", func(t *testing.T) {
		s, ctx, r := fresh(t), t.Context(), k.fixture(0)
		must(t, k.create(ctx, s, r), "create")
		for v := range int64(2) {
			r = k.edit(r)
			*k.version(&r) = v
			must(t, k.update(ctx, s, r), fmt.Sprintf("update at version %d", v))
			got, err := k.get(ctx, s, r)
			must(t, err, "get")
			*k.version(&r) = v + 1
			same(t, fmt.Sprintf("after update at version %d", v), got, r)
		}
	})
	t.Run("UpdateWithOtherVersionIsConflict", func(t *testing.T) {
		s, ctx, r := fresh(t), t.Context(), k.fixture(0)
		must(t, k.create(ctx, s, r), "create")
		must(t, k.update(ctx, s, r), "update at version 0")
		stored, err := k.get(ctx, s, r)
		must(t, err, "get")
		for _, v := range []int64{0, 2, -1} { // stale, ahead, nonsense
			next := k.edit(stored)
			*k.version(&next) = v
			wantErr(t, k.update(ctx, s, next), store.ErrConflict, fmt.Sprintf("update at version %d of 1", v))
		}
		got, err := k.get(ctx, s, r)
		must(t, err, "get")
		same(t, "after the failed updates", got, stored)
	})
	t.Run("UpdateMissingIsNotFound", func(t *testing.T) {
		s, ctx := fresh(t), t.Context()
		wantErr(t, k.update(ctx, s, k.fixture(0)), store.ErrNotFound, "update missing")
	})
}

func testUsers(t *testing.T, open opener) {
	t.Run("CreateLinksIdentities", func(t *testing.T) {
		s, ctx, u := open(t), t.Context(), user(0)
		ids := []store.Identity{identity(0, u.ID), identity(1, u.ID)}
		must(t, s.CreateUser(ctx, u, ids...), "create")
		for _, id := range ids {
			got, err := s.GetIdentity(ctx, id.ConnectorID, id.Subject)
			must(t, err, "get identity")
			same(t, "identity", got, id)
		}
		l, err := s.ListIdentities(ctx, u.ID)
		must(t, err, "list identities")
		sameList(t, identityKind, l, ids)
	})
	t.Run("CreateWithTakenIdentityStoresNothing", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		a, b := user(0), user(1)
		taken := identity(0, a.ID)
		must(t, s.CreateUser(ctx, a, taken), "create a")
		for _, tc := range []struct {
			name string
			ids  []store.Identity
		}{
			{"TakenByOtherUser", []store.Identity{identity(1, b.ID), identity(0, b.ID)}},
			{"RepeatedInOneCall", []store.Identity{identity(1, b.ID), identity(1, b.ID)}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantErr(t, s.CreateUser(ctx, b, tc.ids...), store.ErrAlreadyExists, "create b")
				_, err := s.GetUser(ctx, b.ID)
				wantErr(t, err, store.ErrNotFound, "get b")
				_, err = s.GetIdentity(ctx, tc.ids[0].ConnectorID, tc.ids[0].Subject)
				wantErr(t, err, store.ErrNotFound, "get b's untaken identity")
				got, err := s.GetIdentity(ctx, taken.ConnectorID, taken.Subject)
				must(t, err, "get a's identity")
				same(t, "a's identity", got, taken)
			})
		}
	})
	t.Run("DeleteRemovesItsIdentities", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		a, b := user(0), user(1)
		aIDs := []store.Identity{identity(0, a.ID), identity(1, a.ID)}
		must(t, s.CreateUser(ctx, a, aIDs...), "create a")
		late := identity(2, a.ID)
		must(t, s.CreateIdentity(ctx, late), "link one more to a")
		aIDs = append(aIDs, late)
		bID := identity(3, b.ID)
		must(t, s.CreateUser(ctx, b, bID), "create b")

		must(t, s.DeleteUser(ctx, a.ID), "delete a")
		for _, id := range aIDs {
			_, err := s.GetIdentity(ctx, id.ConnectorID, id.Subject)
			wantErr(t, err, store.ErrNotFound, "get a's identity "+id.Subject)
		}
		l, err := s.ListIdentities(ctx, a.ID)
		must(t, err, "list a's identities")
		if len(l) != 0 {
			t.Fatalf("deleted user still lists %d identities", len(l))
		}
		l, err = s.ListIdentities(ctx, b.ID)
		must(t, err, "list b's identities")
		sameList(t, identityKind, l, []store.Identity{bID})
		// The upstream accounts are free to link again.
		must(t, s.CreateUser(ctx, a, aIDs...), "create a again")
	})
}

func testIdentities(t *testing.T, open opener) {
	t.Run("GetUserIdentitiesReadsBoth", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		a, b, c := user(0), user(1), user(2)
		aIDs := []store.Identity{identity(0, a.ID), identity(1, a.ID)}
		must(t, s.CreateUser(ctx, a, aIDs...), "create a")
		must(t, s.CreateUser(ctx, b, identity(2, b.ID)), "create b")
		must(t, s.CreateUser(ctx, c), "create c, without identities")
		want, err := s.GetUser(ctx, a.ID)
		must(t, err, "get a")
		got, ids, err := s.GetUserIdentities(ctx, a.ID)
		must(t, err, "GetUserIdentities(a)")
		same(t, "a", got, want)
		wantIDs, err := s.ListIdentities(ctx, a.ID)
		must(t, err, "list a's identities")
		sameList(t, identityKind, ids, wantIDs)
		sameList(t, identityKind, ids, aIDs)
		got, ids, err = s.GetUserIdentities(ctx, c.ID)
		must(t, err, "GetUserIdentities(c)")
		if got.ID != c.ID || len(ids) != 0 {
			t.Fatalf("c: got user %q and %d identities, want %q and none", got.ID, len(ids), c.ID)
		}
		_, _, err = s.GetUserIdentities(ctx, "nobody")
		wantErr(t, err, store.ErrNotFound, "GetUserIdentities of a missing user")
	})
	t.Run("DeleteUnlinksOnlyThatIdentity", func(t *testing.T) {
		s, ctx, u := open(t), t.Context(), user(0)
		a, b := identity(0, u.ID), identity(1, u.ID)
		must(t, s.CreateUser(ctx, u, a, b), "create user")
		must(t, s.DeleteIdentity(ctx, a.ConnectorID, a.Subject), "delete identity")
		_, err := s.GetIdentity(ctx, a.ConnectorID, a.Subject)
		wantErr(t, err, store.ErrNotFound, "get deleted")
		l, err := s.ListIdentities(ctx, u.ID)
		must(t, err, "list")
		if len(l) != 1 || l[0].Subject != b.Subject {
			t.Fatalf("after unlinking %s the user has %v", a.Subject, l)
		}
		byEmail, err := s.ListIdentitiesByVerifiedEmail(ctx, a.VerifiedEmail)
		must(t, err, "list by email")
		if len(byEmail) != 0 {
			t.Fatalf("the unlinked identity is still found by its email: %v", byEmail)
		}
		_, err = s.GetUser(ctx, u.ID)
		must(t, err, "the user stays")
		wantErr(t, s.DeleteIdentity(ctx, a.ConnectorID, a.Subject), store.ErrNotFound, "delete again")
		must(t, s.CreateIdentity(ctx, a), "link the same identity again")
	})
	t.Run("CreateForMissingUserIsNotFound", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		wantErr(t, s.CreateIdentity(ctx, identity(0, "nobody")), store.ErrNotFound, "create")
		_, err := s.GetIdentity(ctx, "github", identity(0, "nobody").Subject)
		wantErr(t, err, store.ErrNotFound, "get")
	})
	t.Run("ListIsScopedToOneUser", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		// IDs that are prefixes of each other catch prefix scans without a
		// terminator.
		want := map[string][]store.Identity{}
		for n, uid := range []string{"u1", "u10", "u1/0", "u"} {
			u := user(n)
			u.ID = uid
			id := identity(n, uid)
			want[uid] = []store.Identity{id}
			must(t, s.CreateUser(ctx, u, id), "create "+uid)
		}
		for uid, ids := range want {
			l, err := s.ListIdentities(ctx, uid)
			must(t, err, "list "+uid)
			sameList(t, identityKind, l, ids)
		}
		l, err := s.ListIdentities(ctx, "nobody")
		must(t, err, "list for a missing user")
		if len(l) != 0 {
			t.Fatalf("list for a missing user: %d identities", len(l))
		}
	})
	t.Run("KeysWithSeparatorsStayDistinct", func(t *testing.T) {
		s, ctx, u := open(t), t.Context(), user(0)
		var ids []store.Identity
		for n, cs := range [][2]string{{"a", "b/c"}, {"a/b", "c"}, {"a:b", "c"}, {"a", "b:c"}, {"a%2Fb", "c"}} {
			id := identity(n, u.ID)
			id.ConnectorID, id.Subject = cs[0], cs[1]
			ids = append(ids, id)
		}
		must(t, s.CreateUser(ctx, u, ids...), "create")
		for _, id := range ids {
			got, err := s.GetIdentity(ctx, id.ConnectorID, id.Subject)
			must(t, err, "get "+id.ConnectorID+" "+id.Subject)
			same(t, "identity", got, id)
		}
	})
	t.Run("UpdateRelinksToAnotherUser", func(t *testing.T) {
		s, ctx, a, b := open(t), t.Context(), user(0), user(1)
		id := identity(0, a.ID)
		must(t, s.CreateUser(ctx, a, id), "create a")
		must(t, s.CreateUser(ctx, b), "create b")
		id.UserID = b.ID
		must(t, s.UpdateIdentity(ctx, id), "relink")
		l, err := s.ListIdentities(ctx, a.ID)
		must(t, err, "list a")
		if len(l) != 0 {
			t.Fatalf("a still lists %d identities", len(l))
		}
		l, err = s.ListIdentities(ctx, b.ID)
		must(t, err, "list b")
		id.Version = 1
		sameList(t, identityKind, l, []store.Identity{id})
		must(t, s.DeleteUser(ctx, a.ID), "delete a")
		_, err = s.GetIdentity(ctx, id.ConnectorID, id.Subject)
		must(t, err, "get after deleting its old user")
	})
}

// testIdentityEmails: the verified-email lookup follows creates, updates
// (a changed or dropped email, a relink) and deletes.
func testIdentityEmails(t *testing.T, open opener) {
	byEmail := func(t *testing.T, s store.Store, email string, want ...store.Identity) {
		t.Helper()
		l, err := s.ListIdentitiesByVerifiedEmail(t.Context(), email)
		must(t, err, "list by verified email "+email)
		sameList(t, identityKind, l, want)
	}
	t.Run("ListMatchesCaseInsensitively", func(t *testing.T) {
		s, ctx, a, b := open(t), t.Context(), user(0), user(1)
		a0, a1, b0 := identity(0, a.ID), identity(1, a.ID), identity(2, b.ID)
		a1.ConnectorID, a1.VerifiedEmail = "ldap", "shared@example.COM"
		b0.VerifiedEmail = "Shared@Example.com"
		must(t, s.CreateUser(ctx, a, a0, a1), "create a")
		must(t, s.CreateUser(ctx, b, b0), "create b")
		byEmail(t, s, "SHARED@example.com", a1, b0)
		byEmail(t, s, a0.VerifiedEmail, a0)
		byEmail(t, s, "shared@example.co")
		byEmail(t, s, "hared@example.com")
		byEmail(t, s, "")
	})
	t.Run("UnverifiedIsNotListed", func(t *testing.T) {
		s, ctx, u := open(t), t.Context(), user(0)
		id := identity(0, u.ID)
		id.VerifiedEmail = ""
		must(t, s.CreateUser(ctx, u, id), "create")
		byEmail(t, s, id.Email)
	})
	t.Run("UpdateMovesTheEmail", func(t *testing.T) {
		s, ctx, a, b := open(t), t.Context(), user(0), user(1)
		id := identity(0, a.ID)
		must(t, s.CreateUser(ctx, a, id), "create a")
		must(t, s.CreateUser(ctx, b), "create b")
		old := id.VerifiedEmail
		id.VerifiedEmail = "new@example.com"
		must(t, s.UpdateIdentity(ctx, id), "change the email")
		id.Version = 1
		byEmail(t, s, old)
		byEmail(t, s, "NEW@example.com", id)
		id.UserID = b.ID
		must(t, s.UpdateIdentity(ctx, id), "relink")
		id.Version = 2
		byEmail(t, s, "new@example.com", id)
		id.VerifiedEmail = ""
		must(t, s.UpdateIdentity(ctx, id), "drop the email")
		byEmail(t, s, "new@example.com")
	})
	t.Run("DeleteUserRemovesItsEmails", func(t *testing.T) {
		s, ctx, a, b := open(t), t.Context(), user(0), user(1)
		ai, bi := identity(0, a.ID), identity(1, b.ID)
		bi.VerifiedEmail = ai.VerifiedEmail
		must(t, s.CreateUser(ctx, a, ai), "create a")
		must(t, s.CreateUser(ctx, b, bi), "create b")
		must(t, s.DeleteUser(ctx, a.ID), "delete a")
		byEmail(t, s, ai.VerifiedEmail, bi)
		must(t, s.CreateUser(ctx, a, ai), "create a again")
		byEmail(t, s, ai.VerifiedEmail, ai, bi)
	})
}

func testLocalAccounts(t *testing.T, open opener) {
	// alice has a mixed-case email to show it is kept as given.
	alice := func() store.LocalAccount {
		a := local(0)
		a.Username, a.Email = "alice", "Alice@Example.com"
		return a
	}
	bob := func() store.LocalAccount {
		b := local(1)
		b.Username, b.Email = "bob", "bob@example.com"
		return b
	}
	withBoth := func(t *testing.T) (store.Store, context.Context) {
		s, ctx := open(t), t.Context()
		must(t, s.CreateLocalAccount(ctx, alice()), "create alice")
		must(t, s.CreateLocalAccount(ctx, bob()), "create bob")
		return s, ctx
	}
	byLogin := func(t *testing.T, s store.Store, login string, want *store.LocalAccount) {
		t.Helper()
		got, err := s.GetLocalAccountByLogin(t.Context(), login)
		if want == nil {
			wantErr(t, err, store.ErrNotFound, fmt.Sprintf("login %q", login))
			return
		}
		must(t, err, fmt.Sprintf("login %q", login))
		same(t, fmt.Sprintf("login %q", login), got, *want)
	}

	t.Run("CreateWithTakenLoginIsAlreadyExists", func(t *testing.T) {
		for _, tc := range []struct{ name, username, email string }{
			{"Username", "alice", "carol@example.com"},
			{"Email", "carol", "Alice@Example.com"},
			{"EmailInOtherCase", "carol", "aLICE@eXAMPLE.cOM"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, ctx := withBoth(t)
				c := local(2)
				c.Username, c.Email = tc.username, tc.email
				wantErr(t, s.CreateLocalAccount(ctx, c), store.ErrAlreadyExists, "create")
				_, err := s.GetLocalAccount(ctx, c.ID)
				wantErr(t, err, store.ErrNotFound, "get")
				a := alice()
				byLogin(t, s, "alice", &a)
			})
		}
	})
	t.Run("GetByLogin", func(t *testing.T) {
		s, _ := withBoth(t)
		a, b := alice(), bob()
		for _, tc := range []struct {
			login string
			want  *store.LocalAccount
		}{
			{"alice", &a},
			{"bob", &b},
			{"Alice@Example.com", &a},
			{"alice@example.com", &a},
			{"ALICE@EXAMPLE.COM", &a},
			{"BOB@Example.Com", &b},
			{"Alice", nil}, // usernames match exactly
			{"ALICE", nil},
			{"carol", nil},
			{"", nil},
		} {
			t.Run(fmt.Sprintf("%q", tc.login), func(t *testing.T) { byLogin(t, s, tc.login, tc.want) })
		}
	})
	t.Run("RenameFreesOldAndClaimsNew", func(t *testing.T) {
		s, ctx := withBoth(t)
		a := alice()
		a.Username, a.Email = "alice2", "Alice2@Example.com"
		must(t, s.UpdateLocalAccount(ctx, a), "rename")
		a.Version = 1
		byLogin(t, s, "alice", nil)
		byLogin(t, s, "alice@example.com", nil)
		byLogin(t, s, "alice2", &a)
		byLogin(t, s, "ALICE2@example.com", &a)
		must(t, s.CreateLocalAccount(ctx, withLogin(local(2), "alice", "ALICE@example.com")), "reuse the old name and email")
	})
	t.Run("ChangingEmailCaseKeepsIt", func(t *testing.T) {
		s, ctx := withBoth(t)
		a := alice()
		a.Email = "ALICE@EXAMPLE.COM"
		must(t, s.UpdateLocalAccount(ctx, a), "update")
		a.Version = 1
		byLogin(t, s, "alice@example.com", &a)
	})
	t.Run("RenameOntoTakenIsAlreadyExists", func(t *testing.T) {
		for _, tc := range []struct{ name, username, email string }{
			{"Username", "alice", "bob@example.com"},
			{"EmailInOtherCase", "bob", "ALICE@example.COM"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, ctx := withBoth(t)
				b := bob()
				b.Username, b.Email = tc.username, tc.email
				wantErr(t, s.UpdateLocalAccount(ctx, b), store.ErrAlreadyExists, "rename")
				a, b := alice(), bob()
				byLogin(t, s, "bob", &b)
				byLogin(t, s, "bob@example.com", &b)
				byLogin(t, s, "alice", &a)
				byLogin(t, s, "alice@example.com", &a)
			})
		}
	})
	t.Run("DeleteFreesUsernameAndEmail", func(t *testing.T) {
		s, ctx := withBoth(t)
		must(t, s.DeleteLocalAccount(ctx, alice().ID), "delete")
		byLogin(t, s, "alice", nil)
		byLogin(t, s, "alice@example.com", nil)
		c := withLogin(local(2), "alice", "alice@example.com")
		must(t, s.CreateLocalAccount(ctx, c), "reuse the name and email")
		byLogin(t, s, "ALICE@example.com", &c)
	})
}

func testRefresh(t *testing.T, open opener) {
	withFamily := func(t *testing.T) (store.Store, context.Context, store.RefreshFamily) {
		s, ctx, f := open(t), t.Context(), family(0, "owner")
		must(t, s.CreateRefreshFamily(ctx, f, token(f)), "create family")
		return s, ctx, f
	}
	rotated := func(f store.RefreshFamily, hash string) (store.RefreshFamily, store.RefreshToken) {
		f.Previous, f.Current = f.Current, hash
		f.RotatedAt = f.RotatedAt.Add(time.Minute)
		return f, token(f)
	}
	t.Run("CreateWithoutTokenStoresOnlyTheFamily", func(t *testing.T) {
		s, ctx, f := open(t), t.Context(), family(0, "owner")
		must(t, s.CreateRefreshFamily(ctx, f, store.RefreshToken{FamilyID: f.ID, Expiry: f.Expiry}), "create")
		got, err := s.GetRefreshFamily(ctx, f.ID)
		must(t, err, "get family")
		same(t, "family", got, f)
		_, err = s.GetRefreshToken(ctx, "")
		wantErr(t, err, store.ErrNotFound, "get the empty hash")
		g := family(1, "owner")
		must(t, s.CreateRefreshFamily(ctx, g, store.RefreshToken{FamilyID: g.ID, Expiry: g.Expiry}), "a second tokenless family")
	})
	// A tombstone (a session ended before its tokens existed) is a revoked
	// family without tokens; the create that would start the session must
	// fail on the id alone and store nothing, token included.
	t.Run("CreateOverTombstoneIsAlreadyExists", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		tomb := store.RefreshFamily{ID: "family-0", Revoked: true, RotatedAt: at(0), CreatedAt: at(0), Expiry: future()}
		must(t, s.CreateRefreshFamily(ctx, tomb, store.RefreshToken{FamilyID: tomb.ID}), "create tombstone")
		f := family(0, "owner")
		f.Revoked = false
		wantErr(t, s.CreateRefreshFamily(ctx, f, token(f)), store.ErrAlreadyExists, "create over the tombstone")
		got, err := s.GetRefreshFamily(ctx, tomb.ID)
		must(t, err, "get family")
		same(t, "family", got, tomb)
		_, err = s.GetRefreshToken(ctx, f.Current)
		wantErr(t, err, store.ErrNotFound, "get the refused family's token")
		l, err := s.ListRefreshFamilies(ctx, "owner")
		must(t, err, "list")
		if len(l) != 0 {
			t.Fatalf("the owner lists %d families, want none: the tombstone is nobody's", len(l))
		}
	})
	t.Run("CreateStoresFirstToken", func(t *testing.T) {
		s, ctx, f := withFamily(t)
		got, err := s.GetRefreshToken(ctx, f.Current)
		must(t, err, "get token")
		same(t, "token", got, token(f))
	})
	t.Run("CreateWithTakenTokenIsAlreadyExists", func(t *testing.T) {
		s, ctx, f := withFamily(t)
		g := family(1, "owner")
		g.Current = f.Current
		wantErr(t, s.CreateRefreshFamily(ctx, g, token(g)), store.ErrAlreadyExists, "create")
		_, err := s.GetRefreshFamily(ctx, g.ID)
		wantErr(t, err, store.ErrNotFound, "get the family that failed")
		got, err := s.GetRefreshToken(ctx, f.Current)
		must(t, err, "get token")
		same(t, "token", got, token(f))
	})
	t.Run("RotateStoresFamilyAndToken", func(t *testing.T) {
		s, ctx, f := withFamily(t)
		first := token(f)
		next, tok := rotated(f, "hash-0-1")
		must(t, s.RotateRefresh(ctx, next, tok), "rotate")
		got, err := s.GetRefreshFamily(ctx, f.ID)
		must(t, err, "get family")
		next.Version = 1
		same(t, "family", got, next)
		for _, want := range []store.RefreshToken{first, tok} {
			got, err := s.GetRefreshToken(ctx, want.Hash)
			must(t, err, "get token "+want.Hash)
			same(t, "token", got, want)
		}
	})
	t.Run("RotateWithStaleVersionIsConflict", func(t *testing.T) {
		s, ctx, f := withFamily(t)
		next, tok := rotated(f, "hash-0-1")
		must(t, s.RotateRefresh(ctx, next, tok), "rotate")
		late, lateTok := rotated(f, "hash-0-late")
		wantErr(t, s.RotateRefresh(ctx, late, lateTok), store.ErrConflict, "rotate at version 0 of 1")
		_, err := s.GetRefreshToken(ctx, lateTok.Hash)
		wantErr(t, err, store.ErrNotFound, "get the losing token")
		got, err := s.GetRefreshFamily(ctx, f.ID)
		must(t, err, "get family")
		next.Version = 1
		same(t, "family", got, next)
	})
	t.Run("RotateWithTakenTokenIsAlreadyExists", func(t *testing.T) {
		s, ctx, f := withFamily(t)
		next, tok := rotated(f, f.Current)
		wantErr(t, s.RotateRefresh(ctx, next, tok), store.ErrAlreadyExists, "rotate")
		got, err := s.GetRefreshFamily(ctx, f.ID)
		must(t, err, "get family")
		same(t, "family", got, f)
	})
	t.Run("RotateMissingIsNotFound", func(t *testing.T) {
		s, ctx, f := open(t), t.Context(), family(0, "owner")
		next, tok := rotated(f, "hash-0-1")
		wantErr(t, s.RotateRefresh(ctx, next, tok), store.ErrNotFound, "rotate")
		_, err := s.GetRefreshToken(ctx, tok.Hash)
		wantErr(t, err, store.ErrNotFound, "get token")
	})
	t.Run("GetMissingTokenIsNotFound", func(t *testing.T) {
		s, ctx, _ := withFamily(t)
		_, err := s.GetRefreshToken(ctx, "no-such-hash")
		wantErr(t, err, store.ErrNotFound, "get token")
		tok, fam, err := s.GetRefreshTokenFamily(ctx, "no-such-hash")
		wantErr(t, err, store.ErrNotFound, "get token and family")
		if tok != (store.RefreshToken{}) || fam.ID != "" {
			t.Errorf("a missing token's read gave %+v, %+v; want both zero", tok, fam)
		}
	})
	// GetRefreshTokenFamily reads what GetRefreshToken and
	// GetRefreshFamily read, at one point in time.
	t.Run("GetTokenAndFamily", func(t *testing.T) {
		s, ctx, f := withFamily(t)
		next, tok := rotated(f, "hash-0-1")
		must(t, s.RotateRefresh(ctx, next, tok), "rotate")
		next.Version = 1
		for _, want := range []store.RefreshToken{token(f), tok} { // the rotated-away token names its family too
			gotTok, gotFam, err := s.GetRefreshTokenFamily(ctx, want.Hash)
			must(t, err, "get token and family "+want.Hash)
			same(t, "token", gotTok, want)
			same(t, "family", gotFam, next)
		}
	})
	// A token whose family has expired: the token, a zero family and
	// ErrNotFound, so the caller can tell "expired" from "unknown".
	t.Run("GetTokenOfExpiredFamily", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		f := family(0, "owner")
		f.Expiry = time.Now().Add(-time.Millisecond).Truncate(time.Microsecond)
		tok := token(f)
		tok.Expiry = future()
		must(t, s.CreateRefreshFamily(ctx, f, tok), "create a family already expired")
		gotTok, gotFam, err := s.GetRefreshTokenFamily(ctx, tok.Hash)
		wantErr(t, err, store.ErrNotFound, "get token and family")
		if gotTok.FamilyID != f.ID || gotFam.ID != "" {
			t.Errorf("got %+v, %+v; want the token and a zero family", gotTok, gotFam)
		}
	})
	t.Run("ListIsScopedToOneUser", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		want := map[string][]store.RefreshFamily{}
		for n, uid := range []string{"u1", "u10", "u1/0", "u1", "u"} {
			f := family(n, uid)
			want[uid] = append(want[uid], f)
			must(t, s.CreateRefreshFamily(ctx, f, token(f)), "create")
		}
		for uid, fs := range want {
			l, err := s.ListRefreshFamilies(ctx, uid)
			must(t, err, "list "+uid)
			sameList(t, familyKind, l, fs)
		}
		l, err := s.ListRefreshFamilies(ctx, "nobody")
		must(t, err, "list for a user without families")
		if len(l) != 0 {
			t.Fatalf("list for a user without families: %d", len(l))
		}
	})
}

func testDenied(t *testing.T, open opener) {
	denied := func(t *testing.T, s store.Store, jti string, want bool) {
		t.Helper()
		got, err := s.AccessTokenDenied(t.Context(), jti)
		must(t, err, "denied "+jti)
		if got != want {
			t.Fatalf("AccessTokenDenied(%q) = %v, want %v", jti, got, want)
		}
	}
	t.Run("UnknownIsNotDenied", func(t *testing.T) { denied(t, open(t), "jti-0", false) })
	t.Run("DenyThenDenied", func(t *testing.T) {
		s := open(t)
		must(t, s.DenyAccessToken(t.Context(), "jti-0", future()), "deny")
		denied(t, s, "jti-0", true)
		denied(t, s, "jti-1", false)
	})
	t.Run("DenyTwiceIsFine", func(t *testing.T) {
		s := open(t)
		must(t, s.DenyAccessToken(t.Context(), "jti-0", future()), "deny")
		must(t, s.DenyAccessToken(t.Context(), "jti-0", future()), "deny again")
		denied(t, s, "jti-0", true)
	})
}

func testOpaque(t *testing.T, open opener) {
	tok := func(i int) store.OpaqueToken {
		return store.OpaqueToken{
			Hash: fmt.Sprintf("ohash-%d", i), Subject: "user-1", ClientID: "client-1", Scopes: []string{"openid", "email"},
			FamilyID: "fam-1", Username: "alice", Groups: []string{"admins"}, AMR: []string{"pwd"},
			AuthTime: at(1), IssuedAt: at(2).In(zone), Expiry: future(), Resources: []string{"https://api.example.com/"}, JKT: "jkt-opaque",
		}
	}
	t.Run("CreateThenGetRoundTrips", func(t *testing.T) {
		s, ctx, o := open(t), t.Context(), tok(0)
		must(t, s.CreateOpaqueToken(ctx, o), "create")
		got, err := s.GetOpaqueToken(ctx, o.Hash)
		must(t, err, "get")
		same(t, "opaque token", got, o)
		wantErr(t, s.CreateOpaqueToken(ctx, o), store.ErrAlreadyExists, "create again")
	})
	t.Run("DeleteThenNotFound", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, s.CreateOpaqueToken(ctx, tok(0)), "create")
		must(t, s.CreateOpaqueToken(ctx, tok(1)), "create")
		must(t, s.DeleteOpaqueToken(ctx, tok(0).Hash), "delete")
		_, err := s.GetOpaqueToken(ctx, tok(0).Hash)
		wantErr(t, err, store.ErrNotFound, "get deleted")
		_, err = s.GetOpaqueToken(ctx, tok(1).Hash)
		must(t, err, "get the other")
		wantErr(t, s.DeleteOpaqueToken(ctx, tok(0).Hash), store.ErrNotFound, "delete again")
	})
	t.Run("ExpiredIsNotFound", func(t *testing.T) {
		s, ctx, o := open(t), t.Context(), tok(0)
		o.Expiry = time.Now().Add(-time.Millisecond).Truncate(time.Microsecond)
		must(t, s.CreateOpaqueToken(ctx, o), "create")
		_, err := s.GetOpaqueToken(ctx, o.Hash)
		wantErr(t, err, store.ErrNotFound, "get expired")
	})
}

func auditEvent(n int) store.AuditEvent {
	return store.AuditEvent{
		ID:          fmt.Sprintf("event-%02d", n),
		Time:        at(n).In(zone),
		Type:        "login.success",
		Actor:       fmt.Sprintf("user:user-%d/x", n),
		UserID:      fmt.Sprintf("user-%d/x", n),
		ClientID:    "client-0",
		ConnectorID: "github",
		IP:          "192.0.2.1",
		Details:     map[string]string{"reason": "none", "n": fmt.Sprint(n)},
		Expiry:      future(),
	}
}

func testAudit(t *testing.T, open opener) {
	list := func(t *testing.T, s store.Store, since time.Time, limit int, want ...store.AuditEvent) {
		t.Helper()
		got, err := s.ListAuditEvents(t.Context(), since, limit)
		must(t, err, "list audit events")
		if len(got) != len(want) {
			t.Fatalf("list since %v limit %d: %d events, want %d:\n got  %+v", since, limit, len(got), len(want), got)
		}
		for i := range got {
			same(t, fmt.Sprintf("event %d in order", i), got[i], want[i])
		}
	}
	t.Run("CreateThenListRoundTrips", func(t *testing.T) {
		s, e := open(t), auditEvent(0)
		requireEveryField(t, e)
		must(t, s.CreateAuditEvents(t.Context(), e), "create")
		list(t, s, time.Time{}, 0, e)
	})
	t.Run("ListIsInTimeOrderFromSince", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		// Created out of order, in two batches; 3 and 4 share a time.
		e := make([]store.AuditEvent, 6)
		for n := range e {
			e[n] = auditEvent(n)
		}
		e[4].Time = e[3].Time
		must(t, s.CreateAuditEvents(ctx, e[5], e[1], e[3]), "create a batch")
		must(t, s.CreateAuditEvents(ctx, e[0], e[4], e[2]), "create another")
		list(t, s, time.Time{}, 0, e...)
		list(t, s, e[2].Time, 0, e[2:]...)
		list(t, s, e[2].Time.Add(time.Microsecond), 0, e[3:]...)
		list(t, s, e[1].Time, 3, e[1:4]...)
		list(t, s, at(100), 0)
	})
	t.Run("DuplicateFailsTheWholeBatch", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, s.CreateAuditEvents(ctx, auditEvent(0)), "create")
		wantErr(t, s.CreateAuditEvents(ctx, auditEvent(1), auditEvent(0)), store.ErrAlreadyExists, "create a batch with a duplicate")
		list(t, s, time.Time{}, 0, auditEvent(0))
	})
	t.Run("DuplicateWithinTheBatch", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		wantErr(t, s.CreateAuditEvents(ctx, auditEvent(0), auditEvent(1), auditEvent(0)), store.ErrAlreadyExists,
			"create a batch with one event twice")
		list(t, s, time.Time{}, 0)
		must(t, s.CreateAuditEvents(ctx, auditEvent(0), auditEvent(1), auditEvent(2)), "create the batch without it")
		list(t, s, time.Time{}, 0, auditEvent(0), auditEvent(1), auditEvent(2))
	})
	t.Run("ExpiredIsNotListed", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		old, live := auditEvent(0), auditEvent(1)
		old.Expiry = time.Now().Add(-time.Millisecond).Truncate(time.Microsecond)
		must(t, s.CreateAuditEvents(ctx, old, live), "create")
		list(t, s, time.Time{}, 0, live)
	})
	t.Run("ReturnedEventsAreCopies", func(t *testing.T) {
		s, ctx, e := open(t), t.Context(), auditEvent(0)
		must(t, s.CreateAuditEvents(ctx, e), "create")
		e.Details["reason"] = "changed by the caller after create"
		got, err := s.ListAuditEvents(ctx, time.Time{}, 0)
		must(t, err, "list")
		got[0].Details["reason"] = "changed by the caller after list"
		list(t, s, time.Time{}, 0, auditEvent(0))
	})
}

func testKeys(t *testing.T, open opener) {
	t.Run("EmptyStoreIsVersionZero", func(t *testing.T) {
		got, err := open(t).GetKeys(t.Context())
		must(t, err, "get keys")
		same(t, "keys", got, store.KeySet{})
	})
	t.Run("VersionZeroCreatesThenCompareAndSwap", func(t *testing.T) {
		s, ctx, ks := open(t), t.Context(), keySet(0)
		requireEveryField(t, ks.Keys[0])
		must(t, s.UpdateKeys(ctx, ks), "create at version 0")
		got, err := s.GetKeys(ctx)
		must(t, err, "get keys")
		ks.Version = 1
		same(t, "keys after create", got, ks)

		for _, v := range []int64{0, 2} {
			stale := keySet(1)
			stale.Version = v
			wantErr(t, s.UpdateKeys(ctx, stale), store.ErrConflict, fmt.Sprintf("update at version %d of 1", v))
		}
		next := keySet(1)
		next.Version = 1
		must(t, s.UpdateKeys(ctx, next), "update at version 1")
		got, err = s.GetKeys(ctx)
		must(t, err, "get keys")
		next.Version = 2
		same(t, "keys after update", got, next)
	})
	t.Run("OtherVersionOnEmptyStoreIsConflict", func(t *testing.T) {
		s, ctx, ks := open(t), t.Context(), keySet(0)
		ks.Version = 1
		wantErr(t, s.UpdateKeys(ctx, ks), store.ErrConflict, "update at version 1 of none")
		got, err := s.GetKeys(ctx)
		must(t, err, "get keys")
		same(t, "keys", got, store.KeySet{})
	})
	t.Run("ReturnedKeysAreCopies", func(t *testing.T) {
		s, ctx, ks := open(t), t.Context(), keySet(0)
		must(t, s.UpdateKeys(ctx, ks), "create")
		ks.Keys[0].PrivateJWK[0] = 'X'
		got, err := s.GetKeys(ctx)
		must(t, err, "get keys")
		got.Keys[0].PrivateJWK[0], got.Keys[0].ID = 'Y', "changed"
		got, err = s.GetKeys(ctx)
		must(t, err, "get keys again")
		want := keySet(0)
		want.Version = 1
		same(t, "keys", got, want)
	})
}

// testExpiry stores records whose Expiry has passed, long ago or a moment
// ago; the latter catches backends that rely on a TTL of coarse granularity.
func testExpiry(t *testing.T, open opener) {
	for _, past := range []struct {
		name string
		d    time.Duration
	}{{"LongPast", -time.Hour}, {"JustPast", -time.Millisecond}} {
		expiry := func() time.Time { return time.Now().Add(past.d).Truncate(time.Microsecond) }
		t.Run(past.name, func(t *testing.T) {
			t.Run("AuthRequest", func(t *testing.T) {
				s, ctx, r := open(t), t.Context(), authRequest(0)
				r.Expiry = expiry()
				must(t, s.CreateAuthRequest(ctx, r), "create")
				_, err := s.GetAuthRequest(ctx, r.ID)
				wantErr(t, err, store.ErrNotFound, "get")
			})
			t.Run("AuthCode", func(t *testing.T) {
				s, ctx, c := open(t), t.Context(), authCode(0)
				c.Expiry = expiry()
				must(t, s.CreateAuthCode(ctx, c), "create")
				_, err := s.GetAuthCode(ctx, c.ID)
				wantErr(t, err, store.ErrNotFound, "get")
				c.Used = false
				wantErr(t, s.UpdateAuthCode(ctx, c), store.ErrNotFound, "update")
			})
			t.Run("RefreshFamily", func(t *testing.T) {
				s, ctx, f := open(t), t.Context(), family(0, "owner")
				f.Expiry = expiry()
				must(t, s.CreateRefreshFamily(ctx, f, token(f)), "create")
				_, err := s.GetRefreshFamily(ctx, f.ID)
				wantErr(t, err, store.ErrNotFound, "get")
				_, err = s.GetRefreshToken(ctx, f.Current)
				wantErr(t, err, store.ErrNotFound, "get token")
				l, err := s.ListRefreshFamilies(ctx, f.UserID)
				must(t, err, "list")
				if len(l) != 0 {
					t.Fatalf("list returned %d expired families", len(l))
				}
				f.Revoked = false
				wantErr(t, s.UpdateRefreshFamily(ctx, f), store.ErrNotFound, "update")
				f.Current = "hash-0-1"
				wantErr(t, s.RotateRefresh(ctx, f, token(f)), store.ErrNotFound, "rotate")
			})
			t.Run("RefreshToken", func(t *testing.T) {
				s, ctx, f := open(t), t.Context(), family(0, "owner")
				tok := token(f)
				tok.Expiry = expiry()
				must(t, s.CreateRefreshFamily(ctx, f, tok), "create")
				_, err := s.GetRefreshToken(ctx, tok.Hash)
				wantErr(t, err, store.ErrNotFound, "get token")
				_, err = s.GetRefreshFamily(ctx, f.ID)
				must(t, err, "get the family, which has not expired")
			})
			t.Run("DeniedAccessToken", func(t *testing.T) {
				s, ctx := open(t), t.Context()
				must(t, s.DenyAccessToken(ctx, "jti-0", expiry()), "deny")
				got, err := s.AccessTokenDenied(ctx, "jti-0")
				must(t, err, "denied")
				if got {
					t.Fatal("an expired denial still denies")
				}
			})
		})
	}
}

const racers = 8

// race runs f in racers goroutines released at once and checks that exactly
// one returned nil and the others ErrConflict; it returns the winner.
func race(t *testing.T, f func(i int) error) int {
	t.Helper()
	start := make(chan struct{})
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() { <-start; errs[i] = f(i) })
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("racers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("racer %d: %v, want nil or %v", i, err, store.ErrConflict)
		}
	}
	if winner < 0 {
		t.Fatal("every racer lost")
	}
	return winner
}

func testConcurrency(t *testing.T, open opener) {
	const rounds = 3
	t.Run("RotateRefreshHasOneWinner", func(t *testing.T) {
		s, ctx, f := open(t), t.Context(), family(0, "owner")
		must(t, s.CreateRefreshFamily(ctx, f, token(f)), "create")
		for round := range rounds {
			read, err := s.GetRefreshFamily(ctx, f.ID)
			must(t, err, "get family")
			next := func(i int) store.RefreshFamily {
				g := read
				g.Previous, g.Current = read.Current, fmt.Sprintf("race-%d-%d", round, i)
				return g
			}
			w := race(t, func(i int) error { return s.RotateRefresh(ctx, next(i), token(next(i))) })
			got, err := s.GetRefreshFamily(ctx, f.ID)
			must(t, err, "get family")
			want := next(w)
			want.Version = read.Version + 1
			same(t, "family", got, want)
			for i := range racers {
				_, err := s.GetRefreshToken(ctx, next(i).Current)
				if i == w {
					must(t, err, "get the winner's token")
				} else {
					wantErr(t, err, store.ErrNotFound, "get a loser's token")
				}
			}
		}
	})
	t.Run("UpdateUserHasOneWinner", func(t *testing.T) {
		s, ctx, u := open(t), t.Context(), user(0)
		must(t, s.CreateUser(ctx, u), "create")
		for round := range rounds {
			read, err := s.GetUser(ctx, u.ID)
			must(t, err, "get user")
			next := func(i int) store.User {
				v := read
				v.Name = fmt.Sprintf("racer %d of round %d", i, round)
				return v
			}
			w := race(t, func(i int) error { return s.UpdateUser(ctx, next(i)) })
			got, err := s.GetUser(ctx, u.ID)
			must(t, err, "get user")
			want := next(w)
			want.Version = read.Version + 1
			same(t, "user", got, want)
		}
	})
	t.Run("UpdateKeysHasOneWinner", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		for round := range rounds { // round 0 races to create the set
			read, err := s.GetKeys(ctx)
			must(t, err, "get keys")
			next := func(i int) store.KeySet {
				ks := keySet(round*racers + i)
				ks.Version = read.Version
				return ks
			}
			w := race(t, func(i int) error { return s.UpdateKeys(ctx, next(i)) })
			got, err := s.GetKeys(ctx)
			must(t, err, "get keys")
			want := next(w)
			want.Version = read.Version + 1
			same(t, "keys", got, want)
		}
	})
}

// Fixtures. Every field is set (requireEveryField checks), so a field added
// to a record later fails the round trip until its fixture sets it. IDs hold
// separators that a backend might use inside its keys.

var (
	// created has microseconds, the precision a backend must keep.
	created = time.Date(2025, 3, 1, 12, 30, 45, 123456000, time.UTC)
	// Some times are in another zone: the instant must survive, the zone need not.
	zone = time.FixedZone("UTC+05:30", 5*3600+30*60)
)

func at(n int) time.Time { return created.Add(time.Duration(n)*time.Hour + 7*time.Microsecond) }

// future is an Expiry that no test outlives; fixed, so fixtures compare equal.
var future = sync.OnceValue(func() time.Time { return time.Now().Add(24 * time.Hour).Truncate(time.Microsecond) })

func user(n int) store.User {
	return store.User{
		ID:                fmt.Sprintf("user-%d/x", n),
		Username:          fmt.Sprintf("user%d", n),
		Email:             fmt.Sprintf("User%d@Example.com", n),
		EmailVerified:     true,
		Name:              fmt.Sprintf("User %d", n),
		Groups:            []string{"admins", fmt.Sprintf("team-%d", n)},
		Attributes:        map[string][]string{"department": {fmt.Sprintf("dept-%d", n)}, "teams": {"a", "b"}},
		LocalGroups:       []string{"local-admins", fmt.Sprintf("local-%d", n)},
		ProvisionedGroups: []string{"scim-eng", fmt.Sprintf("scim-%d", n)},
		Roles:             []string{"auditor", fmt.Sprintf("role-%d", n)},
		Disabled:          true,
		CreatedAt:         created,
		LastLogin:         at(n).In(zone),
	}
}

func identity(n int, userID string) store.Identity {
	return store.Identity{
		ConnectorID:   "github",
		Subject:       fmt.Sprintf("sub-%d", n),
		UserID:        userID,
		Username:      fmt.Sprintf("gh%d", n),
		Email:         fmt.Sprintf("gh%d@example.com", n),
		EmailVerified: true,
		Name:          fmt.Sprintf("GitHub %d", n),
		Groups:        []string{"org/team", fmt.Sprintf("org/t%d", n)},
		Attributes:    map[string][]string{"dept": {"eng", "ops"}, "n": {fmt.Sprint(n)}},
		ConnectorData: []byte{0, 1, 0xff, '{', byte(n)},
		VerifiedEmail: fmt.Sprintf("GH%d@Example.com", n),
		LastSeen:      at(n).In(zone),
	}
}

func local(n int) store.LocalAccount {
	return store.LocalAccount{
		ID:            fmt.Sprintf("local-%d", n),
		Username:      fmt.Sprintf("user%d", n),
		Email:         fmt.Sprintf("User%d@Example.com", n),
		EmailVerified: true,
		Name:          fmt.Sprintf("Local %d", n),
		Groups:        []string{"staff", fmt.Sprintf("g%d", n)},
		PasswordHash:  "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g",
		CreatedAt:     at(n),
	}
}

func client(n int) store.Client {
	return store.Client{
		ID:           fmt.Sprintf("client-%d", n),
		Name:         fmt.Sprintf("Client %d", n),
		SecretHash:   "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$c2VjcmV0",
		Public:       true,
		RedirectURIs: []string{fmt.Sprintf("https://app%d.example.com/cb", n), "http://127.0.0.1/cb"},
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		Scopes:       []string{"openid", "email"},
		ExtraScopes:  []string{"department", fmt.Sprintf("scope-%d", n)},

		PostLogoutRedirectURIs: []string{fmt.Sprintf("https://app%d.example.com/bye", n)},
		NoIntrospection:        true,
		IntrospectAny:          true,
		Consent:                true,
		TokenFormat:            "opaque",
		AccessTokenTTL:         5 * time.Minute,
		IDTokenTTL:             6 * time.Minute,
		RefreshIdleTTL:         7 * time.Hour,
		RefreshAbsoluteTTL:     8 * time.Hour,
		RefreshReuseGrace:      9 * time.Second,
		IDTokenAlg:             "ES256",
		Resources:              []string{"https://api.example.com/"},
		ResourceURIs:           []string{fmt.Sprintf("https://rs%d.example.com/", n)},
		AuthMethod:             "private_key_jwt",
		JWKS:                   json.RawMessage(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`),
		JWKSURI:                fmt.Sprintf("https://app%d.example.com/jwks", n),
		JWTSecret:              fmt.Sprintf("jwt-secret-%d", n),
		TokenExchange: &store.ClientExchange{Issuers: []string{"k8s"}, Delegation: true,
			DelegationFrom: []string{"client-9"}, Audiences: []string{"orders"}},
		Registration: &store.ClientRegistration{
			AccessTokenHash: fmt.Sprintf("sha256:reg-%d", n), IssuedAt: at(n), AuthMethod: "client_secret_post",
		},
		// Back-channel logout.
		BackchannelLogoutURI:             fmt.Sprintf("https://app%d.example.com/backchannel", n),
		BackchannelLogoutSessionRequired: true,
		// Pushed and signed authorization requests.
		RequirePushedAuthorizationRequests: true,
		RequireSignedRequestObject:         true,
		// DPoP and the FAPI 2.0 profile.
		DPoPBoundAccessTokens: true,
		Profile:               "fapi2",
		CreatedAt:             time.Date(2026, 12, 7, 20, 0, n, 0, time.UTC),
	}
}

func authRequest(n int) store.AuthRequest {
	return store.AuthRequest{
		ID:                  fmt.Sprintf("authreq-%d", n),
		ClientID:            "client-0",
		RedirectURI:         "https://app.example.com/cb",
		RedirectURIOmitted:  true,
		Scopes:              []string{"openid", "profile"},
		State:               fmt.Sprintf("state-%d", n),
		Nonce:               fmt.Sprintf("nonce-%d", n),
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		ResponseMode:        "form_post",
		Resources:           []string{"https://api.example.com/"},
		CSRFToken:           fmt.Sprintf("csrf-%d", n),
		BrowserHash:         fmt.Sprintf("browser-%d", n),
		ConnectorID:         "upstream",
		ConnectorData:       []byte{0, 1, 2, byte(n)},
		Prompt:              []string{"login", "consent"},
		MaxAge:              int64(300 + n),
		ACRValues:           []string{"urn:portico:mfa"},
		UILocales:           "de-AT en",
		HintSubject:         "user-0/x",
		LinkUserID:          fmt.Sprintf("link-user-%d", n),
		Step:                "/mfa",
		NoSession:           true,
		UserID:              fmt.Sprintf("user-%d", n),
		AuthTime:            at(3).In(zone),
		AMR:                 []string{"pwd", "otp"},
		DeviceKey:           fmt.Sprintf("device-%d", n),
		DeviceUserCode:      "BCDF-GHJK",
		DPoPJKT:             fmt.Sprintf("jkt-%d", n),
		Expiry:              future().In(zone),
	}
}

func authCode(n int) store.AuthCode {
	return store.AuthCode{
		ID:                  fmt.Sprintf("code-%d", n),
		ClientID:            "client-0",
		RedirectURI:         "https://app.example.com/cb",
		RedirectURIOmitted:  true,
		UserID:              "user-0/x",
		ConnectorID:         "github",
		Scopes:              []string{"openid", "offline_access"},
		Nonce:               fmt.Sprintf("nonce-%d", n),
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		AuthTime:            at(n),
		AMR:                 []string{"pwd", "mfa"},
		Resources:           []string{"https://api.example.com/"},
		Used:                true,
		FamilyID:            fmt.Sprintf("family-%d", n),
		AccessJTIs:          []string{fmt.Sprintf("jti-%d", n)},
		IssuedAt:            at(n).Add(time.Minute),
		DPoPJKT:             fmt.Sprintf("jkt-%d", n),
		Expiry:              future(),
	}
}

func family(n int, userID string) store.RefreshFamily {
	return store.RefreshFamily{
		ID:          fmt.Sprintf("family-%d", n),
		UserID:      userID,
		ClientID:    "client-0",
		ConnectorID: "github",
		Scopes:      []string{"openid", "offline_access"},
		Resources:   []string{"https://api.example.com/", fmt.Sprintf("https://api%d.example.com/", n)},
		AuthTime:    at(n),
		AMR:         []string{"pwd"},
		Current:     fmt.Sprintf("hash-%d-0", n),
		Previous:    fmt.Sprintf("hash-%d-prev", n),
		RotatedAt:   at(n).Add(time.Minute).In(zone),
		// The rotation that retired Previous, before the grace reuse that
		// made Current (RotatedAt).
		PreviousRetiredAt: at(n).Add(30 * time.Second).In(zone),
		GraceUsed:         true,
		JKT:               fmt.Sprintf("jkt-%d", n),
		Revoked:           true,
		CreatedAt:         at(n),
		Expiry:            future(),
	}
}

// token is the refresh token that is f's Current.
func token(f store.RefreshFamily) store.RefreshToken {
	return store.RefreshToken{Hash: f.Current, FamilyID: f.ID, Expiry: f.Expiry}
}

func keySet(n int) store.KeySet {
	var ks store.KeySet
	for i := range 2 {
		ks.Keys = append(ks.Keys, store.SigningKey{
			ID:         fmt.Sprintf("key-%d-%d", n, i),
			Alg:        "ES256",
			PrivateJWK: []byte(fmt.Sprintf(`{"kty":"EC","kid":"key-%d-%d"}`, n, i)),
			CreatedAt:  at(i),
			ActiveFrom: at(i + 1).In(zone),
			RetiredAt:  at(i + 2),
		})
	}
	return ks
}

var userKind = kind[store.User]{
	fixture: user,
	id:      func(u store.User) string { return u.ID },
	create:  func(ctx context.Context, s store.Store, u store.User) error { return s.CreateUser(ctx, u) },
	get: func(ctx context.Context, s store.Store, u store.User) (store.User, error) {
		return s.GetUser(ctx, u.ID)
	},
	list:   func(ctx context.Context, s store.Store) ([]store.User, error) { return s.ListUsers(ctx) },
	update: func(ctx context.Context, s store.Store, u store.User) error { return s.UpdateUser(ctx, u) },
	del:    func(ctx context.Context, s store.Store, u store.User) error { return s.DeleteUser(ctx, u.ID) },
	edit: func(u store.User) store.User {
		u.Name += " (edited)"
		u.Groups = slices.Concat(u.Groups, []string{"edited"})
		u.Roles = slices.Concat(u.Roles, []string{"edited"})
		u.Attributes = map[string][]string{"edited": {"yes"}}
		u.Disabled = !u.Disabled
		u.LastLogin = u.LastLogin.Add(time.Hour)
		return u
	},
	version: func(u *store.User) *int64 { return &u.Version },
	strs:    func(u *store.User) []string { return u.Groups },
}

const owner = "owner"

var identityKind = kind[store.Identity]{
	setup: func(t *testing.T, s store.Store) {
		u := user(0)
		u.ID = owner
		must(t, s.CreateUser(t.Context(), u), "create the identities' user")
	},
	fixture: func(n int) store.Identity { return identity(n, owner) },
	id:      func(i store.Identity) string { return i.ConnectorID + "\x00" + i.Subject },
	create:  func(ctx context.Context, s store.Store, i store.Identity) error { return s.CreateIdentity(ctx, i) },
	get: func(ctx context.Context, s store.Store, i store.Identity) (store.Identity, error) {
		return s.GetIdentity(ctx, i.ConnectorID, i.Subject)
	},
	list: func(ctx context.Context, s store.Store) ([]store.Identity, error) {
		return s.ListIdentities(ctx, owner)
	},
	update: func(ctx context.Context, s store.Store, i store.Identity) error { return s.UpdateIdentity(ctx, i) },
	edit: func(i store.Identity) store.Identity {
		i.Name += " (edited)"
		i.Groups = slices.Concat(i.Groups, []string{"edited"})
		i.Attributes = map[string][]string{"edited": {"yes"}}
		i.ConnectorData = []byte("edited")
		i.VerifiedEmail = "edited-" + i.VerifiedEmail
		i.LastSeen = i.LastSeen.Add(time.Hour)
		return i
	},
	version: func(i *store.Identity) *int64 { return &i.Version },
	strs:    func(i *store.Identity) []string { return i.Groups },
}

var localKind = kind[store.LocalAccount]{
	fixture: local,
	id:      func(a store.LocalAccount) string { return a.ID },
	create: func(ctx context.Context, s store.Store, a store.LocalAccount) error {
		return s.CreateLocalAccount(ctx, a)
	},
	get: func(ctx context.Context, s store.Store, a store.LocalAccount) (store.LocalAccount, error) {
		return s.GetLocalAccount(ctx, a.ID)
	},
	list: func(ctx context.Context, s store.Store) ([]store.LocalAccount, error) {
		return s.ListLocalAccounts(ctx)
	},
	update: func(ctx context.Context, s store.Store, a store.LocalAccount) error {
		return s.UpdateLocalAccount(ctx, a)
	},
	del: func(ctx context.Context, s store.Store, a store.LocalAccount) error {
		return s.DeleteLocalAccount(ctx, a.ID)
	},
	// edit renames too, so a duplicate create collides on the id alone.
	edit: func(a store.LocalAccount) store.LocalAccount {
		a.Username += "-edited"
		a.Email = "edited-" + a.Email
		a.Name += " (edited)"
		a.Groups = slices.Concat(a.Groups, []string{"edited"})
		a.PasswordHash += "-edited"
		return a
	},
	version: func(a *store.LocalAccount) *int64 { return &a.Version },
	strs:    func(a *store.LocalAccount) []string { return a.Groups },
}

// withLogin returns a with another username and email.
func withLogin(a store.LocalAccount, username, email string) store.LocalAccount {
	a.Username, a.Email = username, email
	return a
}

var clientKind = kind[store.Client]{
	fixture: client,
	id:      func(c store.Client) string { return c.ID },
	create:  func(ctx context.Context, s store.Store, c store.Client) error { return s.CreateClient(ctx, c) },
	get: func(ctx context.Context, s store.Store, c store.Client) (store.Client, error) {
		return s.GetClient(ctx, c.ID)
	},
	list:   func(ctx context.Context, s store.Store) ([]store.Client, error) { return s.ListClients(ctx) },
	update: func(ctx context.Context, s store.Store, c store.Client) error { return s.UpdateClient(ctx, c) },
	del:    func(ctx context.Context, s store.Store, c store.Client) error { return s.DeleteClient(ctx, c.ID) },
	edit: func(c store.Client) store.Client {
		c.Name += " (edited)"
		c.RedirectURIs = slices.Concat(c.RedirectURIs, []string{"https://edited.example.com/cb"})
		c.Public = !c.Public
		return c
	},
	version: func(c *store.Client) *int64 { return &c.Version },
	strs:    func(c *store.Client) []string { return c.RedirectURIs },
}

var authRequestKind = kind[store.AuthRequest]{
	fixture: authRequest,
	id:      func(r store.AuthRequest) string { return r.ID },
	create: func(ctx context.Context, s store.Store, r store.AuthRequest) error {
		return s.CreateAuthRequest(ctx, r)
	},
	get: func(ctx context.Context, s store.Store, r store.AuthRequest) (store.AuthRequest, error) {
		return s.GetAuthRequest(ctx, r.ID)
	},
	del: func(ctx context.Context, s store.Store, r store.AuthRequest) error {
		return s.DeleteAuthRequest(ctx, r.ID)
	},
	update: func(ctx context.Context, s store.Store, r store.AuthRequest) error {
		return s.UpdateAuthRequest(ctx, r)
	},
	edit: func(r store.AuthRequest) store.AuthRequest {
		r.State += "-edited"
		r.ConnectorData = append(r.ConnectorData, 9)
		return r
	},
	version: func(r *store.AuthRequest) *int64 { return &r.Version },
	strs:    func(r *store.AuthRequest) []string { return r.Scopes },
}

var authCodeKind = kind[store.AuthCode]{
	fixture: authCode,
	id:      func(c store.AuthCode) string { return c.ID },
	create:  func(ctx context.Context, s store.Store, c store.AuthCode) error { return s.CreateAuthCode(ctx, c) },
	get: func(ctx context.Context, s store.Store, c store.AuthCode) (store.AuthCode, error) {
		return s.GetAuthCode(ctx, c.ID)
	},
	update: func(ctx context.Context, s store.Store, c store.AuthCode) error { return s.UpdateAuthCode(ctx, c) },
	edit: func(c store.AuthCode) store.AuthCode {
		c.Used = !c.Used
		c.FamilyID += "-edited"
		c.AccessJTIs = slices.Concat(c.AccessJTIs, []string{"jti-edited"})
		return c
	},
	version: func(c *store.AuthCode) *int64 { return &c.Version },
	strs:    func(c *store.AuthCode) []string { return c.Scopes },
}

var familyKind = kind[store.RefreshFamily]{
	fixture: func(n int) store.RefreshFamily { return family(n, owner) },
	id:      func(f store.RefreshFamily) string { return f.ID },
	create: func(ctx context.Context, s store.Store, f store.RefreshFamily) error {
		return s.CreateRefreshFamily(ctx, f, token(f))
	},
	get: func(ctx context.Context, s store.Store, f store.RefreshFamily) (store.RefreshFamily, error) {
		return s.GetRefreshFamily(ctx, f.ID)
	},
	list: func(ctx context.Context, s store.Store) ([]store.RefreshFamily, error) {
		return s.ListRefreshFamilies(ctx, owner)
	},
	update: func(ctx context.Context, s store.Store, f store.RefreshFamily) error {
		return s.UpdateRefreshFamily(ctx, f)
	},
	// edit takes a new token hash, so a duplicate create collides on the id alone.
	edit: func(f store.RefreshFamily) store.RefreshFamily {
		f.Previous, f.Current = f.Current, f.Current+"-edited"
		f.Revoked = !f.Revoked
		f.Scopes = slices.Concat(f.Scopes, []string{"edited"})
		return f
	},
	version: func(f *store.RefreshFamily) *int64 { return &f.Version },
	strs:    func(f *store.RefreshFamily) []string { return f.Scopes },
}

// Assertions.

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// requireEveryField fails when a fixture leaves a field zero, so the round
// trip covers it. Version is zero by design.
func requireEveryField(t *testing.T, r any) {
	t.Helper()
	v := reflect.ValueOf(r)
	for i := range v.NumField() {
		// Unexported fields are the caller's scratch (RefreshFamily's
		// presented token): no store keeps them.
		if f := v.Type().Field(i); f.IsExported() && f.Name != "Version" && v.Field(i).IsZero() {
			t.Fatalf("fixture %T leaves %s zero: set it so the round trip covers it", r, f.Name)
		}
	}
}

// same compares whole records after canon: times as UTC instants, nil and
// empty slices and maps alike.
func same[R any](t *testing.T, what string, got, want R) {
	t.Helper()
	g, w := canon(reflect.ValueOf(got)).Interface(), canon(reflect.ValueOf(want)).Interface()
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, g, w)
	}
}

func sameList[R any](t *testing.T, k kind[R], got, want []R) {
	t.Helper()
	byID := func(a, b R) int { return cmp.Compare(k.id(a), k.id(b)) }
	got, want = slices.Clone(got), slices.Clone(want)
	slices.SortFunc(got, byID)
	slices.SortFunc(want, byID)
	if len(got) != len(want) {
		t.Fatalf("list: %d records, want %d:\n got  %+v\n want %+v", len(got), len(want), got, want)
	}
	for i := range got {
		same(t, fmt.Sprintf("list record %s", k.id(want[i])), got[i], want[i])
	}
}

var timeType = reflect.TypeFor[time.Time]()

// canon returns a deep copy of v with every time in UTC without a monotonic
// reading and every empty slice or map nil.
func canon(v reflect.Value) reflect.Value {
	switch {
	case v.Type() == timeType:
		return reflect.ValueOf(v.Interface().(time.Time).UTC())
	case v.Kind() == reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				out.Field(i).Set(canon(v.Field(i)))
			}
		}
		return out
	case v.Kind() == reflect.Slice:
		if v.Len() == 0 {
			return reflect.Zero(v.Type())
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(canon(v.Index(i)))
		}
		return out
	case v.Kind() == reflect.Map:
		if v.Len() == 0 {
			return reflect.Zero(v.Type())
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), canon(it.Value()))
		}
		return out
	}
	return v
}
