package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/admin"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/testenv"
)

const (
	adminClientID     = "admin-cli"
	adminClientSecret = "admin-secret"
	bobName           = "bob"
	bobPassword       = "bob-password"
)

// adminConfig is the test config plus an admin client, a second local
// connector ("staff", so the login page is a picker) and a second user.
func adminConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg := testenv.Config(t)
	cfg.Connectors = append(cfg.Connectors, config.Connector{ID: "staff", Type: "local", Name: "Staff login"})
	cfg.Clients = append(cfg.Clients, config.Client{ID: adminClientID, Secret: adminClientSecret,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"admin"}, Admin: true})
	hash, err := local.Hash(bobPassword, testenv.FastParams)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Users = append(cfg.Users, config.User{Username: bobName, Email: "bob@example.com", PasswordHash: hash})
	return cfg
}

// ccToken gets a client_credentials access token.
func ccToken(t *testing.T, b *testenv.Broker, id, secret, scope string) string {
	t.Helper()
	r := postToken(t, b.URL, id, secret, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}})
	if r.Status != 200 {
		t.Fatalf("client_credentials for %s: %d %v", id, r.Status, r.Body)
	}
	return r.str("access_token")
}

type apiResp struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// call sends a request to the admin API; body, when not nil, as JSON.
func call(t *testing.T, b *testenv.Broker, token, method, path string, body any) apiResp {
	t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s) // raw, possibly malformed
	} else if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, b.URL+"/admin/v1"+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := apiResp{Status: resp.StatusCode, Header: resp.Header}
	r.Raw, _ = io.ReadAll(resp.Body)
	if len(r.Raw) > 0 && json.Unmarshal(r.Raw, &r.Body) != nil {
		t.Fatalf("%s %s answered %d with non-JSON %q", method, path, r.Status, r.Raw)
	}
	return r
}

func mustStatus(t *testing.T, r apiResp, want int, what string) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: status %d, want %d: %s", what, r.Status, want, r.Raw)
	}
}

// The parts of an OpenAPI document the walk reads.
type oaDoc struct {
	Paths      map[string]map[string]oaOp `json:"paths"`
	Components struct {
		Schemas   map[string]oaSchema   `json:"schemas"`
		Responses map[string]oaResponse `json:"responses"`
	} `json:"components"`
}
type oaOp struct {
	OperationID string                `json:"operationId"`
	Security    *[]any                `json:"security"`
	Responses   map[string]oaResponse `json:"responses"`
}
type oaResponse struct {
	Ref     string `json:"$ref"`
	Content map[string]struct {
		Schema oaSchema `json:"schema"`
	} `json:"content"`
}
type oaSchema struct {
	Ref        string              `json:"$ref"`
	Required   []string            `json:"required"`
	Properties map[string]oaSchema `json:"properties"`
}

func (d oaDoc) response(r oaResponse) oaResponse {
	if r.Ref != "" {
		return d.Components.Responses[strings.TrimPrefix(r.Ref, "#/components/responses/")]
	}
	return r
}

func (d oaDoc) schema(s oaSchema) oaSchema {
	if s.Ref != "" {
		return d.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
	}
	return s
}

// conforms checks that r's status is documented for op and that a JSON
// body has the documented schema's required properties and no others.
func (d oaDoc) conforms(t *testing.T, what string, op oaOp, r apiResp) {
	t.Helper()
	doc, ok := op.Responses[strconv.Itoa(r.Status)]
	if !ok {
		t.Errorf("%s: status %d is not documented", what, r.Status)
		return
	}
	doc = d.response(doc)
	media, hasBody := doc.Content["application/json"]
	if !hasBody {
		if len(r.Raw) > 0 {
			t.Errorf("%s: undocumented body %s", what, r.Raw)
		}
		return
	}
	s := d.schema(media.Schema)
	for _, k := range s.Required {
		if _, ok := r.Body[k]; !ok {
			t.Errorf("%s: response lacks documented property %q: %s", what, k, r.Raw)
		}
	}
	if len(s.Properties) > 0 {
		for k := range r.Body {
			if _, ok := s.Properties[k]; !ok {
				t.Errorf("%s: response has undocumented property %q", what, k)
			}
		}
	}
}

func loadDoc(t *testing.T, b *testenv.Broker) oaDoc {
	t.Helper()
	r := call(t, b, "", http.MethodGet, "/openapi.json", nil)
	mustStatus(t, r, 200, "openapi.json")
	var d oaDoc
	if err := json.Unmarshal(r.Raw, &d); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Raw, admin.OpenAPI()) {
		t.Error("the served document is not the embedded one")
	}
	return d
}

// opByID finds a documented operation and its method and path.
func (d oaDoc) opByID(id string) (method, path string, op oaOp, ok bool) {
	for p, ops := range d.Paths {
		for m, o := range ops {
			if o.OperationID == id {
				return strings.ToUpper(m), p, o, true
			}
		}
	}
	return "", "", oaOp{}, false
}

func fill(path string, params map[string]string) string {
	for k, v := range params {
		path = strings.ReplaceAll(path, "{"+k+"}", url.PathEscape(v))
	}
	return path
}

// TestAdminOpenAPIWalk calls every operation the document lists against
// the real handlers, in an order where deletions come after their reads,
// and checks the answers against the document; then that each protected
// operation refuses a missing, invalid or non-admin token.
func TestAdminOpenAPIWalk(t *testing.T) {
	cfg := adminConfig(t)
	// An upstream connector for the SCIM provisioner (never the local one).
	cfg.Connectors = append(cfg.Connectors, config.Connector{ID: "gh", Type: "github", Config: map[string]any{"client_id": "x", "client_secret": "y"}})
	b := testenv.Start(t, cfg)
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	_, alice := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	aliceTok, _ := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	_, bob := loginAt(t, b, "local", bobName, bobPassword)
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	client := map[string]any{"id": "walk", "redirect_uris": []string{"https://rp.example/cb"}}

	steps := []struct {
		op     string
		params map[string]string
		query  string
		body   any
		want   int
	}{
		{"getOpenAPI", nil, "", nil, 200},
		{"listUsers", nil, "?limit=1", nil, 200},
		{"getUser", map[string]string{"id": alice.Subject}, "", nil, 200},
		{"patchUser", map[string]string{"id": alice.Subject}, "", map[string]any{"local_groups": []string{"ops"}}, 200},
		{"listUserIdentities", map[string]string{"id": alice.Subject}, "", nil, 200},
		{"listUserSessions", map[string]string{"id": alice.Subject}, "", nil, 200},
		{"revokeUserSession", map[string]string{"id": alice.Subject, "session": "{alice-session}"}, "", nil, 204},
		{"revokeUserSessions", map[string]string{"id": bob.Subject}, "", nil, 200},
		{"resetUserMFA", map[string]string{"id": bob.Subject}, "", nil, 204},
		{"deleteUser", map[string]string{"id": bob.Subject}, "", nil, 204},
		{"listAccounts", nil, "?login=" + bobName, nil, 200},
		{"createAccount", nil, "", map[string]any{"username": "walker", "email": "walker@example.com", "password": "walk-walk-walk"}, 201},
		{"getAccount", map[string]string{"id": "{account}"}, "", nil, 200},
		{"setAccountPassword", map[string]string{"id": "{account}"}, "", map[string]any{"password": "new-walk-walk"}, 204},
		{"inviteAccount", map[string]string{"id": "{account}"}, "", nil, 400}, // no mail here: selfservice_test.go walks the rest
		{"deleteAccount", map[string]string{"id": "{account}"}, "", nil, 204},
		{"listClients", nil, "", nil, 200},
		{"createClient", nil, "", client, 201},
		{"getClient", map[string]string{"id": "walk"}, "", nil, 200},
		{"replaceClient", map[string]string{"id": "walk"}, "", map[string]any{"name": "Walk", "redirect_uris": []string{"https://rp.example/cb2"}}, 200},
		{"rotateClientSecret", map[string]string{"id": "walk"}, "", nil, 200},
		{"deleteClient", map[string]string{"id": "walk"}, "", nil, 204},
		{"listKeys", nil, "", nil, 200},
		{"rotateKeys", nil, "", nil, 200},
		{"listAudit", nil, "?limit=50&since=" + url.QueryEscape(since), nil, 200},
		{"listConnectors", nil, "", nil, 200},
		{"testConnector", nil, "", map[string]any{"id": "tried", "type": "local", "name": "Tried"}, 200},
		{"listConnectorTypes", nil, "", nil, 200},
		{"createConnector", nil, "", map[string]any{"id": "extra", "type": "local", "name": "Extra"}, 201},
		{"replaceConnector", map[string]string{"id": "extra"}, "", map[string]any{"type": "local", "name": "Extra 2"}, 200},
		{"deleteConnector", map[string]string{"id": "staff"}, "", nil, 204},
		{"unlinkUserIdentity", map[string]string{"id": alice.Subject, "connector": "local", "subject": localSubject(t, b, alice.Subject)}, "", nil, 204},
		// SCIM provisioners (scim_admin.go).
		{"listSCIMProvisioners", nil, "", nil, 200},
		{"createSCIMProvisioner", nil, "", map[string]any{"id": "walk", "connector": "gh", "subject": "externalId"}, 201},
		{"getSCIMProvisioner", map[string]string{"id": "walk"}, "", nil, 200},
		{"rotateSCIMProvisionerToken", map[string]string{"id": "walk"}, "", nil, 200},
		{"deleteSCIMProvisioner", map[string]string{"id": "walk"}, "", nil, 204},
	}
	d := loadDoc(t, b)
	var documented []string
	for _, ops := range d.Paths {
		for _, op := range ops {
			documented = append(documented, op.OperationID)
		}
	}
	var walked []string
	for _, s := range steps {
		walked = append(walked, s.op)
	}
	slices.Sort(documented)
	slices.Sort(walked)
	if !slices.Equal(documented, walked) {
		t.Fatalf("documented operations %v, walked %v", documented, walked)
	}

	// Without rights first: the walk deletes what these paths name.
	nonAdmin := ccToken(t, b, testenv.ClientID, testenv.ClientSecret, "api")
	for _, s := range steps {
		method, path, op, _ := d.opByID(s.op)
		if op.Security != nil && len(*op.Security) == 0 {
			continue // public
		}
		for _, c := range []struct {
			name, token string
			want        int
		}{
			{"no token", "", 401}, {"invalid token", "not-a-token", 401},
			{"client without admin", nonAdmin, 403}, {"user without admin role", aliceTok.AccessToken, 403},
		} {
			what := s.op + " with " + c.name
			r := call(t, b, c.token, method, fill(path, s.params)+s.query, s.body)
			if r.Status != c.want {
				t.Errorf("%s: %d, want %d", what, r.Status, c.want)
				continue
			}
			if c.want == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: WWW-Authenticate %q", what, r.Header.Get("WWW-Authenticate"))
			}
			d.conforms(t, what, op, r)
		}
	}

	vars := map[string]string{} // values later steps take from earlier answers
	for _, s := range steps {
		method, path, op, _ := d.opByID(s.op)
		params := maps.Clone(s.params)
		for k, v := range params {
			if x, ok := vars[v]; ok {
				params[k] = x
			}
		}
		r := call(t, b, admin, method, fill(path, params)+s.query, s.body)
		if r.Status != s.want {
			t.Errorf("%s %s: %d, want %d: %s", method, path, r.Status, s.want, r.Raw)
			continue
		}
		d.conforms(t, s.op, op, r)
		switch s.op {
		case "listUsers":
			if r.Body["next_cursor"] == "" {
				t.Errorf("two users with limit=1 gave no next_cursor")
			}
		case "createClient", "rotateClientSecret":
			if sec, _ := r.Body["client_secret"].(string); sec == "" {
				t.Errorf("%s returned no secret", s.op)
			}
		case "listUserSessions":
			if ss := r.Body["sessions"].([]any); len(ss) > 0 {
				vars["{alice-session}"] = ss[0].(map[string]any)["id"].(string)
			}
		case "createAccount":
			vars["{account}"], _ = r.Body["id"].(string)
		case "listAccounts":
			if n := len(r.Body["accounts"].([]any)); n != 1 || strings.Contains(string(r.Raw), "hash") {
				t.Errorf("listAccounts?login=bob: %d accounts: %s", n, r.Raw)
			}
		case "listKeys", "rotateKeys":
			if strings.Contains(string(r.Raw), "private") || len(r.Body["keys"].([]any)) == 0 {
				t.Errorf("%s: %s", s.op, r.Raw)
			}
		case "listClients", "getClient":
			if strings.Contains(string(r.Raw), "secret_hash") {
				t.Errorf("%s shows secret hashes", s.op)
			}
		}
	}
	waitAudit(t, b.Server.Store, "admin.user_delete", func(e store.AuditEvent) bool {
		return e.Type == "admin.user_delete" && e.UserID == bob.Subject && e.Actor == "client:"+adminClientID
	})
}

// TestAdminErrors: documented client errors, each checked against the
// document.
func TestAdminErrors(t *testing.T) {
	b := testenv.Start(t, adminConfig(t))
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	_, alice := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	d := loadDoc(t, b)
	user := map[string]string{"id": alice.Subject}
	for _, c := range []struct {
		name, op string
		params   map[string]string
		query    string
		body     any
		want     int
	}{
		{"unknown user", "getUser", map[string]string{"id": "nobody"}, "", nil, 404},
		{"unknown field", "patchUser", user, "", `{"disabled":true,"admin":1}`, 400},
		{"malformed body", "patchUser", user, "", `{`, 400},
		{"limit 0", "listUsers", nil, "?limit=0", nil, 400},
		{"bad since", "listAudit", nil, "?since=yesterday", nil, 400},
		{"admin scope by API", "createClient", nil, "", map[string]any{"id": "x", "grant_types": []string{"client_credentials"}, "scopes": []string{"admin"}}, 400},
		{"client name with a control character", "createClient", nil, "", map[string]any{"id": "x", "name": "a\u001bb", "redirect_uris": []string{"https://a.example/cb"}}, 400},
		{"account name too long", "createAccount", nil, "", map[string]any{"username": "dora", "name": strings.Repeat("n", 300), "password": "pw-pw-pw"}, 400},
		{"admin look-alike scope", "createClient", nil, "", map[string]any{"id": "x", "grant_types": []string{"client_credentials"}, "scopes": []string{"ADMIN"}}, 400},
		{"scope with NUL", "createClient", nil, "", map[string]any{"id": "x", "grant_types": []string{"client_credentials"}, "scopes": []string{"admin\u0000"}}, 400},
		{"scope with newline", "createClient", nil, "", map[string]any{"id": "x", "grant_types": []string{"client_credentials"}, "scopes": []string{"a\nb"}}, 400},
		{"duplicate scope", "createClient", nil, "", map[string]any{"id": "x", "grant_types": []string{"client_credentials"}, "scopes": []string{"api", "api"}}, 400},
		{"refresh grace over a minute", "createClient", nil, "", map[string]any{"id": "x", "redirect_uris": []string{"https://a.example/cb"}, "refresh_reuse_grace": "2m"}, 400},
		{"refresh grace of an hour", "createClient", nil, "", map[string]any{"id": "x", "redirect_uris": []string{"https://a.example/cb"}, "refresh_reuse_grace": "1h"}, 400},
		{"access token for years", "createClient", nil, "", map[string]any{"id": "x", "redirect_uris": []string{"https://a.example/cb"}, "access_token_ttl": "100000h"}, 400},
		{"idle longer than absolute", "createClient", nil, "", map[string]any{"id": "x", "redirect_uris": []string{"https://a.example/cb"}, "refresh_idle_ttl": "48h", "refresh_absolute_ttl": "24h"}, 400},
		{"public client_credentials", "createClient", nil, "", map[string]any{"id": "x", "public": true, "grant_types": []string{"client_credentials"}}, 400},
		{"existing client", "createClient", nil, "", map[string]any{"id": testenv.ClientID, "redirect_uris": []string{"https://a.example/cb"}}, 409},
		{"public client secret", "rotateClientSecret", map[string]string{"id": testenv.PublicClient}, "", nil, 400},
		{"unknown connector", "deleteConnector", map[string]string{"id": "nope"}, "", nil, 404},
		{"broken connector config", "createConnector", nil, "", map[string]any{"id": "bad", "type": "local", "config": map[string]any{"x": 1}}, 400},
		{"broken connector config tested", "testConnector", nil, "", map[string]any{"id": "bad", "type": "local", "config": map[string]any{"x": 1}}, 400},
		{"unknown connector type", "createConnector", nil, "", map[string]any{"id": "bad", "type": "nope"}, 400},
		{"bad connector id", "createConnector", nil, "", map[string]any{"id": "Bad Id", "type": "local"}, 400},
		{"existing connector", "createConnector", nil, "", map[string]any{"id": "staff", "type": "local"}, 409},
		{"replace unknown connector", "replaceConnector", map[string]string{"id": "nope"}, "", map[string]any{"type": "local"}, 404},
		{"javascript: redirect", "createClient", nil, "", map[string]any{"id": "js", "redirect_uris": []string{"javascript:alert(1)"}}, 400},
		{"plain http off loopback", "createClient", nil, "", map[string]any{"id": "h", "redirect_uris": []string{"http://app.example.com/cb"}}, 400},
		{"account without password", "createAccount", nil, "", map[string]any{"username": "dora"}, 400},
		{"account with a display-name email", "createAccount", nil, "", map[string]any{"username": "dora", "email": "Dora <d@example.com>", "password": "pw-pw-pw"}, 400},
		{"account username taken", "createAccount", nil, "", map[string]any{"username": testenv.UserName, "password": "pw-pw-pw"}, 409},
		{"account email taken", "createAccount", nil, "", map[string]any{"username": "dora", "email": strings.ToUpper(testenv.UserEmail), "password": "pw-pw-pw"}, 409},
		{"username is another's email", "createAccount", nil, "", map[string]any{"username": "Alice@Example.com", "email": "dora@example.com", "password": "pw-pw-pw"}, 409},
		{"unknown account", "getAccount", map[string]string{"id": "nobody"}, "", nil, 404},
		{"password of unknown account", "setAccountPassword", map[string]string{"id": "nobody"}, "", map[string]any{"password": "pw-pw-pw"}, 404},
		{"empty password", "setAccountPassword", map[string]string{"id": localSubject(t, b, alice.Subject)}, "", map[string]any{"password": ""}, 400},
		{"delete unknown account", "deleteAccount", map[string]string{"id": "nobody"}, "", nil, 404},
		{"unknown session", "revokeUserSession", map[string]string{"id": alice.Subject, "session": "nope"}, "", nil, 404},
		{"reset unknown user", "resetUserMFA", map[string]string{"id": "nobody"}, "", nil, 404},
		{"broken replacement", "replaceConnector", map[string]string{"id": "staff"}, "", map[string]any{"type": "nope"}, 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			method, path, op, ok := d.opByID(c.op)
			if !ok {
				t.Fatalf("operation %s not documented", c.op)
			}
			r := call(t, b, admin, method, fill(path, c.params)+c.query, c.body)
			mustStatus(t, r, c.want, c.name)
			d.conforms(t, c.name, op, r)
		})
	}
	// Refused changes leave the set as it was: no "bad", staff unchanged.
	list := call(t, b, admin, "GET", "/connectors", nil)
	if got := string(list.Raw); strings.Contains(got, `"bad"`) || !strings.Contains(got, `{"id":"staff","name":"Staff login","type":"local"}`) {
		t.Errorf("a refused connector change was applied: %s", got)
	}
	accounts := call(t, b, admin, "GET", "/accounts", nil)
	if got := string(accounts.Raw); strings.Contains(got, "dora") || len(accounts.Body["accounts"].([]any)) != 2 {
		t.Errorf("a refused account was stored: %s", got)
	}
	for _, id := range []string{"js", "h"} {
		mustStatus(t, call(t, b, admin, "GET", "/clients/"+id, nil), 404, "refused client "+id)
	}
	// The password was not changed by the refused (empty) one.
	if _, _, err := newRPFor(t, b, "local").Login(t.Context(), testenv.UserName, testenv.UserPassword); err != nil {
		t.Errorf("login after a refused password change: %v", err)
	}
}

func newRPFor(t *testing.T, b *testenv.Broker, connector string) *testenv.RP {
	rp := newRP(t, b)
	rp.Connector = connector
	return rp
}

// TestAdminUserRole: a person's token from the trusted console client
// gets the admin scope once the user has the admin role, and stops working
// when the user is disabled.
func TestAdminUserRole(t *testing.T) {
	b := testenv.Start(t, adminAuthConfig(t))
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	_, alice := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	tok := personToken(t, b, consoleClientID, "", testenv.UserName, testenv.UserPassword, "openid", "admin")
	mustStatus(t, call(t, b, tok.AccessToken, "GET", "/users", nil), 403, "before the role")
	mustStatus(t, call(t, b, admin, "PATCH", "/users/"+alice.Subject, map[string]any{"roles": []string{"admin"}}), 200, "grant role")
	tok = personToken(t, b, consoleClientID, "", testenv.UserName, testenv.UserPassword, "openid", "admin")
	mustStatus(t, call(t, b, tok.AccessToken, "GET", "/users", nil), 200, "with the role")
	r := call(t, b, admin, "PATCH", "/users/"+alice.Subject, map[string]any{"disabled": true})
	mustStatus(t, r, 200, "disable")
	mustStatus(t, call(t, b, tok.AccessToken, "GET", "/users", nil), 401, "disabled admin")

	// An admin client deleted through the API loses it with the same token.
	mustStatus(t, call(t, b, admin, "DELETE", "/clients/"+adminClientID, nil), 204, "delete admin client")
	mustStatus(t, call(t, b, admin, "GET", "/users", nil), 401, "deleted admin client")
}

// TestAdminDisabledUser: disabling through the API ends sessions and
// refuses login and refresh; enabling lets the user log in again.
func TestAdminDisabledUser(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, adminConfig(t))
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	tok, alice := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	mustStatus(t, call(t, b, admin, "PATCH", "/users/"+alice.Subject, map[string]any{"disabled": true}), 200, "disable")
	if r := refresh(t, b, tok.RefreshToken); r.str("error") != "invalid_grant" {
		t.Errorf("refresh of a disabled user: %d %v", r.Status, r.Body)
	}
	if st := userinfoStatus(t, b.URL, tok.AccessToken); st != 401 {
		t.Errorf("userinfo of a disabled user: %d", st)
	}
	rp := newRP(t, b)
	rp.Connector = "local"
	cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Query != nil || cb.Status != http.StatusForbidden {
		t.Errorf("login of a disabled user: status %d query %v", cb.Status, cb.Query)
	}
	sessions := call(t, b, admin, "GET", "/users/"+alice.Subject+"/sessions", nil)
	for _, s := range sessions.Body["sessions"].([]any) {
		if s.(map[string]any)["revoked"] != true {
			t.Errorf("a session survived disabling: %v", s)
		}
	}
	mustStatus(t, call(t, b, admin, "PATCH", "/users/"+alice.Subject, map[string]any{"disabled": false}), 200, "enable")
	loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	waitAudit(t, b.Server.Store, "admin.user_update", func(e store.AuditEvent) bool {
		return e.Type == "admin.user_update" && e.UserID == alice.Subject && e.Details["disabled"] == "true"
	})
}

// TestAdminDeleteConnector: a connector deleted through the API vanishes
// from the login page of a login already under way, and its login URL
// answers 404.
func TestAdminDeleteConnector(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, adminConfig(t))
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	rp := newRP(t, b)
	resp, err := rp.Browser.Get(rp.NewFlow().AuthURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	picker := resp.Request.URL
	if !strings.Contains(string(page), "Staff login") {
		t.Fatalf("the picker lacks the staff connector: %s", page)
	}
	mustStatus(t, call(t, b, admin, "DELETE", "/connectors/staff", nil), 204, "delete connector")
	resp, err = rp.Browser.Get(picker.String())
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(page), "Staff login") || !strings.Contains(string(page), "Email") {
		t.Errorf("picker after delete: %d %s", resp.StatusCode, page)
	}
	staff := *picker
	staff.Path = "/login/staff"
	resp, err = rp.Browser.Get(staff.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("login through the deleted connector: %d", resp.StatusCode)
	}
	list := call(t, b, admin, "GET", "/connectors", nil)
	if strings.Contains(string(list.Raw), `"staff"`) {
		t.Errorf("connectors after delete: %s", list.Raw)
	}
	rp.Connector = "local"
	if _, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword); err != nil {
		t.Errorf("login through the remaining connector: %v", err)
	}
}

// TestAdminConfig: the admin scope needs admin: true, and admin: true a
// client with the scope, using client_credentials or the code flow, and no
// consent page.
func TestAdminConfig(t *testing.T) {
	for _, c := range []struct {
		name   string
		client config.Client
		err    string
	}{
		{"marked", config.Client{Admin: true, Scopes: []string{"admin"}, GrantTypes: []string{"client_credentials"}}, ""},
		{"scope without flag", config.Client{Scopes: []string{"admin"}, GrantTypes: []string{"client_credentials"}}, `clients[2].scopes: scope "admin" requires admin: true`},
		{"flag without scope", config.Client{Admin: true, GrantTypes: []string{"client_credentials"}}, `clients[2].admin: an admin client must list scope "admin"`},
		{"person's client", config.Client{Admin: true, Scopes: []string{"admin"}, GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{testenv.RedirectURI}}, ""},
		{"flag without grant", config.Client{Admin: true, Scopes: []string{"admin"}, GrantTypes: []string{"refresh_token"}}, "must use client_credentials, authorization_code or the device code grant"},
		{"with consent", config.Client{Admin: true, Consent: true, Scopes: []string{"admin"}, GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{testenv.RedirectURI}}, "clients[2].consent: an admin client is first-party"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testenv.Config(t)
			cfg.Issuer, cfg.Storage.Dir = "http://127.0.0.1:1", t.TempDir()
			c.client.ID, c.client.Secret = "adm", "adm-secret-value"
			cfg.Clients = append(cfg.Clients, c.client)
			cfg.ApplyDefaults()
			err := cfg.Validate()
			switch {
			case c.err == "" && err != nil:
				t.Errorf("valid admin client refused: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Errorf("error %v, want %q", err, c.err)
			}
			if cfg.Admin.Role != config.DefaultAdminRole {
				t.Errorf("admin role default %q", cfg.Admin.Role)
			}
		})
	}
}

// TestAdminAddConnector: a connector added through the API is on the
// login page at once and logs users in.
func TestAdminAddConnector(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, adminConfig(t))
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	mustStatus(t, call(t, b, admin, "POST", "/connectors", map[string]any{"id": "extra", "type": "local", "name": "Extra login"}), 201, "add connector")
	rp := newRP(t, b)
	resp, err := rp.Browser.Get(rp.NewFlow().AuthURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Extra login") {
		t.Fatalf("the picker lacks the added connector: %s", page)
	}
	rp.Connector = "extra"
	if _, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword); err != nil {
		t.Errorf("login through the added connector: %v", err)
	}
	waitAudit(t, b.Server.Store, "admin.connector_create", func(e store.AuditEvent) bool {
		return e.Type == "admin.connector_create" && e.ConnectorID == "extra" && e.Actor == "client:"+adminClientID
	})
}

// TestAdminUserList: search and paging.
func TestAdminUserList(t *testing.T) {
	b := testenv.Start(t, adminConfig(t))
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	loginAt(t, b, "local", bobName, bobPassword)
	names := func(r apiResp) (out []string) {
		for _, u := range r.Body["users"].([]any) {
			out = append(out, u.(map[string]any)["username"].(string))
		}
		slices.Sort(out)
		return out
	}
	for _, c := range []struct{ query, want string }{
		{"", "alice bob"}, {"?q=BOB", "bob"}, {"?q=example.COM", "alice bob"}, {"?q=carol", ""},
	} {
		r := call(t, b, admin, "GET", "/users"+c.query, nil)
		mustStatus(t, r, 200, c.query)
		if got := strings.Join(names(r), " "); got != c.want {
			t.Errorf("users%s: %q, want %q", c.query, got, c.want)
		}
	}
	var seen []string
	for cursor, pages := "", 0; ; pages++ {
		if pages > 2 {
			t.Fatal("paging does not end")
		}
		r := call(t, b, admin, "GET", "/users?limit=1&cursor="+url.QueryEscape(cursor), nil)
		mustStatus(t, r, 200, "page")
		seen = append(seen, names(r)...)
		if cursor, _ = r.Body["next_cursor"].(string); cursor == "" {
			break
		}
	}
	if slices.Sort(seen); strings.Join(seen, " ") != "alice bob" {
		t.Errorf("pages gave %v", seen)
	}
}

// localSubject is the subject of user's identity at the local connector.
func localSubject(t *testing.T, b *testenv.Broker, userID string) string {
	t.Helper()
	ids, err := b.Server.Store.ListIdentities(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ids {
		if i.ConnectorID == "local" {
			return i.Subject
		}
	}
	t.Fatalf("user %s has no local identity", userID)
	return ""
}

// TestAdminUnlink: unlinking a user's identity ends that user's sessions
// through the connector, and the next login through it is a new user.
func TestAdminUnlink(t *testing.T) {
	b := testenv.Start(t, adminConfig(t))
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	tok, alice := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	sub := localSubject(t, b, alice.Subject)
	path := "/users/" + url.PathEscape(alice.Subject) + "/identities/local/" + url.PathEscape(sub)
	if r := call(t, b, admin, http.MethodDelete, "/users/nobody/identities/local/"+url.PathEscape(sub), nil); r.Status != 404 {
		t.Errorf("unlink from the wrong user: %d", r.Status)
	}
	if r := call(t, b, admin, http.MethodDelete, path, nil); r.Status != 204 {
		t.Fatalf("unlink: %d %s", r.Status, r.Raw)
	}
	if st := userinfoStatus(t, b.URL, tok.AccessToken); st != 401 {
		t.Errorf("userinfo with a token of the unlinked session: %d", st)
	}
	_, again := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	if again.Subject == alice.Subject {
		t.Error("the next login through the unlinked connector reached the same user")
	}
	if r := call(t, b, admin, http.MethodDelete, path, nil); r.Status != 404 {
		t.Errorf("unlink twice: %d", r.Status)
	}
}
