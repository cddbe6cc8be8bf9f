package broker_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// TestConsentMarksRegisteredClients: a client that registered itself
// chose its own name, so the login and consent pages, which show it, say
// it is not one of the organisation's own; a configured third-party
// client's pages do not.
func TestConsentMarksRegisteredClients(t *testing.T) {
	cfg := regConfig(t)
	cfg.Clients = append(cfg.Clients, config.Client{ID: "partner", Secret: "partner-secret", RedirectURIs: []string{testenv.RedirectURI},
		GrantTypes: []string{"authorization_code"}, Consent: true})
	b := testenv.Start(t, cfg)
	md := confidentialMetadata()
	md["client_name"] = "Portico Admin CLI (official)"
	r := regDo(t, http.MethodPost, b.URL+"/register", initialToken, md)
	if r.Status != 201 {
		t.Fatalf("register: %d %v", r.Status, r.Body)
	}
	for _, c := range []struct {
		id, secret, redirect, name string
		marked                     bool
	}{
		{r.str("client_id"), r.str("client_secret"), regRedirect, "Portico Admin CLI (official)", true},
		{"partner", "partner-secret", testenv.RedirectURI, "partner", false},
	} {
		rp, err := testenv.NewRP(t.Context(), b.URL, c.id, c.secret, c.redirect)
		if err != nil {
			t.Fatal(err)
		}
		login := getPage(t, rp.Browser, rp.NewFlow().AuthURL)
		if !strings.Contains(login.Body, "<h1>Log in to "+c.name) || strings.Contains(login.Body, `id="third-party"`) != c.marked {
			t.Errorf("%s: login page names %q and marks it %v? %.600s", c.id, c.name, c.marked, login.Body)
		}
		cb, err := rp.Authorize(t.Context(), rp.NewFlow().AuthURL, testenv.UserName, testenv.UserPassword)
		if err != nil || !strings.Contains(cb.Page, `id="scopes"`) {
			t.Fatalf("%s: no consent page: %v %d %.300s", c.id, err, cb.Status, cb.Page)
		}
		if got := strings.Contains(cb.Page, `id="third-party"`); got != c.marked {
			t.Errorf("%s: marked as registering itself: %v, want %v", c.id, got, c.marked)
		}
	}
}
