package broker_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// TestIntrospectionAudience: RFC 7662 §4. A client introspecting a token
// issued for another audience learns nothing ({"active": false}); a client
// configured as a resource server for all (introspection: any) sees every
// live token; "none" may not call the endpoint. JWT and opaque alike.
func TestIntrospectionAudience(t *testing.T) {
	cfg := testenv.Config(t)
	conf := func(id, mode string) config.Client {
		return config.Client{ID: id, Secret: id + "-secret", GrantTypes: []string{"client_credentials"}, Introspection: mode}
	}
	cfg.Clients = append(cfg.Clients, conf("other-app", ""), conf("other-own", "own"), conf("rs", "any"), conf("mute", "none"),
		config.Client{ID: "opaque-app", Secret: "opaque-app-secret", RedirectURIs: []string{testenv.RedirectURI},
			GrantTypes: []string{"authorization_code", "refresh_token"}, TokenFormat: "opaque"})
	b := testenv.Start(t, cfg)

	jwtTok, _ := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	opaqueTok := personToken(t, b, "opaque-app", "opaque-app-secret", testenv.UserName, testenv.UserPassword, "openid", "offline_access")
	if !strings.HasPrefix(opaqueTok.AccessToken, "pat_") {
		t.Fatalf("opaque-app got %q", opaqueTok.AccessToken)
	}
	introspect := func(who, token string) (int, map[string]any) {
		secret := who + "-secret"
		if who == testenv.ClientID {
			secret = testenv.ClientSecret
		}
		return postForm(t, b.URL+"/introspect", who, secret, url.Values{"token": {token}})
	}
	for _, c := range []struct {
		name, who, token string
		active           bool
	}{
		{"own JWT", testenv.ClientID, jwtTok.AccessToken, true},
		{"own opaque", "opaque-app", opaqueTok.AccessToken, true},
		{"own refresh token", "opaque-app", opaqueTok.RefreshToken, true},
		{"another's JWT", "other-app", jwtTok.AccessToken, false},
		{"another's JWT, own mode", "other-own", jwtTok.AccessToken, false},
		{"another's opaque", "other-app", opaqueTok.AccessToken, false},
		{"another's opaque from a sibling", testenv.ClientID, opaqueTok.AccessToken, false},
		{"another's refresh token", "other-app", opaqueTok.RefreshToken, false},
		{"resource server, JWT", "rs", jwtTok.AccessToken, true},
		{"resource server, opaque", "rs", opaqueTok.AccessToken, true},
		{"resource server, another's refresh token", "rs", opaqueTok.RefreshToken, false},
	} {
		st, body := introspect(c.who, c.token)
		if st != 200 {
			t.Errorf("%s: status %d %v", c.name, st, body)
			continue
		}
		if c.active {
			if body["active"] != true || body["sub"] == nil {
				t.Errorf("%s: %v, want active with claims", c.name, body)
			}
		} else if len(body) != 1 || body["active"] != false {
			t.Errorf("%s: %v, want only {\"active\": false}", c.name, body)
		}
	}
	if st, body := introspect("mute", jwtTok.AccessToken); st != 403 || body["error"] != "unauthorized_client" {
		t.Errorf("introspection: none: %d %v", st, body)
	}
}

// TestIntrospectionConfig: the mode is own, any or none; a public client
// cannot have one that calls the endpoint.
func TestIntrospectionConfig(t *testing.T) {
	for _, c := range []struct {
		name   string
		client config.Client
		err    string
	}{
		{"any", config.Client{Secret: "s-secret-value", Introspection: "any", GrantTypes: []string{"client_credentials"}}, ""},
		{"unknown", config.Client{Secret: "s-secret-value", Introspection: "true", GrantTypes: []string{"client_credentials"}}, `clients[2].introspection: unknown value "true" (own, any or none)`},
		{"public", config.Client{Public: true, Introspection: "any", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{testenv.RedirectURI}}, "a public client cannot authenticate to introspect"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testenv.Config(t)
			cfg.Issuer, cfg.Storage.Dir = "http://127.0.0.1:1", t.TempDir()
			c.client.ID = "c"
			cfg.Clients = append(cfg.Clients, c.client)
			cfg.ApplyDefaults()
			err := cfg.Validate()
			if (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
				t.Errorf("error %v, want %q", err, c.err)
			}
		})
	}
	// The old boolean form is refused at its path, not silently read.
	_, err := config.Parse([]byte("issuer: http://127.0.0.1:1\nclients:\n  - id: c\n    secret: s-secret-value\n    grant_types: [client_credentials]\n    introspection: true\n"))
	if err == nil || !strings.Contains(err.Error(), "clients[0].introspection") {
		t.Errorf("introspection: true parsed: %v", err)
	}
}
