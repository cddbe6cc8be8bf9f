package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/store"
)

// testReadAhead: with a store.ReadAhead in the context,
// GetRefreshTokenFamily reads the family's user, identities and local
// accounts in the same read; the context's next GetUserIdentities and
// GetLocalAccount of them are served from it, once, as of that read.
func testReadAhead(t *testing.T, open opener) {
	// setup stores user 0 with a GitHub identity and a local one (whose
	// subject is local account 0), local account 1 linked to nobody, and
	// a family of user 0.
	setup := func(t *testing.T) (store.Store, store.User, store.RefreshFamily) {
		t.Helper()
		s, ctx := open(t), t.Context()
		u := user(0)
		loc := store.Identity{ConnectorID: "local", Subject: local(0).ID, UserID: u.ID, Username: "user0"}
		must(t, s.CreateUser(ctx, u, identity(0, u.ID), loc), "create user")
		must(t, s.CreateLocalAccount(ctx, local(0)), "create local account 0")
		must(t, s.CreateLocalAccount(ctx, local(1)), "create local account 1")
		f := family(0, u.ID)
		must(t, s.CreateRefreshFamily(ctx, f, token(f)), "create family")
		return s, u, f
	}
	t.Run("ServesTheNextReadsOnce", func(t *testing.T) {
		s, u, f := setup(t)
		wantUser, wantIDs, err := s.GetUserIdentities(t.Context(), u.ID)
		must(t, err, "read the user")
		wantAcct, err := s.GetLocalAccount(t.Context(), local(0).ID)
		must(t, err, "read local account 0")

		ctx := store.WithReadAhead(t.Context())
		_, gotFam, err := s.GetRefreshTokenFamily(ctx, f.Current)
		must(t, err, "get token and family, reading ahead")
		same(t, "family", gotFam, f)
		// Another request changes both; this one's next reads are of the
		// family's read, its reads after them of the store.
		changed := wantUser
		changed.Name = "Renamed"
		must(t, s.UpdateUser(t.Context(), changed), "update the user")
		acct := wantAcct
		acct.Name = "Renamed"
		must(t, s.UpdateLocalAccount(t.Context(), acct), "update local account 0")

		gotUser, gotIDs, err := s.GetUserIdentities(ctx, u.ID)
		must(t, err, "GetUserIdentities read ahead")
		same(t, "user read ahead", gotUser, wantUser)
		sameList(t, identityKind, gotIDs, wantIDs)
		gotAcct, err := s.GetLocalAccount(ctx, local(0).ID)
		must(t, err, "GetLocalAccount read ahead")
		same(t, "local account read ahead", gotAcct, wantAcct)

		gotUser, _, err = s.GetUserIdentities(ctx, u.ID)
		must(t, err, "GetUserIdentities again")
		if gotUser.Name != "Renamed" || gotUser.Version != 1 {
			t.Errorf("the second read got %q version %d, want the store's: Renamed, 1", gotUser.Name, gotUser.Version)
		}
		gotAcct, err = s.GetLocalAccount(ctx, local(0).ID)
		must(t, err, "GetLocalAccount again")
		if gotAcct.Name != "Renamed" || gotAcct.Version != 1 {
			t.Errorf("the second read got %q version %d, want the store's: Renamed, 1", gotAcct.Name, gotAcct.Version)
		}
	})
	t.Run("OtherRecordsFromTheStore", func(t *testing.T) {
		s, u, f := setup(t)
		other := user(1)
		must(t, s.CreateUser(t.Context(), other), "create another user")
		ctx := store.WithReadAhead(t.Context())
		_, _, err := s.GetRefreshTokenFamily(ctx, f.Current)
		must(t, err, "get token and family, reading ahead")
		got, _, err := s.GetUserIdentities(ctx, other.ID)
		must(t, err, "GetUserIdentities of another user")
		same(t, "other user", got, other)
		a, err := s.GetLocalAccount(ctx, local(1).ID)
		must(t, err, "GetLocalAccount of an unlinked account")
		same(t, "local account 1", a, local(1))
		_, err = s.GetLocalAccount(ctx, "no-such-account")
		wantErr(t, err, store.ErrNotFound, "GetLocalAccount of a missing account")
		got, _, err = s.GetUserIdentities(ctx, u.ID)
		must(t, err, "GetUserIdentities of the family's user")
		if got.ID != u.ID {
			t.Errorf("got user %q, want %q", got.ID, u.ID)
		}
	})
	// A read that finds no live token, or a family whose user is gone,
	// reads nothing ahead: the next reads ask the store.
	t.Run("NothingAheadOfAMiss", func(t *testing.T) {
		s, u, _ := setup(t)
		ctx := store.WithReadAhead(t.Context())
		_, _, err := s.GetRefreshTokenFamily(ctx, "no-such-hash")
		wantErr(t, err, store.ErrNotFound, "get a missing token")
		renamed(t, s, ctx, u)

		gone := family(1, "nobody")
		must(t, s.CreateRefreshFamily(t.Context(), gone, token(gone)), "create a family of no user")
		ctx = store.WithReadAhead(t.Context())
		_, _, err = s.GetRefreshTokenFamily(ctx, gone.Current)
		must(t, err, "get the family of no user")
		_, _, err = s.GetUserIdentities(ctx, "nobody")
		wantErr(t, err, store.ErrNotFound, "GetUserIdentities of no user")

		// A live token of an expired family: the token, a zero family and
		// ErrNotFound, as without a ReadAhead.
		old := family(2, u.ID)
		old.Expiry = time.Now().Add(-time.Millisecond).Truncate(time.Microsecond)
		tok := token(old)
		tok.Expiry = future()
		must(t, s.CreateRefreshFamily(t.Context(), old, tok), "create a family already expired")
		ctx = store.WithReadAhead(t.Context())
		gotTok, gotFam, err := s.GetRefreshTokenFamily(ctx, tok.Hash)
		wantErr(t, err, store.ErrNotFound, "get the token of an expired family")
		if gotTok.FamilyID != old.ID || gotFam.ID != "" {
			t.Errorf("got %+v, %+v; want the token and a zero family", gotTok, gotFam)
		}
		renamed(t, s, ctx, u)
	})
}

// renamed renames u in the store and expects ctx's next read of u to see
// it.
func renamed(t *testing.T, s store.Store, ctx context.Context, u store.User) {
	t.Helper()
	cur, err := s.GetUser(t.Context(), u.ID)
	must(t, err, "get user")
	cur.Name = "Renamed"
	must(t, s.UpdateUser(t.Context(), cur), "rename")
	got, _, err := s.GetUserIdentities(ctx, u.ID)
	must(t, err, "GetUserIdentities")
	if got.Name != "Renamed" {
		t.Errorf("read %q, want the store's Renamed", got.Name)
	}
}
