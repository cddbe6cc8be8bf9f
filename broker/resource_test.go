package broker_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

const (
	resourceA = "https://a.api.example.com/"
	resourceB = "https://b.api.example.com/v1"
)

// resourceConfig: the app may ask tokens for A and B; rs-a and rs-b are
// those resource servers, introspecting (own) what is for them.
func resourceConfig(t *testing.T, format string) *config.Config {
	cfg := testenv.Config(t)
	cfg.Clients[0].Resources = []string{resourceA, resourceB}
	cfg.Clients[0].TokenFormat = format
	rs := func(id, uri string) config.Client {
		return config.Client{ID: id, Secret: id + "-secret", GrantTypes: []string{"client_credentials"},
			Introspection: "own", ResourceURIs: []string{uri}}
	}
	cfg.Clients = append(cfg.Clients, rs("rs-a", resourceA), rs("rs-b", resourceB))
	return cfg
}

// audOf returns the audience of an access token as introspection by rs
// (a resource server) shows it, nil when rs is told it is not active.
func audOf(t *testing.T, b *testenv.Broker, rs, token string) []string {
	t.Helper()
	st, body := postForm(t, b.URL+"/introspect", rs, rs+"-secret", url.Values{"token": {token}})
	if st != 200 {
		t.Fatalf("introspect: %d %v", st, body)
	}
	if body["active"] != true {
		return nil
	}
	var aud []string
	switch a := body["aud"].(type) {
	case string:
		aud = []string{a}
	case []any:
		for _, x := range a {
			aud = append(aud, x.(string))
		}
	}
	return aud
}

// TestResourceIndicators: RFC 8707. A resource asked for at /authorize
// becomes the access token's audience in place of the client; resource
// server B's introspection does not see a token for A; the token and
// refresh requests may narrow within what was authorized and no further;
// client_credentials takes the client's allowed resources. JWT and opaque.
func TestResourceIndicators(t *testing.T) {
	for _, format := range []string{"jwt", "opaque"} {
		t.Run(format, func(t *testing.T) {
			b := testenv.Start(t, resourceConfig(t, format))
			rp := newRP(t, b)
			login := func(resources ...string) (*oauth2.Token, testenv.Flow) {
				t.Helper()
				f := rp.NewFlow()
				for _, r := range resources {
					f.AuthURL += "&" + url.Values{"resource": {r}}.Encode()
				}
				cb, err := rp.Authorize(t.Context(), f.AuthURL, testenv.UserName, testenv.UserPassword)
				if err != nil {
					t.Fatal(err)
				}
				tok, _, err := rp.Finish(t.Context(), f, cb)
				if err != nil {
					t.Fatal(err)
				}
				return tok, f
			}
			tok, _ := login(resourceA)
			if got := audOf(t, b, "rs-a", tok.AccessToken); !slices.Equal(got, []string{resourceA}) {
				t.Errorf("rs-a sees audience %v, want [%s]", got, resourceA)
			}
			if got := audOf(t, b, "rs-b", tok.AccessToken); got != nil {
				t.Errorf("rs-b sees a token for A: audience %v", got)
			}
			// Refresh cannot reach beyond the login's resources.
			r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"},
				"refresh_token": {tok.RefreshToken}, "resource": {resourceB}})
			if r.Status != 400 || r.str("error") != "invalid_target" {
				t.Errorf("refresh for B after a login for A: %d %v", r.Status, r.Body)
			}

			// Authorized for both, the code is redeemed for B alone, and a
			// refresh asks for A, then (no resource) for both.
			f := rp.NewFlow()
			f.AuthURL += "&" + url.Values{"resource": {resourceA, resourceB}}.Encode()
			cb, err := rp.Authorize(t.Context(), f.AuthURL, testenv.UserName, testenv.UserPassword)
			if err != nil || cb.Query.Get("code") == "" {
				t.Fatalf("authorize: %v %v", err, cb)
			}
			redeem := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query.Get("code")},
				"redirect_uri": {testenv.RedirectURI}, "code_verifier": {f.Verifier}}
			redeem.Set("resource", "https://c.api.example.com/")
			if r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, redeem); r.Status != 400 || r.str("error") != "invalid_target" {
				t.Fatalf("code for a resource not authorized: %d %v", r.Status, r.Body)
			}
			redeem.Set("resource", resourceB) // the code was not spent by the refusal
			r = postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, redeem)
			if r.Status != 200 {
				t.Fatalf("redeem for B: %d %v", r.Status, r.Body)
			}
			if got := audOf(t, b, "rs-b", r.str("access_token")); !slices.Equal(got, []string{resourceB}) {
				t.Errorf("code for B: audience %v", got)
			}
			if got := audOf(t, b, "rs-a", r.str("access_token")); got != nil {
				t.Errorf("rs-a sees a token for B: %v", got)
			}
			r = postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"},
				"refresh_token": {r.str("refresh_token")}, "resource": {resourceA}})
			if got := audOf(t, b, "rs-a", r.str("access_token")); r.Status != 200 || !slices.Equal(got, []string{resourceA}) {
				t.Errorf("refresh for A: %d %v, audience %v", r.Status, r.Body, got)
			}
			r = postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"},
				"refresh_token": {r.str("refresh_token")}})
			if got := audOf(t, b, "rs-b", r.str("access_token")); r.Status != 200 || !slices.Equal(got, []string{resourceA, resourceB}) {
				t.Errorf("refresh without resource: %d %v, audience %v", r.Status, r.Body, got)
			}

			// Without resource the token is the client's, as before.
			tok, _ = login()
			if got := audOf(t, b, "rs-a", tok.AccessToken); got != nil {
				t.Errorf("rs-a sees a token without resource: %v", got)
			}
			// A login that named no resource: the code redeemed for A
			// leaves later refreshes the client's resources, as the code
			// had (the redemption narrowed its own token only).
			f = rp.NewFlow()
			cb, err = rp.Authorize(t.Context(), f.AuthURL, testenv.UserName, testenv.UserPassword)
			if err != nil {
				t.Fatal(err)
			}
			redeem = url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query.Get("code")}, "redirect_uri": {testenv.RedirectURI},
				"code_verifier": {f.Verifier}, "resource": {resourceA}}
			r = postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, redeem)
			r = postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"},
				"refresh_token": {r.str("refresh_token")}, "resource": {resourceB}})
			if got := audOf(t, b, "rs-b", r.str("access_token")); r.Status != 200 || !slices.Equal(got, []string{resourceB}) {
				t.Errorf("refresh for B after a code for A from a login that named none: %d %v, audience %v", r.Status, r.Body, got)
			}

			// client_credentials: within the client's resources.
			for _, c := range []struct {
				resource []string
				status   int
				aud      []string
			}{
				{[]string{resourceA}, 200, []string{resourceA}},
				{[]string{resourceA, resourceA}, 200, []string{resourceA}},
				{[]string{"https://evil.example.com/"}, 400, nil},
				{[]string{resourceA + "#frag"}, 400, nil},
				{[]string{"/relative"}, 400, nil},
				{[]string{strings.Repeat("x", 600)}, 400, nil},
			} {
				r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"client_credentials"}, "resource": c.resource})
				if r.Status != c.status || c.status == 400 && r.str("error") != "invalid_target" {
					t.Errorf("client_credentials %v: %d %v", c.resource, r.Status, r.Body)
					continue
				}
				if c.aud != nil {
					if got := audOf(t, b, "rs-a", r.str("access_token")); !slices.Equal(got, c.aud) {
						t.Errorf("client_credentials %v: audience %v", c.resource, got)
					}
				}
			}
		})
	}
}

// TestResourceConfig: resource indicators are absolute URIs without
// fragments, and a resource server's URI names one client only.
func TestResourceConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*config.Config)
		want string
	}{
		{"relative", func(c *config.Config) { c.Clients[0].Resources = []string{"/api"} }, "clients[0].resources[0]"},
		{"fragment", func(c *config.Config) { c.Clients[0].Resources = []string{"https://a.example.com/#x"} }, "clients[0].resources[0]"},
		{"duplicate", func(c *config.Config) { c.Clients[0].Resources = []string{resourceA, resourceA} }, "clients[0].resources[1]"},
		{"shared resource server", func(c *config.Config) { c.Clients[1].ResourceURIs = []string{resourceA} }, "clients[2].resource_uris[0]"},
		{"the admin API", func(c *config.Config) { c.Clients[2].ResourceURIs = []string{c.Issuer + "/admin"} }, "clients[2].resource_uris[0]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := resourceConfig(t, "")
			cfg.Issuer, cfg.Listen = "https://id.example.com", "127.0.0.1:0"
			c.edit(cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error at %s", err, c.want)
			}
		})
	}
}
