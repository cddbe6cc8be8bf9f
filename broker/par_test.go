package broker_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// Clients of the PAR and JAR tests, besides testenv's.
const (
	jarClient = "jar-app" // private_key_jwt, require_signed_request_object
	parClient = "par-app" // a secret, require_pushed_authorization_requests
	parSecret = "par-app-secret"
)

// parConfig is testenv's configuration with jarClient, whose keys are k,
// and parClient.
func parConfig(t *testing.T, k clientKey) *config.Config {
	t.Helper()
	var set map[string]any
	if err := json.Unmarshal(jwks(t, k), &set); err != nil {
		t.Fatal(err)
	}
	cfg := testenv.Config(t)
	cfg.Clients = append(cfg.Clients,
		config.Client{ID: jarClient, TokenEndpointAuthMethod: config.AuthPrivateKeyJWT, JWKS: set,
			RedirectURIs: []string{testenv.RedirectURI}, GrantTypes: []string{"authorization_code"}, RequireSignedRequestObject: true},
		config.Client{ID: parClient, Secret: parSecret, RedirectURIs: []string{testenv.RedirectURI},
			GrantTypes: []string{"authorization_code"}, RequirePushedAuthorizationRequests: true},
	)
	return cfg
}

// oauthAnswer is a JSON answer of /par or /token.
type oauthAnswer struct {
	Status int
	Header http.Header
	Body   map[string]any
}

func (a oauthAnswer) str(k string) string { s, _ := a.Body[k].(string); return s }

// postOAuth posts form to u, with basic credentials when user is set.
func postOAuth(t *testing.T, u, user, pass string, form url.Values) oauthAnswer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := oauthAnswer{Status: resp.StatusCode, Header: resp.Header}
	if err := json.Unmarshal(raw, &a.Body); err != nil {
		t.Fatalf("%s answered %d with non-JSON %q", u, resp.StatusCode, raw)
	}
	return a
}

// authParams are a code flow's parameters for client, with flow f's
// state, nonce and PKCE challenge.
func authParams(client string, f testenv.Flow) url.Values {
	return url.Values{
		"client_id": {client}, "redirect_uri": {testenv.RedirectURI}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {f.State}, "nonce": {f.Nonce},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(f.Verifier)}, "code_challenge_method": {"S256"},
	}
}

func newFlow() testenv.Flow {
	return testenv.Flow{State: tokenish(), Nonce: tokenish(), Verifier: oauth2.GenerateVerifier()}
}

func tokenish() string { return strings.TrimRight(oauth2.GenerateVerifier()[:22], "=") }

// push posts params to /par with basic credentials (or, with an empty
// secret, client_id alone) and returns the answer.
func push(t *testing.T, b *testenv.Broker, client, secret string, params url.Values) oauthAnswer {
	t.Helper()
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	if secret == "" {
		return postOAuth(t, b.URL+"/par", "", "", form)
	}
	form.Del("client_id")
	return postOAuth(t, b.URL+"/par", client, secret, form)
}

// requestURI pushes params and returns the request_uri, checking the
// answer RFC 9126 §2.2 describes.
func requestURI(t *testing.T, b *testenv.Broker, client, secret string, params url.Values) string {
	t.Helper()
	a := push(t, b, client, secret, params)
	uri := a.str("request_uri")
	if a.Status != http.StatusCreated || !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") ||
		a.Body["expires_in"] != float64(60) || a.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("/par: %d %v (Cache-Control %q)", a.Status, a.Body, a.Header.Get("Cache-Control"))
	}
	return uri
}

// byReference is the authorization URL that uses a pushed request.
func byReference(b *testenv.Broker, client, uri string, extra url.Values) string {
	q := url.Values{"client_id": {client}, "request_uri": {uri}}
	for k, v := range extra {
		q[k] = v
	}
	return authorizeURL(b.URL, q)
}

// authorizeAnswer is what /authorize does with a request, before any
// login: "login" (accepted), the error code it redirected with, or the
// status of its own error page.
func authorizeAnswer(t *testing.T, u string) (outcome string, q url.Values) {
	t.Helper()
	resp, err := noFollow.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	switch {
	case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, "/login"):
		return "login", nil
	case strings.HasPrefix(loc, testenv.RedirectURI+"?"):
		l, _ := url.Parse(loc)
		return l.Query().Get("error"), l.Query()
	}
	return http.StatusText(resp.StatusCode), nil
}

// TestPARCodeFlow: a confidential client pushes its request (with PKCE)
// and completes the code flow by reference; the parameters come from the
// push alone, whatever the browser's URL adds; a public client pushes with
// its client_id; the request_uri is spent by its use.
func TestPARCodeFlow(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	ctx := t.Context()
	rp := newRP(t, b)
	f := newFlow()
	uri := requestURI(t, b, testenv.ClientID, testenv.ClientSecret, authParams(testenv.ClientID, f))
	// RFC 9126 §4: only client_id and request_uri count; a state and a
	// scope added to the URL change nothing.
	cb, err := rp.Authorize(ctx, byReference(b, testenv.ClientID, uri, url.Values{"state": {"evil"}, "scope": {"openid api"}}),
		testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := rp.Finish(ctx, f, cb)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := tok.Extra("scope").(string); s != "openid email" {
		t.Errorf("scope %q: the URL's parameters were used", s)
	}
	if got, _ := authorizeAnswer(t, byReference(b, testenv.ClientID, uri, nil)); got != "Bad Request" {
		t.Errorf("a spent request_uri: %s, want the error page (400)", got)
	}

	// A public client pushes with client_id alone (RFC 9126 §2).
	pub := authParams(testenv.PublicClient, newFlow())
	if got, _ := authorizeAnswer(t, byReference(b, testenv.PublicClient, requestURI(t, b, testenv.PublicClient, "", pub), nil)); got != "login" {
		t.Errorf("public client's pushed request: %s", got)
	}
}

// TestPARRefused: /par answers RFC 9126 §2.3's errors, and /authorize
// refuses a request_uri spent, expired or of another client.
func TestPARRefused(t *testing.T) {
	clock := testenv.NewClock()
	b := testenv.StartClock(t, parConfig(t, newClientKey(t, "EC", "k1")), clock)
	f := newFlow()
	params := authParams(testenv.ClientID, f)
	edit := func(k, v string) url.Values {
		q := url.Values{}
		for n, vs := range params {
			q[n] = vs
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	for _, tc := range []struct {
		name           string
		client, secret string
		params         url.Values
		status         int
		code           string
	}{
		{"no client authentication", testenv.ClientID, "", params, 401, "invalid_client"},
		{"wrong secret", testenv.ClientID, "wrong", params, 401, "invalid_client"},
		{"request_uri pushed", testenv.ClientID, testenv.ClientSecret, edit("request_uri", "urn:ietf:params:oauth:request_uri:x"), 400, "invalid_request"},
		{"unregistered redirect_uri", testenv.ClientID, testenv.ClientSecret, edit("redirect_uri", "https://evil.example/cb"), 400, "invalid_request"},
		{"unknown scope", testenv.ClientID, testenv.ClientSecret, edit("scope", "openid admin"), 400, "invalid_scope"},
		{"no response_type", testenv.ClientID, testenv.ClientSecret, edit("response_type", ""), 400, "invalid_request"},
		{"token response_type", testenv.ClientID, testenv.ClientSecret, edit("response_type", "token"), 400, "unsupported_response_type"},
		{"public client without PKCE", testenv.PublicClient, "", func() url.Values {
			q := edit("code_challenge", "")
			q.Del("code_challenge_method")
			q.Set("client_id", testenv.PublicClient)
			return q
		}(), 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := push(t, b, tc.client, tc.secret, tc.params)
			if a.Status != tc.status || a.str("error") != tc.code {
				t.Errorf("got %d %v, want %d %s", a.Status, a.Body, tc.status, tc.code)
			}
		})
	}

	t.Run("another client's request_uri", func(t *testing.T) {
		uri := requestURI(t, b, testenv.ClientID, testenv.ClientSecret, params)
		if got, _ := authorizeAnswer(t, byReference(b, testenv.PublicClient, uri, nil)); got != "Bad Request" {
			t.Errorf("used by another client: %s, want the error page", got)
		}
		if got, _ := authorizeAnswer(t, byReference(b, testenv.ClientID, uri, nil)); got != "login" {
			t.Errorf("its own client after another's attempt: %s (the refusal must not spend it)", got)
		}
	})
	t.Run("reused", func(t *testing.T) {
		uri := requestURI(t, b, testenv.ClientID, testenv.ClientSecret, params)
		for i, want := range []string{"login", "Bad Request"} {
			if got, _ := authorizeAnswer(t, byReference(b, testenv.ClientID, uri, nil)); got != want {
				t.Errorf("use %d: %s, want %s", i+1, got, want)
			}
		}
	})
	t.Run("expired", func(t *testing.T) {
		uri := requestURI(t, b, testenv.ClientID, testenv.ClientSecret, params)
		clock.Advance(61 * time.Second)
		if got, _ := authorizeAnswer(t, byReference(b, testenv.ClientID, uri, nil)); got != "Bad Request" {
			t.Errorf("after 61 s: %s, want the error page", got)
		}
	})
	t.Run("missing client_id", func(t *testing.T) {
		uri := requestURI(t, b, testenv.ClientID, testenv.ClientSecret, params)
		if got, _ := authorizeAnswer(t, authorizeURL(b.URL, url.Values{"request_uri": {uri}})); got != "Bad Request" {
			t.Errorf("without client_id: %s, want the error page", got)
		}
	})
}

// TestRequirePAR: a client that must push gets invalid_request for a
// plain request (at its redirect URI when that is registered, else on the
// error page), and succeeds by reference; the global switch does the same
// for every client and discovery says so.
func TestRequirePAR(t *testing.T) {
	b := testenv.Start(t, parConfig(t, newClientKey(t, "EC", "k1")))
	plain := authParams(parClient, newFlow())
	if got, _ := authorizeAnswer(t, authorizeURL(b.URL, plain)); got != "invalid_request" {
		t.Errorf("plain request of a PAR client: %s, want invalid_request", got)
	}
	plain.Set("redirect_uri", "https://evil.example/cb")
	if got, _ := authorizeAnswer(t, authorizeURL(b.URL, plain)); got != "Bad Request" {
		t.Errorf("plain request, bad redirect_uri: %s, want the error page", got)
	}
	uri := requestURI(t, b, parClient, parSecret, authParams(parClient, newFlow()))
	if got, _ := authorizeAnswer(t, byReference(b, parClient, uri, nil)); got != "login" {
		t.Errorf("pushed request of a PAR client: %s", got)
	}
	// Others are not concerned.
	if got, _ := authorizeAnswer(t, authorizeURL(b.URL, authParams(testenv.ClientID, newFlow()))); got != "login" {
		t.Errorf("plain request of another client: %s", got)
	}

	cfg := testenv.Config(t)
	cfg.Tokens.RequirePushedAuthorizationRequests = true
	g := testenv.Start(t, cfg)
	if got, _ := authorizeAnswer(t, authorizeURL(g.URL, authParams(testenv.ClientID, newFlow()))); got != "invalid_request" {
		t.Errorf("plain request, PAR required for all: %s, want invalid_request", got)
	}
	uri = requestURI(t, g, testenv.ClientID, testenv.ClientSecret, authParams(testenv.ClientID, newFlow()))
	if got, _ := authorizeAnswer(t, byReference(g, testenv.ClientID, uri, nil)); got != "login" {
		t.Errorf("pushed request, PAR required for all: %s", got)
	}
	// The admin console's own requests, which Portico makes, still work.
	console := authParams(config.ConsoleClient, newFlow())
	console.Set("redirect_uri", g.URL+"/admin/callback")
	console.Set("scope", "openid profile admin")
	if got, _ := authorizeAnswer(t, authorizeURL(g.URL, console)); got != "login" {
		t.Errorf("the admin console's request, PAR required for all: %s", got)
	}
	resp, err := http.Get(g.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	json.NewDecoder(resp.Body).Decode(&d)
	if d["require_pushed_authorization_requests"] != true || d["pushed_authorization_request_endpoint"] != g.URL+"/par" {
		t.Errorf("discovery: %v %v", d["require_pushed_authorization_requests"], d["pushed_authorization_request_endpoint"])
	}
}

// TestPARReplicas: two brokers on one PostgreSQL schema; a request_uri
// pushed to A works on B, and one used on A is refused on B.
func TestPARReplicas(t *testing.T) {
	schema := testenv.PostgresSchema(t)
	shared := t.TempDir() // the sealing key both share, as replicas do
	var bs []*testenv.Broker
	for range 2 {
		cfg := testenv.Config(t)
		cfg.Storage = config.Storage{Type: config.StoragePostgres, DSN: testenv.PostgresDSN(), Schema: schema, Dir: shared}
		bs = append(bs, testenv.Start(t, cfg))
	}
	a, b := bs[0], bs[1]
	params := authParams(testenv.ClientID, newFlow())
	uri := requestURI(t, a, testenv.ClientID, testenv.ClientSecret, params)
	if got, _ := authorizeAnswer(t, byReference(b, testenv.ClientID, uri, nil)); got != "login" {
		t.Errorf("pushed to A, used on B: %s", got)
	}
	uri = requestURI(t, a, testenv.ClientID, testenv.ClientSecret, params)
	if got, _ := authorizeAnswer(t, byReference(a, testenv.ClientID, uri, nil)); got != "login" {
		t.Fatalf("used on A: %s", got)
	}
	if got, _ := authorizeAnswer(t, byReference(b, testenv.ClientID, uri, nil)); got != "Bad Request" {
		t.Errorf("used on A, then on B: %s, want the error page", got)
	}
}

// signObject is a request object of claims signed with k (RFC 9101 §4).
func signObject(t *testing.T, k clientKey, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("oauth-authz-req+jwt").WithHeader("kid", k.public.KeyID)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// objectClaims are a request object's claims for the code flow f of
// client at issuer.
func objectClaims(issuer, client string, f testenv.Flow, now time.Time) map[string]any {
	c := map[string]any{"iss": client, "aud": issuer, "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(),
		"nbf": now.Unix(), "jti": tokenish()}
	for k, v := range authParams(client, f) {
		c[k] = v[0]
	}
	return c
}

// TestPARClientSettings: the admin API and dynamic registration set
// require_pushed_authorization_requests and require_signed_request_object
// (refusing the latter without keys), show them, and /authorize applies
// what they stored.
func TestPARClientSettings(t *testing.T) {
	k := newClientKey(t, "EC", "k1")
	cfg := adminConfig(t)
	cfg.Registration = regConfig(t).Registration
	b := testenv.Start(t, cfg)
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	var set map[string]any
	json.Unmarshal(jwks(t, k), &set)

	r := call(t, b, admin, "POST", "/clients", map[string]any{"id": "adm-par", "redirect_uris": []string{testenv.RedirectURI},
		"require_pushed_authorization_requests": true})
	mustStatus(t, r, 201, "admin: create a PAR client")
	secret, _ := r.Body["client_secret"].(string)
	if got := call(t, b, admin, "GET", "/clients/adm-par", nil); got.Body["require_pushed_authorization_requests"] != true {
		t.Errorf("admin view: %s", got.Raw)
	}
	if got, _ := authorizeAnswer(t, authorizeURL(b.URL, authParams("adm-par", newFlow()))); got != "invalid_request" {
		t.Errorf("plain request of the admin API's PAR client: %s", got)
	}
	uri := requestURI(t, b, "adm-par", secret, authParams("adm-par", newFlow()))
	if got, _ := authorizeAnswer(t, byReference(b, "adm-par", uri, nil)); got != "login" {
		t.Errorf("pushed request of the admin API's PAR client: %s", got)
	}
	r = call(t, b, admin, "POST", "/clients", map[string]any{"id": "adm-jar", "redirect_uris": []string{testenv.RedirectURI},
		"require_signed_request_object": true})
	if r.Status != 400 || !strings.Contains(string(r.Raw), "require_signed_request_object") {
		t.Errorf("admin: signed objects without keys: %d %s", r.Status, r.Raw)
	}
	r = call(t, b, admin, "POST", "/clients", map[string]any{"id": "adm-jar", "redirect_uris": []string{testenv.RedirectURI},
		"require_signed_request_object": true, "token_endpoint_auth_method": "private_key_jwt", "jwks": set})
	mustStatus(t, r, 201, "admin: create a JAR client")
	if got, _ := authorizeAnswer(t, authorizeURL(b.URL, authParams("adm-jar", newFlow()))); got != "invalid_request" {
		t.Errorf("plain request of the admin API's JAR client: %s", got)
	}

	meta := map[string]any{"redirect_uris": []string{testenv.RedirectURI}, "token_endpoint_auth_method": "private_key_jwt", "jwks": set,
		"require_pushed_authorization_requests": true, "require_signed_request_object": true}
	reg := regDo(t, http.MethodPost, b.URL+"/register", initialToken, meta)
	if reg.Status != 201 || reg.Body["require_pushed_authorization_requests"] != true || reg.Body["require_signed_request_object"] != true {
		t.Fatalf("register: %d %v", reg.Status, reg.Body)
	}
	if got, _ := authorizeAnswer(t, authorizeURL(b.URL, authParams(reg.str("client_id"), newFlow()))); got != "invalid_request" {
		t.Errorf("plain request of a registered PAR client: %s", got)
	}
	delete(meta, "jwks")
	meta["token_endpoint_auth_method"] = "client_secret_basic"
	if reg := regDo(t, http.MethodPost, b.URL+"/register", initialToken, meta); reg.Status != 400 || reg.str("error") != "invalid_client_metadata" {
		t.Errorf("register signed objects without keys: %d %v", reg.Status, reg.Body)
	}
}
