package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/testenv"
)

// loggedIn makes a Portico user as a login through corp-saml would
// have (an identity with subject sub, not provisioned), with roles and
// disabled as given, and returns its id.
func loggedIn(t *testing.T, b *testenv.Broker, sub string, disabled bool, roles ...string) string {
	t.Helper()
	u := store.User{ID: "u-" + sub, Username: sub, Email: sub + "@corp.example", EmailVerified: true, Name: "Name " + sub,
		Roles: roles, Disabled: disabled, LocalGroups: []string{"Eng"}, CreatedAt: time.Now().UTC()}
	id := store.Identity{ConnectorID: "corp-saml", Subject: sub, UserID: u.ID, LastSeen: time.Now().UTC()}
	if err := b.Server.Store.CreateUser(context.Background(), u, id); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// scimStatus sends a SCIM POST without touching t (it runs in goroutines).
func scimStatus(b *testenv.Broker, token, path string, body any) int {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", b.URL+"/scim/v2"+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func scimNew(userName, externalID string) map[string]any {
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": userName, "externalId": externalID}
}

// TestSCIMOwnership: a user has at most one provisioner. okta and entra
// are bound to the same connector, entra matching by userName: entra
// must not adopt okta's user, racing adoptions have one winner, and a
// provisioner made again under a deleted one's id inherits nothing.
func TestSCIMOwnership(t *testing.T) {
	b := scimBroker(t)
	ctx := context.Background()
	id := scimUser(t, b, "alice@corp.example", "a1")
	// entra's subject is userName: "a1" names okta's user at corp-saml.
	r := scimCall(t, b, entraToken, "POST", "/Users", scimNew("a1", "")).must(t, 409, "adopt okta's user")
	if r.str("scimType") != "uniqueness" {
		t.Errorf("scimType %q", r.str("scimType"))
	}
	scimCall(t, b, entraToken, "GET", "/Users/"+id, nil).must(t, 404, "okta's user seen by entra")

	// A person who logged in, adopted by both at once: one wins.
	for i := range 5 {
		sub := "race" + string(rune('a'+i))
		loggedIn(t, b, sub, false)
		var wg sync.WaitGroup
		codes := make([]int, 2)
		wg.Go(func() { codes[0] = scimStatus(b, oktaToken, "/Users", scimNew("o-"+sub, sub)) })
		wg.Go(func() { codes[1] = scimStatus(b, entraToken, "/Users", scimNew(sub, "")) })
		wg.Wait()
		if slices.Sort(codes); !slices.Equal(codes, []int{201, 409}) {
			t.Errorf("racing adoptions of %s: %v", sub, codes)
		}
	}

	// gws, made, provisions a user and a group, then is deleted and made again.
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	mk := func() string {
		r := call(t, b, admin, "POST", "/scim-provisioners", map[string]any{"id": "gws", "connector": "corp-saml", "subject": "userName"})
		mustStatus(t, r, 201, "create gws")
		tok, _ := r.Body["token"].(string)
		return tok
	}
	tok := mk()
	gid := scimCall(t, b, tok, "POST", "/Users", scimNew("g1", "")).must(t, 201, "gws user").str("id")
	scimCall(t, b, tok, "POST", "/Groups", map[string]any{"displayName": "GWS", "members": []any{map[string]any{"value": gid}}}).must(t, 201, "gws group")
	mustStatus(t, call(t, b, admin, "DELETE", "/scim-provisioners/gws", nil), 204, "delete gws")
	if u, err := b.Server.Store.GetUser(ctx, gid); err != nil || len(u.ProvisionedGroups) != 0 {
		t.Errorf("after its provisioner's deletion: %+v %v", u, err)
	}
	tok = mk()
	if r := scimCall(t, b, tok, "GET", "/Users", nil).must(t, 200, "list"); r.total() != 0 {
		t.Errorf("the new gws sees the old one's users: %s", r.Raw)
	}
	scimCall(t, b, tok, "GET", "/Users/"+gid, nil).must(t, 404, "old gws user")
	scimCall(t, b, tok, "POST", "/Groups", map[string]any{"displayName": "GWS"}).must(t, 201, "old group's name is free")
	// The user is un-owned now: okta may adopt it (same user).
	if r := scimCall(t, b, oktaToken, "POST", "/Users", scimNew("g1-okta", "g1")).must(t, 201, "adopt un-owned"); r.str("id") != gid {
		t.Errorf("adopted %s, want %s", r.str("id"), gid)
	}
}

// TestSCIMAdoption: adopting a person who logged in keeps what the POST
// does not carry, never re-enables a disabled user, and refuses users
// with roles unless the provisioner has adopt_privileged.
func TestSCIMAdoption(t *testing.T) {
	b := scimBroker(t)
	ctx := context.Background()
	id := loggedIn(t, b, "dis1", true)
	r := scimCall(t, b, oktaToken, "POST", "/Users", map[string]any{"userName": "dis1@corp.example", "externalId": "dis1", "active": true}).
		must(t, 201, "adopt disabled")
	if r.str("id") != id || r.Body["active"] != false {
		t.Errorf("adopted: %s", r.Raw)
	}
	u, _ := b.Server.Store.GetUser(ctx, id)
	if !u.Disabled || u.Name != "Name dis1" || u.Email != "dis1@corp.example" || !u.EmailVerified || !slices.Equal(u.LocalGroups, []string{"Eng"}) {
		t.Errorf("after adoption: %+v", u)
	}
	// Then the provisioner manages active.
	scimCall(t, b, oktaToken, "PATCH", "/Users/"+id, patchOp(op("replace", "active", true))).must(t, 200, "enable")
	if u, _ := b.Server.Store.GetUser(ctx, id); u.Disabled {
		t.Error("PATCH active true did not enable")
	}
	// A PATCH changes its targets only (RFC 7644 §3.5.2): the email and
	// name the login set, which the adoption did not carry, stay. Before,
	// every PATCH cleared them (found by a black-box attack).
	if u, _ := b.Server.Store.GetUser(ctx, id); u.Email != "dis1@corp.example" || !u.EmailVerified || u.Name != "Name dis1" {
		t.Errorf("after PATCH active: %+v", u)
	}
	scimCall(t, b, oktaToken, "PATCH", "/Users/"+id, patchOp(op("replace", "displayName", "Dis One"))).must(t, 200, "rename")
	if u, _ := b.Server.Store.GetUser(ctx, id); u.Email != "dis1@corp.example" || !u.EmailVerified || u.Name != "Dis One" || u.Disabled {
		t.Errorf("after PATCH displayName: %+v", u)
	}
	scimCall(t, b, oktaToken, "PATCH", "/Users/"+id, patchOp(op("replace", "emails", []any{map[string]any{"value": "d1@corp.example", "primary": true}}))).
		must(t, 200, "new email")
	if u, _ := b.Server.Store.GetUser(ctx, id); u.Email != "d1@corp.example" || u.EmailVerified || u.Name != "Dis One" {
		t.Errorf("after PATCH emails: %+v", u)
	}

	adminID := loggedIn(t, b, "boss", false, "admin")
	scimCall(t, b, oktaToken, "POST", "/Users", scimNew("boss", "boss")).must(t, 403, "adopt an admin")
	if u, _ := b.Server.Store.GetUser(ctx, adminID); u.Disabled || u.Username != "boss" {
		t.Errorf("refused adoption changed the admin: %+v", u)
	}
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	r = call(t, b, admin, "POST", "/scim-provisioners", map[string]any{"id": "hr", "connector": "corp-saml", "adopt_privileged": true})
	mustStatus(t, r, 201, "privileged provisioner")
	if r.Body["subject"] != "externalId" || r.Body["adopt_privileged"] != true {
		t.Errorf("provisioner: %s", r.Raw)
	}
	tok, _ := r.Body["token"].(string)
	scimCall(t, b, tok, "POST", "/Users", scimNew("boss", "boss")).must(t, 201, "adopt an admin with adopt_privileged")
}

// TestSCIMLocalConnector: the admin API refuses to bind a provisioner to
// the local connector (its accounts, administrators among them, are
// Portico's own).
func TestSCIMLocalConnector(t *testing.T) {
	b := scimBroker(t)
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	for _, c := range []struct {
		name, connector string
		status          int
	}{{"local", "staff", 400}, {"unknown", "nope", 400}, {"upstream", "corp-saml", 201}} {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, b, admin, "POST", "/scim-provisioners", map[string]any{"id": "p-" + c.name, "connector": c.connector})
			mustStatus(t, r, c.status, c.connector)
		})
	}
}
