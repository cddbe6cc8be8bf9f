package broker_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// nativeClient is a public client of a native app, registered with
// loopback redirect URIs without a port.
const nativeClient = "native-app"

func loopbackConfig(t *testing.T) *config.Config {
	cfg := testenv.Config(t)
	cfg.Clients = append(cfg.Clients, config.Client{
		ID: nativeClient, Public: true, GrantTypes: []string{"authorization_code"},
		RedirectURIs: []string{"http://127.0.0.1/cb", "http://[::1]/cb", "http://localhost/cb"},
	})
	return cfg
}

// TestLoopbackRedirectAnyPort: a loopback IP redirect URI matches with any
// port (RFC 8252 §7.3), and in nothing else but the port.
func TestLoopbackRedirectAnyPort(t *testing.T) {
	b := testenv.Start(t, loopbackConfig(t))
	tests := []struct {
		client string
		uri    string
		ok     bool
	}{
		{nativeClient, "http://127.0.0.1/cb", true},
		{nativeClient, "http://127.0.0.1:54321/cb", true},
		{nativeClient, "http://127.0.0.1:1/cb", true},
		{nativeClient, "http://127.0.0.1:65535/cb", true},
		{nativeClient, "http://[::1]/cb", true},
		{nativeClient, "http://[::1]:54321/cb", true},
		{nativeClient, "http://localhost/cb", true}, // registered as is
		// A registered port does not pin the port either.
		{testenv.ClientID, "http://127.0.0.1:6000/callback", true},
		{testenv.ClientID, "http://127.0.0.1/callback", true},

		{nativeClient, "http://127.0.0.1:54321/cb2", false},
		{nativeClient, "http://127.0.0.1:54321/cb/", false},
		{nativeClient, "http://127.0.0.1:54321/CB", false},
		{nativeClient, "http://127.0.0.1:54321/cb?x=1", false},
		{nativeClient, "http://127.0.0.1:54321/cb#x", false},
		{nativeClient, "http://127.0.0.1:54321", false},
		{nativeClient, "https://127.0.0.1:1/cb", false},
		{nativeClient, "https://127.0.0.1/cb", false},
		{nativeClient, "HTTP://127.0.0.1:5/cb", false},
		{nativeClient, "http://localhost:5/cb", false}, // not an IP literal
		{nativeClient, "http://127.0.0.1.evil.com/cb", false},
		{nativeClient, "http://127.0.0.1:5.evil.com/cb", false},
		{nativeClient, "http://127.0.0.1:5@evil.com/cb", false},
		{nativeClient, "http://127.0.0.2:5/cb", false},
		{nativeClient, "http://127.0.0.1:0/cb", false},
		{nativeClient, "http://127.0.0.1:65536/cb", false},
		{nativeClient, "http://127.0.0.1:080/cb", false},
		{nativeClient, "http://127.0.0.1:+80/cb", false},
		{nativeClient, "http://127.0.0.1:/cb", false},
		{nativeClient, "http://[::1]:54321/cb2", false},
		{nativeClient, "https://[::1]:1/cb", false},
		{nativeClient, "http://[::1]:54321/cb?x=1", false},
		{nativeClient, "http://[0:0:0:0:0:0:0:1]:5/cb", false},
		{nativeClient, "http://[::1].evil.com/cb", false},
		{testenv.ClientID, "http://127.0.0.1:6000/cb", false}, // another client's path
	}
	for _, tc := range tests {
		t.Run(tc.client+" "+tc.uri, func(t *testing.T) {
			q := baseQuery()
			q.Set("client_id", tc.client)
			q.Set("redirect_uri", tc.uri)
			resp, err := noFollow.Get(authorizeURL(b.URL, q))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			switch {
			case tc.ok && (resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login")):
				t.Errorf("got %d Location %q; want the login", resp.StatusCode, loc)
			case !tc.ok && (resp.StatusCode != http.StatusBadRequest || loc != ""):
				t.Errorf("got %d Location %q; want 400 and no redirect", resp.StatusCode, loc)
			}
		})
	}
}

// TestLoopbackCodeFlow: a native app whose listener got a port of its own
// logs in through the whole code flow; the token endpoint holds it to
// the redirect URI it actually used.
func TestLoopbackCodeFlow(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, loopbackConfig(t))
	for _, redirect := range []string{"http://127.0.0.1:54321/cb", "http://[::1]:54321/cb"} {
		t.Run(redirect, func(t *testing.T) {
			rp, err := testenv.NewRP(ctx, b.URL, nativeClient, "", redirect)
			if err != nil {
				t.Fatal(err)
			}
			f := rp.NewFlow()
			cb, err := rp.Authorize(ctx, f.AuthURL, testenv.UserName, testenv.UserPassword)
			if err != nil {
				t.Fatal(err)
			}
			registered := strings.Replace(redirect, ":54321", "", 1)
			r := postToken(t, b.URL, "", "", url.Values{
				"grant_type": {"authorization_code"}, "code": {cb.Query.Get("code")}, "client_id": {nativeClient},
				"redirect_uri": {registered}, "code_verifier": {f.Verifier},
			})
			if r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
				t.Errorf("exchange with the registered URI, not the one used: %d %v", r.Status, r.Body)
			}
			if _, idt, err := rp.Finish(ctx, f, cb); err != nil {
				t.Fatal(err)
			} else if idt.Audience[0] != nativeClient {
				t.Errorf("aud %v", idt.Audience)
			}
		})
	}
}
