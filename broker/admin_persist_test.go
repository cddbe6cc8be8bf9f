package broker_test

import (
	"encoding/base32"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/mfa"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/testenv"
)

// TestAdminConnectorChangesSurviveRestart: connectors added, replaced and
// deleted through the API stay so after a restart, over the config file.
func TestAdminConnectorChangesSurviveRestart(t *testing.T) {
	b := testenv.Start(t, adminConfig(t))
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	mustStatus(t, call(t, b, admin, "POST", "/connectors", map[string]any{"id": "extra", "type": "local", "name": "Extra login"}), 201, "add")
	mustStatus(t, call(t, b, admin, "PUT", "/connectors/local", map[string]any{"type": "local", "name": "Renamed login"}), 200, "replace")
	mustStatus(t, call(t, b, admin, "DELETE", "/connectors/staff", nil), 204, "delete")

	check := func(when string) {
		t.Helper()
		got := map[string]string{}
		for _, c := range call(t, b, admin, "GET", "/connectors", nil).Body["connectors"].([]any) {
			m := c.(map[string]any)
			got[m["id"].(string)] = m["name"].(string)
		}
		want := map[string]string{"local": "Renamed login", "extra": "Extra login"}
		if len(got) != len(want) || got["local"] != want["local"] || got["extra"] != want["extra"] {
			t.Errorf("%s: connectors %v, want %v", when, got, want)
		}
		rp := newRP(t, b)
		resp, err := rp.Browser.Get(rp.NewFlow().AuthURL)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if p := string(page); !strings.Contains(p, "Renamed login") || !strings.Contains(p, "Extra login") || strings.Contains(p, "Staff login") {
			t.Errorf("%s: login page does not show the changed connectors: %s", when, p)
		}
	}
	check("before restart")
	b.Restart(t)
	admin = ccToken(t, b, adminClientID, adminClientSecret, "admin")
	check("after restart")
	rp := newRP(t, b)
	rp.Connector = "extra"
	if _, _, err := rp.Login(t.Context(), testenv.UserName, testenv.UserPassword); err != nil {
		t.Errorf("login through the restored connector: %v", err)
	}
}

// TestAdminResetMFA: an administrator removes a user's second factors; the
// user's sessions end and the next login enrols again.
func TestAdminResetMFA(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Clients = append(cfg.Clients, config.Client{ID: adminClientID, Secret: adminClientSecret,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"admin"}, Admin: true})
	cfg.Login.MFA.Clients = []string{testenv.ClientID}
	b := testenv.Start(t, cfg)

	rp := newRP(t, b)
	f := rp.NewFlow()
	br := rp.Browser
	enrol := submit(t, br, getPage(t, br, f.AuthURL), map[string]string{"username": testenv.UserName, "password": testenv.UserPassword})
	m := manualKeyRE.FindStringSubmatch(enrol.Body)
	if m == nil {
		t.Fatalf("no enrolment page: %d %s", enrol.Status, enrol.URL)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	codes := submit(t, br, enrol, map[string]string{"code": mfa.Code(secret, time.Now())})
	done := submit(t, br, codes, nil)
	if !strings.HasPrefix(done.Location, testenv.RedirectURI+"?code=") {
		t.Fatalf("enrolled login did not come back with a code: %d %q", done.Status, done.Location)
	}
	back, _ := url.Parse(done.Location)
	tok, _, err := rp.Finish(t.Context(), f, testenv.Callback{Query: back.Query()})
	if err != nil {
		t.Fatal(err)
	}
	// Enrolled: the next login asks for a code, not for enrolment.
	br, form := loginForm(t, b)
	if p := submit(t, br, form, map[string]string{"username": testenv.UserName, "password": testenv.UserPassword}); !strings.Contains(p.Body, `id="code"`) || strings.Contains(p.Body, "manual-key") {
		t.Fatal("an enrolled user was not asked for a code")
	}

	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	users := call(t, b, admin, "GET", "/users?q="+testenv.UserName, nil).Body["users"].([]any)
	id := users[0].(map[string]any)["id"].(string)
	mustStatus(t, call(t, b, admin, "DELETE", "/users/"+id+"/mfa", nil), 204, "reset second factors")
	if st := userinfoStatus(t, b.URL, tok.AccessToken); st != 401 {
		t.Errorf("the user's token after the reset: userinfo %d, want 401", st)
	}
	br, form = loginForm(t, b)
	if p := submit(t, br, form, map[string]string{"username": testenv.UserName, "password": testenv.UserPassword}); !strings.Contains(p.Body, "manual-key") {
		t.Fatal("after the reset the next login does not enrol again")
	}
	waitAudit(t, b.Server.Store, "admin.user_mfa_reset", func(e store.AuditEvent) bool {
		return e.Type == "admin.user_mfa_reset" && e.UserID == id && e.Actor == "client:"+adminClientID
	})
}
