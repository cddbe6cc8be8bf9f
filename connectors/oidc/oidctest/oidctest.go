// Package oidctest is a small OpenID Connect provider for tests of the
// oidc connector: discovery, JWKS, an authorization endpoint that approves
// at once, a token endpoint (code with PKCE, and rotating refresh tokens)
// and userinfo. Settings make it misbehave the ways a real upstream can:
// id_tokens for another audience, with another nonce, expired or signed by
// a key it does not publish; an error at the authorization endpoint; a
// slow, hung, refusing or broken token endpoint. Portico itself is never tested with it:
// a second Portico is the honest upstream.
package oidctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Settings are what the issuer does; change them with Issuer.Update.
type Settings struct {
	// Claims of the user every login approves, added to each id_token and
	// returned by userinfo. "sub" is required.
	Claims map[string]any
	// DiscoveryIssuer, if set, is the issuer the discovery document names
	// (a template such as ".../{tenantid}/v2.0"); TokenIssuer the iss of
	// id_tokens. Both default to URL.
	DiscoveryIssuer, TokenIssuer string
	// AuthError makes the authorization endpoint send the browser back
	// with this error instead of a code; State with this state.
	AuthError, State string
	// Audience, Nonce: put these in id_tokens instead of the right ones.
	Audience, Nonce string
	// Expired id_tokens expired a minute ago; UnknownKey ones are signed
	// by a key the JWKS does not hold; NoIDToken leaves it out.
	Expired, UnknownKey, NoIDToken bool
	// NoRefreshToken: the token endpoint issues none, even for offline_access.
	NoRefreshToken bool
	// Delay makes the token endpoint sleep before answering; Hang makes
	// it answer only when the client gives up (its request's context is
	// done), a timeout that needs no guess at how long is long enough.
	Delay time.Duration
	Hang  bool
	// TokenStatus, if set, makes the token endpoint answer with it and a
	// body that is not JSON.
	TokenStatus int
	// RefreshError makes refresh_token grants fail with this OAuth error,
	// sent with RefreshStatus (default 400).
	RefreshError  string
	RefreshStatus int
	// Down makes every endpoint answer 503; KeysStatus, if set, only the
	// JWKS, with that status.
	Down       bool
	KeysStatus int
	// Edit, if set, changes an id_token's claims last, before signing.
	Edit func(claims map[string]any)
}

// Issuer is the running provider.
type Issuer struct {
	URL                    string
	ClientID, ClientSecret string

	srv *httptest.Server

	mu        sync.Mutex
	s         Settings
	key       jose.JSONWebKey   // signs id_tokens
	published []jose.JSONWebKey // in the JWKS
	stranger  jose.JSONWebKey   // not published
	codes     map[string]grant
	refresh   map[string]grant
	access    map[string]bool
	refreshes int
}

type grant struct {
	nonce, challenge, redirectURI string
	offline                       bool // offline_access, or Google's access_type=offline
}

// New starts an issuer on loopback for one client; it stops with the test.
func New(t testing.TB, clientID, clientSecret string, claims map[string]any) *Issuer {
	t.Helper()
	i := &Issuer{
		ClientID: clientID, ClientSecret: clientSecret,
		s:     Settings{Claims: claims},
		codes: map[string]grant{}, refresh: map[string]grant{}, access: map[string]bool{},
	}
	i.key, i.stranger = newKey(), newKey()
	i.published = []jose.JSONWebKey{i.key.Public()}
	i.srv = httptest.NewServer(http.HandlerFunc(i.serve))
	i.URL = i.srv.URL
	t.Cleanup(i.srv.Close)
	return i
}

func newKey() jose.JSONWebKey {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return jose.JSONWebKey{Key: priv, KeyID: random(), Algorithm: string(jose.ES256), Use: "sig"}
}

// Update changes the settings under the issuer's lock.
func (i *Issuer) Update(f func(*Settings)) {
	i.mu.Lock()
	defer i.mu.Unlock()
	f(&i.s)
}

// RotateKey signs with a new key from now on and publishes it; the old
// key stays published only if keepOld.
func (i *Issuer) RotateKey(keepOld bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.key = newKey()
	if !keepOld {
		i.published = nil
	}
	i.published = append(i.published, i.key.Public())
}

// Refreshes counts the refresh_token grants the issuer has honoured.
func (i *Issuer) Refreshes() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.refreshes
}

// RevokeAll forgets every refresh token, as deleting the user would.
func (i *Issuer) RevokeAll() {
	i.mu.Lock()
	defer i.mu.Unlock()
	clear(i.refresh)
}

func (i *Issuer) serve(w http.ResponseWriter, r *http.Request) {
	i.mu.Lock()
	down := i.s.Down
	i.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	// Endpoints are matched by suffix, so the issuer can sit under any
	// path (Microsoft's /common/v2.0, say).
	switch p := r.URL.Path; {
	case strings.HasSuffix(p, "/.well-known/openid-configuration"):
		i.discovery(w)
	case strings.HasSuffix(p, "/keys"):
		i.mu.Lock()
		set, status := jose.JSONWebKeySet{Keys: slices.Clone(i.published)}, i.s.KeysStatus
		i.mu.Unlock()
		if status != 0 {
			http.Error(w, "keys unavailable", status)
			return
		}
		writeJSON(w, http.StatusOK, set)
	case strings.HasSuffix(p, "/authorize"):
		i.authorize(w, r)
	case strings.HasSuffix(p, "/token") && r.Method == http.MethodPost:
		i.token(w, r)
	case strings.HasSuffix(p, "/userinfo"):
		i.userinfo(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (i *Issuer) discovery(w http.ResponseWriter) {
	i.mu.Lock()
	iss := i.s.DiscoveryIssuer
	i.mu.Unlock()
	if iss == "" {
		iss = i.URL
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer": iss, "authorization_endpoint": i.URL + "/authorize", "token_endpoint": i.URL + "/token",
		"jwks_uri": i.URL + "/keys", "userinfo_endpoint": i.URL + "/userinfo",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (i *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if q.Get("client_id") != i.ClientID || err != nil || redirect.Host == "" {
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	i.mu.Lock()
	s := i.s
	code := random()
	i.codes[code] = grant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri"),
		offline: slices.Contains(strings.Fields(q.Get("scope")), "offline_access") || q.Get("access_type") == "offline"}
	i.mu.Unlock()
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	if s.State != "" {
		back.Set("state", s.State)
	}
	if s.AuthError != "" {
		back.Set("error", s.AuthError)
		back.Set("error_description", "the test issuer refused")
	} else {
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusSeeOther)
}

func (i *Issuer) token(w http.ResponseWriter, r *http.Request) {
	i.mu.Lock()
	s := i.s
	i.mu.Unlock()
	// Read the body first: only then does net/http notice a client that
	// gave up, and cancel the context the delay waits on.
	r.ParseForm()
	if s.Hang {
		<-r.Context().Done()
		return
	}
	if s.Delay > 0 {
		select {
		case <-time.After(s.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if s.TokenStatus != 0 {
		w.WriteHeader(s.TokenStatus)
		w.Write([]byte("<html>upstream trouble</html>"))
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != i.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(i.ClientSecret)) != 1 {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	var g grant
	switch r.PostFormValue("grant_type") {
	case "authorization_code":
		var ok bool
		g, ok = i.codes[r.PostFormValue("code")]
		delete(i.codes, r.PostFormValue("code"))
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if !ok || g.redirectURI != r.PostFormValue("redirect_uri") ||
			(g.challenge != "" && base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge) {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
	case "refresh_token":
		var ok bool
		g, ok = i.refresh[r.PostFormValue("refresh_token")]
		if s.RefreshError != "" {
			status := s.RefreshStatus
			if status == 0 {
				status = http.StatusBadRequest
			}
			oauthError(w, status, s.RefreshError)
			return
		}
		if !ok {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		delete(i.refresh, r.PostFormValue("refresh_token")) // rotation
		g.nonce = ""
		i.refreshes++
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	at := random()
	i.access[at] = true
	resp := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 3600}
	if g.offline && !s.NoRefreshToken {
		rt := random()
		i.refresh[rt] = g
		resp["refresh_token"] = rt
	}
	if !s.NoIDToken {
		resp["id_token"] = i.sign(s, g, at)
	}
	writeJSON(w, http.StatusOK, resp)
}

// sign makes the id_token for g as the settings say. Called with mu held.
func (i *Issuer) sign(s Settings, g grant, accessToken string) string {
	now := time.Now()
	cl := maps.Clone(s.Claims)
	if cl == nil {
		cl = map[string]any{}
	}
	cl["iss"], cl["aud"], cl["iat"], cl["exp"] = i.URL, i.ClientID, now.Unix(), now.Add(time.Hour).Unix()
	if s.TokenIssuer != "" {
		cl["iss"] = s.TokenIssuer
	}
	if g.nonce != "" {
		cl["nonce"] = g.nonce
	}
	if s.Nonce != "" {
		cl["nonce"] = s.Nonce
	}
	if s.Audience != "" {
		cl["aud"] = s.Audience
	}
	if s.Expired {
		cl["iat"], cl["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Minute).Unix()
	}
	sum := sha256.Sum256([]byte(accessToken))
	cl["at_hash"] = base64.RawURLEncoding.EncodeToString(sum[:16])
	if s.Edit != nil {
		s.Edit(cl)
	}
	key := i.key
	if s.UnknownKey {
		key = i.stranger
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err)
	}
	payload, _ := json.Marshal(cl)
	jws, err := signer.Sign(payload)
	if err != nil {
		panic(err)
	}
	raw, _ := jws.CompactSerialize()
	return raw
}

func (i *Issuer) userinfo(w http.ResponseWriter, r *http.Request) {
	at, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	i.mu.Lock()
	ok := i.access[at]
	cl := maps.Clone(i.s.Claims)
	i.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	writeJSON(w, http.StatusOK, cl)
}

func oauthError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": "test issuer: " + code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		panic(fmt.Sprint("oidctest: ", err))
	}
}

func random() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
