package oidc_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/portico-idp/portico/connectors/oidc"
	"github.com/portico-idp/portico/connectors/oidc/oidctest"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
)

const (
	clientID     = "portico"
	clientSecret = "portico-secret"
	callback     = "http://127.0.0.1:9/callback/upstream" // never contacted: the test plays the browser
)

var offline = sdk.Scopes{OfflineAccess: true, Groups: true}

func aliceClaims() map[string]any {
	return map[string]any{
		"sub": "alice-123", "email": "alice@example.com", "email_verified": true,
		"preferred_username": "alice", "name": "Alice Example", "groups": []any{"admins", "staff"},
	}
}

func newKey(t testing.TB) []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// newIssuer starts a test upstream with alice.
func newIssuer(t testing.TB) *oidctest.Issuer {
	return oidctest.New(t, clientID, clientSecret, aliceClaims())
}

// newConnector builds a connector for iss, with edit applied to its config.
func newConnector(t testing.TB, iss *oidctest.Issuer, edit func(*oidc.Config)) *oidc.Connector {
	t.Helper()
	cfg := oidc.Config{Issuer: iss.URL, ClientID: clientID, ClientSecret: clientSecret, Timeout: upstream.Duration(2 * time.Second)}
	if edit != nil {
		edit(&cfg)
	}
	c, err := oidc.New(context.Background(), cfg, newKey(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// noRedirects is a browser that stops at the first redirect.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// login plays the browser: LoginURL, the upstream's authorization
// endpoint, then HandleCallback with what came back.
func login(t testing.TB, c *oidc.Connector, s sdk.Scopes) (sdk.Identity, error) {
	t.Helper()
	ctx := context.Background()
	rd, err := c.LoginURL(ctx, s, callback, "state-1")
	if err != nil {
		return sdk.Identity{}, err
	}
	return callbackFrom(t, c, s, rd)
}

func callbackFrom(t testing.TB, c *oidc.Connector, s sdk.Scopes, rd sdk.Redirect) (sdk.Identity, error) {
	t.Helper()
	resp, err := noRedirects.Get(rd.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("authorization endpoint answered %s without a redirect", resp.Status)
	}
	return c.HandleCallback(context.Background(), s, sdk.CallbackRequest{
		Method: http.MethodGet, URL: callback, Query: url.Values(loc.Query()), Data: rd.Data,
	})
}
