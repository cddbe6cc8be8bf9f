package broker_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/portico-idp/portico/testenv"
)

// assertionForm is form with jarClient's private_key_jwt credentials.
func assertionForm(t *testing.T, issuer string, k clientKey, form url.Values) url.Values {
	t.Helper()
	form.Set("client_assertion_type", jwtBearer)
	form.Set("client_assertion", libAssertion(t, jarClient, issuer, time.Minute, k))
	return form
}

// redeem exchanges the code of flow f for jarClient's tokens and checks
// them: an access token, an ID token with f's nonce.
func redeem(t *testing.T, b *testenv.Broker, k clientKey, f testenv.Flow, cb testenv.Callback) {
	t.Helper()
	if cb.Query == nil || cb.Query.Get("code") == "" || cb.Query.Get("state") != f.State {
		t.Fatalf("did not come back with a code and the object's state: %d %v %.300s", cb.Status, cb.Query, cb.Page)
	}
	a := postOAuth(t, b.URL+"/token", "", "", assertionForm(t, b.URL, k, url.Values{
		"grant_type": {"authorization_code"}, "code": {cb.Query.Get("code")}, "redirect_uri": {testenv.RedirectURI},
		"code_verifier": {f.Verifier},
	}))
	if a.Status != http.StatusOK || a.str("access_token") == "" {
		t.Fatalf("token: %d %v", a.Status, a.Body)
	}
	parts := strings.Split(a.str("id_token"), ".")
	if len(parts) != 3 || decodeSegment(t, parts[1])["nonce"] != f.Nonce {
		t.Errorf("id_token without the object's nonce: %q", a.str("id_token"))
	}
	if a.str("scope") != "openid email" {
		t.Errorf("scope %q, want the object's", a.str("scope"))
	}
}

// TestJARCodeFlow: a client signs its request object and completes the
// code flow with it at /authorize, then pushed to /par; parameters
// outside the object, even conflicting ones, are ignored (RFC 9101 §6.3).
func TestJARCodeFlow(t *testing.T) {
	k := newClientKey(t, "EC", "k1")
	b := testenv.Start(t, parConfig(t, k))
	ctx := t.Context()
	rp, err := testenv.NewRP(ctx, b.URL, jarClient, "", testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("by value at /authorize", func(t *testing.T) {
		f := newFlow()
		q := url.Values{"client_id": {jarClient}, "request": {signObject(t, k, jose.ES256, objectClaims(b.URL, jarClient, f, time.Now()))},
			// Outside the object: not used, however they differ.
			"state": {"evil"}, "scope": {"openid api"}, "redirect_uri": {"https://evil.example/cb"}, "nonce": {"other"},
			"response_type": {"code"}}
		cb, err := rp.Authorize(ctx, authorizeURL(b.URL, q), testenv.UserName, testenv.UserPassword)
		if err != nil {
			t.Fatal(err)
		}
		redeem(t, b, k, f, cb)
	})
	t.Run("pushed", func(t *testing.T) {
		f := newFlow()
		obj := signObject(t, k, jose.ES256, objectClaims(b.URL, jarClient, f, time.Now()))
		a := postOAuth(t, b.URL+"/par", "", "", assertionForm(t, b.URL, k, url.Values{"request": {obj}, "state": {"evil"}}))
		if a.Status != http.StatusCreated {
			t.Fatalf("/par: %d %v", a.Status, a.Body)
		}
		cb, err := rp.Authorize(ctx, byReference(b, jarClient, a.str("request_uri"), nil), testenv.UserName, testenv.UserPassword)
		if err != nil {
			t.Fatal(err)
		}
		redeem(t, b, k, f, cb)
	})
}

// TestJARRefused: every way a request object can be wrong is
// invalid_request_object, at /par and at /authorize (there at the
// redirect URI the query names, with its state); a client that must sign
// gets invalid_request for a plain request, pushed or not.
func TestJARRefused(t *testing.T) {
	k := newClientKey(t, "EC", "k1")
	stranger := newClientKey(t, "EC", "k1") // same kid, another key
	b := testenv.Start(t, parConfig(t, k))
	now := time.Now()
	claims := func(edit func(map[string]any)) map[string]any {
		c := objectClaims(b.URL, jarClient, newFlow(), now)
		edit(c)
		return c
	}
	signed := func(edit func(map[string]any)) string { return signObject(t, k, jose.ES256, claims(edit)) }
	jwe := func() string {
		enc, err := jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.ECDH_ES, Key: k.public.Key}, nil)
		if err != nil {
			t.Fatal(err)
		}
		o, err := enc.Encrypt([]byte(signed(func(map[string]any) {})))
		if err != nil {
			t.Fatal(err)
		}
		s, _ := o.CompactSerialize()
		return s
	}()
	for _, tc := range []struct{ name, object, why string }{
		{"wrong aud", signed(func(c map[string]any) { c["aud"] = "https://other.example" }), "aud"},
		{"no aud", signed(func(c map[string]any) { delete(c, "aud") }), "aud"},
		{"expired", signed(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() }), "expired"},
		{"no exp", signed(func(c map[string]any) { delete(c, "exp") }), "must have exp"},
		{"exp too far", signed(func(c map[string]any) { c["exp"] = now.Add(2 * time.Hour).Unix() }), "too long"},
		{"nbf in the future", signed(func(c map[string]any) { c["nbf"] = now.Add(10 * time.Minute).Unix() }), "not valid yet"},
		{"exp before iat", signed(func(c map[string]any) {
			c["iat"] = now.Add(50 * time.Second).Unix()
			c["exp"] = now.Add(30 * time.Second).Unix()
		}), "after its nbf and iat"},
		{"exp a string", signed(func(c map[string]any) { c["exp"] = "soon" }), "claims cannot be read"},
		{"state a number", signed(func(c map[string]any) { c["state"] = 123 }), "wrong type"},
		{"unsigned", unsigned(claims(func(map[string]any) {})), "supported algorithm"},
		{"signed by another key", signObject(t, stranger, jose.ES256, claims(func(map[string]any) {})), "no key"},
		{"iss not the client", signed(func(c map[string]any) { c["iss"] = testenv.ClientID }), "iss"},
		{"client_id another client", signed(func(c map[string]any) { c["client_id"] = testenv.ClientID }), "client_id"},
		{"no client_id", signed(func(c map[string]any) { delete(c, "client_id") }), "client_id"},
		{"request_uri inside", signed(func(c map[string]any) { c["request_uri"] = "urn:ietf:params:oauth:request_uri:x" }), "request_uri"},
		{"scope not a string", signed(func(c map[string]any) { c["scope"] = []any{1, 2} }), "scope"},
		{"encrypted (JWE)", jwe, "encrypted"},
		{"garbage", "not.a.jwt", "JWS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := postOAuth(t, b.URL+"/par", "", "", assertionForm(t, b.URL, k, url.Values{"request": {tc.object}}))
			if a.Status != http.StatusBadRequest || a.str("error") != "invalid_request_object" {
				t.Errorf("/par: %d %v, want 400 invalid_request_object", a.Status, a.Body)
			}
			if !strings.Contains(a.str("error_description"), tc.why) {
				t.Errorf("/par refused it for another reason: %q, want one about %s", a.str("error_description"), tc.why)
			}
			q := url.Values{"client_id": {jarClient}, "request": {tc.object}, "redirect_uri": {testenv.RedirectURI}, "state": {"q-state"}}
			got, back := authorizeAnswer(t, authorizeURL(b.URL, q))
			if got != "invalid_request_object" || back.Get("state") != "q-state" {
				t.Errorf("/authorize: %s %v, want invalid_request_object with the query's state", got, back)
			}
		})
	}

	// OpenID Connect Core §6.1: response_type in the query must be the
	// object's.
	q := url.Values{"client_id": {jarClient}, "request": {signed(func(map[string]any) {})}, "response_type": {"token"}}
	if got, _ := authorizeAnswer(t, authorizeURL(b.URL, q)); got != "invalid_request_object" {
		t.Errorf("conflicting response_type: %s, want invalid_request_object", got)
	}
	// The query's client_id must be the object's client's (another
	// client's keys do not verify it: invalid_request_object).
	q = url.Values{"client_id": {testenv.ClientID}, "request": {signed(func(map[string]any) {})}}
	if got, _ := authorizeAnswer(t, authorizeURL(b.URL, q)); got != "invalid_request_object" {
		t.Errorf("object of another client: %s, want invalid_request_object", got)
	}

	// require_signed_request_object: plain requests refused.
	plain := authParams(jarClient, newFlow())
	if got, _ := authorizeAnswer(t, authorizeURL(b.URL, plain)); got != "invalid_request" {
		t.Errorf("plain /authorize of a client that must sign: %s, want invalid_request", got)
	}
	plain.Del("client_id")
	if a := postOAuth(t, b.URL+"/par", "", "", assertionForm(t, b.URL, k, plain)); a.Status != 400 || a.str("error") != "invalid_request" {
		t.Errorf("plain /par of a client that must sign: %d %v, want invalid_request", a.Status, a.Body)
	}
	// A client without keys cannot sign.
	q = url.Values{"client_id": {testenv.ClientID}, "redirect_uri": {testenv.RedirectURI},
		"request": {signObject(t, k, jose.ES256, objectClaims(b.URL, testenv.ClientID, newFlow(), now))}}
	if got, _ := authorizeAnswer(t, authorizeURL(b.URL, q)); got != "invalid_request_object" {
		t.Errorf("object of a client without keys: %s, want invalid_request_object", got)
	}
}
