package broker_test

import (
	"io"
	"strings"
	"testing"

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
