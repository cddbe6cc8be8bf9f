package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/journey"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// Credentials of the provisioners the SCIM tests declare in the file:
// "okta" matches users by externalId (the SAML NameID), "entra" by
// userName, both bound to the SAML connector.
var (
	oktaToken  = "portico_scim.okta." + strings.Repeat("o", 43)
	entraToken = "portico_scim.entra." + strings.Repeat("e", 43)
)

// scimBroker is the admin test broker with the SAML IdP as connector
// "corp-saml" and two provisioners bound to it.
func scimBroker(t *testing.T) *testenv.Broker {
	t.Helper()
	idp := testenv.StartSAMLIdP(t)
	cfg := adminConfig(t)
	cfg.Connectors = append(cfg.Connectors, config.Connector{ID: "corp-saml", Type: "saml", Name: "Corporate SSO",
		Config: map[string]any{"idp_metadata_url": idp.MetadataURL, "insecure_allow_http": true}})
	cfg.SCIM.Provisioners = []config.SCIMProvisioner{
		{ID: "okta", Connector: "corp-saml", Subject: "externalId", Token: oktaToken},
		{ID: "entra", Connector: "corp-saml", Subject: "userName", Token: entraToken},
	}
	b := testenv.Start(t, cfg)
	if err := idp.RegisterSP(context.Background(), journey.MetadataURL(b.URL, "corp-saml")); err != nil {
		t.Fatal(err)
	}
	return b
}

// scimCall sends a SCIM request; body, when not nil, as application/scim+json
// (a string is sent as it is). hdr are extra header name/value pairs.
func scimCall(t *testing.T, b *testenv.Broker, token, method, path string, body any, hdr ...string) apiResp {
	t.Helper()
	var rd io.Reader
	if m, ok := body.(map[string]any); ok && m["schemas"] == nil && (method == "POST" || method == "PUT") {
		// schemas is required; tests of its absence send a string.
		m["schemas"] = []string{"urn:ietf:params:scim:schemas:core:2.0:User"}
		if strings.HasPrefix(path, "/Groups") {
			m["schemas"] = []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}
		}
	}
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, b.URL+"/scim/v2"+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := apiResp{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("%s %s answered %d with non-JSON %q", method, path, resp.StatusCode, raw)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
			t.Errorf("%s %s: Content-Type %q", method, path, ct)
		}
	}
	return r
}

// must fails the test unless r has status want.
func (r apiResp) must(t *testing.T, want int, what string) apiResp {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: %d %s, want %d", what, r.Status, r.Raw, want)
	}
	return r
}

func (r apiResp) str(k string) string { s, _ := r.Body[k].(string); return s }

func (r apiResp) total() int { n, _ := r.Body["totalResults"].(float64); return int(n) }

func patchOp(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}
}

func op(o, path string, value any) map[string]any {
	m := map[string]any{"op": o}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}

func filterQuery(f string) string { return "?filter=" + url.QueryEscape(f) }

// TestSCIMOkta is acceptance 5 for Okta: the requests Okta's SCIM 2.0
// provisioning sends (developer.okta.com, "SCIM 2.0 protocol reference")
// to create, update, deactivate and delete a user and push a group.
func TestSCIMOkta(t *testing.T) {
	b := scimBroker(t)
	ctx := context.Background()
	tok := oktaToken
	a := testenv.SAMLAlice
	// Okta looks the user up first, paged.
	r := scimCall(t, b, tok, "GET", "/Users"+filterQuery(`userName eq "`+a.Email+`"`)+"&startIndex=1&count=100", nil).must(t, 200, "existence check")
	if r.total() != 0 || r.Body["Resources"] == nil {
		t.Fatalf("existence check: %s", r.Raw)
	}
	user := map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": a.Email, "externalId": a.NameID,
		"name":        map[string]any{"givenName": "Alice", "familyName": "Saml"},
		"emails":      []any{map[string]any{"primary": true, "value": a.Email, "type": "work"}},
		"displayName": "Alice Saml", "locale": "en-US", "groups": []any{}, "password": "ignored-1!", "active": true,
	}
	r = scimCall(t, b, tok, "POST", "/Users", user).must(t, 201, "create user")
	id := r.str("id")
	if r.Header.Get("Location") != b.URL+"/scim/v2/Users/"+id || r.Header.Get("ETag") != `W/"1"` || r.Body["password"] != nil {
		t.Errorf("created: Location %q ETag %q, %s", r.Header.Get("Location"), r.Header.Get("ETag"), r.Raw)
	}
	u, err := b.Server.Store.GetUser(ctx, id)
	if err != nil || u.Username != a.Email || u.Email != a.Email || u.Disabled {
		t.Fatalf("Portico user %+v, %v", u, err)
	}
	if ident, err := b.Server.Store.GetIdentity(ctx, "corp-saml", a.NameID); err != nil || ident.UserID != id {
		t.Fatalf("identity at corp-saml: %+v, %v", ident, err)
	}
	// Okta updates a profile with PUT, the whole user.
	user["name"] = map[string]any{"givenName": "Alicia", "familyName": "Saml"}
	user["displayName"] = "Alicia Saml"
	r = scimCall(t, b, tok, "PUT", "/Users/"+id, user).must(t, 200, "put user")
	if r.str("displayName") != "Alicia Saml" || r.Header.Get("ETag") != `W/"2"` {
		t.Errorf("after PUT: %s %q", r.Raw, r.Header.Get("ETag"))
	}
	// Group push: look up, create, add the member, rename, remove.
	scimCall(t, b, tok, "GET", "/Groups"+filterQuery(`displayName eq "Engineering"`), nil).must(t, 200, "group lookup")
	r = scimCall(t, b, tok, "POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": "Engineering", "members": []any{}}).must(t, 201, "create group")
	gid := r.str("id")
	scimCall(t, b, tok, "PATCH", "/Groups/"+gid, patchOp(op("add", "members", []any{map[string]any{"value": id, "display": a.Email}}))).must(t, 204, "add member")
	if u, _ := b.Server.Store.GetUser(ctx, id); !slices.Contains(u.ProvisionedGroups, "Engineering") {
		t.Errorf("member's groups %q", u.ProvisionedGroups)
	}
	r = scimCall(t, b, tok, "GET", "/Users/"+id, nil).must(t, 200, "get user")
	if gs, _ := r.Body["groups"].([]any); len(gs) != 1 {
		t.Errorf("user's groups attribute: %s", r.Raw)
	}
	scimCall(t, b, tok, "PATCH", "/Groups/"+gid, patchOp(op("replace", "", map[string]any{"id": gid, "displayName": "Eng"}))).must(t, 204, "rename")
	if u, _ := b.Server.Store.GetUser(ctx, id); !slices.Equal(u.ProvisionedGroups, []string{"Eng"}) {
		t.Errorf("after rename, member's groups %q", u.ProvisionedGroups)
	}
	r = scimCall(t, b, tok, "GET", "/Groups"+filterQuery(`members.value eq "`+id+`"`), nil).must(t, 200, "groups of member")
	if r.total() != 1 {
		t.Errorf("groups with member: %s", r.Raw)
	}
	scimCall(t, b, tok, "PATCH", "/Groups/"+gid, patchOp(op("remove", `members[value eq "`+id+`"]`, nil))).must(t, 204, "remove member")
	if u, _ := b.Server.Store.GetUser(ctx, id); len(u.ProvisionedGroups) != 0 {
		t.Errorf("after removal, member's groups %q", u.ProvisionedGroups)
	}
	// Deactivate: Okta's no-path replace.
	r = scimCall(t, b, tok, "PATCH", "/Users/"+id, patchOp(op("replace", "", map[string]any{"active": false}))).must(t, 200, "deactivate")
	if r.Body["active"] != false {
		t.Errorf("deactivated: %s", r.Raw)
	}
	if u, _ := b.Server.Store.GetUser(ctx, id); !u.Disabled {
		t.Error("the Portico user is not disabled")
	}
	scimCall(t, b, tok, "PATCH", "/Users/"+id, patchOp(op("replace", "", map[string]any{"active": true}))).must(t, 200, "reactivate")
	scimCall(t, b, tok, "DELETE", "/Groups/"+gid, nil).must(t, 204, "delete group")
	scimCall(t, b, tok, "DELETE", "/Users/"+id, nil).must(t, 204, "delete user")
	scimCall(t, b, tok, "GET", "/Users/"+id, nil).must(t, 404, "deleted user")
	if _, err := b.Server.Store.GetUser(ctx, id); err == nil {
		t.Error("the Portico user outlived its deletion")
	}
	// The audit trail (logged at once, stored in the background) names
	// the provisioner.
	logs := b.Logs()
	for _, want := range []string{"scim.user_create", "scim.user_update", "scim.user_deactivate", "scim.user_delete", "scim.group_create", "scim.group_delete"} {
		if !strings.Contains(logs, `"type":"`+want+`"`) {
			t.Errorf("audit lacks %s", want)
		}
	}
	if !strings.Contains(logs, `"actor":"scim:okta"`) {
		t.Error("no audit event names the provisioner")
	}
}

// TestSCIMEntra is acceptance 5 for Microsoft Entra ID: the requests of
// its provisioning service (learn.microsoft.com, "Tutorial: Develop and
// plan provisioning for a SCIM endpoint"), capitalized ops, the string
// booleans and the enterprise extension included.
func TestSCIMEntra(t *testing.T) {
	b := scimBroker(t)
	ctx := context.Background()
	tok := entraToken
	upn := testenv.SAMLBob.NameID // the provisioner matches by userName
	ent := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	scimCall(t, b, tok, "GET", "/Users"+filterQuery(`userName eq "`+upn+`"`), nil).must(t, 200, "existence check")
	r := scimCall(t, b, tok, "POST", "/Users", map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:User", ent},
		"externalId": "bob", "userName": upn, "active": true, "displayName": "Bob Saml",
		"emails": []any{map[string]any{"primary": true, "type": "work", "value": "bob@idp.example"}},
		"meta":   map[string]any{"resourceType": "User"},
		"name":   map[string]any{"formatted": "Bob Saml", "familyName": "Saml", "givenName": "Bob"},
		"roles":  []any{},
		ent:      map[string]any{"employeeNumber": "42", "department": "Sales"},
	}).must(t, 201, "create user")
	id := r.str("id")
	if schemas, _ := r.Body["schemas"].([]any); len(schemas) != 2 {
		t.Errorf("schemas of a user with the extension: %s", r.Raw)
	}
	r = scimCall(t, b, tok, "GET", "/Users"+filterQuery(`userName eq "`+upn+`"`), nil).must(t, 200, "lookup")
	if r.total() != 1 {
		t.Fatalf("lookup: %s", r.Raw)
	}
	r = scimCall(t, b, tok, "PATCH", "/Users/"+id, patchOp(
		op("Replace", "displayName", "Robert Saml"),
		op("Add", `emails[type eq "work"].value`, "robert@idp.example"),
		op("Replace", "name.familyName", "Saml-Jones"),
		op("Add", `phoneNumbers[type eq "mobile"].value`, "+1 555 0100"),
		op("Replace", ent+":department", "Marketing"),
	)).must(t, 200, "update")
	if r.str("displayName") != "Robert Saml" || !strings.Contains(string(r.Raw), `"robert@idp.example"`) ||
		!strings.Contains(string(r.Raw), `"Marketing"`) || !strings.Contains(string(r.Raw), `"+1 555 0100"`) {
		t.Errorf("after update: %s", r.Raw)
	}
	if u, _ := b.Server.Store.GetUser(ctx, id); u.Email != "robert@idp.example" || u.Name != "Robert Saml" {
		t.Errorf("Portico user %+v", u)
	}
	r = scimCall(t, b, tok, "GET", "/Users"+filterQuery(`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "marketing" and emails[type eq "work" and value sw "robert"]`), nil).must(t, 200, "extension filter")
	if r.total() != 1 {
		t.Errorf("filter on the extension: %s", r.Raw)
	}
	// Groups: Entra excludes members from lookups.
	r = scimCall(t, b, tok, "GET", "/Groups?excludedAttributes=members&filter="+url.QueryEscape(`displayName eq "Sales"`), nil).must(t, 200, "group lookup")
	r = scimCall(t, b, tok, "POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"externalId": "8aa1a0c0", "displayName": "Sales", "members": []any{}}).must(t, 201, "create group")
	gid := r.str("id")
	scimCall(t, b, tok, "PATCH", "/Groups/"+gid, patchOp(op("Add", "members", []any{map[string]any{"value": id}}))).must(t, 204, "add member")
	r = scimCall(t, b, tok, "GET", "/Groups/"+gid+"?excludedAttributes=members", nil).must(t, 200, "get group")
	if r.Body["members"] != nil || r.str("displayName") != "Sales" {
		t.Errorf("excludedAttributes=members: %s", r.Raw)
	}
	scimCall(t, b, tok, "PATCH", "/Groups/"+gid, patchOp(op("Replace", "displayName", "Sales EMEA"))).must(t, 204, "rename")
	if u, _ := b.Server.Store.GetUser(ctx, id); !slices.Equal(u.ProvisionedGroups, []string{"Sales EMEA"}) {
		t.Errorf("member's groups %q", u.ProvisionedGroups)
	}
	scimCall(t, b, tok, "PATCH", "/Groups/"+gid, patchOp(op("Remove", "members", []any{map[string]any{"value": id}}))).must(t, 204, "remove member")
	if u, _ := b.Server.Store.GetUser(ctx, id); len(u.ProvisionedGroups) != 0 {
		t.Errorf("member's groups %q", u.ProvisionedGroups)
	}
	// Disable: Entra's string boolean.
	r = scimCall(t, b, tok, "PATCH", "/Users/"+id, patchOp(op("Replace", "active", "False"))).must(t, 200, "disable")
	if r.Body["active"] != false {
		t.Errorf("disabled: %s", r.Raw)
	}
	scimCall(t, b, tok, "DELETE", "/Groups/"+gid, nil).must(t, 204, "delete group")
	scimCall(t, b, tok, "DELETE", "/Users/"+id, nil).must(t, 204, "delete user")
	// The other provisioner never saw any of it.
	if r := scimCall(t, b, oktaToken, "GET", "/Users", nil).must(t, 200, "okta's users"); r.total() != 0 {
		t.Errorf("okta sees entra's users: %s", r.Raw)
	}
}

// TestSCIMDiscovery: the three discovery endpoints say what is served.
func TestSCIMDiscovery(t *testing.T) {
	b := scimBroker(t)
	r := scimCall(t, b, oktaToken, "GET", "/ServiceProviderConfig", nil).must(t, 200, "config")
	if p, _ := r.Body["patch"].(map[string]any); p["supported"] != true {
		t.Errorf("ServiceProviderConfig: %s", r.Raw)
	}
	if r := scimCall(t, b, oktaToken, "GET", "/Schemas", nil).must(t, 200, "schemas"); r.total() != 3 {
		t.Errorf("Schemas: %s", r.Raw)
	}
	scimCall(t, b, oktaToken, "GET", "/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", nil).must(t, 200, "enterprise schema")
	if r := scimCall(t, b, oktaToken, "GET", "/ResourceTypes", nil).must(t, 200, "types"); r.total() != 2 {
		t.Errorf("ResourceTypes: %s", r.Raw)
	}
	scimCall(t, b, oktaToken, "GET", "/ResourceTypes/Group", nil).must(t, 200, "group type")
	scimCall(t, b, oktaToken, "GET", "/Nope", nil).must(t, 404, "unknown endpoint")
}

// scimUser provisions a user through okta and returns its id.
func scimUser(t *testing.T, b *testenv.Broker, userName, externalID string) string {
	t.Helper()
	r := scimCall(t, b, oktaToken, "POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName, "externalId": externalID, "active": true}).must(t, 201, "create "+userName)
	return r.str("id")
}

var _ = fmt.Sprint
