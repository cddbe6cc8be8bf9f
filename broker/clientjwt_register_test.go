package broker_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/portico-idp/portico/testenv"
)

// TestRegisterJWTClients: dynamic registration (RFC 7591) takes
// token_endpoint_auth_method private_key_jwt with jwks or jwks_uri, and
// client_secret_jwt, and refuses what RFC 7591 §2 and safety forbid; the
// clients registered authenticate with the library's assertions.
func TestRegisterJWTClients(t *testing.T) {
	k := newClientKey(t, "EC", "reg")
	js := newJWKSServer(t, jwks(t, k))
	cfg := regConfig(t)
	cfg.Registration.AllowPrivateURIs = true // the JWKS server is on loopback
	b := testenv.Start(t, cfg)
	var set map[string]any
	json.Unmarshal(jwks(t, k), &set)
	meta := func(method string, extra map[string]any) map[string]any {
		m := map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": method}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name string
		meta map[string]any
	}{
		{"jwks", meta("private_key_jwt", map[string]any{"jwks": set})},
		{"jwks_uri", meta("private_key_jwt", map[string]any{"jwks_uri": js.URL + "/jwks"})},
	} {
		r := regDo(t, http.MethodPost, b.URL+"/register", initialToken, tc.meta)
		if r.Status != 201 || r.str("client_secret") != "" || r.str("token_endpoint_auth_method") != "private_key_jwt" {
			t.Fatalf("%s: %d %v", tc.name, r.Status, r.Body)
		}
		if (tc.name == "jwks") != (r.Body["jwks"] != nil) || (tc.name == "jwks_uri") != (r.str("jwks_uri") != "") {
			t.Errorf("%s: keys not echoed: %v", tc.name, r.Body)
		}
		id := r.str("client_id")
		if st, code := postAssertion(t, b.URL+"/token", libAssertion(t, id, b.URL, time.Minute, k), nil); st != 200 {
			t.Errorf("%s: token %d %s", tc.name, st, code)
		}
	}

	r := regDo(t, http.MethodPost, b.URL+"/register", initialToken, meta("client_secret_jwt", nil))
	secret := r.str("client_secret")
	if r.Status != 201 || len(secret) < 64 {
		t.Fatalf("client_secret_jwt: %d, secret of %d bytes (HS512 needs 64)", r.Status, len(secret))
	}
	if st, _ := postAssertion(t, b.URL+"/token", secretAssertion(t, r.str("client_id"), b.URL, secret, jose.HS512), nil); st != 200 {
		t.Errorf("client_secret_jwt HS512: %d", st)
	}

	priv, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.priv, KeyID: "p"}}})
	var privSet map[string]any
	json.Unmarshal(priv, &privSet)
	for _, tc := range []struct {
		name string
		meta map[string]any
	}{
		{"both jwks and jwks_uri", meta("private_key_jwt", map[string]any{"jwks": set, "jwks_uri": js.URL})},
		{"no keys", meta("private_key_jwt", nil)},
		{"a private key", meta("private_key_jwt", map[string]any{"jwks": privSet})},
		{"plain http off loopback", meta("private_key_jwt", map[string]any{"jwks_uri": "http://keys.example/jwks"})},
		{"keys for a secret client", meta("client_secret_basic", map[string]any{"jwks": set})},
		{"jwks not a set", meta("private_key_jwt", map[string]any{"jwks": []string{"x"}})},
		{"unknown method", meta("tls_client_auth", nil)},
	} {
		r := regDo(t, http.MethodPost, b.URL+"/register", initialToken, tc.meta)
		if r.Status != 400 || r.str("error") != "invalid_client_metadata" {
			t.Errorf("%s: %d %v, want 400 invalid_client_metadata", tc.name, r.Status, r.Body)
		}
	}
	d := discovery(t, b.URL)
	for _, e := range []string{"token", "revocation", "introspection"} {
		m, _ := json.Marshal(d[e+"_endpoint_auth_methods_supported"])
		a, _ := json.Marshal(d[e+"_endpoint_auth_signing_alg_values_supported"])
		if !strings.Contains(string(m), "private_key_jwt") || !strings.Contains(string(m), "client_secret_jwt") ||
			!strings.Contains(string(a), "ES256") || strings.Contains(string(a), "none") {
			t.Errorf("discovery %s: %s %s", e, m, a)
		}
	}
}

// TestAdminJWTClients: the admin API creates a private_key_jwt client
// (no secret) and a client_secret_jwt one whose secret, shown once, signs
// assertions; a private_key_jwt client has no secret to rotate.
func TestAdminJWTClients(t *testing.T) {
	k := newClientKey(t, "RSA", "adm")
	b := testenv.Start(t, adminConfig(t))
	tok := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	var set map[string]any
	json.Unmarshal(jwks(t, k), &set)
	r := call(t, b, tok, http.MethodPost, "/clients", map[string]any{"id": "keyed", "grant_types": []string{"client_credentials"},
		"scopes": []string{"api"}, "token_endpoint_auth_method": "private_key_jwt", "jwks": set})
	if r.Status != 201 || r.Body["client_secret"] != nil || r.Body["jwks"] == nil {
		t.Fatalf("create private_key_jwt: %d %v", r.Status, r.Body)
	}
	if st, code := postAssertion(t, b.URL+"/token", libAssertion(t, "keyed", b.URL, time.Minute, k), nil); st != 200 {
		t.Errorf("private_key_jwt token: %d %s", st, code)
	}
	if r := call(t, b, tok, http.MethodPost, "/clients/keyed/secret", nil); r.Status != 400 {
		t.Errorf("rotate a keyed client's secret: %d", r.Status)
	}
	r = call(t, b, tok, http.MethodPost, "/clients", map[string]any{"id": "hmac", "grant_types": []string{"client_credentials"},
		"scopes": []string{"api"}, "token_endpoint_auth_method": "client_secret_jwt"})
	secret, _ := r.Body["client_secret"].(string)
	if r.Status != 201 || len(secret) < 64 {
		t.Fatalf("create client_secret_jwt: %d %v", r.Status, r.Body)
	}
	if st, code := postAssertion(t, b.URL+"/token", secretAssertion(t, "hmac", b.URL, secret, jose.HS512), nil); st != 200 {
		t.Errorf("client_secret_jwt token: %d %s", st, code)
	}
	for name, body := range map[string]map[string]any{
		"jwks for a secret client": {"id": "x1", "grant_types": []string{"client_credentials"}, "jwks": set},
		"none for a confidential":  {"id": "x2", "grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "none"},
		"keys missing":             {"id": "x3", "grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt"},
	} {
		if r := call(t, b, tok, http.MethodPost, "/clients", body); r.Status != 400 {
			t.Errorf("%s: %d %v", name, r.Status, r.Body)
		}
	}
}

// TestRegistrationSecretRetired: a registered client that moves from its
// secret to private_key_jwt retires the secret: it cannot move back, and
// the secret does not work again. Before, a second update revived it
// (found by a black-box attack).
func TestRegistrationSecretRetired(t *testing.T) {
	k := newClientKey(t, "RSA", "moved")
	var set map[string]any
	json.Unmarshal(jwks(t, k), &set)
	b := testenv.Start(t, regConfig(t))
	m := confidentialMetadata()
	m["grant_types"] = []string{"client_credentials"}
	delete(m, "redirect_uris")
	reg := regDo(t, http.MethodPost, b.URL+"/register", initialToken, m)
	if reg.Status != 201 {
		t.Fatalf("register: %d %v", reg.Status, reg.Body)
	}
	id, secret, token, uri := reg.str("client_id"), reg.str("client_secret"), reg.str("registration_access_token"), reg.str("registration_client_uri")
	m["client_id"], m["token_endpoint_auth_method"], m["jwks"] = id, "private_key_jwt", set
	if r := regDo(t, http.MethodPut, uri, token, m); r.Status != 200 {
		t.Fatalf("move to private_key_jwt: %d %v", r.Status, r.Body)
	}
	delete(m, "jwks")
	m["token_endpoint_auth_method"] = "client_secret_basic"
	if r := regDo(t, http.MethodPut, uri, token, m); r.Status != 400 || r.str("error") != "invalid_client_metadata" {
		t.Errorf("move back to the secret: %d %v, want 400 invalid_client_metadata", r.Status, r.Body)
	}
	if r := postToken(t, b.URL, id, secret, url.Values{"grant_type": {"client_credentials"}}); r.Status != http.StatusUnauthorized {
		t.Errorf("the retired secret: %d %v, want 401", r.Status, r.Body)
	}
	if st, code := postAssertion(t, b.URL+"/token", libAssertion(t, id, b.URL, time.Minute, k), nil); st != 200 {
		t.Errorf("the key: %d %s", st, code)
	}
}
