package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/testenv"
)

const (
	initialToken = "initial-access-token-0123456789"
	hashedToken  = "another-initial-token-abcdefghij" // configured by its hash
	regRedirect  = "http://127.0.0.1:5557/cb"
)

// regConfig is the test configuration with registration enabled.
func regConfig(t testing.TB) *config.Config {
	cfg := testenv.Config(t)
	cfg.Registration = config.Registration{Enabled: true, InitialAccessTokens: []string{initialToken},
		InitialAccessTokenHashes: []string{core.HashClientSecret(hashedToken)}}
	return cfg
}

type regResponse struct {
	Status int
	Header http.Header
	Body   map[string]any
}

func (r regResponse) str(k string) string { s, _ := r.Body[k].(string); return s }

// regDo sends body (JSON-encoded unless a string) with the Bearer token.
func regDo(t *testing.T, method, u, token string, body any) regResponse {
	t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	default:
		raw, _ := json.Marshal(v)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := regResponse{Status: resp.StatusCode, Header: resp.Header}
	if len(raw) > 0 && resp.Header.Get("Content-Type") != "" && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("%s %s: non-JSON %q", method, u, raw)
		}
	}
	return r
}

func confidentialMetadata() map[string]any {
	return map[string]any{
		"redirect_uris": []string{regRedirect}, "grant_types": []string{"authorization_code", "refresh_token", "client_credentials"},
		"client_name": "Registered App", "token_endpoint_auth_method": "client_secret_basic",
	}
}

func discovery(t *testing.T, issuer string) map[string]any {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestRegisterThenLogin is acceptance 4: a client registered at /register
// logs alice in through the code flow, confidential or public.
func TestRegisterThenLogin(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, regConfig(t))
	if ep, _ := discovery(t, b.URL)["registration_endpoint"].(string); ep != b.URL+"/register" {
		t.Fatalf("registration_endpoint = %q", ep)
	}
	public := map[string]any{"redirect_uris": []string{regRedirect}, "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code", "refresh_token"}}
	for _, tc := range []struct {
		name  string
		token string
		meta  map[string]any
	}{
		{"confidential", initialToken, confidentialMetadata()},
		{"public, hashed initial token", hashedToken, public},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := regDo(t, http.MethodPost, b.URL+"/register", tc.token, tc.meta)
			if r.Status != http.StatusCreated {
				t.Fatalf("register: %d %v", r.Status, r.Body)
			}
			id, secret := r.str("client_id"), r.str("client_secret")
			isPublic := tc.meta["token_endpoint_auth_method"] == "none"
			if id == "" || r.str("registration_access_token") == "" || (secret == "") != isPublic ||
				r.str("registration_client_uri") != b.URL+"/register/"+id || r.Body["client_id_issued_at"] == nil ||
				r.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("registration answer %v", r.Body)
			}
			if exp, ok := r.Body["client_secret_expires_at"]; !isPublic && (!ok || exp != float64(0)) {
				t.Errorf("client_secret_expires_at = %v", exp)
			}
			if got, _ := r.Body["response_types"].([]any); len(got) != 1 || got[0] != "code" {
				t.Errorf("response_types = %v", r.Body["response_types"])
			}
			rp, err := testenv.NewRP(ctx, b.URL, id, secret, regRedirect)
			if err != nil {
				t.Fatal(err)
			}
			rp.AllowConsent = true // a registered client is a third party
			tok, idt, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(idt.Audience, []string{id}) || tok.RefreshToken == "" {
				t.Errorf("aud %v, refresh token %q", idt.Audience, tok.RefreshToken)
			}
			if strings.Contains(b.Logs(), r.str("registration_access_token")) || (secret != "" && strings.Contains(b.Logs(), secret)) {
				t.Error("a secret was logged")
			}
		})
	}
}

// TestRegisterErrors: every refusal answers with the RFC 7591 §3.2.2 code
// (or RFC 6750's invalid_token when the initial access token is wrong).
func TestRegisterErrors(t *testing.T) {
	b := testenv.Start(t, regConfig(t))
	with := func(k string, v any) map[string]any {
		m := confidentialMetadata()
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name   string
		token  string
		body   any
		status int
		code   string
	}{
		{"no initial access token", "", confidentialMetadata(), 401, "invalid_token"},
		{"wrong initial access token", "guess", confidentialMetadata(), 401, "invalid_token"},
		{"javascript redirect URI", initialToken, with("redirect_uris", []string{"javascript:alert(1)"}), 400, "invalid_redirect_uri"},
		{"data redirect URI", initialToken, with("redirect_uris", []string{"data:text/html,hi"}), 400, "invalid_redirect_uri"},
		{"http non-loopback redirect URI", initialToken, with("redirect_uris", []string{"http://app.example.com/cb"}), 400, "invalid_redirect_uri"},
		{"fragment in redirect URI", initialToken, with("redirect_uris", []string{"https://app.example.com/cb#x"}), 400, "invalid_redirect_uri"},
		{"custom scheme for a confidential client", initialToken, with("redirect_uris", []string{"com.example.app:/cb"}), 400, "invalid_redirect_uri"},
		{"no redirect URI for the code grant", initialToken, with("redirect_uris", nil), 400, "invalid_redirect_uri"},
		{"duplicate redirect URI", initialToken, with("redirect_uris", []string{regRedirect, regRedirect}), 400, "invalid_redirect_uri"},
		{"user info in redirect URI", initialToken, with("redirect_uris", []string{"https://user:pw@app.example.com/cb"}), 400, "invalid_redirect_uri"},
		{"user info hiding the host", initialToken, with("redirect_uris", []string{"https://app.example.com@evil.example/cb"}), 400, "invalid_redirect_uri"},
		{"backslash in redirect URI", initialToken, with("redirect_uris", []string{"https://app.example.com/cb\\..\\open"}), 400, "invalid_redirect_uri"},
		{"wildcard host", initialToken, with("redirect_uris", []string{"https://*.example.com/cb"}), 400, "invalid_redirect_uri"},
		{"empty host", initialToken, with("redirect_uris", []string{"https://:443/cb"}), 400, "invalid_redirect_uri"},
		{"port 0", initialToken, with("redirect_uris", []string{"http://127.0.0.1:0/cb"}), 400, "invalid_redirect_uri"},
		{"port above 65535", initialToken, with("redirect_uris", []string{"https://app.example.com:65536/cb"}), 400, "invalid_redirect_uri"},
		{"non-numeric port", initialToken, with("redirect_uris", []string{"https://app.example.com:https/cb"}), 400, "invalid_redirect_uri"},
		{"empty port", initialToken, with("redirect_uris", []string{"https://app.example.com:/cb"}), 400, "invalid_redirect_uri"},
		{"http to localhost lookalike", initialToken, with("redirect_uris", []string{"http://127.0.0.1.evil.example/cb"}), 400, "invalid_redirect_uri"},
		{"second redirect URI bad", initialToken, with("redirect_uris", []string{regRedirect, "https://*.example.com/cb"}), 400, "invalid_redirect_uri"},
		{"public client, custom scheme with user info", initialToken, map[string]any{"redirect_uris": []string{"com.example.app://user@cb"}, "token_endpoint_auth_method": "none"}, 400, "invalid_redirect_uri"},
		{"post-logout URI with user info", initialToken, with("post_logout_redirect_uris", []string{"https://user@app.example.com/bye"}), 400, "invalid_client_metadata"},
		{"unknown grant type", initialToken, with("grant_types", []string{"authorization_code", "password"}), 400, "invalid_client_metadata"},
		{"implicit response type", initialToken, with("response_types", []string{"token"}), 400, "invalid_client_metadata"},
		{"code without authorization_code", initialToken, map[string]any{"grant_types": []string{"client_credentials"}, "response_types": []string{"code"}}, 400, "invalid_client_metadata"},
		{"refresh_token alone", initialToken, with("grant_types", []string{"refresh_token"}), 400, "invalid_client_metadata"},
		{"public client_credentials", initialToken, map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "none"}, 400, "invalid_client_metadata"},
		{"unknown auth method", initialToken, with("token_endpoint_auth_method", "private_key_jwt"), 400, "invalid_client_metadata"},
		{"API scope", initialToken, with("scope", "openid admin"), 400, "invalid_client_metadata"},
		{"unknown id_token alg", initialToken, with("id_token_signed_response_alg", "HS256"), 400, "invalid_client_metadata"},
		{"bad post-logout URI", initialToken, with("post_logout_redirect_uris", []string{"javascript:x"}), 400, "invalid_client_metadata"},
		{"client_id chosen by the client", initialToken, with("client_id", "mine"), 400, "invalid_client_metadata"},
		{"wrong member type", initialToken, with("redirect_uris", regRedirect), 400, "invalid_client_metadata"},
		{"not JSON", initialToken, "redirect_uris=x", 400, "invalid_client_metadata"},
		{"two objects", initialToken, `{} {}`, 400, "invalid_client_metadata"},
		{"C1 control in client_name", initialToken, with("client_name", "App\u0085"), 400, "invalid_client_metadata"},
		{"ESC in client_name", initialToken, with("client_name", "App\u001b[31m"), 400, "invalid_client_metadata"},
		{"too large", initialToken, `{"client_name":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "invalid_client_metadata"},
		// Found by a black-box attack: a name that reads as another, and
		// redirect URIs that are no RFC 3986 URI.
		{"right-to-left override in client_name", initialToken, with("client_name", "Good\u202elivE"), 400, "invalid_client_metadata"},
		{"space in a redirect URI", initialToken, with("redirect_uris", []string{regRedirect + " "}), 400, "invalid_redirect_uri"},
		{"homograph host", initialToken, with("redirect_uris", []string{"https://\u0430pp.example.com/cb"}), 400, "invalid_redirect_uri"},
		{"101 redirect URIs", initialToken, with("redirect_uris", manyURIs(101)), 400, "invalid_client_metadata"},
	}
	// 200 characters, not bytes.
	if r := regDo(t, http.MethodPost, b.URL+"/register", initialToken, with("client_name", strings.Repeat("\u00e9", 150))); r.Status != 201 {
		t.Errorf("a name of 150 accented letters: %d %v", r.Status, r.Body)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := regDo(t, http.MethodPost, b.URL+"/register", tc.token, tc.body)
			if r.Status != tc.status || r.str("error") != tc.code || r.str("error_description") == "" {
				t.Fatalf("%d %v, want %d %s", r.Status, r.Body, tc.status, tc.code)
			}
			if tc.status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestRegistrationManagement covers RFC 7592: read, update and delete with
// the registration access token, and every refusal without it.
func TestRegistrationManagement(t *testing.T) {
	b := testenv.Start(t, regConfig(t))
	reg := regDo(t, http.MethodPost, b.URL+"/register", initialToken, confidentialMetadata())
	other := regDo(t, http.MethodPost, b.URL+"/register", initialToken, confidentialMetadata())
	if reg.Status != 201 || other.Status != 201 {
		t.Fatalf("register: %v %v", reg.Body, other.Body)
	}
	id, secret, token := reg.str("client_id"), reg.str("client_secret"), reg.str("registration_access_token")
	uri := reg.str("registration_client_uri")

	// Refusals: all the same 401, whether or not the client exists.
	for _, tc := range []struct{ name, method, uri, token string }{
		{"read without token", http.MethodGet, uri, ""},
		{"read with wrong token", http.MethodGet, uri, "wrong"},
		{"read with another client's token", http.MethodGet, uri, other.str("registration_access_token")},
		{"read with the initial token", http.MethodGet, uri, initialToken},
		{"read a config client", http.MethodGet, b.URL + "/register/" + testenv.ClientID, token},
		{"read an unknown client", http.MethodGet, b.URL + "/register/nobody", token},
		{"update without token", http.MethodPut, uri, ""},
		{"delete without token", http.MethodDelete, uri, ""},
		{"delete with wrong token", http.MethodDelete, uri, "wrong"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := confidentialMetadata()
			m["client_id"] = id
			r := regDo(t, tc.method, tc.uri, tc.token, m)
			if r.Status != 401 || r.str("error") != "invalid_token" {
				t.Fatalf("%d %v", r.Status, r.Body)
			}
			// RFC 6750 §3.1: no error code in the challenge to a request
			// without credentials.
			if ch := r.Header.Get("WWW-Authenticate"); (tc.token == "") == strings.Contains(ch, "error=") {
				t.Errorf("WWW-Authenticate = %q", ch)
			}
		})
	}

	r := regDo(t, http.MethodGet, uri, token, nil)
	if r.Status != 200 || r.str("client_id") != id || r.str("client_name") != "Registered App" ||
		r.str("token_endpoint_auth_method") != "client_secret_basic" || r.str("client_secret") != "" {
		t.Fatalf("read: %d %v", r.Status, r.Body)
	}

	// Update: full replacement, validated like a registration.
	upd := map[string]any{"client_id": id, "redirect_uris": []string{"https://app.example.com/cb"},
		"grant_types": []string{"authorization_code", "client_credentials"}, "token_endpoint_auth_method": "client_secret_post"}
	for _, tc := range []struct {
		name string
		edit func(map[string]any)
		code string
	}{
		{"bad redirect URI", func(m map[string]any) { m["redirect_uris"] = []string{"javascript:x"} }, "invalid_redirect_uri"},
		{"no client_id", func(m map[string]any) { delete(m, "client_id") }, "invalid_client_metadata"},
		{"another client_id", func(m map[string]any) { m["client_id"] = other.str("client_id") }, "invalid_client_metadata"},
		{"wrong client_secret", func(m map[string]any) { m["client_secret"] = "new-secret" }, "invalid_client_metadata"},
		{"becoming public", func(m map[string]any) {
			m["token_endpoint_auth_method"], m["grant_types"] = "none", []string{"authorization_code"}
		}, "invalid_client_metadata"},
	} {
		t.Run("update "+tc.name, func(t *testing.T) {
			m := cloneMap(upd)
			tc.edit(m)
			if r := regDo(t, http.MethodPut, uri, token, m); r.Status != 400 || r.str("error") != tc.code {
				t.Fatalf("%d %v, want 400 %s", r.Status, r.Body, tc.code)
			}
		})
	}
	upd["client_secret"] = secret // allowed when it is the client's own
	r = regDo(t, http.MethodPut, uri, token, upd)
	if r.Status != 200 || r.str("client_name") != "" || r.str("token_endpoint_auth_method") != "client_secret_post" ||
		r.Body["redirect_uris"].([]any)[0] != "https://app.example.com/cb" || r.str("client_secret") != "" {
		t.Fatalf("update: %d %v", r.Status, r.Body)
	}
	if got := regDo(t, http.MethodGet, uri, token, nil); got.str("client_name") != "" || got.Body["redirect_uris"].([]any)[0] != "https://app.example.com/cb" {
		t.Errorf("read after update: %v", got.Body)
	}
	// The secret is unchanged; and a registered client is no resource
	// server, so it may not introspect.
	tr := postToken(t, b.URL, id, secret, url.Values{"grant_type": {"client_credentials"}})
	if tr.Status != 200 {
		t.Fatalf("client_credentials after update: %d %v", tr.Status, tr.Body)
	}
	if in := postIntrospect(t, b.URL, id, secret, tr.str("access_token")); in.Status != http.StatusForbidden {
		t.Errorf("introspection by a registered client: %d %v", in.Status, in.Body)
	}

	// Delete: the client is gone for registration, tokens and /authorize.
	if r := regDo(t, http.MethodDelete, uri, token, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %v", r.Status, r.Body)
	}
	if r := regDo(t, http.MethodGet, uri, token, nil); r.Status != 401 {
		t.Errorf("read after delete: %d", r.Status)
	}
	if tr := postToken(t, b.URL, id, secret, url.Values{"grant_type": {"client_credentials"}}); tr.Status != 401 || tr.str("error") != "invalid_client" {
		t.Errorf("token after delete: %d %v", tr.Status, tr.Body)
	}
	q := baseQuery()
	q.Set("client_id", id)
	q.Set("redirect_uri", "https://app.example.com/cb")
	resp, err := noFollow.Get(authorizeURL(b.URL, q))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("authorize after delete: %d", resp.StatusCode)
	}
	// The other registration is untouched.
	if r := regDo(t, http.MethodGet, other.str("registration_client_uri"), other.str("registration_access_token"), nil); r.Status != 200 {
		t.Errorf("other client: %d %v", r.Status, r.Body)
	}
}

// postIntrospect posts token to the introspection endpoint as the client.
func postIntrospect(t *testing.T, issuer, id, secret, token string) tokenResponse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, issuer+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := tokenResponse{Status: resp.StatusCode}
	json.NewDecoder(resp.Body).Decode(&r.Body)
	return r
}

func cloneMap(m map[string]any) map[string]any {
	c := map[string]any{}
	for k, v := range m {
		c[k] = v
	}
	return c
}

// TestRegistrationDisabled: off by default, the endpoints do not exist and
// discovery does not name them.
func TestRegistrationDisabled(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	if _, ok := discovery(t, b.URL)["registration_endpoint"]; ok {
		t.Error("registration_endpoint advertised while disabled")
	}
	for _, m := range []string{http.MethodPost, http.MethodGet, http.MethodPut, http.MethodDelete} {
		u := b.URL + "/register/" + testenv.ClientID
		if m == http.MethodPost {
			u = b.URL + "/register"
		}
		if r := regDo(t, m, u, initialToken, confidentialMetadata()); r.Status != http.StatusNotFound {
			t.Errorf("%s %s: %d", m, u, r.Status)
		}
	}
}

// TestRegistrationConfig: enabled registration needs an initial access
// token; tokens and hashes are checked without showing them.
func TestRegistrationConfig(t *testing.T) {
	tests := []struct {
		name string
		reg  config.Registration
		want string // "" when valid
	}{
		{"disabled", config.Registration{}, ""},
		{"enabled with a token", config.Registration{Enabled: true, InitialAccessTokens: []string{initialToken}}, ""},
		{"enabled with a hash", config.Registration{Enabled: true, InitialAccessTokenHashes: []string{core.HashClientSecret("x")}}, ""},
		{"enabled without token", config.Registration{Enabled: true}, "registration.initial_access_tokens: at least one"},
		{"short token", config.Registration{Enabled: true, InitialAccessTokens: []string{"short"}}, "registration.initial_access_tokens[0]: must be at least 16"},
		{"bad hash", config.Registration{Enabled: true, InitialAccessTokenHashes: []string{"md5:abc"}}, "registration.initial_access_token_hashes[0]: must be"},
		{"bad default grant", config.Registration{DefaultGrantTypes: []string{"password"}}, `registration.default_grant_types[0]: unsupported grant type "password"`},
		{"refresh alone", config.Registration{DefaultGrantTypes: []string{"refresh_token"}}, "registration.default_grant_types: refresh_token requires authorization_code"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testenv.Config(t)
			cfg.Issuer, cfg.Storage.Dir, cfg.Registration = "http://127.0.0.1:1", t.TempDir(), tc.reg
			cfg.ApplyDefaults()
			err := cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			for _, tok := range append(tc.reg.InitialAccessTokens, tc.reg.InitialAccessTokenHashes...) {
				if err != nil && strings.Contains(err.Error(), tok) {
					t.Errorf("the error shows a token: %v", err)
				}
			}
		})
	}
}

// FuzzRegister sends arbitrary bodies to /register. The answer is always
// JSON, 201 or 400 (413 when over 64 KiB), and a client is registered
// only with metadata that follows the rules: no javascript: redirect URI
// slips through.
func FuzzRegister(f *testing.F) {
	b := testenv.Start(f, regConfig(f))
	for _, s := range []string{
		`{"redirect_uris":["http://127.0.0.1/cb"]}`,
		`{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`,
		`{"grant_types":["client_credentials"]}`,
		`{"redirect_uris":["javascript:alert(1)//127.0.0.1"]}`,
		`{"redirect_uris":["HTTP://LOCALHOST/cb"],"response_types":["code"],"scope":"openid email"}`,
		`{"redirect_uris":null,"grant_types":null,"response_types":[]}`,
		`{"client_name":"\u0000"}`, `[]`, `null`, ``, `{"redirect_uris":[1]}`,
	} {
		f.Add(s)
	}
	h := b.Server.Broker
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/register", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+initialToken)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 201 && w.Code != 400 && w.Code != 413 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		var got struct {
			RedirectURIs []string `json:"redirect_uris"`
			GrantTypes   []string `json:"grant_types"`
			AuthMethod   string   `json:"token_endpoint_auth_method"`
			Error        string   `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("non-JSON answer %d %q", w.Code, w.Body)
		}
		if w.Code == 400 {
			if got.Error != "invalid_client_metadata" && got.Error != "invalid_redirect_uri" {
				t.Fatalf("error %q", got.Error)
			}
			return
		}
		for _, u := range got.RedirectURIs {
			if msg := config.CheckRedirectURI(u, got.AuthMethod == "none"); msg != "" {
				t.Fatalf("registered redirect URI %q: %s", u, msg)
			}
			if msg := ambiguousURI(u); msg != "" {
				t.Fatalf("registered redirect URI %q: %s", u, msg)
			}
		}
		for _, g := range got.GrantTypes {
			if g != "authorization_code" && g != "refresh_token" && g != "client_credentials" {
				t.Fatalf("registered grant type %q", g)
			}
		}
	})
}

// ambiguousURI says what makes u mean different things to different
// parsers, or look like a pattern; "" if nothing does. It restates the
// security review's rules apart from CheckRedirectURI, so that the fuzzer
// checks them rather than the function under test.
func ambiguousURI(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "unparsable"
	case strings.Contains(raw, `\`):
		return "backslash"
	case u.User != nil:
		return "user info"
	case strings.Contains(u.Host, "*"):
		return "wildcard host"
	case (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() == "":
		return "no host"
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "port out of range"
		}
	}
	return ""
}
