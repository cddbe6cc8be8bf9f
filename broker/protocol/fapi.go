package protocol

// The fapi2 client profile: what the FAPI 2.0 Security Profile asks of an
// authorization server, for one client, all together. Its client is
// confidential and authenticates with private_key_jwt (config.CheckProfile,
// where it is created); here each of its requests is held to the rest:
// authorization requests only through /par, with redirect_uri and PKCE
// S256; tokens only DPoP-bound (requiresDPoP); codes that live at most
// fapiCodeTTL; PS256, ES256 or EdDSA for every signature it makes. iss in
// the authorization response and response_type code only are Portico's
// rules for every client already.

import (
	"net/url"
	"slices"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store"
)

// fapiCodeTTL bounds a fapi2 client's codes (FAPI 2.0 §5.3.2.1).
const fapiCodeTTL = time.Minute

func fapi2(client store.Client) bool { return client.Profile == ProfileFAPI2 }

// fapiAuthorization returns what a fapi2 client's authorization request q
// lacks, as an error description, or "".
func fapiAuthorization(client store.Client, q url.Values, src authSource) string {
	switch {
	case !fapi2(client):
		return ""
	case !src.pushed:
		return "this client (profile fapi2) must push its authorization requests to /par first"
	case q.Get("redirect_uri") == "":
		return "this client (profile fapi2) must send redirect_uri"
	case q.Get("code_challenge") == "":
		return "this client (profile fapi2) must use PKCE with S256"
	}
	return ""
}

// fapiAlg reports whether client may sign with alg: any of the usual
// algorithms, but for a fapi2 client only PS256, ES256 and EdDSA.
func fapiAlg(client store.Client, alg string) bool {
	return !fapi2(client) || slices.Contains(config.FAPI2Algs, alg)
}
