package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/tokensvc/dpop"
)

// TestAuthorize: each way a protected resource's request can be wrong is
// refused with RFC 6750's and RFC 9449's status, error code and scheme;
// the two right ways pass.
func TestAuthorize(t *testing.T) {
	const u = "https://api.example.com/orders"
	newP := func() *dpop.Prover {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		p, err := dpop.NewProver(k)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	key, other := newP(), newP()
	proof := func(p *dpop.Prover, tok string) string {
		s, err := p.Proof("GET", u, dpop.ProofOptions{AccessToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The tokens this resource knows: "bound" is bound to key.
	check := func(_ context.Context, tok string) (string, error) {
		switch tok {
		case "bearer":
			return "", nil
		case "bound":
			return key.JKT, nil
		case "down":
			return "", errors.New("store down")
		}
		return "", &dpop.Refusal{Code: "invalid_token", Description: "unknown token"}
	}
	for _, tc := range []struct {
		name         string
		auth, proofs []string
		status       int
		code         string
		dpopScheme   bool
	}{
		{"bearer token", []string{"Bearer bearer"}, nil, 0, "", false},
		{"bound token with its proof", []string{"DPoP bound"}, []string{proof(key, "bound")}, 0, "", false},
		{"nothing", nil, nil, 401, "", false},
		{"another scheme", []string{"Basic YTpi"}, nil, 401, "", false},
		{"two headers", []string{"Bearer bearer", "Bearer bearer"}, nil, 400, "invalid_request", false},
		{"no token", []string{"Bearer "}, nil, 400, "invalid_request", false},
		{"token with a space", []string{"DPoP a b"}, nil, 400, "invalid_request", true},
		{"unknown token", []string{"Bearer nope"}, nil, 401, "invalid_token", false},
		{"unknown token, DPoP scheme", []string{"DPoP nope"}, nil, 401, "invalid_token", true},
		{"server down", []string{"Bearer down"}, nil, 503, "", false},
		{"bound token as Bearer", []string{"Bearer bound"}, nil, 401, "invalid_token", true},
		{"unbound token as DPoP", []string{"DPoP bearer"}, []string{proof(key, "bearer")}, 401, "invalid_token", true},
		{"bound token, no proof", []string{"DPoP bound"}, nil, 401, "invalid_dpop_proof", true},
		{"bound token, another key", []string{"DPoP bound"}, []string{proof(other, "bound")}, 401, "invalid_token", true},
		{"bound token, proof of another token", []string{"DPoP bound"}, []string{proof(key, "bearer")}, 401, "invalid_dpop_proof", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &dpop.Verifier{Replay: dpop.NewMemoryReplay(0, 0, func() time.Time { return time.Now().Add(-time.Minute) })}
			r := httptest.NewRequest(http.MethodGet, u, nil)
			for _, h := range tc.auth {
				r.Header.Add("Authorization", h)
			}
			for _, p := range tc.proofs {
				r.Header.Add(dpop.Header, p)
			}
			f := v.Authorize(r, u, check)
			if tc.status == 0 {
				if f != nil {
					t.Fatalf("refused: %v", f)
				}
				return
			}
			if f == nil || f.Status != tc.status || f.Code != tc.code || f.DPoP != tc.dpopScheme || (tc.status == 503) != (f.Err != nil) {
				t.Fatalf("got %+v, want %d %q dpop=%v", f, tc.status, tc.code, tc.dpopScheme)
			}
			h := http.Header{}
			v.WriteChallenge(h, "api", f)
			wa := h.Values("WWW-Authenticate")
			switch {
			case tc.status == 503 && len(wa) != 0:
				t.Errorf("a 503 with a challenge: %q", wa)
			case tc.status != 503 && tc.code == "" && len(wa) != 2:
				t.Errorf("no credentials: %q, want both schemes", wa)
			case tc.code != "" && (len(wa) != 1 || !strings.HasPrefix(wa[0], map[bool]string{true: "DPoP", false: "Bearer"}[tc.dpopScheme]+` realm="api", error="`+tc.code+`"`)):
				t.Errorf("challenge %q", wa)
			}
		})
	}
}
