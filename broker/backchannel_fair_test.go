package broker_test

import (
	"net/url"
	"testing"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// TestBackchannelSlowRPIsolated: an RP that hangs holds up its own
// logout notifications only. With more of its deliveries pending than
// there are workers in all, another client's session end still reaches
// that client's RP while the hung one holds every request it got.
func TestBackchannelSlowRPIsolated(t *testing.T) {
	slow, fast := newLogoutRP(t), newLogoutRP(t)
	slow.block, slow.entered = make(chan struct{}), make(chan struct{}, 128)
	slow.got = make(chan string, 128) // every delivery, once released
	defer close(slow.block)           // before the RP's server closes, which waits for it
	cfg := adminConfig(t)
	cfg.Clients[0].BackchannelLogoutURI = slow.URL
	cfg.Clients = append(cfg.Clients, config.Client{ID: "fast-app", Secret: "fast-app-secret", RedirectURIs: []string{testenv.RedirectURI},
		GrantTypes: []string{"authorization_code", "refresh_token"}, BackchannelLogoutURI: fast.URL})
	b := testenv.Start(t, cfg)

	end := func(rp *testenv.RP, client, secret string) {
		t.Helper()
		tok, _, err := rp.Login(t.Context(), testenv.UserName, testenv.UserPassword)
		if err != nil {
			t.Fatal(err)
		}
		if st, body := postForm(t, b.URL+"/revoke", client, secret, url.Values{"token": {tok.RefreshToken}}); st != 200 {
			t.Fatalf("revoke: %d %v", st, body)
		}
	}
	// More hung deliveries than the broker runs at once in all (64).
	slowRP := newRPFor(t, b, "local")
	for range 70 {
		end(slowRP, testenv.ClientID, testenv.ClientSecret)
	}
	<-slow.entered // the hung RP holds a request

	fastRP, err := testenv.NewRP(t.Context(), b.URL, "fast-app", "fast-app-secret", testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	fastRP.Connector = "local"
	end(fastRP, "fast-app", "fast-app-secret")
	fast.next(t, "the other client's RP, while one RP hangs")
}
