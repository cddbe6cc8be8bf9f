package broker_test

import (
	"context"
	"net/url"
	"sync"
	"testing"

	"github.com/portico-idp/portico/testenv"
)

// TestRacingRefresh: many concurrent exchanges of one refresh token; exactly
// one gets tokens.
func TestRacingRefresh(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	tok, _, err := newRP(t, b).Login(context.Background(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	results := make([]tokenResponse, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret,
				url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, r := range results {
		switch {
		case r.Status == 200:
			ok++
		case r.str("error") != "invalid_grant":
			t.Errorf("loser got %d %v, want invalid_grant", r.Status, r.Body)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d racing refreshes succeeded, want exactly 1", ok, n)
	}
}

// TestRefreshReplayRevokesFamily: presenting a rotated-away refresh token
// ends the family, so the newest token of it stops working too.
func TestRefreshReplayRevokesFamily(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	tok, _, err := newRP(t, b).Login(context.Background(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(rt string) tokenResponse {
		return postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	}
	r1 := refresh(tok.RefreshToken)
	if r1.Status != 200 {
		t.Fatal(r1.Body)
	}
	if r := refresh(tok.RefreshToken); r.str("error") != "invalid_grant" {
		t.Fatalf("replay: %d %v", r.Status, r.Body)
	}
	if r := refresh(r1.str("refresh_token")); r.str("error") != "invalid_grant" {
		t.Errorf("newest token of a replayed family still works: %d %v", r.Status, r.Body)
	}
}

// TestRefreshOfDeletedUser: a refresh for a user whose local account is
// gone fails and ends the family.
func TestRefreshOfDeletedUser(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, testenv.Config(t))
	tok, _, err := newRP(t, b).Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	st := b.Server.Store
	acc, err := st.GetLocalAccountByLogin(ctx, testenv.UserName)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteLocalAccount(ctx, acc.ID); err != nil {
		t.Fatal(err)
	}
	r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	if r.Status != 400 || r.str("error") != "invalid_grant" {
		t.Fatalf("refresh of a deleted account: %d %v", r.Status, r.Body)
	}
}
