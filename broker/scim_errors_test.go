package broker_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestSCIMErrors: bad filters, bad PATCHes and conflicts get RFC 7644
// §3.12 error bodies with the right status and scimType.
func TestSCIMErrors(t *testing.T) {
	b := scimBroker(t)
	id := scimUser(t, b, "carol@example.com", "carol-ext")
	p := "/Users/" + id
	ops := make([]map[string]any, 1001)
	for i := range ops {
		ops[i] = op("add", "title", "x")
	}
	for _, c := range []struct {
		name, method, path string
		body               any
		hdr                []string
		status             int
		scimType           string
	}{
		{"filter without value", "GET", "/Users" + filterQuery(`userName eq`), nil, nil, 400, "invalidFilter"},
		{"unknown attribute", "GET", "/Users" + filterQuery(`shoeSize eq "9"`), nil, nil, 400, "invalidFilter"},
		{"unknown operator", "GET", "/Users" + filterQuery(`userName xx "a"`), nil, nil, 400, "invalidFilter"},
		{"unquoted value", "GET", "/Users" + filterQuery(`userName eq carol`), nil, nil, 400, "invalidFilter"},
		{"long filter", "GET", "/Users" + filterQuery(`userName eq "`+strings.Repeat("a", 1100)+`"`), nil, nil, 400, "invalidFilter"},
		{"deep filter", "GET", "/Users" + filterQuery(strings.Repeat("(", 20)+`userName pr`+strings.Repeat(")", 20)), nil, nil, 400, "invalidFilter"},
		{"co on a boolean", "GET", "/Users" + filterQuery(`active co "t"`), nil, nil, 400, "invalidFilter"},
		{"bad count", "GET", "/Users?count=many", nil, nil, 400, "invalidValue"},
		{"not JSON", "PATCH", p, "{", nil, 400, "invalidSyntax"},
		{"no PatchOp schema", "PATCH", p, map[string]any{"Operations": []any{op("add", "title", "x")}}, nil, 400, "invalidSyntax"},
		{"unknown op", "PATCH", p, patchOp(op("merge", "title", "x")), nil, 400, "invalidSyntax"},
		{"unknown path", "PATCH", p, patchOp(op("replace", "shoeSize", "9")), nil, 400, "invalidPath"},
		{"unparsable path", "PATCH", p, patchOp(op("replace", `emails[type eq`, "x")), nil, 400, "invalidPath"},
		{"remove without path", "PATCH", p, patchOp(op("remove", "", nil)), nil, 400, "noTarget"},
		{"replace, no match", "PATCH", p, patchOp(op("replace", `emails[value co "x"].value`, "y")), nil, 400, "noTarget"},
		{"read-only id", "PATCH", p, patchOp(op("replace", "id", "other")), nil, 400, "mutability"},
		{"not a boolean", "PATCH", p, patchOp(op("replace", "active", "maybe")), nil, 400, "invalidValue"},
		{"userName removed", "PATCH", p, patchOp(op("remove", "userName", nil)), nil, 400, "invalidValue"},
		{"too many operations", "PATCH", p, patchOp(ops...), nil, 400, "tooMany"},
		{"taken userName", "POST", "/Users", map[string]any{"userName": "CAROL@example.com", "externalId": "other"}, nil, 409, "uniqueness"},
		{"taken externalId", "POST", "/Users", map[string]any{"userName": "dave", "externalId": "carol-ext"}, nil, 409, "uniqueness"},
		{"no externalId", "POST", "/Users", map[string]any{"userName": "erin"}, nil, 400, "invalidValue"},
		{"wrong schema", "POST", "/Users", map[string]any{"schemas": []string{"urn:x"}, "userName": "f", "externalId": "f"}, nil, 400, "invalidSyntax"},
		{"member not provisioned", "POST", "/Groups", map[string]any{"displayName": "G", "members": []any{map[string]any{"value": "nobody"}}}, nil, 400, "invalidValue"},
		{"stale If-Match", "PATCH", p, patchOp(op("add", "title", "x")), []string{"If-Match", `W/"7"`}, 412, ""},
		{"unknown user", "GET", "/Users/nobody", nil, nil, 404, ""},
		{"too large", "POST", "/Users", `{"userName":"` + strings.Repeat("a", 1<<20) + `"}`, nil, 413, ""},
		{"form body", "POST", "/Users", "userName=x", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := scimCall(t, b, oktaToken, c.method, c.path, c.body, c.hdr...)
			schemas, _ := r.Body["schemas"].([]any)
			if r.Status != c.status || r.str("scimType") != c.scimType || r.str("status") != fmt.Sprint(c.status) ||
				len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
				t.Errorf("%d %s, want %d %q", r.Status, r.Raw, c.status, c.scimType)
			}
		})
	}
	// None of it changed carol; the right If-Match does.
	r := scimCall(t, b, oktaToken, "GET", p, nil).must(t, 200, "get")
	if r.Header.Get("ETag") != `W/"1"` || r.Body["title"] != nil {
		t.Errorf("after refused requests: %s %s", r.Header.Get("ETag"), r.Raw)
	}
	scimCall(t, b, oktaToken, "PATCH", p, patchOp(op("add", "title", "x")), "If-Match", `W/"1"`).must(t, 200, "matching If-Match")
}
