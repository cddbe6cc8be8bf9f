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
