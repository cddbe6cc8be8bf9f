package broker_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// jwksAlgs returns the algorithms of the keys the broker's JWKS publishes.
func jwksAlgs(t *testing.T, issuer string) []string {
	t.Helper()
	resp, err := http.Get(issuer + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var algs []string
	for _, k := range set.Keys {
		if !slices.Contains(algs, k.Algorithm) {
			algs = append(algs, k.Algorithm)
		}
	}
	return algs
}

// TestDiscoveryAlgsHaveKeys: discovery advertises exactly the signing
// algorithms the JWKS has keys for. A relying party may insist on any
// advertised algorithm; advertising one without a key promised tokens it
// could never verify.
func TestDiscoveryAlgsHaveKeys(t *testing.T) {
	tests := []struct {
		name string
		edit func(*config.Config)
		want []string // id_token_signing_alg_values_supported, in order
	}{
		{"default", func(*config.Config) {}, []string{"RS256"}},
		{"a client asks for ES256", func(c *config.Config) { c.Clients[0].IDTokenSignedResponseAlg = "ES256" }, []string{"RS256", "ES256"}},
		{"EdDSA by default, a client asks for RS256", func(c *config.Config) {
			c.Tokens.SigningAlg = "EdDSA"
			c.Clients[1].IDTokenSignedResponseAlg = "RS256"
		}, []string{"EdDSA", "RS256"}},
		// RS256 is every OpenID provider's (Core §15.1, Discovery §3),
		// whatever the default and whether or not a client asks yet.
		{"EdDSA by default", func(c *config.Config) { c.Tokens.SigningAlg = "EdDSA" }, []string{"EdDSA", "RS256"}},
		{"ES256 by default, a client asks for EdDSA", func(c *config.Config) {
			c.Tokens.SigningAlg = "ES256"
			c.Clients[0].IDTokenSignedResponseAlg = "EdDSA"
		}, []string{"ES256", "RS256", "EdDSA"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testenv.Config(t)
			tc.edit(cfg)
			b := testenv.Start(t, cfg)
			doc := discovery(t, b.URL)
			keys := jwksAlgs(t, b.URL)
			var got []string
			for _, a := range doc["id_token_signing_alg_values_supported"].([]any) {
				got = append(got, a.(string))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("id_token_signing_alg_values_supported = %v, want %v", got, tc.want)
			}
			// Every *_alg_values_supported member, today's and any added
			// later, follows the rule — but for the algorithms Portico
			// verifies clients' assertions, request objects and DPoP proofs
			// with, which its keys never sign.
			for k, v := range doc {
				if !strings.HasSuffix(k, "_alg_values_supported") || strings.HasSuffix(k, "_endpoint_auth_signing_alg_values_supported") ||
					k == "request_object_signing_alg_values_supported" || k == "dpop_signing_alg_values_supported" {
					continue
				}
				for _, a := range v.([]any) {
					if !slices.Contains(keys, a.(string)) {
						t.Errorf("%s lists %v, but the JWKS has keys for %v only", k, a, keys)
					}
				}
			}
			slices.Sort(keys)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(keys, want) {
				t.Errorf("JWKS has keys for %v, want %v", keys, want)
			}
		})
	}
}
