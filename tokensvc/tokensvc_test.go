package tokensvc_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portico-idp/portico/broker/store/badger"
	"github.com/portico-idp/portico/tokensvc"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time           { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration)      { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock                    { return &clock{t: time.Now().Truncate(time.Second)} }
func memStore(t testing.TB) *badger.Store { return openStore(t) }

func openStore(t testing.TB) *badger.Store {
	t.Helper()
	st, err := badger.Open(badger.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

const issuer = "https://id.example.com"

func newService(t testing.TB, st tokensvc.Store, cfg tokensvc.Config) *tokensvc.Service {
	t.Helper()
	cfg.Issuer = issuer
	s, err := tokensvc.New(context.Background(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func jwks(t *testing.T, s *tokensvc.Service) map[string]bool {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(s.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS publishes a private key %s", k.KeyID)
		}
		kids[k.KeyID] = true
	}
	return kids
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}

// TestKeyRotation: the next key is published before it signs; after a
// scheduled rotation new tokens use it, tokens of the old key still verify
// until they expire, then the old key leaves the JWKS.
func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	period := 24 * time.Hour
	s := newService(t, memStore(t), tokensvc.Config{SigningAlg: tokensvc.ES256, KeyRotation: period, Now: clk.Now,
		AccessTokenTTL: time.Hour, IDTokenTTL: time.Hour})
	if n := len(jwks(t, s)); n != 2 {
		t.Fatalf("JWKS has %d keys at start, want active + next", n)
	}
	t1, err := s.Issue(ctx, tokensvc.Grant{Subject: "u1", ClientID: "c", Scopes: []string{"openid"}, IDToken: true})
	if err != nil {
		t.Fatal(err)
	}
	k1 := kidOf(t, t1.AccessToken)
	if kidOf(t, t1.IDToken) != k1 || k1 == "" {
		t.Fatal("id_token and access token signed by different or unnamed keys")
	}

	clk.Add(period + time.Second)
	if err := s.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	t2, err := s.Issue(ctx, tokensvc.Grant{Subject: "u1", ClientID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	k2 := kidOf(t, t2.AccessToken)
	if k2 == k1 {
		t.Fatal("scheduled rotation did not change the signing key")
	}
	if kids := jwks(t, s); !kids[k1] || !kids[k2] || len(kids) != 3 {
		t.Fatalf("JWKS after rotation = %v, want old, active and next", kids)
	}

	// Before the old tokens expire they still verify.
	clk.Add(-period + 30*time.Minute - time.Second) // t1 is now 30 minutes old
	if _, err := s.VerifyAccess(ctx, t1.AccessToken); err != nil {
		t.Fatalf("token of the retired key: %v", err)
	}

	// Once every token of the old key has expired, the key is dropped.
	clk.Add(period + 2*time.Hour)
	if err := s.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if jwks(t, s)[k1] {
		t.Error("retired key still published after its tokens expired")
	}
}

// TestForcedRotationAndRestart: RotateKeys switches at once; a second
// Service on the same store (a restart, or a replica) signs with the same key.
func TestForcedRotationAndRestart(t *testing.T) {
	ctx := context.Background()
	st := memStore(t)
	s := newService(t, st, tokensvc.Config{})
	before, _ := s.Issue(ctx, tokensvc.Grant{Subject: "u", ClientID: "c"})
	if err := s.RotateKeys(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Issue(ctx, tokensvc.Grant{Subject: "u", ClientID: "c"})
	if kidOf(t, before.AccessToken) == kidOf(t, after.AccessToken) {
		t.Fatal("forced rotation kept the key")
	}
	s2 := newService(t, st, tokensvc.Config{})
	again, _ := s2.Issue(ctx, tokensvc.Grant{Subject: "u", ClientID: "c"})
	if kidOf(t, again.AccessToken) != kidOf(t, after.AccessToken) {
		t.Error("a second service on the same store signs with another key")
	}
	if _, err := s2.VerifyAccess(ctx, before.AccessToken); err != nil {
		t.Errorf("token of the previous key on the second service: %v", err)
	}
}

// TestVerifyAccessRejects: every kind of bad access token is ErrInvalidToken.
func TestVerifyAccessRejects(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st := memStore(t)
	s := newService(t, st, tokensvc.Config{Now: clk.Now, AccessTokenTTL: time.Minute})
	tok, err := s.Issue(ctx, tokensvc.Grant{Subject: "u", ClientID: "c", Scopes: []string{"openid"}, IDToken: true})
	if err != nil {
		t.Fatal(err)
	}
	other := newService(t, memStore(t), tokensvc.Config{})
	foreign, _ := other.Issue(ctx, tokensvc.Grant{Subject: "u", ClientID: "c"})
	parts := strings.Split(tok.AccessToken, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	noneAlg := "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + parts[1] + "."

	for name, bad := range map[string]string{
		"empty":        "",
		"garbage":      "not-a-token",
		"id_token":     tok.IDToken, // typ JWT, not at+jwt
		"tampered":     tampered,
		"alg none":     noneAlg,
		"foreign key":  foreign.AccessToken,
		"oversized":    strings.Repeat("a", 10000) + "." + parts[1] + "." + parts[2],
		"refresh-like": "prt_" + strings.Repeat("A", 43),
	} {
		if _, err := s.VerifyAccess(ctx, bad); !errors.Is(err, tokensvc.ErrInvalidToken) {
			t.Errorf("%s: err = %v, want ErrInvalidToken", name, err)
		}
	}
	if _, err := s.VerifyAccess(ctx, tok.AccessToken); err != nil {
		t.Fatalf("good token: %v", err)
	}
	a, _ := s.VerifyAccess(ctx, tok.AccessToken)
	if err := s.RevokeAccess(ctx, a.JTI, a.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyAccess(ctx, tok.AccessToken); !errors.Is(err, tokensvc.ErrInvalidToken) {
		t.Errorf("revoked token: %v", err)
	}
	tok2, _ := s.Issue(ctx, tokensvc.Grant{Subject: "u", ClientID: "c"})
	clk.Add(time.Minute)
	if _, err := s.VerifyAccess(ctx, tok2.AccessToken); !errors.Is(err, tokensvc.ErrInvalidToken) {
		t.Errorf("expired token: %v", err)
	}
}

// TestRefreshRules covers Redeem and Rotate without HTTP.
func TestRefreshRules(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := newService(t, memStore(t), tokensvc.Config{Now: clk.Now, RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: 3 * time.Hour})
	issue := func() tokensvc.Tokens {
		tk, err := s.Issue(ctx, tokensvc.Grant{Subject: "u", ClientID: "c", Scopes: []string{"openid", "offline_access"}, Refresh: true})
		if err != nil || tk.RefreshToken == "" {
			t.Fatalf("issue: %v", err)
		}
		return tk
	}
	tk := issue()
	if !strings.HasPrefix(tk.RefreshToken, "prt_") {
		t.Errorf("refresh token %q lacks its prefix", tk.RefreshToken)
	}
	if _, err := s.Redeem(ctx, "other-client", tk.RefreshToken, tokensvc.Policy{}); !errors.Is(err, tokensvc.ErrInvalidGrant) {
		t.Errorf("another client's token: %v", err)
	}
	for _, bad := range []string{"", "prt_", "prt_" + strings.Repeat("A", 43), strings.Repeat("x", 47)} {
		if _, err := s.Redeem(ctx, "c", bad, tokensvc.Policy{}); !errors.Is(err, tokensvc.ErrInvalidGrant) {
			t.Errorf("Redeem(%q): %v", bad, err)
		}
	}
	// Idle expiry: unused for the idle TTL, the family ends.
	clk.Add(time.Hour)
	if _, err := s.Redeem(ctx, "c", tk.RefreshToken, tokensvc.Policy{}); !errors.Is(err, tokensvc.ErrInvalidGrant) {
		t.Errorf("idle token: %v", err)
	}
	// Using it keeps it alive, but not past the absolute lifetime.
	tk = issue()
	cur := tk.RefreshToken
	for range 3 {
		clk.Add(50 * time.Minute)
		f, err := s.Redeem(ctx, "c", cur, tokensvc.Policy{})
		if err != nil {
			if clk.Now().Sub(f.CreatedAt) < 3*time.Hour {
				t.Fatalf("redeem within lifetime: %v", err)
			}
			break
		}
		next, err := s.Rotate(ctx, f, tokensvc.Grant{Scopes: f.Scopes})
		if err != nil {
			t.Fatal(err)
		}
		cur = next.RefreshToken
	}
	clk.Add(31 * time.Minute) // 3h01m after issue
	if _, err := s.Redeem(ctx, "c", cur, tokensvc.Policy{}); !errors.Is(err, tokensvc.ErrInvalidGrant) {
		t.Errorf("token past the absolute lifetime: %v", err)
	}
}

// TestVerifiedCacheKeepsChecks: a token verified before (and so cached)
// is still refused once revoked, once its session ends, and once expired.
func TestVerifiedCacheKeepsChecks(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := newService(t, memStore(t), tokensvc.Config{Now: clk.Now, AccessTokenTTL: time.Minute})
	issue := func(session bool) tokensvc.Tokens {
		tk, err := s.Issue(ctx, tokensvc.Grant{Subject: "u", ClientID: "c", Session: session})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second call is answered from the cache
			if _, err := s.VerifyAccess(ctx, tk.AccessToken); err != nil {
				t.Fatal(err)
			}
		}
		return tk
	}
	revoked := issue(false)
	a, _ := s.VerifyAccess(ctx, revoked.AccessToken)
	if err := s.RevokeAccess(ctx, a.JTI, a.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	ended := issue(true)
	if err := s.RevokeFamily(ctx, ended.FamilyID); err != nil {
		t.Fatal(err)
	}
	expired := issue(false)
	clk.Add(time.Minute)
	for name, tok := range map[string]string{"revoked": revoked.AccessToken, "session ended": ended.AccessToken, "expired": expired.AccessToken} {
		if _, err := s.VerifyAccess(ctx, tok); !errors.Is(err, tokensvc.ErrInvalidToken) {
			t.Errorf("%s token after caching: %v", name, err)
		}
	}
}
