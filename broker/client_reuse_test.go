package broker_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/portico-idp/portico/testenv"
)

// TestDeletedClientSessionsEnd: deleting a client ends its sessions, even
// when a client of the same id is created again (a public one here, which
// needs no secret): its refresh token is refused, while the new client's
// own sessions work. Before, the old session refreshed through the new
// client (found by a black-box attack).
func TestDeletedClientSessionsEnd(t *testing.T) {
	b := testenv.Start(t, adminConfig(t))
	ctx := t.Context()
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	create := func(public bool) string {
		body := map[string]any{"id": "reuse-1", "redirect_uris": []string{testenv.RedirectURI},
			"grant_types": []string{"authorization_code", "refresh_token"}, "public": public}
		r := call(t, b, admin, "POST", "/clients", body)
		mustStatus(t, r, 201, "create reuse-1")
		secret, _ := r.Body["client_secret"].(string)
		return secret
	}
	login := func(secret string) string {
		rp, err := testenv.NewRP(ctx, b.URL, "reuse-1", secret, testenv.RedirectURI, "openid", "offline_access")
		if err != nil {
			t.Fatal(err)
		}
		rp.Connector = "local"
		tok, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
		if err != nil {
			t.Fatalf("login through reuse-1: %v", err)
		}
		if tok.RefreshToken == "" {
			t.Fatal("login through reuse-1: no refresh token")
		}
		return tok.RefreshToken
	}
	refreshAs := func(rt string) tokenResponse {
		return postToken(t, b.URL, "reuse-1", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"reuse-1"}})
	}

	old := login(create(false))
	mustStatus(t, call(t, b, admin, "DELETE", "/clients/reuse-1", nil), http.StatusNoContent, "delete reuse-1")
	create(true)
	if r := refreshAs(old); r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
		t.Errorf("the deleted client's session through its namesake: %d %v, want 400 invalid_grant", r.Status, r.Body)
	}
	if r := refreshAs(login("")); r.Status != http.StatusOK {
		t.Errorf("the new client's own session: %d %v", r.Status, r.Body)
	}
}

// TestDeletedClientTokensInactive: what a deleted client was given is
// worth nothing to a client created again with its id: a code it had not
// redeemed yet is refused, so is its device code, and introspection calls its refresh and access
// tokens inactive, while the new client's own are active. Before, the
// code was redeemed and both tokens introspected active (the token
// endpoint refused the refresh token already).
func TestDeletedClientTokensInactive(t *testing.T) {
	const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"
	b := testenv.Start(t, adminConfig(t))
	ctx := t.Context()
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	create := func() string {
		body := map[string]any{"id": "reuse-2", "redirect_uris": []string{testenv.RedirectURI},
			"grant_types": []string{"authorization_code", "refresh_token", deviceGrant}}
		r := call(t, b, admin, "POST", "/clients", body)
		mustStatus(t, r, 201, "create reuse-2")
		secret, _ := r.Body["client_secret"].(string)
		return secret
	}
	rpOf := func(secret string) *testenv.RP {
		rp, err := testenv.NewRP(ctx, b.URL, "reuse-2", secret, testenv.RedirectURI, "openid", "offline_access")
		if err != nil {
			t.Fatal(err)
		}
		rp.Connector = "local"
		return rp
	}
	login := func(rp *testenv.RP) (access, refresh string) {
		tok, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
		if err != nil {
			t.Fatalf("login through reuse-2: %v", err)
		}
		return tok.AccessToken, tok.RefreshToken
	}
	active := func(secret, token string) bool {
		t.Helper()
		st, body := postForm(t, b.URL+"/introspect", "reuse-2", secret, url.Values{"token": {token}})
		if st != http.StatusOK {
			t.Fatalf("introspect: %d %v", st, body)
		}
		return body["active"] == true
	}

	oldSecret := create()
	oldRP := rpOf(oldSecret)
	oldAccess, oldRefresh := login(oldRP)
	flow := oldRP.NewFlow()
	cb, err := oldRP.Authorize(ctx, flow.AuthURL, testenv.UserName, testenv.UserPassword)
	if err != nil || cb.Query.Get("code") == "" {
		t.Fatalf("a code for reuse-2: %v %d %.300s", err, cb.Status, cb.Page)
	}
	if !active(oldSecret, oldAccess) || !active(oldSecret, oldRefresh) {
		t.Fatal("the first client's tokens are not active to it")
	}
	st, da := postForm(t, b.URL+"/device/authorize", "reuse-2", oldSecret, url.Values{"scope": {"openid"}})
	deviceCode, _ := da["device_code"].(string)
	if st != http.StatusOK || deviceCode == "" {
		t.Fatalf("device authorization for reuse-2: %d %v", st, da)
	}

	// An access token's iat is in whole seconds: deleted and created again
	// within the second the tokens were issued in (as here, mostly), the
	// new client must still be told from the old.
	mustStatus(t, call(t, b, admin, "DELETE", "/clients/reuse-2", nil), http.StatusNoContent, "delete reuse-2")
	newSecret := create()
	if active(newSecret, oldAccess) {
		t.Error("the deleted client's access token is active to its namesake")
	}
	if active(newSecret, oldRefresh) {
		t.Error("the deleted client's refresh token is active to its namesake")
	}
	if st := userinfoStatus(t, b.URL, oldAccess); st != http.StatusUnauthorized {
		t.Errorf("the deleted client's access token at userinfo: %d, want 401", st)
	}
	r := postToken(t, b.URL, "reuse-2", newSecret, url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query.Get("code")},
		"redirect_uri": {testenv.RedirectURI}, "code_verifier": {flow.Verifier}})
	if r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
		t.Errorf("the deleted client's code redeemed by its namesake: %d %v, want 400 invalid_grant", r.Status, r.Body)
	}

	// Pending, it would answer authorization_pending to its own client.
	r = postToken(t, b.URL, "reuse-2", newSecret, url.Values{"grant_type": {deviceGrant}, "device_code": {deviceCode}})
	if r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
		t.Errorf("the deleted client's device code polled by its namesake: %d %v, want 400 invalid_grant", r.Status, r.Body)
	}

	newAccess, newRefresh := login(rpOf(newSecret))
	if !active(newSecret, newAccess) || !active(newSecret, newRefresh) {
		t.Error("the new client's own tokens are not active to it")
	}
}
