package broker_test

import (
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// fapiClient is the fapi2 client of the FAPI tests and of
// TestIndependentClientPARJARDPoP.
const fapiClient = "fapi-app"

// fapiConfig has fapiClient, profile fapi2, with the keys ks; its codes
// would live 5 minutes but for the profile.
func fapiConfig(t *testing.T, ks ...clientKey) *config.Config {
	t.Helper()
	var set map[string]any
	if err := json.Unmarshal(jwks(t, ks...), &set); err != nil {
		t.Fatal(err)
	}
	cfg := testenv.Config(t)
	cfg.Tokens.AuthCodeTTL = config.Duration(5 * time.Minute)
	cfg.Tokens.SigningAlg = "ES256" // FAPI 2.0 allows no RS256
	cfg.Clients = append(cfg.Clients, config.Client{ID: fapiClient, TokenEndpointAuthMethod: config.AuthPrivateKeyJWT, JWKS: set,
		RedirectURIs: []string{testenv.RedirectURI}, GrantTypes: []string{"authorization_code", "refresh_token"},
		IDTokenSignedResponseAlg: "ES256", Profile: config.ProfileFAPI2})
	return cfg
}

// fapiForm is form with fapiClient's private_key_jwt credentials by k,
// the issuer as a string in aud, as FAPI 2.0 wants it.
func fapiForm(t *testing.T, issuer string, k clientKey, form url.Values) url.Values {
	t.Helper()
	form.Set("client_assertion_type", jwtBearer)
	form.Set("client_assertion", fapiAssertion(t, k, issuer))
	return form
}

// fapiAssertion is fapiClient's assertion signed by k (ES256 for an EC
// key, RS256 for RSA) with aud as given: a string or a list.
func fapiAssertion(t *testing.T, k clientKey, aud any) string {
	t.Helper()
	alg := jose.ES256
	if _, ok := k.priv.(*rsa.PrivateKey); ok {
		alg = jose.RS256
	}
	now := time.Now()
	return forge(t, alg, k.priv, k.public.KeyID, map[string]any{"iss": fapiClient, "sub": fapiClient, "aud": aud,
		"jti": tokenish() + tokenish(), "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
}

// TestFAPI2: a fapi2 client completes the code flow only with everything
// FAPI 2.0 asks: a pushed request with redirect_uri and PKCE S256,
// private_key_jwt with an allowed algorithm, and a DPoP proof; its code
// lives at most 60 seconds. Each omission is refused with its error.
func TestFAPI2(t *testing.T) {
	ec, rsaKey := newClientKey(t, "EC", "ec"), newClientKey(t, "RSA", "rsa")
	clock := testenv.NewClock()
	b := testenv.StartClock(t, fapiConfig(t, ec, rsaKey), clock)
	dk := newDPoPKey(t)
	tu := b.URL + "/token"
	iat := func() map[string]any { return map[string]any{"iat": clock.Now().Unix()} }

	f := newFlow()
	params := authParams(fapiClient, f)
	// Not pushed: refused at /authorize.
	if got, _ := authorizeAnswer(t, authorizeURL(b.URL, params)); got != "invalid_request" {
		t.Errorf("a plain authorization request: %s", got)
	}
	for _, tc := range []struct{ name, drop string }{{"without redirect_uri", "redirect_uri"}, {"without PKCE", "code_challenge"}} {
		p := url.Values{}
		for k, v := range params {
			p[k] = v
		}
		p.Del(tc.drop)
		if tc.drop == "code_challenge" {
			p.Del("code_challenge_method")
		}
		if r := postOAuth(t, b.URL+"/par", "", "", fapiForm(t, b.URL, ec, p)); r.Status != http.StatusBadRequest || r.str("error") != "invalid_request" {
			t.Errorf("/par %s: %d %v", tc.name, r.Status, r.Body)
		}
	}
	// The issuer, as a string, as the assertion's audience (FAPI 2.0
	// §5.3.2.1): not another endpoint, not a list, even of the issuer.
	for _, aud := range []any{b.URL + "/par", b.URL + "/token", []string{b.URL, "https://elsewhere.example"}, []string{b.URL}} {
		p := url.Values{"client_assertion_type": {jwtBearer}, "client_assertion": {fapiAssertion(t, ec, aud)}}
		for k, v := range params {
			p[k] = v
		}
		if r := postOAuth(t, b.URL+"/par", "", "", p); r.Status != http.StatusUnauthorized || r.str("error") != "invalid_client" {
			t.Errorf("/par with assertion aud %v: %d %v", aud, r.Status, r.Body)
		}
	}
	// RS256 is not one of FAPI 2.0's algorithms.
	if r := postOAuth(t, b.URL+"/par", "", "", fapiForm(t, b.URL, rsaKey, params)); r.Status != http.StatusUnauthorized || r.str("error") != "invalid_client" {
		t.Errorf("/par with an RS256 assertion: %d %v", r.Status, r.Body)
	}

	code := func() string {
		t.Helper()
		a := postOAuth(t, b.URL+"/par", "", "", fapiForm(t, b.URL, ec, params))
		if a.Status != http.StatusCreated {
			t.Fatalf("/par: %d %v", a.Status, a.Body)
		}
		cb, err := newRP(t, b).Authorize(t.Context(), byReference(b, fapiClient, a.str("request_uri"), nil), testenv.UserName, testenv.UserPassword)
		if err != nil || cb.Query.Get("code") == "" || cb.Query.Get("iss") != b.URL {
			t.Fatalf("login: %v %v", err, cb.Query)
		}
		return cb.Query.Get("code")
	}
	redeem := func(c string, proofs ...string) oauthAnswer {
		return dpopPost(t, nil, tu, "", "", fapiForm(t, b.URL, ec, url.Values{"grant_type": {"authorization_code"}, "code": {c},
			"redirect_uri": {testenv.RedirectURI}, "code_verifier": {f.Verifier}}), proofs...)
	}
	c := code()
	if r := redeem(c); r.Status != http.StatusBadRequest || r.str("error") != "invalid_dpop_proof" {
		t.Errorf("no DPoP proof: %d %v", r.Status, r.Body)
	}
	r := redeem(c, dpopProofAt(t, dk, tu, iat()))
	if r.Status != http.StatusOK || r.str("token_type") != "DPoP" {
		t.Fatalf("the code flow: %d %v", r.Status, r.Body)
	}
	if h := decodeSegment(t, strings.Split(r.str("id_token"), ".")[0]); h["alg"] != "ES256" {
		t.Errorf("id_token alg %v", h["alg"])
	}
	// A code a minute old is gone, whatever auth_code_ttl says.
	c = code()
	clock.Advance(61 * time.Second)
	if r := redeem(c, dpopProofAt(t, dk, tu, iat())); r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
		t.Errorf("a 61-second-old code: %d %v", r.Status, r.Body)
	}
}

// dpopProofAt is k's proof for a POST to u with extra claims.
func dpopProofAt(t *testing.T, k dpopKey, u string, extra map[string]any) string {
	return k.proof(t, "POST", u, extra)
}

// TestFAPI2Config: a fapi2 client must be one FAPI 2.0 allows, in the
// file and through the admin API.
func TestFAPI2Config(t *testing.T) {
	ec := newClientKey(t, "EC", "ec")
	for _, tc := range []struct {
		name string
		edit func(*config.Client)
		want string
	}{
		{"public", func(c *config.Client) { c.Public, c.TokenEndpointAuthMethod, c.JWKS = true, "none", nil }, "fapi2 is for confidential clients only"},
		{"secret", func(c *config.Client) { c.TokenEndpointAuthMethod, c.JWKS, c.Secret = "", nil, "s3cret-s3cret-s3cret" }, "fapi2 needs token_endpoint_auth_method private_key_jwt"},
		{"RS256 id_token", func(c *config.Client) { c.IDTokenSignedResponseAlg = "RS256" }, "fapi2 needs id_tokens signed with ES256 or EdDSA"},
		{"RS256 access tokens", func(c *config.Client) {}, "fapi2 needs access tokens signed with ES256 or EdDSA"},
		{"device grant", func(c *config.Client) { c.GrantTypes = append(c.GrantTypes, config.GrantDeviceCode) }, "fapi2 allows only the authorization_code, refresh_token and client_credentials grants"},
		{"no code grant", func(c *config.Client) { c.GrantTypes = []string{"client_credentials"}; c.RedirectURIs = nil }, "fapi2 needs the authorization_code grant"},
		{"unknown", func(c *config.Client) { c.Profile = "fapi1" }, `unknown profile "fapi1"`},
	} {
		cfg := fapiConfig(t, ec)
		tc.edit(&cfg.Clients[len(cfg.Clients)-1])
		if tc.name == "RS256 access tokens" {
			cfg.Tokens.SigningAlg = "RS256"
		}
		cfg.Issuer, cfg.Listen = "http://127.0.0.1:9", "127.0.0.1:9"
		cfg.ApplyDefaults()
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestFAPI2NonceBeforeAssertion: with server nonces, a fapi2 client's
// first push is answered use_dpop_nonce before its single-use assertion
// is spent, so its retry with the nonce may repeat the same request
// (RFC 9449 §8).
func TestFAPI2NonceBeforeAssertion(t *testing.T) {
	ec := newClientKey(t, "EC", "ec")
	cfg := fapiConfig(t, ec)
	cfg.Tokens.DPoP.RequireNonce = true
	b := testenv.Start(t, cfg)
	k := newDPoPKey(t)
	form := fapiForm(t, b.URL, ec, authParams(fapiClient, newFlow()))
	r := dpopPost(t, nil, b.URL+"/par", "", "", form, k.proof(t, "POST", b.URL+"/par", nil))
	nonce := r.Header.Get("DPoP-Nonce")
	if r.Status != http.StatusBadRequest || r.str("error") != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("first push: %d %v", r.Status, r.Body)
	}
	r = dpopPost(t, nil, b.URL+"/par", "", "", form, k.proof(t, "POST", b.URL+"/par", map[string]any{"nonce": nonce}))
	if r.Status != http.StatusCreated {
		t.Fatalf("the same push with the nonce: %d %v", r.Status, r.Body)
	}
}

// TestFAPI2AdminAPI: the admin API takes dpop_bound_access_tokens and
// profile, shows them, and refuses a fapi2 client FAPI 2.0 does not allow,
// as the file does.
func TestFAPI2AdminAPI(t *testing.T) {
	cfg := adminConfig(t)
	cfg.Tokens.SigningAlg = "ES256"
	b := testenv.Start(t, cfg)
	tok := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	var set map[string]any
	json.Unmarshal(jwks(t, newClientKey(t, "EC", "k")), &set)
	good := map[string]any{"id": "bank", "token_endpoint_auth_method": "private_key_jwt", "jwks": set,
		"redirect_uris": []string{testenv.RedirectURI}, "grant_types": []string{"authorization_code"},
		"profile": "fapi2", "dpop_bound_access_tokens": true}
	mustStatus(t, call(t, b, tok, http.MethodPost, "/clients", good), http.StatusCreated, "a fapi2 client")
	r := call(t, b, tok, http.MethodGet, "/clients/bank", nil)
	if r.Body["profile"] != "fapi2" || r.Body["dpop_bound_access_tokens"] != true {
		t.Errorf("GET: %v", r.Body)
	}
	for name, edit := range map[string]func(map[string]any){
		"public":       func(m map[string]any) { m["public"], m["token_endpoint_auth_method"], m["jwks"] = true, "none", nil },
		"device grant": func(m map[string]any) { m["grant_types"] = []string{"authorization_code", config.GrantDeviceCode} },
		"unknown":      func(m map[string]any) { m["profile"] = "fapi9" },
	} {
		m := map[string]any{}
		for k, v := range good {
			m[k] = v
		}
		m["id"] = "bank-" + strings.ReplaceAll(name, " ", "-")
		edit(m)
		if r := call(t, b, tok, http.MethodPost, "/clients", m); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Raw), "profile") {
			t.Errorf("%s: %d %s", name, r.Status, r.Raw)
		}
	}
}
