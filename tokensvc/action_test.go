package tokensvc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/tokensvc"
)

// TestAction: a mailed link verifies for its purpose until it expires,
// and for nothing else; an altered one fails; no other token of the
// service's passes for one, nor one for them.
func TestAction(t *testing.T) {
	clk := newClock()
	s := newService(t, memStore(t), tokensvc.Config{Now: clk.Now})
	tok, a, err := s.MintAction(tokensvc.Action{Purpose: "reset", Subject: "acc1", Email: "a@example.com", Binding: "b1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ParseAction(tok, "reset")
	if err != nil {
		t.Fatal(err)
	}
	if got != a || got.ID == "" || got.Subject != "acc1" || got.Email != "a@example.com" || got.Binding != "b1" || !got.Expiry.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("parsed %+v, minted %+v", got, a)
	}
	_, b, _ := s.MintAction(tokensvc.Action{Purpose: "reset", Subject: "acc1"}, time.Hour)
	if b.ID == a.ID {
		t.Fatal("two links with one id")
	}
	if _, err := s.ParseAction(tok, "verify"); !errors.Is(err, tokensvc.ErrInvalidToken) {
		t.Errorf("a reset link passed as a verify link: %v", err)
	}
	// Altered: a claim, or the signature.
	parts := strings.Split(tok, ".")
	for i, bad := range []string{parts[0] + "." + parts[1] + "x." + parts[2], parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), "", "a.b", tok + "."} {
		if _, err := s.ParseAction(bad, "reset"); !errors.Is(err, tokensvc.ErrInvalidToken) {
			t.Errorf("altered link %d: %v", i, err)
		}
	}
	// Other tokens of the service's.
	tk, err := s.Issue(context.Background(), tokensvc.Grant{Subject: "acc1", ClientID: "app", Scopes: []string{"openid"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{tk.AccessToken, tk.IDToken} {
		if _, err := s.ParseAction(other, "reset"); !errors.Is(err, tokensvc.ErrInvalidToken) {
			t.Errorf("a token passed as a link: %v", err)
		}
	}
	if _, err := s.VerifyAccess(context.Background(), tok); !errors.Is(err, tokensvc.ErrInvalidToken) {
		t.Errorf("a link passed as an access token: %v", err)
	}
	if _, err := s.ParseIDTokenHint(tok); !errors.Is(err, tokensvc.ErrInvalidToken) {
		t.Errorf("a link passed as an id_token hint: %v", err)
	}
	// Expiry.
	clk.Add(time.Hour)
	if _, err := s.ParseAction(tok, "reset"); !errors.Is(err, tokensvc.ErrActionExpired) {
		t.Errorf("expired link: %v", err)
	}
	for _, bad := range []tokensvc.Action{{Subject: "a"}, {Purpose: "p"}} {
		if _, _, err := s.MintAction(bad, time.Hour); err == nil {
			t.Errorf("minted %+v", bad)
		}
	}
	if _, _, err := s.MintAction(tokensvc.Action{Purpose: "p", Subject: "a"}, 31*24*time.Hour); err == nil {
		t.Error("minted a link for 31 days")
	}
}
