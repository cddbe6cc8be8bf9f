package broker_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// TestAdminInputRules: input the configuration file would refuse is
// refused by the API too, with 400 and the field named, and checked
// against the document.
func TestAdminInputRules(t *testing.T) {
	b := testenv.Start(t, adminConfig(t))
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	_, alice := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	d := loadDoc(t, b)
	user := map[string]string{"id": alice.Subject}
	client := func(id string) map[string]any {
		return map[string]any{"id": id, "redirect_uris": []string{"https://rp.example/cb"}}
	}
	many := make([]string, config.MaxGroups+1)
	for i := range many {
		many[i] = "g" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26%26))
	}
	for _, c := range []struct {
		name, op string
		params   map[string]string
		query    string
		body     any
		field    string // the error_description names it
	}{
		{"client id with a slash", "createClient", nil, "", client("a/b"), "id"},
		{"client id a dot segment", "createClient", nil, "", client(".."), "id"},
		{"client id with a query", "createClient", nil, "", client("?x=1"), "id"},
		{"client id with a space", "createClient", nil, "", client("my app"), "id"},
		{"client id of 300 characters", "createClient", nil, "", client(strings.Repeat("c", 300)), "id"},
		{"relative resource", "createClient", nil, "", withField(client("r1"), "resources", []string{"/api"}), "resources[0]"},
		{"resource with a fragment", "createClient", nil, "", withField(client("r2"), "resources", []string{"https://a.example/#f"}), "resources[0]"},
		{"repeated resource", "createClient", nil, "", withField(client("r3"), "resources", []string{"https://a.example/", "https://a.example/"}), "resources[1]"},
		{"the admin API's audience as resource", "createClient", nil, "", withField(client("r5"), "resources", []string{b.URL + "/admin"}), "resources[0]"},
		{"resource server through the API", "createClient", nil, "", withField(client("r4"), "resource_uris", []string{"https://a.example/"}), "resource_uris"},
		{"5000 redirect URIs", "createClient", nil, "", withField(client("r6"), "redirect_uris", manyURIs(5000)), "redirect_uris"},
		{"101 scopes", "createClient", nil, "", withField(client("r7"), "scopes", slices.Repeat([]string{"openid"}, 101)), "scopes"},
		{"the admin API's audience to exchange for", "createClient", nil, "", map[string]any{"id": "x9",
			"grant_types":    []string{"urn:ietf:params:oauth:grant-type:token-exchange"},
			"token_exchange": map[string]any{"delegation": true, "audiences": []string{b.URL + "/admin"}}}, "token_exchange.audiences"},
		{"empty role", "patchUser", user, "", map[string]any{"roles": []string{""}}, "roles[0]"},
		{"role with a trailing space", "patchUser", user, "", map[string]any{"roles": []string{"admin "}}, "roles[0]"},
		{"repeated role", "patchUser", user, "", map[string]any{"roles": []string{"a", "b", "a"}}, "roles[2]"},
		{"thousands of roles", "patchUser", user, "", map[string]any{"roles": slices.Repeat([]string{"auditor"}, 3000)}, "roles"},
		{"too many local groups", "patchUser", user, "", map[string]any{"local_groups": many}, "local_groups"},
		{"local group of 5000 characters", "patchUser", user, "", map[string]any{"local_groups": []string{"ok", strings.Repeat("g", 5000)}}, "local_groups[1]"},
		{"local group with a newline", "patchUser", user, "", map[string]any{"local_groups": []string{"a\nb"}}, "local_groups[0]"},
		{"account group with a leading space", "createAccount", nil, "", map[string]any{"username": "dora", "password": "pw-pw-pw", "groups": []string{" ops"}}, "groups[0]"},
		{"cursor not given by the API", "listUsers", nil, "?cursor=not-a-cursor", nil, "cursor"},
		{"a user id as cursor", "listUsers", nil, "?cursor=" + alice.Subject, nil, "cursor"},
		{"cursor of bytes", "listUsers", nil, "?cursor=" + url.QueryEscape("\x00\xff"), nil, "cursor"},
		{"q too long", "listUsers", nil, "?q=" + strings.Repeat("q", 257), nil, "q"},
		{"limit past the bound", "listUsers", nil, "?limit=1001", nil, "limit"},
		{"limit twice", "listUsers", nil, "?limit=1&limit=2", nil, "limit"},
		{"limit not a number", "listAudit", nil, "?limit=ten", nil, "limit"},
		{"since not a time", "listAudit", nil, "?since=" + url.QueryEscape("2024-13-01T00:00:00Z"), nil, "since"},
		{"login too long", "listAccounts", nil, "?login=" + strings.Repeat("l", 257), nil, "login"},
		{"connector id with a dot", "createConnector", nil, "", map[string]any{"id": "a.b", "type": "local"}, "id"},
		// Ambiguous JSON (found by a black-box attack): what a proxy or a
		// reviewer reads first must be what is applied.
		{"a key twice", "patchUser", user, "", json.RawMessage(`{"roles":["auditor"],"roles":[]}`), "invalid JSON body"},
		{"a key twice in another case", "patchUser", user, "", json.RawMessage(`{"roles":["auditor"],"ROLES":[]}`), "invalid JSON body"},
		{"an unpaired surrogate", "createClient", nil, "", json.RawMessage(`{"id":"s1","name":"a\ud800b","redirect_uris":["https://rp.example/cb"]}`), "invalid JSON body"},
	} {
		t.Run(c.name, func(t *testing.T) {
			method, path, op, ok := d.opByID(c.op)
			if !ok {
				t.Fatalf("operation %s not documented", c.op)
			}
			r := call(t, b, admin, method, fill(path, c.params)+c.query, c.body)
			mustStatus(t, r, 400, c.name)
			d.conforms(t, c.name, op, r)
			if desc, _ := r.Body["error_description"].(string); !strings.HasPrefix(desc, c.field+":") && !strings.HasPrefix(desc, c.field+" ") {
				t.Errorf("error_description %q does not name %s", desc, c.field)
			}
		})
	}

	// Nothing refused was stored.
	if u := call(t, b, admin, "GET", "/users/"+alice.Subject, nil); u.Body["roles"] != nil || u.Body["local_groups"] != nil {
		t.Errorf("a refused patch was applied: %s", u.Raw)
	}
	if cl := call(t, b, admin, "GET", "/clients", nil); strings.Contains(string(cl.Raw), "my app") || strings.Contains(string(cl.Raw), `"a/b"`) {
		t.Errorf("a refused client was stored: %s", cl.Raw)
	}

	// What the rules allow is stored as given, and a client created
	// without an id gets one it can be addressed by.
	mustStatus(t, call(t, b, admin, "PATCH", "/users/"+alice.Subject, map[string]any{"roles": []string{"auditor"}, "local_groups": []string{"Domain Users", "ops"}}), 200, "valid patch")
	if u := call(t, b, admin, "GET", "/users/"+alice.Subject, nil); jsonString(u.Body["local_groups"]) != `["Domain Users","ops"]` {
		t.Errorf("local groups %s", u.Raw)
	}
	for _, id := range []string{"App.v2_beta~1", strings.Repeat("c", 128), ""} {
		body := client(id)
		if id == "" {
			delete(body, "id")
		}
		r := call(t, b, admin, "POST", "/clients", body)
		mustStatus(t, r, 201, "client "+id)
		got, _ := r.Body["id"].(string)
		if msg := config.CheckClientID(got); msg != "" {
			t.Errorf("created client id %q: %s", got, msg)
		}
		mustStatus(t, call(t, b, admin, "GET", "/clients/"+got, nil), 200, "get client "+got)
		mustStatus(t, call(t, b, admin, "DELETE", "/clients/"+got, nil), 204, "delete client "+got)
	}
}

// manyURIs returns n distinct redirect URIs.
func manyURIs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("https://rp.example/cb%d", i)
	}
	return out
}

// TestAdminUnrouted: a path under /admin/v1 that names no operation, and
// a method a path does not take, answer the API's JSON error, in the
// served API and in the handler the CLI uses in process; the rest of the
// site keeps its page.
func TestAdminUnrouted(t *testing.T) {
	b := testenv.Start(t, adminConfig(t))
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	served := func(method, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		w := httptest.NewRecorder()
		b.Server.Broker.ServeHTTP(w, req)
		return w
	}
	inProcess := func(method, path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		b.Server.Broker.AdminHandler("cli:test").ServeHTTP(w, httptest.NewRequest(method, path, nil))
		return w
	}
	for _, c := range []struct {
		name, method, path string
		status             int
		code, allow        string
	}{
		{"unknown collection", "GET", "/admin/v1/widgets", 404, "not_found", ""},
		{"the root", "GET", "/admin/v1", 404, "not_found", ""},
		{"an escaped slash in an id", "GET", "/admin/v1/clients/a%2Fb", 404, "not_found", ""},
		{"delete with an escaped slash", "DELETE", "/admin/v1/clients/a%2Fb", 404, "not_found", ""},
		{"too deep", "GET", "/admin/v1/users/x/sessions/y/z", 404, "not_found", ""},
		{"wrong method", "PATCH", "/admin/v1/keys", 405, "method_not_allowed", "GET"},
		{"POST to an item", "POST", "/admin/v1/users/x", 405, "method_not_allowed", "DELETE, GET, PATCH"},
	} {
		for _, h := range []struct {
			name  string
			serve func(method, path string) *httptest.ResponseRecorder
		}{{"served", served}, {"in process", inProcess}} {
			t.Run(c.name+" "+h.name, func(t *testing.T) {
				w := h.serve(c.method, c.path)
				if w.Code != c.status || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
					t.Fatalf("%d %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
				}
				var m map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m["error"] != c.code {
					t.Errorf("body %s", w.Body)
				}
				if desc, _ := m["error_description"].(string); desc == "" {
					t.Errorf("no error_description: %s", w.Body)
				}
				allow := strings.Split(w.Header().Get("Allow"), ", ")
				slices.Sort(allow)
				if got := strings.Join(allow, ", "); got != c.allow {
					t.Errorf("Allow %q, want %q", got, c.allow)
				}
			})
		}
	}
	// Elsewhere the site's page stays.
	if w := served("GET", "/no-such-page"); w.Code != 404 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Errorf("the site's 404: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if w := served("GET", "/admin/v2/users"); w.Code != 404 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Errorf("a path beside the API: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
}

// withField returns m with k set to v.
func withField(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}
