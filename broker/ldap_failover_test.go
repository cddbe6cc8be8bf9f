package broker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// Acceptance 4 of issue 18 through the broker: an LDAP connector with two
// servers, the first killed, logs people in through the second; /metrics
// shows each server up or down, and /readyz names a connector with no
// server up, as advice: the server stays ready for its other logins.
func TestLDAPFailoverOps(t *testing.T) {
	ctx := context.Background()
	s1 := testenv.StartSlapd(t, testenv.SlapdOptions{})
	s2 := testenv.StartSlapd(t, testenv.SlapdOptions{})
	s1.Kill()
	cfg := testenv.Config(t)
	cfg.Connectors = append(cfg.Connectors, config.Connector{ID: "corp", Type: "ldap", Name: "Corporate directory", Config: map[string]any{
		"urls": []any{s1.URL(), s2.URL()}, "insecure_no_tls": true,
		"bind_dn": testenv.LDAPServiceDN, "bind_password": testenv.LDAPServicePassword,
		"connect_timeout": "1s", "timeout": "1s", "health_check_interval": "5m",
		"user_search": map[string]any{"base_dn": testenv.LDAPPeopleDN},
	}})
	b := testenv.Start(t, cfg)
	rp := corpRP(t, b)
	if _, _, err := rp.Login(ctx, testenv.LDAPAlice.UID, testenv.LDAPAlice.Password); err != nil {
		t.Fatalf("login with the first server down: %v", err)
	}
	_, body := getText(t, b.URL+"/metrics")
	for _, w := range []string{
		fmt.Sprintf(`portico_ldap_server_up{connector="corp",server=%q} 0`, s1.URL()),
		fmt.Sprintf(`portico_ldap_server_up{connector="corp",server=%q} 1`, s2.URL()),
	} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	if st, body := getText(t, b.URL+"/readyz"); st != 200 || !strings.Contains(body, `{"name":"ldap_servers","status":"ok","advisory":true}`) {
		t.Errorf("/readyz with one server up: %d %s", st, body)
	}

	s2.Kill()
	cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, testenv.LDAPAlice.UID, testenv.LDAPAlice.Password)
	if err != nil || cb.Status != 503 {
		t.Fatalf("login with both down: %v %d", err, cb.Status)
	}
	st, body := getText(t, b.URL+"/readyz")
	if st != 200 || !strings.Contains(body, `"name":"ldap_servers","status":"failed"`) || !strings.Contains(body, "corp") {
		t.Errorf("/readyz with no server up: %d %s", st, body)
	}
}
