package broker_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/portico-idp/portico/testenv"
)

// tokenResponse is a raw token endpoint answer.
type tokenResponse struct {
	Status int
	Header http.Header
	Body   map[string]any
}

func (r tokenResponse) str(k string) string { s, _ := r.Body[k].(string); return s }

// postToken posts form to the token endpoint, with basic auth when user is set.
func postToken(t *testing.T, issuer, user, pass string, form url.Values) tokenResponse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := tokenResponse{Status: resp.StatusCode, Header: resp.Header}
	if err := json.Unmarshal(raw, &r.Body); err != nil {
		t.Fatalf("token endpoint answered %d with non-JSON %q", resp.StatusCode, raw)
	}
	return r
}

func newRP(t *testing.T, b *testenv.Broker) *testenv.RP {
	t.Helper()
	rp, err := testenv.NewRP(context.Background(), b.URL, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// TestCodeFlowEndToEnd is acceptance 1 of the foundation: a go-oidc relying
// party logs alice in, verifies everything, refreshes, and a backend gets a
// client_credentials token verifiable from the JWKS.
func TestCodeFlowEndToEnd(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, testenv.Config(t))
	rp := newRP(t, b)

	tok, idt, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Email             string   `json:"email"`
		EmailVerified     bool     `json:"email_verified"`
		Name              string   `json:"name"`
		PreferredUsername string   `json:"preferred_username"`
		Groups            []string `json:"groups"`
		AuthTime          int64    `json:"auth_time"`
		AtHash            string   `json:"at_hash"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Email != testenv.UserEmail || !claims.EmailVerified || claims.PreferredUsername != testenv.UserName ||
		claims.Name != "Alice Example" || !slices.Equal(claims.Groups, []string{"admins", "staff"}) ||
		claims.AuthTime == 0 || claims.AtHash == "" {
		t.Errorf("id_token claims = %+v", claims)
	}
	if idt.Issuer != b.URL || !slices.Equal(idt.Audience, []string{testenv.ClientID}) {
		t.Errorf("iss %q aud %v", idt.Issuer, idt.Audience)
	}

	ui, err := rp.Provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	if ui.Subject != idt.Subject || ui.Email != testenv.UserEmail {
		t.Errorf("userinfo sub %q email %q, id_token sub %q", ui.Subject, ui.Email, idt.Subject)
	}

	// Refresh rotates: new tokens, and the old refresh token is dead.
	old := tok.RefreshToken
	if old == "" {
		t.Fatal("no refresh token with offline_access")
	}
	r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old}})
	if r.Status != http.StatusOK || r.str("refresh_token") == "" || r.str("refresh_token") == old || r.str("access_token") == "" {
		t.Fatalf("refresh: %d %v", r.Status, r.Body)
	}
	idt2, err := rp.Verifier.Verify(ctx, r.str("id_token"))
	if err != nil {
		t.Fatalf("refreshed id_token: %v", err)
	}
	if idt2.Subject != idt.Subject {
		t.Errorf("sub changed on refresh: %q → %q", idt.Subject, idt2.Subject)
	}
	again := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old}})
	if again.Status != http.StatusBadRequest || again.str("error") != "invalid_grant" {
		t.Errorf("old refresh token: %d %v, want 400 invalid_grant", again.Status, again.Body)
	}

	// client_credentials: an RFC 9068 JWT verifiable from the JWKS alone.
	cc := clientcredentials.Config{ClientID: testenv.ClientID, ClientSecret: testenv.ClientSecret, TokenURL: b.URL + "/token", Scopes: []string{"api"}}
	ct, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := oidc.NewRemoteKeySet(ctx, b.URL+"/keys").VerifySignature(ctx, ct.AccessToken)
	if err != nil {
		t.Fatalf("access token does not verify against JWKS: %v", err)
	}
	jws, err := jose.ParseSigned(ct.AccessToken, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if typ := jws.Signatures[0].Header.ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
		t.Errorf("typ = %v, want at+jwt", typ)
	}
	if jws.Signatures[0].Header.KeyID == "" {
		t.Error("no kid")
	}
	var at map[string]any
	json.Unmarshal(payload, &at)
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} {
		if _, ok := at[k]; !ok {
			t.Errorf("access token lacks %s: %v", k, at)
		}
	}
	if at["client_id"] != testenv.ClientID || at["sub"] != testenv.ClientID || at["scope"] != "api" {
		t.Errorf("access token claims %v", at)
	}
}

// TestPublicClientPKCE: a public client logs in with PKCE and no secret.
func TestPublicClientPKCE(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, testenv.Config(t))
	rp, err := testenv.NewRP(ctx, b.URL, testenv.PublicClient, "", testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rp.Login(ctx, testenv.UserEmail, testenv.UserPassword); err != nil {
		t.Fatal(err)
	}
}

// TestSigningAlgorithms: id_tokens and access tokens in each algorithm
// verify with go-oidc, at_hash included.
func TestSigningAlgorithms(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			cfg := testenv.Config(t)
			cfg.Tokens.SigningAlg = alg
			b := testenv.Start(t, cfg)
			rp := newRP(t, b)
			rp.Verifier = rp.Provider.Verifier(&oidc.Config{ClientID: testenv.ClientID, SupportedSigningAlgs: []string{alg}})
			_, idt, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
			if err != nil {
				t.Fatal(err)
			}
			hdr := strings.SplitN(idt.AccessTokenHash, ".", 2)[0]
			if hdr == "" {
				t.Error("no at_hash")
			}
		})
	}
}

func decodeSegment(t *testing.T, s string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	return m
}

var _ = time.Second
