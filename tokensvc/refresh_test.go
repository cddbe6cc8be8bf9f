package tokensvc_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/tokensvc"
)

// events records what the service emits.
type events struct {
	mu  sync.Mutex
	evs []tokensvc.Event
}

func recordEvents(s *tokensvc.Service) *events {
	e := &events{}
	s.SetEventHook(func(_ context.Context, ev tokensvc.Event) {
		e.mu.Lock()
		e.evs = append(e.evs, ev)
		e.mu.Unlock()
	})
	return e
}

func (e *events) count(typ string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

var refreshScopes = []string{"openid", "offline_access"}

func issueRefresh(t *testing.T, s *tokensvc.Service) tokensvc.Tokens {
	t.Helper()
	tk, err := s.Issue(context.Background(), tokensvc.Grant{Subject: "u", ClientID: "c", Scopes: refreshScopes, Session: true, Refresh: true})
	if err != nil || tk.RefreshToken == "" {
		t.Fatalf("issue: %v", err)
	}
	return tk
}

// exchange is what the broker's refresh grant does: Redeem, then Rotate.
func exchange(s *tokensvc.Service, token string, p tokensvc.Policy, scopes []string) (tokensvc.Tokens, error) {
	ctx := context.Background()
	f, err := s.Redeem(ctx, "c", token, p)
	if err != nil {
		return tokensvc.Tokens{}, err
	}
	if scopes == nil {
		scopes = f.Scopes
	}
	return s.Rotate(ctx, f, tokensvc.Grant{Scopes: scopes, Policy: p})
}

// TestReuseGrace walks chains of refreshes on an injected clock. Tokens are
// named by the step that got them: "0" is the login's, "1" the first
// refresh's answer, and so on. Each step presents one token some time after
// the step before and gets tokens, a replay (the family revoked, a
// refresh_replay event) or a refusal of the revoked family.
func TestReuseGrace(t *testing.T) {
	const grace = time.Minute
	type step struct {
		after   time.Duration
		present string
		want    string // "ok", "replay" or "revoked"
	}
	for _, tc := range []struct {
		name  string
		grace time.Duration
		steps []step
		alive bool // the family is alive after the last step
	}{
		{"a retry inside the grace continues the chain", grace, []step{
			{0, "0", "ok"}, {10 * time.Second, "0", "ok"}, {0, "2", "ok"},
		}, true},
		{"a retry at the end of the window", grace, []step{
			{0, "0", "ok"}, {grace, "0", "ok"},
		}, true},
		{"a retry after the window is a replay", grace, []step{
			{0, "0", "ok"}, {grace + time.Second, "0", "replay"}, {0, "1", "revoked"},
		}, false},
		{"a second retry is a replay", grace, []step{
			{0, "0", "ok"}, {time.Second, "0", "ok"}, {time.Second, "0", "replay"}, {0, "2", "revoked"},
		}, false},
		// The window counts from the rotation that retired token 0, not
		// from its reuse: 100 s later it is long shut.
		{"a late retry after a reuse is a replay", grace, []step{
			{0, "0", "ok"}, {50 * time.Second, "0", "ok"}, {50 * time.Second, "0", "replay"}, {0, "2", "revoked"},
		}, false},
		// Answer 1 was lost: its token is dropped by the retry.
		{"the lost answer's token is a replay after the retry", grace, []step{
			{0, "0", "ok"}, {time.Second, "0", "ok"}, {time.Second, "1", "replay"}, {0, "2", "revoked"},
		}, false},
		{"an older token than the previous is a replay", grace, []step{
			{0, "0", "ok"}, {time.Second, "1", "ok"}, {time.Second, "0", "replay"},
		}, false},
		// Refreshing the retried chain retires token 2 with a grace of its
		// own, from that rotation.
		{"the next rotation opens a new window", grace, []step{
			{0, "0", "ok"}, {time.Second, "0", "ok"}, {30 * time.Second, "2", "ok"},
			{50 * time.Second, "2", "ok"}, {time.Second, "2", "replay"},
		}, false},
		{"without grace the previous token is a replay", 0, []step{
			{0, "0", "ok"}, {0, "0", "replay"}, {0, "1", "revoked"},
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			s := newService(t, memStore(t), tokensvc.Config{Now: clk.Now, RefreshIdleTTL: time.Hour})
			ev := recordEvents(s)
			p := tokensvc.Policy{RefreshReuseGrace: tc.grace}
			first := issueRefresh(t, s)
			tokens := map[string]string{"0": first.RefreshToken}
			for i, st := range tc.steps {
				clk.Add(st.after)
				replays := ev.count(tokensvc.EventRefreshReplay)
				got, err := exchange(s, tokens[st.present], p, nil)
				replayed := ev.count(tokensvc.EventRefreshReplay) > replays
				switch {
				case st.want == "ok" && err == nil:
					tokens[strconv.Itoa(i+1)] = got.RefreshToken
				case st.want == "ok":
					t.Fatalf("step %d (token %s): %v, want tokens", i+1, st.present, err)
				case err == nil:
					t.Fatalf("step %d (token %s): got tokens, want %s", i+1, st.present, st.want)
				case !errors.Is(err, tokensvc.ErrInvalidGrant):
					t.Fatalf("step %d (token %s): %v, want ErrInvalidGrant", i+1, st.present, err)
				case replayed != (st.want == "replay"):
					t.Fatalf("step %d (token %s): %v; replay event %t, want %s", i+1, st.present, err, replayed, st.want)
				}
			}
			alive := s.SessionAlive(context.Background(), first.FamilyID) == nil
			if alive != tc.alive {
				t.Errorf("family alive %t after the steps, want %t", alive, tc.alive)
			}
		})
	}
}

// TestRefreshBurst: 20 concurrent exchanges of one token on a real store
// get exactly what the grace rule allows, however they interleave, and the
// presentations beyond it are replays that end the family. "Free" lets each
// exchange run through; "redeem all, then rotate" holds every Rotate until
// all 20 Redeems accepted the token, so that 19 rotations lose the
// compare-and-swap and must decide again.
func TestRefreshBurst(t *testing.T) {
	const n = 20
	for _, tc := range []struct {
		name     string
		grace    time.Duration
		previous bool // present the token a first refresh retired
		want     int
	}{
		{"current token without grace", 0, false, 1},
		{"current token with grace", time.Minute, false, 2},
		{"previous token inside its grace", time.Minute, true, 1},
	} {
		for _, barrier := range []bool{false, true} {
			name := tc.name + "/free"
			if barrier {
				name = tc.name + "/redeem all, then rotate"
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				clk := newClock()
				s := newService(t, memStore(t), tokensvc.Config{Now: clk.Now})
				ev := recordEvents(s)
				p := tokensvc.Policy{RefreshReuseGrace: tc.grace}
				tk := issueRefresh(t, s)
				presented := tk.RefreshToken
				if tc.previous {
					if _, err := exchange(s, presented, p, nil); err != nil {
						t.Fatal(err)
					}
				}
				errs := make([]error, n)
				var wg, redeemed sync.WaitGroup
				redeemed.Add(n)
				start := make(chan struct{})
				for i := range n {
					wg.Go(func() {
						<-start
						f, err := s.Redeem(ctx, "c", presented, p)
						redeemed.Done()
						if err != nil {
							errs[i] = err
							return
						}
						if barrier {
							redeemed.Wait()
						}
						_, errs[i] = s.Rotate(ctx, f, tokensvc.Grant{Scopes: f.Scopes, Policy: p})
					})
				}
				close(start)
				wg.Wait()
				ok := 0
				for _, err := range errs {
					switch {
					case err == nil:
						ok++
					case !errors.Is(err, tokensvc.ErrInvalidGrant):
						t.Errorf("loser: %v, want ErrInvalidGrant", err)
					}
				}
				if ok != tc.want {
					t.Errorf("%d of %d concurrent exchanges succeeded, want exactly %d", ok, n, tc.want)
				}
				if err := s.SessionAlive(ctx, tk.FamilyID); !errors.Is(err, tokensvc.ErrInvalidToken) {
					t.Errorf("family after the burst: %v, want it revoked", err)
				}
				if ev.count(tokensvc.EventRefreshReplay) == 0 {
					t.Error("no refresh_replay event for the presentations beyond the rule")
				}
			})
		}
	}
}

// TestRefreshNarrowsResponseOnly: a refresh with fewer scopes gets tokens
// for those, and the family keeps its login's scopes for the next one.
func TestRefreshNarrowsResponseOnly(t *testing.T) {
	ctx := context.Background()
	s := newService(t, memStore(t), tokensvc.Config{})
	tk := issueRefresh(t, s)
	narrow, err := exchange(s, tk.RefreshToken, tokensvc.Policy{}, []string{"openid"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(narrow.Scopes, []string{"openid"}) || narrow.RefreshToken == "" {
		t.Fatalf("narrowed refresh: scopes %v, refresh token %t", narrow.Scopes, narrow.RefreshToken != "")
	}
	a, err := s.VerifyAccess(ctx, narrow.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Scopes, []string{"openid"}) {
		t.Errorf("narrowed access token carries %v", a.Scopes)
	}
	f, err := s.Redeem(ctx, "c", narrow.RefreshToken, tokensvc.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Scopes, refreshScopes) {
		t.Errorf("family scopes after a narrowed refresh: %v, want %v", f.Scopes, refreshScopes)
	}
}

// TestRotateJudgesThePresentation: Rotate decides by the policy and the
// time Redeem judged the token by, so a grace reuse Redeem accepted is not
// turned into a replay by a Grant without the client's policy, nor by the
// window closing while the caller re-checks the user.
func TestRotateJudgesThePresentation(t *testing.T) {
	const grace = time.Minute
	for _, tc := range []struct {
		name   string
		rotate tokensvc.Policy // the Grant's policy
		delay  time.Duration   // between Redeem and Rotate
	}{
		{"grant without the policy", tokensvc.Policy{}, 0},
		{"window closes before Rotate", tokensvc.Policy{RefreshReuseGrace: grace}, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			s := newService(t, memStore(t), tokensvc.Config{Now: clk.Now})
			p := tokensvc.Policy{RefreshReuseGrace: grace}
			tk := issueRefresh(t, s)
			if _, err := exchange(s, tk.RefreshToken, p, nil); err != nil {
				t.Fatal(err)
			}
			clk.Add(grace - time.Second)
			f, err := s.Redeem(ctx, "c", tk.RefreshToken, p)
			if err != nil {
				t.Fatalf("reuse inside the grace: %v", err)
			}
			clk.Add(tc.delay)
			if _, err := s.Rotate(ctx, f, tokensvc.Grant{Scopes: f.Scopes, Policy: tc.rotate}); err != nil {
				t.Errorf("rotate of the accepted reuse: %v", err)
			}
			if err := s.SessionAlive(ctx, tk.FamilyID); err != nil {
				t.Errorf("session after the reuse: %v", err)
			}
		})
	}
}

// TestRotateKeepsABindingARaceMade: two presentations of one unbound
// refresh token race (the reuse grace lets both in); the first binds the
// family to its DPoP key, so the second, without that key, is refused
// rather than given a token outside the binding (RFC 9449 §5).
func TestRotateKeepsABindingARaceMade(t *testing.T) {
	for _, second := range []string{"", "other-key-thumbprint"} {
		ctx := context.Background()
		s := newService(t, memStore(t), tokensvc.Config{})
		p := tokensvc.Policy{RefreshReuseGrace: time.Minute}
		tk := issueRefresh(t, s)
		f1, err := s.Redeem(ctx, "c", tk.RefreshToken, p)
		if err != nil {
			t.Fatal(err)
		}
		f2, err := s.Redeem(ctx, "c", tk.RefreshToken, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctx, f1, tokensvc.Grant{Scopes: f1.Scopes, Policy: p, JKT: "key-thumbprint", BindRefresh: true}); err != nil {
			t.Fatal(err)
		}
		_, err = s.Rotate(ctx, f2, tokensvc.Grant{Scopes: f2.Scopes, Policy: p, JKT: second, BindRefresh: second != ""})
		if !errors.Is(err, tokensvc.ErrInvalidGrant) {
			t.Errorf("second presentation with key %q after the first bound the family: %v", second, err)
		}
	}
}
