package broker_test

import (
	"context"
	"slices"
	"testing"
)

// TestSCIMGroupsApart: SCIM groups are the provisioner's own namespace
// (store.User.ProvisionedGroups): deleting or renaming one leaves the
// administrator's local_groups alone, another provisioner's group of the
// same name is another group, and tokens' groups take both.
func TestSCIMGroupsApart(t *testing.T) {
	b := scimBroker(t)
	ctx := context.Background()
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	oid := scimUser(t, b, "olga@corp.example", "olga")
	eid := scimCall(t, b, entraToken, "POST", "/Users", scimNew("erik", "")).must(t, 201, "entra user").str("id")
	mustStatus(t, call(t, b, admin, "PATCH", "/users/"+oid, map[string]any{"local_groups": []string{"Sales"}}), 200, "local group")
	og := scimCall(t, b, oktaToken, "POST", "/Groups", map[string]any{"displayName": "Sales", "members": []any{map[string]any{"value": oid}}}).must(t, 201, "okta Sales").str("id")
	eg := scimCall(t, b, entraToken, "POST", "/Groups", map[string]any{"displayName": "Sales", "members": []any{map[string]any{"value": eid}}}).must(t, 201, "entra Sales").str("id")
	scimCall(t, b, oktaToken, "POST", "/Groups", map[string]any{"displayName": "x", "members": []any{map[string]any{"value": eid}}}).must(t, 400, "entra's user in okta's group")
	groups := func(id string) ([]string, []string) {
		u, err := b.Server.Store.GetUser(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return u.LocalGroups, u.ProvisionedGroups
	}
	r := call(t, b, admin, "GET", "/users/"+oid, nil)
	if pg, _ := r.Body["provisioned_groups"].([]any); len(pg) != 1 || pg[0] != "Sales" {
		t.Errorf("admin API view: %s", r.Raw)
	}
	for _, c := range []struct {
		name, token, path string
		body              any
		status            int
	}{
		{"entra deletes its Sales", entraToken, "/Groups/" + eg, nil, 204},
		{"okta renames its Sales", oktaToken, "/Groups/" + og, patchOp(op("replace", "displayName", "Sales EU")), 204},
		{"okta deletes it", oktaToken, "/Groups/" + og, nil, 204},
	} {
		method := "DELETE"
		if c.body != nil {
			method = "PATCH"
		}
		scimCall(t, b, c.token, method, c.path, c.body).must(t, c.status, c.name)
		if local, _ := groups(oid); !slices.Equal(local, []string{"Sales"}) {
			t.Errorf("%s: okta user's local_groups %q", c.name, local)
		}
		_, prov := groups(oid)
		want := map[string][]string{"entra deletes its Sales": {"Sales"}, "okta renames its Sales": {"Sales EU"}, "okta deletes it": nil}[c.name]
		if !slices.Equal(prov, want) {
			t.Errorf("%s: okta user's provisioned groups %q, want %q", c.name, prov, want)
		}
	}
	if _, prov := groups(eid); len(prov) != 0 {
		t.Errorf("entra user's groups %q", prov)
	}
}

// TestSCIMActiveKept: a PUT without active keeps the user's state (a
// disabled user stays disabled), removing active is refused, and a user
// an administrator disabled reads as inactive and stays so through a
// PATCH of something else.
func TestSCIMActiveKept(t *testing.T) {
	b := scimBroker(t)
	ctx := context.Background()
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	id := scimUser(t, b, "pat@corp.example", "pat")
	disabled := func() bool { u, _ := b.Server.Store.GetUser(ctx, id); return u.Disabled }
	scimCall(t, b, oktaToken, "PATCH", "/Users/"+id, patchOp(op("replace", "active", false))).must(t, 200, "deactivate")
	scimCall(t, b, oktaToken, "PUT", "/Users/"+id, map[string]any{"userName": "pat@corp.example", "externalId": "pat", "title": "x"}).must(t, 200, "put without active")
	if !disabled() {
		t.Error("PUT without active re-enabled the user")
	}
	r := scimCall(t, b, oktaToken, "PATCH", "/Users/"+id, patchOp(op("remove", "active", nil))).must(t, 400, "remove active")
	if r.str("scimType") != "mutability" || !disabled() {
		t.Errorf("remove active: %s, disabled %v", r.Raw, disabled())
	}
	scimCall(t, b, oktaToken, "PATCH", "/Users/"+id, patchOp(op("replace", "active", true))).must(t, 200, "activate")
	mustStatus(t, call(t, b, admin, "PATCH", "/users/"+id, map[string]any{"disabled": true}), 200, "admin disables")
	if r := scimCall(t, b, oktaToken, "GET", "/Users/"+id, nil).must(t, 200, "get"); r.Body["active"] != false {
		t.Errorf("disabled by the admin, SCIM says %v", r.Body["active"])
	}
	scimCall(t, b, oktaToken, "PATCH", "/Users/"+id, patchOp(op("replace", "title", "y"))).must(t, 200, "patch title")
	if !disabled() {
		t.Error("a PATCH of title re-enabled a user the admin disabled")
	}
}

// TestSCIMDeletedElsewhere: a user the admin API deleted is gone for
// SCIM: 404 by id, absent from lists and group members, refused as a
// new member.
func TestSCIMDeletedElsewhere(t *testing.T) {
	b := scimBroker(t)
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	keep := scimUser(t, b, "kim@corp.example", "kim")
	gone := scimUser(t, b, "gus@corp.example", "gus")
	gid := scimCall(t, b, oktaToken, "POST", "/Groups", map[string]any{"displayName": "Ops",
		"members": []any{map[string]any{"value": keep}, map[string]any{"value": gone}}}).must(t, 201, "group").str("id")
	other := scimCall(t, b, oktaToken, "POST", "/Groups", map[string]any{"displayName": "Dev"}).must(t, 201, "group").str("id")
	mustStatus(t, call(t, b, admin, "DELETE", "/users/"+gone, nil), 204, "admin deletes")
	for _, c := range []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"get", "GET", "/Users/" + gone, nil, 404},
		{"put", "PUT", "/Users/" + gone, map[string]any{"userName": "gus@corp.example", "externalId": "gus"}, 404},
		{"patch", "PATCH", "/Users/" + gone, patchOp(op("replace", "title", "x")), 404},
		{"add as member", "PATCH", "/Groups/" + other, patchOp(op("add", "members", []any{map[string]any{"value": gone}})), 400},
	} {
		t.Run(c.name, func(t *testing.T) { scimCall(t, b, oktaToken, c.method, c.path, c.body).must(t, c.status, c.name) })
	}
	if r := scimCall(t, b, oktaToken, "GET", "/Users", nil).must(t, 200, "list"); r.total() != 1 {
		t.Errorf("list: %s", r.Raw)
	}
	r := scimCall(t, b, oktaToken, "GET", "/Groups/"+gid, nil).must(t, 200, "group")
	if ms, _ := r.Body["members"].([]any); len(ms) != 1 {
		t.Errorf("members: %s", r.Raw)
	}
}
