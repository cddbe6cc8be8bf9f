package tokensvc_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/tokensvc"
)

// TestSessionEndedBeforeIssue: a session id handed out with an
// authorization code can be ended before the code is redeemed (logout);
// the redemption's Issue then fails with ErrInvalidGrant, for a session
// with refresh tokens and one without. The tombstone that does it is
// nobody's session and lives PendingSessionTTL.
func TestSessionEndedBeforeIssue(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ttl     time.Duration // Config.PendingSessionTTL
		wantTTL time.Duration
		refresh bool
	}{
		{"default lifetime, refresh", 0, 10 * time.Minute, true},
		{"configured lifetime, no refresh", 7 * time.Minute, 7 * time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			st := memStore(t)
			s := newService(t, st, tokensvc.Config{Now: clk.Now, PendingSessionTTL: tc.ttl})
			ev := recordEvents(s)
			id := tokensvc.NewID()
			for range 2 { // ending it again changes nothing
				if err := s.RevokeFamily(ctx, id); err != nil {
					t.Fatalf("revoke a session not issued yet: %v", err)
				}
			}
			if n := ev.count(tokensvc.EventRevoked); n != 0 {
				t.Errorf("%d revoked events for a session in which nothing was issued", n)
			}
			tomb, err := st.GetRefreshFamily(ctx, id)
			if err != nil {
				t.Fatalf("no tombstone: %v", err)
			}
			if !tomb.Revoked || tomb.UserID != "" || tomb.ClientID != "" || tomb.Current != "" || !tomb.Expiry.Equal(clk.Now().Add(tc.wantTTL)) {
				t.Errorf("tombstone %+v, want revoked, nobody's, no token, expiring in %s", tomb, tc.wantTTL)
			}
			if err := s.SessionAlive(ctx, id); !errors.Is(err, tokensvc.ErrInvalidToken) {
				t.Errorf("SessionAlive of an ended pending session: %v", err)
			}
			_, err = s.Issue(ctx, tokensvc.Grant{Subject: "u", ClientID: "c", Scopes: refreshScopes, Session: true, Refresh: tc.refresh, FamilyID: id})
			if !errors.Is(err, tokensvc.ErrInvalidGrant) {
				t.Fatalf("issue into an ended session: %v, want ErrInvalidGrant", err)
			}
			if l, err := st.ListRefreshFamilies(ctx, "u"); err != nil || len(l) != 0 {
				t.Errorf("families of the user: %d, %v; want none", len(l), err)
			}
		})
	}
}

// TestIssueIntoTakenSession: an id that already names a session cannot
// start another.
func TestIssueIntoTakenSession(t *testing.T) {
	ctx := context.Background()
	s := newService(t, memStore(t), tokensvc.Config{})
	first := issueRefresh(t, s)
	_, err := s.Issue(ctx, tokensvc.Grant{Subject: "v", ClientID: "c", Session: true, FamilyID: first.FamilyID})
	if !errors.Is(err, tokensvc.ErrInvalidGrant) {
		t.Fatalf("issue into a live session: %v, want ErrInvalidGrant", err)
	}
	if err := s.SessionAlive(ctx, first.FamilyID); err != nil {
		t.Errorf("the first session after the refused issue: %v", err)
	}
}

// TestRevokeRacesIssue: however a revocation and the Issue of the same
// pending session interleave, the session ends: either Issue fails, or its
// tokens are dead.
func TestRevokeRacesIssue(t *testing.T) {
	ctx := context.Background()
	s := newService(t, memStore(t), tokensvc.Config{})
	issued := 0
	for range 20 {
		id := tokensvc.NewID()
		grant := tokensvc.Grant{Subject: "u", ClientID: "c", Scopes: refreshScopes, Session: true, Refresh: true, FamilyID: id}
		var (
			tk         tokensvc.Tokens
			ierr, rerr error
			wg         sync.WaitGroup
		)
		start := make(chan struct{})
		wg.Go(func() { <-start; tk, ierr = s.Issue(ctx, grant) })
		wg.Go(func() { <-start; rerr = s.RevokeFamily(ctx, id) })
		close(start)
		wg.Wait()
		if rerr != nil {
			t.Fatalf("revoke: %v", rerr)
		}
		if err := s.SessionAlive(ctx, id); !errors.Is(err, tokensvc.ErrInvalidToken) {
			t.Fatalf("session after the race: %v, want ended", err)
		}
		if ierr != nil {
			if !errors.Is(ierr, tokensvc.ErrInvalidGrant) {
				t.Fatalf("issue: %v, want ErrInvalidGrant", ierr)
			}
			continue
		}
		issued++
		_, verr := s.VerifyAccess(ctx, tk.AccessToken)
		_, redeemed := s.Redeem(ctx, "c", tk.RefreshToken, tokensvc.Policy{})
		if verr == nil || redeemed == nil {
			t.Fatalf("tokens issued in a session revoked at once still work: access %v, refresh %v", verr, redeemed)
		}
	}
	t.Logf("Issue won %d of 20 races", issued)
}

// TestSessionAlive: a live session, a revoked one, and an id no session
// ever had.
func TestSessionAlive(t *testing.T) {
	ctx := context.Background()
	s := newService(t, memStore(t), tokensvc.Config{})
	live := issueRefresh(t, s)
	revoked := issueRefresh(t, s)
	if err := s.RevokeFamily(ctx, revoked.FamilyID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		id    string
		alive bool
	}{
		{"live", live.FamilyID, true},
		{"revoked", revoked.FamilyID, false},
		{"unknown", tokensvc.NewID(), false},
		{"empty", "", false},
	} {
		err := s.SessionAlive(ctx, tc.id)
		if tc.alive && err != nil || !tc.alive && !errors.Is(err, tokensvc.ErrInvalidToken) {
			t.Errorf("%s: %v, want alive %t", tc.name, err, tc.alive)
		}
	}
}

// TestRevokeNoSession: an empty id names no session; ending it lays no
// tombstone.
func TestRevokeNoSession(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	s := newService(t, st, tokensvc.Config{})
	if err := s.RevokeFamily(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetRefreshFamily(ctx, ""); !errors.Is(err, tokensvc.ErrNotFound) {
		t.Errorf("family with the empty id after revoking it: %v, want none", err)
	}
}
