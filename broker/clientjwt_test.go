package broker_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/protocol"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/client"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/portico-idp/portico/broker"
	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/server"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/store/badger"
	"github.com/portico-idp/portico/testenv"
	"github.com/portico-idp/portico/tokensvc"
)

// The assertions of these tests are made by ZITADEL's OIDC client library
// (client.SignedJWTProfileAssertion: its claims, jti and encoding), from
// PEM keys it parses itself; only the deliberately broken ones are
// made here.

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// testClock is the broker's clock: tests move it instead of sleeping.
type testClock struct{ t atomic.Int64 }

func newTestClock() *testClock           { c := &testClock{}; c.t.Store(time.Now().UnixNano()); return c }
func (c *testClock) Now() time.Time      { return time.Unix(0, c.t.Load()) }
func (c *testClock) Add(d time.Duration) { c.t.Add(int64(d)) }

// jwtBroker serves a broker with clients stored as given, its clock and
// jwks_uri cache options injected.
func jwtBroker(t *testing.T, clock *testClock, keys protocol.ClientKeysOptions, clients ...store.Client) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	cfg := testenv.Config(t)
	cfg.Issuer = issuer
	cfg.ApplyDefaults()
	st, err := badger.Open(badger.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	tok, err := tokensvc.New(ctx, st, server.TokenConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		c.GrantTypes, c.Scopes = []string{"client_credentials"}, []string{"api"}
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	b, err := broker.New(broker.Options{Issuer: issuer, Store: st, Tokens: tok, Now: clock.Now, ClientKeys: keys, Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	srv.Config.Handler = b
	srv.Start()
	t.Cleanup(srv.Close)
	return issuer
}

// clientKey is a client's key pair: the PEM the client library reads and
// the public JWK the server gets.
type clientKey struct {
	pem    []byte
	public jose.JSONWebKey
	priv   crypto.Signer
}

func newClientKey(t *testing.T, kind, kid string) clientKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch kind {
	case "RSA":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EC":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "Ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{
		pem:    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		public: jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Use: "sig"},
		priv:   priv,
	}
}

func jwks(t *testing.T, keys ...clientKey) []byte {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.public)
	}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// libAssertion is the client library's assertion for id, signed by k.
func libAssertion(t *testing.T, id, aud string, life time.Duration, k clientKey) string {
	t.Helper()
	signer, err := client.NewSignerFromPrivateKeyByte(k.pem, k.public.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	a, err := client.SignedJWTProfileAssertion(id, []string{aud}, life, signer)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// secretAssertion is the library's assertion signed with HMAC over secret.
func secretAssertion(t *testing.T, id, aud, secret string, alg jose.SignatureAlgorithm) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: []byte(secret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := client.SignedJWTProfileAssertion(id, []string{aud}, 2*time.Minute, signer)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tokenEndpoint is what the client library's token call needs.
type tokenEndpoint string

func (e tokenEndpoint) TokenEndpoint() string     { return string(e) + "/token" }
func (e tokenEndpoint) GetRevokeEndpoint() string { return string(e) + "/revoke" }
func (e tokenEndpoint) HttpClient() *http.Client  { return &http.Client{Timeout: 10 * time.Second} }

// libToken gets a client_credentials token with the library's request.
func libToken(t *testing.T, issuer, id, assertion string) (string, error) {
	t.Helper()
	tok, err := client.CallTokenEndpoint(context.Background(), &oidc.ClientCredentialsRequest{
		GrantType: oidc.GrantTypeClientCredentials, Scope: []string{"api"}, ClientID: id,
		ClientAssertion: assertion, ClientAssertionType: jwtBearer,
	}, tokenEndpoint(issuer))
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// postAssertion posts form plus the assertion to the endpoint, and returns
// the status and the OAuth error code.
func postAssertion(t *testing.T, endpoint, assertion string, form url.Values) (int, string) {
	t.Helper()
	if form == nil {
		form = url.Values{"grant_type": {"client_credentials"}}
	}
	form.Set("client_assertion_type", jwtBearer)
	form.Set("client_assertion", assertion)
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.PostForm(endpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &body)
	return resp.StatusCode, body.Error
}

// forge signs claims with key by alg: the broken assertions the library
// would not make.
func forge(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsigned is an assertion with alg none (RFC 7519 §6).
func unsigned(claims map[string]any) string {
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + "."
}

func claimsFor(id, aud string, now time.Time) map[string]any {
	return map[string]any{"iss": id, "sub": id, "aud": aud, "jti": tokensvc.NewID(),
		"iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix()}
}

// TestPrivateKeyJWT: assertions made by an independent client library
// authenticate at /token, /introspect and /revoke, with RSA, EC and
// Ed25519 keys; every way an assertion can be wrong is invalid_client.
func TestPrivateKeyJWT(t *testing.T) {
	rsaKey, ecKey, edKey := newClientKey(t, "RSA", "r1"), newClientKey(t, "EC", "e1"), newClientKey(t, "Ed25519", "d1")
	stranger := newClientKey(t, "EC", "nope")
	const secret = "a-client-secret-of-more-than-sixty-four-bytes-for-every-HMAC-alg!!"
	clock := newTestClock()
	issuer := jwtBroker(t, clock, protocol.ClientKeysOptions{},
		store.Client{ID: "pkjwt", AuthMethod: config.AuthPrivateKeyJWT, JWKS: jwks(t, rsaKey, ecKey, edKey)},
		store.Client{ID: "csjwt", AuthMethod: config.AuthSecretJWT, JWTSecret: secret, SecretHash: core.HashClientSecret(secret)},
		store.Client{ID: "basic", SecretHash: core.HashClientSecret(secret)},
	)
	tokenURL := issuer + "/token"

	// Valid: each key type, aud the issuer or the token endpoint; then
	// the token works at introspection and revocation, authenticated the
	// same way.
	for _, k := range []clientKey{rsaKey, ecKey, edKey} {
		if _, err := libToken(t, issuer, "pkjwt", libAssertion(t, "pkjwt", issuer, time.Minute, k)); err != nil {
			t.Fatalf("%s key, aud issuer: %v", k.public.KeyID, err)
		}
	}
	at, err := libToken(t, issuer, "pkjwt", libAssertion(t, "pkjwt", tokenURL, time.Minute, ecKey))
	if err != nil {
		t.Fatalf("aud token endpoint: %v", err)
	}
	intro, err := httphelper.FormRequest(context.Background(), issuer+"/introspect", &oidc.IntrospectionRequest{Token: at},
		client.Encoder, client.ClientAssertionFormAuthorization(libAssertion(t, "pkjwt", issuer, time.Minute, rsaKey)))
	if err != nil {
		t.Fatal(err)
	}
	var in struct{ Active bool }
	if err := httphelper.HttpRequest(http.DefaultClient, intro, &in); err != nil || !in.Active {
		t.Fatalf("introspect: %v, active %v", err, in.Active)
	}
	if err := client.CallRevokeEndpoint(context.Background(), client.RevokeRequest{Token: at, ClientID: "pkjwt",
		ClientAssertion: libAssertion(t, "pkjwt", issuer+"/revoke", time.Minute, edKey), ClientAssertionType: jwtBearer},
		nil, tokenEndpoint(issuer)); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if st, code := postAssertion(t, issuer+"/introspect", libAssertion(t, "pkjwt", issuer, time.Minute, rsaKey), url.Values{"token": {at}}); st != 200 || code != "" {
		t.Fatalf("introspect after revoke: %d %s", st, code)
	}

	// client_secret_jwt, every HMAC algorithm.
	for _, alg := range []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512} {
		if _, err := libToken(t, issuer, "csjwt", secretAssertion(t, "csjwt", issuer, secret, alg)); err != nil {
			t.Fatalf("client_secret_jwt %s: %v", alg, err)
		}
	}

	replayed := libAssertion(t, "pkjwt", issuer, time.Minute, rsaKey)
	if st, _ := postAssertion(t, tokenURL, replayed, nil); st != 200 {
		t.Fatalf("first use: %d", st)
	}
	now := clock.Now()
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(rsaKey.priv.Public()))})
	rsaJWK, _ := json.Marshal(rsaKey.public)
	withClaim := func(k string, v any) map[string]any { c := claimsFor("pkjwt", issuer, now); c[k] = v; return c }
	without := func(k string) map[string]any { c := claimsFor("pkjwt", issuer, now); delete(c, k); return c }
	for _, tc := range []struct {
		name, assertion string
		form            url.Values
	}{
		{"replayed jti", replayed, nil},
		{"wrong aud", libAssertion(t, "pkjwt", "https://elsewhere.example", time.Minute, rsaKey), nil},
		{"expired", libAssertion(t, "pkjwt", issuer, -5*time.Minute, rsaKey), nil},
		{"lives an hour", libAssertion(t, "pkjwt", issuer, time.Hour, rsaKey), nil},
		{"unknown kid", libAssertion(t, "pkjwt", issuer, time.Minute, stranger), nil},
		{"key not the client's, kid of one", forge(t, jose.ES256, stranger.priv, "e1", claimsFor("pkjwt", issuer, now)), nil},
		{"alg none", unsigned(claimsFor("pkjwt", issuer, now)), nil},
		{"HS256 with the public key PEM", forge(t, jose.HS256, rsaPEM, "r1", claimsFor("pkjwt", issuer, now)), nil},
		{"HS256 with the public JWK", forge(t, jose.HS256, rsaJWK, "r1", claimsFor("pkjwt", issuer, now)), nil},
		{"iss not sub", forge(t, jose.RS256, rsaKey.priv, "r1", withClaim("iss", "csjwt")), nil},
		{"no exp", forge(t, jose.RS256, rsaKey.priv, "r1", without("exp")), nil},
		{"no jti", forge(t, jose.RS256, rsaKey.priv, "r1", without("jti")), nil},
		{"nbf in the future", forge(t, jose.RS256, rsaKey.priv, "r1", withClaim("nbf", now.Add(5*time.Minute).Unix())), nil},
		{"client_id not sub", libAssertion(t, "pkjwt", issuer, time.Minute, rsaKey), url.Values{"grant_type": {"client_credentials"}, "client_id": {"basic"}}},
		{"unknown client", libAssertion(t, "ghost", issuer, time.Minute, rsaKey), nil},
		// A client registered for one method cannot use another.
		{"basic client signs with its secret", secretAssertion(t, "basic", issuer, secret, jose.HS256), nil},
		{"client_secret_jwt client signs with a key", forge(t, jose.RS256, rsaKey.priv, "r1", claimsFor("csjwt", issuer, now)), nil},
		{"client_secret_jwt with a wrong secret", secretAssertion(t, "csjwt", issuer, strings.Repeat("x", 64), jose.HS256), nil},
		{"private_key_jwt client signs with HMAC", secretAssertion(t, "pkjwt", issuer, secret, jose.HS256), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := tc.form
			for _, ep := range []string{"/token", "/introspect", "/revoke"} {
				f := url.Values{"token": {"x"}}
				if ep == "/token" {
					f = url.Values{"grant_type": {"client_credentials"}}
				}
				for k, v := range form {
					f[k] = v
				}
				if st, code := postAssertion(t, issuer+ep, tc.assertion, f); st != 401 || code != "invalid_client" {
					t.Errorf("%s: %d %q, want 401 invalid_client", ep, st, code)
				}
			}
		})
	}

	// An assertion of a type Portico does not know.
	f := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:example:saml"}, "client_assertion": {replayed}}
	if resp, err := http.PostForm(tokenURL, f); err != nil || resp.StatusCode != 401 {
		t.Errorf("unknown assertion type: %v %v, want 401", resp.StatusCode, err)
	}
	// Secrets of JWT clients do not work as secrets.
	for _, id := range []string{"csjwt"} {
		req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		if st, _ := send(t, req); st != 401 {
			t.Errorf("%s with client_secret_basic: %d, want 401", id, st)
		}
	}
	// Two methods at once are refused.
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(url.Values{"grant_type": {"client_credentials"},
		"client_assertion_type": {jwtBearer}, "client_assertion": {libAssertion(t, "pkjwt", issuer, time.Minute, rsaKey)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("basic", secret)
	if st, _ := send(t, req); st != 400 {
		t.Errorf("assertion and basic: %d, want 400", st)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// jwksServer serves a JWK Set that the test replaces, counting requests.
type jwksServer struct {
	*httptest.Server
	set   atomic.Pointer[[]byte]
	count atomic.Int64
}

func newJWKSServer(t *testing.T, set []byte) *jwksServer {
	s := &jwksServer{}
	s.set.Store(&set)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.count.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(*s.set.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

// TestJWKSURIRotation: a client whose jwks_uri rotates its key keeps
// working, as an unknown kid makes Portico fetch again — but at most once
// per RefetchAfter, so assertions naming made-up kids cannot make it
// hammer the URI.
func TestJWKSURIRotation(t *testing.T) {
	k1, k2 := newClientKey(t, "RSA", "2025"), newClientKey(t, "EC", "2026")
	js := newJWKSServer(t, jwks(t, k1))
	clock := newTestClock()
	issuer := jwtBroker(t, clock, protocol.ClientKeysOptions{RefetchAfter: time.Minute},
		store.Client{ID: "rotating", AuthMethod: config.AuthPrivateKeyJWT, JWKSURI: js.URL + "/jwks"})
	ok := func(k clientKey) error {
		_, err := libToken(t, issuer, "rotating", libAssertion(t, "rotating", issuer, time.Minute, k))
		return err
	}
	if err := ok(k1); err != nil {
		t.Fatalf("first key: %v", err)
	}
	if err := ok(k1); err != nil || js.count.Load() != 1 {
		t.Fatalf("cached: %v, %d fetches", err, js.count.Load())
	}
	set := jwks(t, k2)
	js.set.Store(&set)
	// Within RefetchAfter of the last fetch the unknown kid finds nothing
	// and fetches nothing.
	for range 5 {
		if err := ok(k2); err == nil {
			t.Fatal("a refetch within RefetchAfter")
		}
	}
	if n := js.count.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	clock.Add(61 * time.Second)
	if err := ok(k2); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	if err := ok(k1); err == nil {
		t.Fatal("the retired key still works")
	}
	if n := js.count.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

// TestJWKSURIAbuse: a jwks_uri that answers too much, too slowly, or not
// a JWK Set costs a bounded time and gives a clean invalid_client.
func TestJWKSURIAbuse(t *testing.T) {
	k := newClientKey(t, "EC", "k")
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	mux := http.NewServeMux()
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"keys":[],"pad":"`))
		w.Write([]byte(strings.Repeat("a", 100<<10)))
		w.Write([]byte(`"}`))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write(jwks(t, k))
	})
	mux.HandleFunc("/private", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.priv, KeyID: "k"}}})
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/good", http.StatusFound)
	})
	mux.HandleFunc("/good", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks(t, k))
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	paths := []string{"/big", "/slow", "/html", "/private", "/redirect", "/good"}
	var clients []store.Client
	for _, p := range paths {
		clients = append(clients, store.Client{ID: "c" + p[1:], AuthMethod: config.AuthPrivateKeyJWT, JWKSURI: hs.URL + p})
	}
	issuer := jwtBroker(t, newTestClock(), protocol.ClientKeysOptions{Timeout: 300 * time.Millisecond}, clients...)
	for _, p := range paths {
		id := "c" + p[1:]
		start := time.Now()
		st, code := postAssertion(t, issuer+"/token", libAssertion(t, id, issuer, time.Minute, k), nil)
		want := 401
		if p == "/good" {
			want = 200
		}
		if st != want || (want == 401 && code != "invalid_client") {
			t.Errorf("%s: %d %q, want %d", p, st, code, want)
		}
		// Generous against a slow machine, far below a hang.
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v", p, d)
		}
	}
}

// TestClientJWTConfig: clients of the configuration file authenticate
// with an inline jwks (a YAML mapping) and count their failures in the
// client-authentication throttle like secrets do.
func TestClientJWTConfig(t *testing.T) {
	k := newClientKey(t, "Ed25519", "cfg")
	var set map[string]any
	if err := json.Unmarshal(jwks(t, k), &set); err != nil {
		t.Fatal(err)
	}
	cfg := clientThrottleConfig(t)
	cfg.Clients = append(cfg.Clients, config.Client{ID: "keyed", TokenEndpointAuthMethod: config.AuthPrivateKeyJWT,
		JWKS: set, GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"}})
	b := testenv.Start(t, cfg)
	if _, err := libToken(t, b.URL, "keyed", libAssertion(t, "keyed", b.URL, time.Minute, k)); err != nil {
		t.Fatalf("valid assertion: %v", err)
	}
	for i := range 4 {
		if st, _ := postAssertion(t, b.URL+"/token", libAssertion(t, "keyed", "https://wrong.example", time.Minute, k), nil); st != 401 {
			t.Fatalf("bad assertion %d: %d", i, st)
		}
	}
	if st, code := postAssertion(t, b.URL+"/token", libAssertion(t, "keyed", b.URL, time.Minute, k), nil); st != 429 || code != "temporarily_unavailable" {
		t.Fatalf("valid assertion after four failures: %d %s, want 429", st, code)
	}
	if jwtInLog.MatchString(b.Logs()) {
		t.Error("an assertion reached the log")
	}
}
