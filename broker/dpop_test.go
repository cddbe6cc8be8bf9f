package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
	"github.com/portico-idp/portico/tokensvc/dpop"
)

// dpopKey signs DPoP proofs (RFC 9449 §4) as a client does.
type dpopKey struct{ p *dpop.Prover }

func newDPoPKey(t testing.TB) dpopKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p, err := dpop.NewProver(k)
	if err != nil {
		t.Fatal(err)
	}
	return dpopKey{p}
}

func (k dpopKey) jkt(testing.TB) string { return k.p.JKT }

// proof is a proof for method at u; extra adds or, with nil, removes
// claims (ath for a token, nonce, a stale iat).
func (k dpopKey) proof(t testing.TB, method, u string, extra map[string]any) string {
	t.Helper()
	s, err := k.p.Proof(method, u, dpop.ProofOptions{Claims: extra})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dpopPost posts form to u with the proofs as DPoP headers, and basic
// credentials when user is set.
func dpopPost(t testing.TB, h http.Handler, u, user, pass string, form url.Values, proofs ...string) oauthAnswer {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	for _, p := range proofs {
		req.Header.Add(dpop.Header, p)
	}
	return serve(t, h, req)
}

func serve(t testing.TB, h http.Handler, req *http.Request) oauthAnswer {
	t.Helper()
	var resp *http.Response
	if h == nil {
		var err error
		req.RequestURI = ""
		if resp, err = (&http.Client{Timeout: 30 * time.Second}).Do(req); err != nil {
			t.Fatal(err)
		}
	} else {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		resp = w.Result()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := oauthAnswer{Status: resp.StatusCode, Header: resp.Header, Body: map[string]any{}}
	if len(raw) > 0 && json.Unmarshal(raw, &a.Body) != nil {
		t.Fatalf("%s answered %d with non-JSON %q", req.URL, resp.StatusCode, raw)
	}
	return a
}

// resourceGet calls u with the token in scheme and the proofs.
func resourceGet(t testing.TB, u, scheme, token string, proofs ...string) oauthAnswer {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", scheme+" "+token)
	for _, p := range proofs {
		req.Header.Add(dpop.Header, p)
	}
	return serve(t, nil, req)
}

// publicCode logs alice in for the public client with params and
// returns the code.
func publicCode(t *testing.T, b *testenv.Broker, f testenv.Flow, extra url.Values) string {
	t.Helper()
	q := authParams(testenv.PublicClient, f)
	q.Set("scope", "openid email offline_access")
	for k, v := range extra {
		q[k] = v
	}
	cb, err := newRP(t, b).Authorize(t.Context(), authorizeURL(b.URL, q), testenv.UserName, testenv.UserPassword)
	if err != nil || cb.Query.Get("code") == "" {
		t.Fatalf("no code: %v %d %v %.300s", err, cb.Status, cb.Query, cb.Page)
	}
	return cb.Query.Get("code")
}

func codeForm(code string, f testenv.Flow) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "client_id": {testenv.PublicClient}, "code": {code},
		"redirect_uri": {testenv.RedirectURI}, "code_verifier": {f.Verifier}}
}

// TestDPoPCodeFlow: a public client's code flow with DPoP gets tokens
// bound to its key (token_type DPoP, cnf.jkt), uses them at userinfo with
// proofs, refreshes with the same key only, and a bound token is worth
// nothing as a Bearer token or with another key's proof.
func TestDPoPCodeFlow(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	k, other := newDPoPKey(t), newDPoPKey(t)
	f := newFlow()
	code := publicCode(t, b, f, nil)
	tok := dpopPost(t, nil, b.URL+"/token", "", "", codeForm(code, f), k.proof(t, "POST", b.URL+"/token", nil))
	if tok.Status != http.StatusOK || tok.str("token_type") != "DPoP" || tok.str("refresh_token") == "" {
		t.Fatalf("token: %d %v", tok.Status, tok.Body)
	}
	at := tok.str("access_token")
	if cnf, _ := jwtClaims(t, at)["cnf"].(map[string]any); cnf["jkt"] != k.jkt(t) {
		t.Fatalf("access token cnf %v, want jkt %s", cnf, k.jkt(t))
	}
	ui := b.URL + "/userinfo"
	if r := resourceGet(t, ui, "DPoP", at, k.proof(t, "GET", ui, map[string]any{"ath": dpop.ATH(at)})); r.Status != http.StatusOK || r.str("sub") == "" {
		t.Fatalf("userinfo with the proof: %d %v", r.Status, r.Body)
	}
	for _, tc := range []struct {
		name, scheme, code string
		proofs             []string
	}{
		{"as a Bearer token", "Bearer", "invalid_token", nil},
		{"as a Bearer token with a proof", "Bearer", "invalid_token", []string{k.proof(t, "GET", ui, map[string]any{"ath": dpop.ATH(at)})}},
		{"no proof", "DPoP", "invalid_dpop_proof", nil},
		{"ath of another token", "DPoP", "invalid_dpop_proof", []string{k.proof(t, "GET", ui, map[string]any{"ath": dpop.ATH("x")})}},
		{"no ath", "DPoP", "invalid_dpop_proof", []string{k.proof(t, "GET", ui, nil)}},
		{"wrong htm", "DPoP", "invalid_dpop_proof", []string{k.proof(t, "POST", ui, map[string]any{"ath": dpop.ATH(at)})}},
		{"wrong htu", "DPoP", "invalid_dpop_proof", []string{k.proof(t, "GET", b.URL+"/token", map[string]any{"ath": dpop.ATH(at)})}},
		{"another key", "DPoP", "invalid_token", []string{other.proof(t, "GET", ui, map[string]any{"ath": dpop.ATH(at)})}},
	} {
		r := resourceGet(t, ui, tc.scheme, at, tc.proofs...)
		wa := strings.Join(r.Header.Values("WWW-Authenticate"), "; ")
		if r.Status != http.StatusUnauthorized || r.str("error") != tc.code || !strings.HasPrefix(wa, `DPoP realm="portico", error="`+tc.code+`"`) {
			t.Errorf("userinfo %s: %d %v, WWW-Authenticate %q; want 401 %s in the DPoP scheme", tc.name, r.Status, r.Body, wa, tc.code)
		}
	}
	// A replayed proof (§11.1).
	p := k.proof(t, "GET", ui, map[string]any{"ath": dpop.ATH(at)})
	resourceGet(t, ui, "DPoP", at, p)
	if r := resourceGet(t, ui, "DPoP", at, p); r.Status != http.StatusUnauthorized || r.str("error") != "invalid_dpop_proof" {
		t.Errorf("replayed proof at userinfo: %d %v", r.Status, r.Body)
	}
	// No credentials: both schemes are offered, DPoP with its algorithms.
	r := serve(t, nil, httptest.NewRequest(http.MethodGet, ui, nil))
	if wa := r.Header.Values("WWW-Authenticate"); r.Status != http.StatusUnauthorized || len(wa) != 2 || !strings.Contains(wa[1], `algs="`) {
		t.Errorf("no credentials: %d %q", r.Status, wa)
	}

	// The refresh token is bound (a public client's, §5).
	rt := tok.str("refresh_token")
	refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {testenv.PublicClient}, "refresh_token": {rt}}
	if r := dpopPost(t, nil, b.URL+"/token", "", "", refresh); r.Status != http.StatusBadRequest || r.str("error") != "invalid_dpop_proof" {
		t.Errorf("refresh without a proof: %d %v", r.Status, r.Body)
	}
	if r := dpopPost(t, nil, b.URL+"/token", "", "", refresh, other.proof(t, "POST", b.URL+"/token", nil)); r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
		t.Errorf("refresh with another key: %d %v", r.Status, r.Body)
	}
	// Neither refusal rotated it: the key's holder still refreshes.
	r = dpopPost(t, nil, b.URL+"/token", "", "", refresh, k.proof(t, "POST", b.URL+"/token", nil))
	if r.Status != http.StatusOK || r.str("token_type") != "DPoP" {
		t.Fatalf("refresh with the key: %d %v", r.Status, r.Body)
	}
	if cnf, _ := jwtClaims(t, r.str("access_token"))["cnf"].(map[string]any); cnf["jkt"] != k.jkt(t) {
		t.Errorf("refreshed access token cnf %v", cnf)
	}
}

// TestDPoPTokenEndpointRefused is the token endpoint's half of the
// negative suite: each bad proof is refused with invalid_dpop_proof (RFC
// 9449 §5), and nothing is issued.
func TestDPoPTokenEndpointRefused(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Clients = append(cfg.Clients, config.Client{ID: "bound", Secret: "bound-secret", GrantTypes: []string{"client_credentials"},
		DPoPBoundAccessTokens: true})
	b := testenv.Start(t, cfg)
	k := newDPoPKey(t)
	tu := b.URL + "/token"
	cc := url.Values{"grant_type": {"client_credentials"}}
	replayed := k.proof(t, "POST", tu, nil)
	if r := dpopPost(t, nil, tu, testenv.ClientID, testenv.ClientSecret, cc, replayed); r.Status != http.StatusOK || r.str("token_type") != "DPoP" {
		t.Fatalf("client_credentials with a proof: %d %v", r.Status, r.Body)
	}
	for _, tc := range []struct {
		name   string
		proofs []string
	}{
		{"replayed jti", []string{replayed}}, // logged: see below
		{"wrong htm", []string{k.proof(t, "GET", tu, nil)}},
		{"wrong htu", []string{k.proof(t, "POST", b.URL+"/par", nil)}},
		{"stale iat", []string{k.proof(t, "POST", tu, map[string]any{"iat": time.Now().Add(-5 * time.Minute).Unix()})}},
		{"future iat", []string{k.proof(t, "POST", tu, map[string]any{"iat": time.Now().Add(5 * time.Minute).Unix()})}},
		{"two proofs", []string{k.proof(t, "POST", tu, nil), k.proof(t, "POST", tu, nil)}},
		{"not a JWT", []string{"not-a-proof"}},
		{"no jti", []string{k.proof(t, "POST", tu, map[string]any{"jti": nil})}},
	} {
		r := dpopPost(t, nil, tu, testenv.ClientID, testenv.ClientSecret, cc, tc.proofs...)
		if r.Status != http.StatusBadRequest || r.str("error") != "invalid_dpop_proof" || r.str("access_token") != "" {
			t.Errorf("%s: %d %v, want 400 invalid_dpop_proof", tc.name, r.Status, r.Body)
		}
	}
	if !strings.Contains(b.Logs(), `"event":"dpop_replay"`) {
		t.Error("the replayed proof was not logged as a security event")
	}
	// dpop_bound_access_tokens: no proof, no token (§5.2).
	if r := dpopPost(t, nil, tu, "bound", "bound-secret", cc); r.Status != http.StatusBadRequest || r.str("error") != "invalid_dpop_proof" {
		t.Errorf("bound client without a proof: %d %v", r.Status, r.Body)
	}
	if r := dpopPost(t, nil, tu, "bound", "bound-secret", cc, k.proof(t, "POST", tu, nil)); r.Status != http.StatusOK || r.str("token_type") != "DPoP" {
		t.Errorf("bound client with a proof: %d %v", r.Status, r.Body)
	}
	// Without a proof, an unbound client gets a plain Bearer token.
	if r := dpopPost(t, nil, tu, testenv.ClientID, testenv.ClientSecret, cc); r.Status != http.StatusOK || r.str("token_type") != "Bearer" {
		t.Errorf("no proof: %d %v", r.Status, r.Body)
	}
}

// TestDPoPJKT: a code bound at the authorization request (dpop_jkt, §10)
// or by a proof at /par (§10.1) is redeemed with that key only.
func TestDPoPJKT(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	k, other := newDPoPKey(t), newDPoPKey(t)
	tu := b.URL + "/token"

	f := newFlow()
	code := publicCode(t, b, f, url.Values{"dpop_jkt": {k.jkt(t)}})
	if r := dpopPost(t, nil, tu, "", "", codeForm(code, f)); r.Status != http.StatusBadRequest || r.str("error") != "invalid_dpop_proof" {
		t.Errorf("bound code without a proof: %d %v", r.Status, r.Body)
	}
	if r := dpopPost(t, nil, tu, "", "", codeForm(code, f), other.proof(t, "POST", tu, nil)); r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
		t.Errorf("bound code, another key: %d %v", r.Status, r.Body)
	}
	// The code was not spent by the refusals.
	if r := dpopPost(t, nil, tu, "", "", codeForm(code, f), k.proof(t, "POST", tu, nil)); r.Status != http.StatusOK || r.str("token_type") != "DPoP" {
		t.Errorf("bound code with its key: %d %v", r.Status, r.Body)
	}
	for _, jkts := range [][]string{{"short"}, {k.jkt(t), other.jkt(t)}} {
		q := authParams(testenv.PublicClient, newFlow())
		q["dpop_jkt"] = jkts
		if got, _ := authorizeAnswer(t, authorizeURL(b.URL, q)); got != "invalid_request" && got != "Bad Request" {
			t.Errorf("dpop_jkt %v: %s, want refused", jkts, got)
		}
	}

	// A proof at /par binds the pushed request's code.
	f = newFlow()
	params := authParams(testenv.PublicClient, f)
	params.Set("scope", "openid email offline_access")
	push := dpopPost(t, nil, b.URL+"/par", "", "", params, k.proof(t, "POST", b.URL+"/par", nil))
	if push.Status != http.StatusCreated {
		t.Fatalf("/par with a proof: %d %v", push.Status, push.Body)
	}
	cb, err := newRP(t, b).Authorize(t.Context(), byReference(b, testenv.PublicClient, push.str("request_uri"), nil), testenv.UserName, testenv.UserPassword)
	if err != nil || cb.Query.Get("code") == "" {
		t.Fatalf("pushed login: %v %v", err, cb.Query)
	}
	if r := dpopPost(t, nil, tu, "", "", codeForm(cb.Query.Get("code"), f), other.proof(t, "POST", tu, nil)); r.str("error") != "invalid_grant" {
		t.Errorf("code bound at /par, another key: %d %v", r.Status, r.Body)
	}
	// dpop_jkt naming another key than the /par proof's.
	params.Set("dpop_jkt", other.jkt(t))
	if r := dpopPost(t, nil, b.URL+"/par", "", "", params, k.proof(t, "POST", b.URL+"/par", nil)); r.Status != http.StatusBadRequest || r.str("error") != "invalid_dpop_proof" {
		t.Errorf("/par with dpop_jkt of another key: %d %v", r.Status, r.Body)
	}
}

// TestDPoPIntrospection: introspection tells a resource server the key a
// token is bound to (cnf.jkt, token_type DPoP; RFC 9449 §6.2), for JWT
// and opaque tokens alike.
func TestDPoPIntrospection(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Clients = append(cfg.Clients, config.Client{ID: "opaque", Secret: "opaque-secret", GrantTypes: []string{"client_credentials"},
		TokenFormat: "opaque"})
	b := testenv.Start(t, cfg)
	k := newDPoPKey(t)
	for _, c := range [][2]string{{testenv.ClientID, testenv.ClientSecret}, {"opaque", "opaque-secret"}} {
		tok := dpopPost(t, nil, b.URL+"/token", c[0], c[1], url.Values{"grant_type": {"client_credentials"}}, k.proof(t, "POST", b.URL+"/token", nil))
		if tok.Status != http.StatusOK {
			t.Fatalf("%s: token %d %v", c[0], tok.Status, tok.Body)
		}
		in := dpopPost(t, nil, b.URL+"/introspect", c[0], c[1], url.Values{"token": {tok.str("access_token")}})
		cnf, _ := in.Body["cnf"].(map[string]any)
		if in.Body["active"] != true || in.str("token_type") != "DPoP" || cnf["jkt"] != k.jkt(t) {
			t.Errorf("%s: introspection %v, want active, DPoP, cnf.jkt %s", c[0], in.Body, k.jkt(t))
		}
	}
}

// TestDPoPNonce: with tokens.dpop.require_nonce, a proof without the
// server's nonce gets use_dpop_nonce and a nonce (§8, §9), at the token
// endpoint (400) and at userinfo (401); with it, the request passes.
func TestDPoPNonce(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Tokens.DPoP.RequireNonce = true
	b := testenv.Start(t, cfg)
	k := newDPoPKey(t)
	tu := b.URL + "/token"
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}
	r := dpopPost(t, nil, tu, testenv.ClientID, testenv.ClientSecret, cc, k.proof(t, "POST", tu, nil))
	nonce := r.Header.Get(dpop.NonceHeader)
	if r.Status != http.StatusBadRequest || r.str("error") != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("no nonce: %d %v (DPoP-Nonce %q)", r.Status, r.Body, nonce)
	}
	if r := dpopPost(t, nil, tu, testenv.ClientID, testenv.ClientSecret, cc, k.proof(t, "POST", tu, map[string]any{"nonce": "made-up"})); r.str("error") != "use_dpop_nonce" {
		t.Errorf("a made-up nonce: %d %v", r.Status, r.Body)
	}
	r = dpopPost(t, nil, tu, testenv.ClientID, testenv.ClientSecret, cc, k.proof(t, "POST", tu, map[string]any{"nonce": nonce}))
	if r.Status != http.StatusOK || r.str("token_type") != "DPoP" {
		t.Fatalf("with the nonce: %d %v", r.Status, r.Body)
	}
}

// TestDPoPAdminAPI: the admin API takes a DPoP-bound admin token with its
// proof, and refuses it as a Bearer token or without the proof.
func TestDPoPAdminAPI(t *testing.T) {
	b := testenv.Start(t, adminConfig(t))
	k := newDPoPKey(t)
	tok := dpopPost(t, nil, b.URL+"/token", adminClientID, adminClientSecret,
		url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, k.proof(t, "POST", b.URL+"/token", nil))
	if tok.Status != http.StatusOK || tok.str("token_type") != "DPoP" {
		t.Fatalf("admin token: %d %v", tok.Status, tok.Body)
	}
	at, u := tok.str("access_token"), b.URL+"/admin/v1/clients"
	if r := resourceGet(t, u, "DPoP", at, k.proof(t, "GET", u, map[string]any{"ath": dpop.ATH(at)})); r.Status != http.StatusOK {
		t.Errorf("admin API with the proof: %d %v", r.Status, r.Body)
	}
	if r := resourceGet(t, u, "Bearer", at); r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), `DPoP realm="portico", error="invalid_token"`) {
		t.Errorf("admin API, bound token as Bearer: %d %v %q", r.Status, r.Body, r.Header.Get("WWW-Authenticate"))
	}
	if r := resourceGet(t, u, "DPoP", at, k.proof(t, "GET", b.URL+"/admin/v1/users", map[string]any{"ath": dpop.ATH(at)})); r.Status != http.StatusUnauthorized {
		t.Errorf("admin API, proof for another path: %d %v", r.Status, r.Body)
	}
}

// TestDPoPReplicas: two brokers on one PostgreSQL schema behind one
// issuer; a proof taken on A is refused on B (its jti is in the store).
func TestDPoPReplicas(t *testing.T) {
	schema := testenv.PostgresSchema(t)
	shared := t.TempDir()
	const issuer = "http://127.0.0.1:9" // one issuer, as behind a load balancer
	var hs []http.Handler
	for range 2 {
		cfg := testenv.Config(t)
		cfg.Issuer = issuer
		cfg.Storage = config.Storage{Type: config.StoragePostgres, DSN: testenv.PostgresDSN(), Schema: schema, Dir: shared}
		hs = append(hs, testenv.StartHandler(t, cfg))
	}
	k := newDPoPKey(t)
	p := k.proof(t, "POST", issuer+"/token", nil)
	cc := url.Values{"grant_type": {"client_credentials"}}
	if r := dpopPost(t, hs[0], issuer+"/token", testenv.ClientID, testenv.ClientSecret, cc, p); r.Status != http.StatusOK || r.str("token_type") != "DPoP" {
		t.Fatalf("on A: %d %v", r.Status, r.Body)
	}
	if r := dpopPost(t, hs[1], issuer+"/token", testenv.ClientID, testenv.ClientSecret, cc, p); r.Status != http.StatusBadRequest || r.str("error") != "invalid_dpop_proof" {
		t.Errorf("the same proof on B: %d %v", r.Status, r.Body)
	}
	if r := dpopPost(t, hs[1], issuer+"/token", testenv.ClientID, testenv.ClientSecret, cc, k.proof(t, "POST", issuer+"/token", nil)); r.Status != http.StatusOK {
		t.Errorf("a fresh proof on B: %d %v", r.Status, r.Body)
	}
}

// TestDPoPDeviceGrant: a TV (public client) that polls with proofs gets
// DPoP-bound tokens, its refresh token bound to its key.
func TestDPoPDeviceGrant(t *testing.T) {
	b := testenv.Start(t, deviceConfig(t))
	k, other := newDPoPKey(t), newDPoPKey(t)
	tu := b.URL + "/token"
	d := authorizeDevice(t, b.URL, deviceClient, "", url.Values{"scope": {"openid offline_access"}})
	br := testenv.NewBrowser(noRedirectStop)
	approveAs(t, br, enterCode(t, br, d), testenv.UserName, testenv.UserPassword, "allow")
	r := dpopPost(t, nil, tu, "", "", url.Values{"grant_type": {config.GrantDeviceCode}, "client_id": {deviceClient}, "device_code": {d.DeviceCode}},
		k.proof(t, "POST", tu, nil))
	if r.Status != http.StatusOK || r.str("token_type") != "DPoP" {
		t.Fatalf("device grant with a proof: %d %v", r.Status, r.Body)
	}
	if cnf, _ := jwtClaims(t, r.str("access_token"))["cnf"].(map[string]any); cnf["jkt"] != k.jkt(t) {
		t.Errorf("device access token cnf %v", cnf)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {deviceClient}, "refresh_token": {r.str("refresh_token")}}
	if r := dpopPost(t, nil, tu, "", "", refresh, other.proof(t, "POST", tu, nil)); r.str("error") != "invalid_grant" {
		t.Errorf("the TV's refresh token with another key: %d %v", r.Status, r.Body)
	}
	if r := dpopPost(t, nil, tu, "", "", refresh, k.proof(t, "POST", tu, nil)); r.Status != http.StatusOK {
		t.Errorf("the TV's refresh token with its key: %d %v", r.Status, r.Body)
	}
}

// TestDPoPBindsAtFirstProof: a public client's session that started
// without DPoP is bound by its first refresh with a proof (RFC 9449 §5):
// from then on, no other key and no Bearer use.
func TestDPoPBindsAtFirstProof(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	k, other := newDPoPKey(t), newDPoPKey(t)
	tu := b.URL + "/token"
	f := newFlow()
	r := dpopPost(t, nil, tu, "", "", codeForm(publicCode(t, b, f, nil), f))
	if r.Status != http.StatusOK || r.str("token_type") != "Bearer" {
		t.Fatalf("code without a proof: %d %v", r.Status, r.Body)
	}
	refresh := func(rt string, proofs ...string) oauthAnswer {
		return dpopPost(t, nil, tu, "", "", url.Values{"grant_type": {"refresh_token"}, "client_id": {testenv.PublicClient}, "refresh_token": {rt}}, proofs...)
	}
	r = refresh(r.str("refresh_token"), k.proof(t, "POST", tu, nil))
	if r.Status != http.StatusOK || r.str("token_type") != "DPoP" {
		t.Fatalf("first refresh with a proof: %d %v", r.Status, r.Body)
	}
	rt := r.str("refresh_token")
	if r := refresh(rt, other.proof(t, "POST", tu, nil)); r.str("error") != "invalid_grant" {
		t.Errorf("then another key: %d %v", r.Status, r.Body)
	}
	if r := refresh(rt); r.str("error") != "invalid_dpop_proof" {
		t.Errorf("then no proof: %d %v", r.Status, r.Body)
	}
	if r := refresh(rt, k.proof(t, "POST", tu, nil)); r.Status != http.StatusOK {
		t.Errorf("then the key: %d %v", r.Status, r.Body)
	}
}

// TestResourceAuthHeaders: what Portico's protected endpoints answer to
// credentials that are not one well-formed token (RFC 6750 §3.1): another
// scheme is no credentials (401, no error code), a malformed or repeated
// Authorization header is invalid_request (400); /token refuses repeated
// headers too.
func TestResourceAuthHeaders(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	ui := b.URL + "/userinfo"
	for _, tc := range []struct {
		name    string
		headers []string
		status  int
		code    string
	}{
		{"Basic", []string{"Basic YTpi"}, 401, ""},
		{"Bearer without a token", []string{"Bearer "}, 400, "invalid_request"},
		{"two headers", []string{"Bearer a", "Bearer b"}, 400, "invalid_request"},
	} {
		req := httptest.NewRequest(http.MethodGet, ui, nil)
		for _, h := range tc.headers {
			req.Header.Add("Authorization", h)
		}
		r := serve(t, nil, req)
		if r.Status != tc.status || r.str("error") != tc.code || len(r.Header.Values("WWW-Authenticate")) == 0 {
			t.Errorf("%s: %d %v %q", tc.name, r.Status, r.Body, r.Header.Values("WWW-Authenticate"))
		}
	}
	req := httptest.NewRequest(http.MethodPost, b.URL+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testenv.ClientID, testenv.ClientSecret)
	req.Header.Add("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("other:secret")))
	if r := serve(t, nil, req); r.Status != http.StatusBadRequest || r.str("error") != "invalid_request" {
		t.Errorf("/token with two Authorization headers: %d %v", r.Status, r.Body)
	}
}
