package tokensvc_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portico-idp/portico/tokensvc"
)

// TestLogoutToken: a logout token carries Back-Channel Logout §2.4's claims
// with the client's algorithm, lives two minutes, and passes neither for an
// access token nor for an id_token hint: its typ keeps it apart.
func TestLogoutToken(t *testing.T) {
	clk := newClock()
	s := newService(t, memStore(t), tokensvc.Config{Now: clk.Now, ExtraAlgs: []string{tokensvc.ES256}})
	tok, jti, err := s.LogoutToken(tokensvc.Logout{ClientID: "app", Subject: "u1", Session: "s1", Alg: tokensvc.ES256})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if typ := jws.Signatures[0].Header.ExtraHeaders[jose.HeaderType]; typ != "logout+jwt" {
		t.Errorf("typ %v", typ)
	}
	var c map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		t.Fatal(err)
	}
	now := float64(clk.Now().Unix())
	if c["iss"] != issuer || c["aud"] != "app" || c["sub"] != "u1" || c["sid"] != "s1" || c["jti"] != jti ||
		c["iat"] != now || c["exp"] != now+120 || c["nonce"] != nil {
		t.Errorf("claims %v", c)
	}
	if _, ok := c["events"].(map[string]any)[tokensvc.BackchannelLogoutEvent]; !ok {
		t.Errorf("events %v", c["events"])
	}
	if _, err := s.VerifyAccess(context.Background(), tok); !errors.Is(err, tokensvc.ErrInvalidToken) {
		t.Errorf("accepted as an access token: %v", err)
	}
	if _, err := s.ParseIDTokenHint(tok); !errors.Is(err, tokensvc.ErrInvalidToken) {
		t.Errorf("accepted as an id_token hint: %v", err)
	}
	if _, _, err := s.LogoutToken(tokensvc.Logout{ClientID: "app"}); err == nil {
		t.Error("a logout token naming neither sub nor sid")
	}
}

// TestSessionEndEvents: RevokeFamily's event says the session ended; an
// access token's revocation does not, so it sends no logout token.
func TestSessionEndEvents(t *testing.T) {
	ctx := context.Background()
	s := newService(t, memStore(t), tokensvc.Config{})
	var got []tokensvc.Event
	s.SetEventHook(func(_ context.Context, e tokensvc.Event) { got = append(got, e) })
	tk, err := s.Issue(ctx, tokensvc.Grant{Subject: "u1", ClientID: "app", Session: true, Refresh: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, "app", tk.AccessToken, "access_token"); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, "app", tk.RefreshToken, "refresh_token"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeFamily(ctx, tk.FamilyID); err != nil { // again: already over
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Ended || !got[1].Ended || got[1].FamilyID != tk.FamilyID || got[1].UserID != "u1" {
		t.Errorf("events %+v, want an access token's revocation, then one session end", got)
	}
}
