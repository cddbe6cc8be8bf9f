package broker_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/scim"
)

// TestSCIMInput: what the black-box round sent, each refused (or
// accepted) as RFC 7643/7644 and docs/scim.md say.
func TestSCIMInput(t *testing.T) {
	b := scimBroker(t)
	id := scimUser(t, b, "ivy@corp.example", "ivy")
	scimUser(t, b, "caf\u00e9", "cafe1") // composed
	const core = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]`
	user := func(extra map[string]any) map[string]any {
		m := map[string]any{"userName": "u1", "externalId": "u1"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	many := func(n int) string { return strings.TrimSuffix(strings.Repeat("userName pr and ", n), " and ") }
	for _, c := range []struct {
		name, method, path string
		body               any
		hdr                []string
		status             int
		scimType           string
	}{
		{"no schemas", "POST", "/Users", `{"userName":"n","externalId":"n"}`, nil, 400, "invalidSyntax"},
		{"duplicate key", "POST", "/Users", `{` + core + `,"userName":"a","UserName":"b","externalId":"d"}`, nil, 400, "invalidSyntax"},
		// encoding/json turned it into U+FFFD (found by a black-box attack).
		{"unpaired surrogate escape", "POST", "/Users", `{` + core + `,"userName":"sur\ud800x","externalId":"d"}`, nil, 400, "invalidSyntax"},
		{"bidirectional control in userName", "POST", "/Users", `{` + core + `,"userName":"adm\u202enimda","externalId":"d"}`, nil, 400, "invalidValue"},
		{"a taken userName decomposed", "POST", "/Users", user(map[string]any{"userName": "cafe\u0301", "externalId": "cafe2"}), nil, 409, "uniqueness"},
		{"invalid UTF-8", "POST", "/Users", "{" + core + `,"userName":"a\xff","externalId":"e"}`, nil, 400, "invalidSyntax"},
		{"userName with spaces", "POST", "/Users", user(map[string]any{"userName": " bob "}), nil, 400, "invalidValue"},
		{"userName with a control", "POST", "/Users", user(map[string]any{"userName": "bo\u0007b"}), nil, 400, "invalidValue"},
		{"email without @", "POST", "/Users", user(map[string]any{"emails": []any{map[string]any{"value": "nope"}}}), nil, 400, "invalidValue"},
		{"email with two @", "POST", "/Users", user(map[string]any{"emails": []any{map[string]any{"value": "a@b@c"}}}), nil, 400, "invalidValue"},
		{"two primaries", "POST", "/Users", user(map[string]any{"emails": []any{map[string]any{"value": "a@x.org", "primary": true},
			map[string]any{"value": "b@x.org", "primary": true}}}), nil, 400, "invalidValue"},
		{"huge startIndex", "GET", "/Users?startIndex=99999999999999999999&count=99999999999999999999", nil, nil, 200, ""},
		{"40 comparisons", "GET", "/Users" + filterQuery(many(40)), nil, nil, 200, ""},
		{"65 comparisons", "GET", "/Users" + filterQuery(many(65)), nil, nil, 400, "invalidFilter"},
		{"replace, filter matches nothing", "PATCH", "/Users/" + id, patchOp(op("replace", `emails[value eq "x@y.org"].type`, "work")), nil, 400, "noTarget"},
		{"password ignored", "PATCH", "/Users/" + id, patchOp(op("replace", "password", "s3cret!")), nil, 200, ""},
		{"custom extension ignored", "PATCH", "/Users/" + id, patchOp(op("add", "urn:example:custom:2.0:User:badge", "7")), nil, 200, ""},
		{"unknown path", "PATCH", "/Users/" + id, patchOp(op("add", "badge", "7")), nil, 400, "invalidPath"},
		{"strong If-Match", "PATCH", "/Users/" + id, patchOp(op("add", "title", "x")), []string{"If-Match", `"1"`}, 412, ""},
		{"trailing slash", "GET", "/Users/", nil, nil, 404, ""},
		{"empty segment", "GET", "//Users", nil, nil, 404, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := scimCall(t, b, oktaToken, c.method, c.path, c.body, c.hdr...)
			if r.Status != c.status || r.str("scimType") != c.scimType {
				t.Errorf("%d %s, want %d %q", r.Status, r.Raw, c.status, c.scimType)
			}
			if c.status >= 400 && r.str("status") != strconv.Itoa(c.status) {
				t.Errorf("not a SCIM error: %s", r.Raw)
			}
		})
	}
	if r := scimCall(t, b, oktaToken, "GET", "/Users/"+id, nil); strings.Contains(string(r.Raw), "s3cret") || strings.Contains(string(r.Raw), "badge") {
		t.Errorf("ignored attributes stored: %s", r.Raw)
	}
	// The admin API's JSON 404 too, not a redirect.
	resp, err := http.Get(b.URL + "/admin/v1/users/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("admin trailing slash: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// RFC 6750 §3.1: error="invalid_token" when a credential was sent.
	for _, c := range []struct{ auth, want string }{
		{"Bearer portico_scim.okta." + strings.Repeat("x", 43), `error="invalid_token"`},
		{"", `Bearer realm="portico-scim"`},
	} {
		r := scimCall(t, b, "", "GET", "/Users", nil, "Authorization", c.auth)
		if h := r.Header.Get("WWW-Authenticate"); r.Status != 401 || !strings.Contains(h, c.want) || (c.auth == "" && strings.Contains(h, "error=")) {
			t.Errorf("auth %q: %d %q", c.auth, r.Status, h)
		}
	}
}

// TestSCIMConnectorGone: a provisioner whose connector left the
// configuration reads but refuses writes with a clear SCIM error: users
// it made could never log in.
func TestSCIMConnectorGone(t *testing.T) {
	b := scimBroker(t)
	tok := scim.Token("ghost", strings.Repeat("g", 43))
	now := time.Now().UTC()
	if err := scim.PutProvisioner(context.Background(), b.Server.Store, scim.Provisioner{ID: "ghost", Connector: "gone", Subject: "externalId",
		TokenHash: core.HashClientSecret(tok), CreatedAt: now, RotatedAt: now}); err != nil {
		t.Fatal(err)
	}
	scimCall(t, b, tok, "GET", "/Users", nil).must(t, 200, "read")
	if r := scimCall(t, b, tok, "POST", "/Users", map[string]any{"userName": "z", "externalId": "z"}).must(t, 503, "write"); !strings.Contains(r.str("detail"), "gone") {
		t.Errorf("detail: %s", r.Raw)
	}
}
