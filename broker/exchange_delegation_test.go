package broker_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/portico-idp/portico/broker/protocol"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/testenv"
)

// TestExchangeDelegation: a service holding alice's access token gets a
// narrower one for another audience that names it as actor (act), lives
// no longer, dies with alice's session, and can be delegated again
// (nested act); widening, foreign or dead tokens are refused.
func TestExchangeDelegation(t *testing.T) {
	b := testenv.Start(t, exchangeConfig(t, newExtIssuer(t), ""))
	tok, idt := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword, "openid", "email", "profile", "offline_access")
	alice := tok.AccessToken

	r := postToken(t, b.URL, xClient, xSecret, exchangeForm(alice, protocol.TokenTypeAccessToken, "scope", "openid email", "audience", "orders"))
	if r.Status != 200 {
		t.Fatalf("delegation: %d %v", r.Status, r.Body)
	}
	if r.str("scope") != "openid email" || r.str("issued_token_type") != protocol.TokenTypeAccessToken || r.Body["refresh_token"] != nil {
		t.Errorf("response: %v", r.Body)
	}
	del := r.str("access_token")
	c, orig := jwtClaims(t, del), jwtClaims(t, alice)
	act, _ := c["act"].(map[string]any)
	if c["sub"] != idt.Subject || act["sub"] != xClient || act["client_id"] != xClient || c["client_id"] != xClient {
		t.Errorf("claims %v", c)
	}
	if aud := toStrings(c["aud"]); !slices.Equal(aud, []string{"orders"}) {
		t.Errorf("aud %v, want [orders] alone", aud)
	}
	if c["exp"].(float64) > orig["exp"].(float64) || c["sid"] != orig["sid"] {
		t.Errorf("exp %v sid %v; the subject token's: %v %v", c["exp"], c["sid"], orig["exp"], orig["sid"])
	}
	in := introspectAs(t, b, "orders", "orders-secret", del)
	if ia, _ := in["act"].(map[string]any); in["active"] != true || ia["sub"] != xClient {
		t.Errorf("introspection: %v", in)
	}
	// A token for orders is no longer the service's to delegate.
	if r := postToken(t, b.URL, xClient, xSecret, exchangeForm(del, protocol.TokenTypeAccessToken)); r.Status != 400 || r.str("error") != "invalid_request" {
		t.Errorf("delegating a token for orders: %d %v", r.Status, r.Body)
	}

	// The service's own token as actor_token; delegating a delegated
	// token (for the service itself, no audience asked) again nests the
	// previous actor.
	mine := postToken(t, b.URL, xClient, xSecret, exchangeForm(alice, protocol.TokenTypeAccessToken, "scope", "openid email")).str("access_token")
	cc := postToken(t, b.URL, xClient, xSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}).str("access_token")
	r = postToken(t, b.URL, xClient, xSecret, exchangeForm(mine, protocol.TokenTypeAccessToken, "scope", "email",
		"actor_token", cc, "actor_token_type", protocol.TokenTypeAccessToken))
	if r.Status != 200 {
		t.Fatalf("second delegation: %d %v", r.Status, r.Body)
	}
	act, _ = jwtClaims(t, r.str("access_token"))["act"].(map[string]any)
	if inner, _ := act["act"].(map[string]any); act["sub"] != xClient || inner["sub"] != xClient {
		t.Errorf("nested act %v", act)
	}

	// The test app's own service token as subject is no user's; its token
	// as actor is another client's.
	appCC := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"client_credentials"}}).str("access_token")
	for _, tc := range []struct {
		name, subject, code string
		kv                  []string
	}{
		{name: "scope widening", subject: alice, kv: []string{"scope", "openid groups"}, code: "invalid_scope"},
		{name: "admin scope", subject: alice, kv: []string{"scope", "admin"}, code: "invalid_scope"},
		{name: "audience not allowed", subject: alice, kv: []string{"audience", "payroll"}, code: "invalid_target"},
		{name: "another client's actor", subject: alice, kv: []string{"actor_token", appCC, "actor_token_type", protocol.TokenTypeAccessToken}, code: "invalid_request"},
		{name: "not a user's token", subject: appCC, code: "invalid_request"},
		{name: "forged token", subject: alice[:len(alice)-4] + "AAAA", code: "invalid_request"},
		{name: "refresh token as access token", subject: tok.RefreshToken, code: "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := postToken(t, b.URL, xClient, xSecret, exchangeForm(tc.subject, protocol.TokenTypeAccessToken, tc.kv...))
			if r.Status != 400 || r.str("error") != tc.code {
				t.Errorf("got %d %v, want 400 %s", r.Status, r.Body, tc.code)
			}
		})
	}

	// A revoked subject token is refused.
	revoke(t, b, alice, "access_token")
	if r := postToken(t, b.URL, xClient, xSecret, exchangeForm(alice, protocol.TokenTypeAccessToken)); r.str("error") != "invalid_request" {
		t.Errorf("revoked subject token: %d %v", r.Status, r.Body)
	}
	// Ending alice's session (revoking its refresh token) ends the
	// delegated token too: it names the session.
	if introspectAs(t, b, "orders", "orders-secret", del)["active"] != true {
		t.Fatal("the delegated token died with the subject token alone")
	}
	revoke(t, b, tok.RefreshToken, "refresh_token")
	if in := introspectAs(t, b, "orders", "orders-secret", del); in["active"] != false {
		t.Errorf("the delegated token outlived the session: %v", in)
	}
}

// TestExchangeDelegationOff: a client allowed only external issuers, or a
// token meant for neither it nor a client it delegates from, is refused.
func TestExchangeDelegationOff(t *testing.T) {
	cfg := exchangeConfig(t, newExtIssuer(t), "")
	x := cfg.Clients[len(cfg.Clients)-2].TokenExchange
	b := testenv.Start(t, cfg)
	tok, _ := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	x.Delegation, x.DelegationFrom = false, nil
	b.Restart(t)
	if r := postToken(t, b.URL, xClient, xSecret, exchangeForm(tok.AccessToken, protocol.TokenTypeAccessToken)); r.str("error") != "unauthorized_client" {
		t.Errorf("delegation off: %d %v", r.Status, r.Body)
	}
	x.Delegation = true // but not from the test app
	b.Restart(t)
	if r := postToken(t, b.URL, xClient, xSecret, exchangeForm(tok.AccessToken, protocol.TokenTypeAccessToken)); r.str("error") != "invalid_request" {
		t.Errorf("a token meant for another client: %d %v", r.Status, r.Body)
	}
}

// TestExchangeAdminClient: a client created through the admin API with
// token_exchange may exchange at once; one naming an unknown issuer, or
// the grant without the setting, is refused with a 400.
func TestExchangeAdminClient(t *testing.T) {
	cfg := exchangeConfig(t, newExtIssuer(t), "")
	cfg.Clients = append(cfg.Clients, config.Client{ID: adminClientID, Secret: adminClientSecret,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"admin"}, Admin: true})
	b := testenv.Start(t, cfg)
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	grants := []string{core.GrantTokenExchange}
	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"unknown issuer", map[string]any{"id": "x1", "grant_types": grants, "token_exchange": map[string]any{"issuers": []string{"nope"}}}},
		{"grant without setting", map[string]any{"id": "x2", "grant_types": grants}},
		{"setting without grant", map[string]any{"id": "x3", "grant_types": []string{"client_credentials"}, "token_exchange": map[string]any{"delegation": true}}},
	} {
		if r := call(t, b, admin, "POST", "/clients", tc.body); r.Status != 400 {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Raw)
		}
	}
	r := call(t, b, admin, "POST", "/clients", map[string]any{"id": "runtime-svc", "grant_types": grants,
		"token_exchange": map[string]any{"delegation": true, "delegation_from": []string{testenv.ClientID}}})
	mustStatus(t, r, 201, "create")
	secret, _ := r.Body["client_secret"].(string)
	if x, _ := r.Body["token_exchange"].(map[string]any); x["delegation"] != true {
		t.Errorf("created %s", r.Raw)
	}
	tok, _ := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	if r := postToken(t, b.URL, "runtime-svc", secret, exchangeForm(tok.AccessToken, protocol.TokenTypeAccessToken)); r.Status != 200 {
		t.Errorf("exchange by the runtime client: %d %v", r.Status, r.Body)
	}
}

// TestExchangeBoundSubject: a DPoP-bound token may be exchanged by a
// client it is not meant for (delegation_from) only with a proof of its
// key: otherwise a stolen bound token would come back as a Bearer one.
func TestExchangeBoundSubject(t *testing.T) {
	b := testenv.Start(t, exchangeConfig(t, newExtIssuer(t), ""))
	k := newDPoPKey(t)
	tu := b.URL + "/token"
	// alice's token at example-app, which xClient may delegate from.
	f := newFlow()
	cb, err := newRP(t, b).Authorize(t.Context(), authorizeURL(b.URL, authParams(testenv.ClientID, f)), testenv.UserName, testenv.UserPassword)
	if err != nil || cb.Query.Get("code") == "" {
		t.Fatalf("login: %v %v", err, cb.Query)
	}
	bound := dpopPost(t, nil, tu, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"authorization_code"},
		"code": {cb.Query.Get("code")}, "redirect_uri": {testenv.RedirectURI}, "code_verifier": {f.Verifier}},
		k.proof(t, "POST", tu, nil)).str("access_token")
	form := exchangeForm(bound, protocol.TokenTypeAccessToken)
	if r := dpopPost(t, nil, tu, xClient, xSecret, form); r.Status != http.StatusBadRequest || r.str("error") != "invalid_request" {
		t.Errorf("a bound token, no proof: %d %v", r.Status, r.Body)
	}
	if r := dpopPost(t, nil, tu, xClient, xSecret, form, newDPoPKey(t).proof(t, "POST", tu, nil)); r.Status != http.StatusBadRequest {
		t.Errorf("a bound token, another key: %d %v", r.Status, r.Body)
	}
	if r := dpopPost(t, nil, tu, xClient, xSecret, form, k.proof(t, "POST", tu, nil)); r.Status != http.StatusOK || r.str("token_type") != "DPoP" {
		t.Errorf("a bound token with its key: %d %v", r.Status, r.Body)
	}
}
