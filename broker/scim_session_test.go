package broker_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/portico-idp/portico/testenv"
)

// TestSCIMLoginAndDeprovision is acceptance 6 and the token half of 5: a
// user Okta provisioned (externalId = the SAML NameID) logs in through the
// bound SAML connector as the same user, with the provisioned group in
// the token; Entra-style deactivation ("False") ends its tokens at once.
func TestSCIMLoginAndDeprovision(t *testing.T) {
	b := scimBroker(t)
	ctx := context.Background()
	a := testenv.SAMLAlice
	id := scimUser(t, b, a.Email, a.NameID)
	scimCall(t, b, oktaToken, "POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": "Provisioned", "members": []any{map[string]any{"value": id}}}).must(t, 201, "group")
	rp := newRPFor(t, b, "corp-saml")
	tok, idt, err := rp.LoginSAML(ctx, a.Login, a.Password)
	if err != nil {
		t.Fatal(err)
	}
	if idt.Subject != id {
		t.Fatalf("sub %q after login, SCIM id %q: not the same user", idt.Subject, id)
	}
	var cl struct{ Groups []string }
	idt.Claims(&cl)
	if !slices.Contains(cl.Groups, "Provisioned") {
		t.Errorf("groups %q lack the provisioned group", cl.Groups)
	}
	if !active(t, b, tok.AccessToken) {
		t.Fatal("the access token is not active before deprovisioning")
	}
	scimCall(t, b, oktaToken, "PATCH", "/Users/"+id, patchOp(op("Replace", "active", "False"))).must(t, 200, "deactivate")
	// At once: no clock moves, no cache expires.
	if active(t, b, tok.AccessToken) {
		t.Error("the access token is still active after deprovisioning")
	}
	if r := refresh(t, b, tok.RefreshToken); r.Status != 400 || r.str("error") != "invalid_grant" {
		t.Errorf("refresh after deprovisioning: %d %v", r.Status, r.Body)
	}
	req, _ := http.NewRequest("GET", b.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("userinfo after deprovisioning: %v %v", resp.StatusCode, err)
	}
	// A new login is refused while the user is inactive.
	if _, _, err := newRPFor(t, b, "corp-saml").LoginSAML(ctx, a.Login, a.Password); err == nil {
		t.Error("a deprovisioned user logged in")
	}
	// Reactivated, the same person is the same user again.
	scimCall(t, b, oktaToken, "PATCH", "/Users/"+id, patchOp(op("replace", "", map[string]any{"active": true}))).must(t, 200, "reactivate")
	if _, again, err := newRPFor(t, b, "corp-saml").LoginSAML(ctx, a.Login, a.Password); err != nil || again.Subject != id {
		t.Errorf("after reactivation: %v", err)
	}
}

// TestSCIMCredentialScope: a provisioning credential is good at /scim/v2
// and nowhere else, and nothing else is good at /scim/v2.
func TestSCIMCredentialScope(t *testing.T) {
	b := scimBroker(t)
	for _, p := range []string{"/admin/v1/users", "/userinfo"} {
		req, _ := http.NewRequest("GET", b.URL+p, nil)
		req.Header.Set("Authorization", "Bearer "+oktaToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("SCIM credential at %s: %d", p, resp.StatusCode)
		}
	}
	if active(t, b, oktaToken) {
		t.Error("introspection calls a SCIM credential active")
	}
	if st, _ := postForm(t, b.URL+"/introspect", "okta", oktaToken, url.Values{"token": {"x"}}); st != 401 {
		t.Errorf("SCIM credential as a client secret: %d", st)
	}
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	for name, auth := range map[string]string{
		"admin token": "Bearer " + admin, "no credential": "", "client secret": "Basic " + base64.StdEncoding.EncodeToString([]byte(testenv.ClientID+":"+testenv.ClientSecret)),
		"forged": "Bearer portico_scim.okta." + strings.Repeat("x", 43), "unknown provisioner": "Bearer portico_scim.nobody." + strings.Repeat("x", 43),
	} {
		r := scimCall(t, b, "", "GET", "/Users", nil, "Authorization", auth)
		if r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" || r.str("status") != "401" {
			t.Errorf("%s at /scim/v2: %d %s", name, r.Status, r.Raw)
		}
	}
	// Provisioners through the admin API: made, used, rotated, deleted.
	r := call(t, b, admin, "POST", "/scim-provisioners", map[string]any{"id": "gws", "connector": "corp-saml", "subject": "userName"})
	if r.Status != 201 {
		t.Fatalf("create provisioner: %d %s", r.Status, r.Raw)
	}
	first, _ := r.Body["token"].(string)
	scimCall(t, b, first, "GET", "/Users", nil).must(t, 200, "new credential")
	r = call(t, b, admin, "POST", "/scim-provisioners/gws/token", nil)
	second, _ := r.Body["token"].(string)
	if r.Status != 200 || second == first {
		t.Fatalf("rotate: %d %s", r.Status, r.Raw)
	}
	scimCall(t, b, first, "GET", "/Users", nil).must(t, 401, "rotated-out credential")
	scimCall(t, b, second, "GET", "/Users", nil).must(t, 200, "rotated credential")
	if r := call(t, b, admin, "GET", "/scim-provisioners", nil); r.Status != 200 || strings.Contains(string(r.Raw), "token") {
		t.Errorf("list shows credentials or fails: %d %s", r.Status, r.Raw)
	}
	if r := call(t, b, admin, "POST", "/scim-provisioners/okta/token", nil); r.Status != 409 {
		t.Errorf("rotating a provisioner of the file: %d", r.Status)
	}
	if r := call(t, b, admin, "DELETE", "/scim-provisioners/gws", nil); r.Status != 204 {
		t.Errorf("delete provisioner: %d", r.Status)
	}
	scimCall(t, b, second, "GET", "/Users", nil).must(t, 401, "deleted provisioner")
	if logs := b.Logs(); strings.Contains(logs, second) || strings.Contains(logs, oktaToken) {
		t.Error("a credential reached the log")
	}
	if !strings.Contains(b.Logs(), `"type":"admin.scim_provisioner_rotate"`) {
		t.Error("rotation not audited")
	}
}
