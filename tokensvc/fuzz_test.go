package tokensvc_test

import (
	"context"
	"errors"
	"testing"

	"github.com/portico-idp/portico/tokensvc"
)

// FuzzVerifyAccess: no input makes VerifyAccess panic or accept a token
// this service did not sign.
func FuzzVerifyAccess(f *testing.F) {
	ctx := context.Background()
	s := newService(f, memStore(f), tokensvc.Config{SigningAlg: tokensvc.ES256})
	good, err := s.Issue(ctx, tokensvc.Grant{Subject: "u", ClientID: "c", Scopes: []string{"openid"}, IDToken: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.AccessToken)
	f.Add(good.IDToken)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		a, err := s.VerifyAccess(ctx, tok)
		if err == nil && tok != good.AccessToken {
			// go-jose accepts some re-encodings of one JWS; the claims
			// must still be the ones signed.
			if a.Subject != "u" || a.ClientID != "c" {
				t.Fatalf("accepted a forged token: %+v", a)
			}
		}
		if err != nil && !errors.Is(err, tokensvc.ErrInvalidToken) {
			t.Fatalf("unexpected error class: %v", err)
		}
	})
}

// FuzzRedeem: no refresh token string panics Redeem or redeems a family
// other than the one issued.
func FuzzRedeem(f *testing.F) {
	ctx := context.Background()
	s := newService(f, memStore(f), tokensvc.Config{SigningAlg: tokensvc.EdDSA})
	good, err := s.Issue(ctx, tokensvc.Grant{Subject: "u", ClientID: "c", Refresh: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.RefreshToken)
	f.Add("prt_")
	f.Add("prt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		fam, err := s.Redeem(ctx, "c", tok, tokensvc.Policy{})
		if err == nil && tok != good.RefreshToken {
			t.Fatalf("redeemed %q as family %s", tok, fam.ID)
		}
		if err != nil && !errors.Is(err, tokensvc.ErrInvalidGrant) {
			t.Fatalf("unexpected error class: %v", err)
		}
	})
}
