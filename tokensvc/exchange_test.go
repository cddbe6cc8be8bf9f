package tokensvc_test

import (
	"context"
	"testing"
	"time"

	"github.com/portico-idp/portico/tokensvc"
)

// TestExchangeGrant: a grant with Act and NotAfter (token exchange) gives
// an access token, of either format, that carries act and ends by
// NotAfter; one naming a session without starting it dies with it.
func TestExchangeGrant(t *testing.T) {
	ctx := context.Background()
	for _, format := range []string{tokensvc.FormatJWT, tokensvc.FormatOpaque} {
		t.Run(format, func(t *testing.T) {
			clk := newClock()
			s := newService(t, memStore(t), tokensvc.Config{Now: clk.Now})
			user, err := s.Issue(ctx, tokensvc.Grant{Subject: "u1", ClientID: "app", Scopes: []string{"a", "b"}, Session: true})
			if err != nil {
				t.Fatal(err)
			}
			act := &tokensvc.Actor{Subject: "svc", ClientID: "svc", Act: &tokensvc.Actor{Subject: "gw"}}
			notAfter := clk.Now().Add(3 * time.Minute)
			tok, err := s.Issue(ctx, tokensvc.Grant{Subject: "u1", ClientID: "svc", Scopes: []string{"a"}, Audience: []string{"orders"},
				FamilyID: user.FamilyID, Act: act, NotAfter: notAfter, Policy: tokensvc.Policy{Format: format}})
			if err != nil {
				t.Fatal(err)
			}
			if tok.ExpiresIn != 3*time.Minute || tok.RefreshToken != "" {
				t.Errorf("expires_in %v, refresh %q", tok.ExpiresIn, tok.RefreshToken)
			}
			a, err := s.VerifyAccess(ctx, tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if a.Act == nil || a.Act.Subject != "svc" || a.Act.Act == nil || a.Act.Act.Subject != "gw" || a.Act.Depth() != 2 ||
				!a.ExpiresAt.Equal(notAfter) || a.Session != user.FamilyID {
				t.Errorf("verified %+v (act %+v)", a, a.Act)
			}
			// Ending the user's session ends the exchanged token.
			if err := s.RevokeFamily(ctx, user.FamilyID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.VerifyAccess(ctx, tok.AccessToken); err == nil {
				t.Error("the exchanged token outlived its session")
			}
		})
	}
}
