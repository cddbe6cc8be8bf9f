package broker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/testenv"
)

// Acceptance 3 of issue 18 through the login page over HTTP: expired,
// must-change and locked accounts (slapd's ppolicy overlay, and an
// AD-shaped userAccountControl lock) show their own page after the right
// password, and "Invalid username or password." after a wrong one, the
// same as an unknown user; ppolicy's lock, which slapd reports whatever
// the password, stays the generic message. The state is audited.
func TestLDAPPasswordStates(t *testing.T) {
	ctx := context.Background()
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	cfg := testenv.Config(t)
	cfg.Connectors = append(cfg.Connectors, config.Connector{ID: "corp", Type: "ldap", Name: "Corporate directory", Config: map[string]any{
		"url": s.URL(), "insecure_no_tls": true,
		"bind_dn": testenv.LDAPServiceDN, "bind_password": testenv.LDAPServicePassword,
		"user_search": map[string]any{"base_dn": testenv.LDAPPeopleDN, "account_control_attribute": "userAccountControl"},
	}})
	b := testenv.Start(t, cfg)
	rp := corpRP(t, b)
	const generic = "Invalid username or password."
	tests := []struct {
		name  string
		user  testenv.LDAPUser
		title string // the page after the right password; "" for the generic message
	}{
		{"expired", testenv.LDAPExpired, "Password expired"},
		{"must change", testenv.LDAPReset, "Password change required"},
		{"AD locked", testenv.LDAPADLocked, "Account locked"},
		{"ppolicy locked", testenv.LDAPLocked, ""},
		{"unknown", testenv.LDAPUser{UID: "nobody", Password: "whatever"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, tt.user.UID, tt.user.Password)
			if err != nil {
				t.Fatal(err)
			}
			if tt.title == "" {
				if m := alertRE.FindStringSubmatch(cb.Page); cb.Status != 401 || m == nil || m[1] != generic {
					t.Errorf("right password: %d, want 401 %q", cb.Status, generic)
				}
			} else if cb.Query != nil || cb.Status != 403 || !strings.Contains(cb.Page, tt.title) || strings.Contains(cb.Page, generic) {
				t.Errorf("right password: %d %v, want 403 %q", cb.Status, cb.Query, tt.title)
			}
			cb, err = rp.Authorize(ctx, rp.NewFlow().AuthURL, tt.user.UID, "wrong-password")
			if err != nil {
				t.Fatal(err)
			}
			if m := alertRE.FindStringSubmatch(cb.Page); cb.Status != 401 || m == nil || m[1] != generic {
				t.Errorf("wrong password: %d, want 401 %q", cb.Status, generic)
			}
		})
	}
	waitAudit(t, b.Server.Store, "login.failure password_expired", func(e store.AuditEvent) bool {
		return e.Type == "login.failure" && e.ConnectorID == "corp" && e.Details["reason"] == "password_expired"
	})
	// A grace login after expiry still logs in.
	if _, _, err := rp.Login(ctx, testenv.LDAPGrace.UID, testenv.LDAPGrace.Password); err != nil {
		t.Errorf("grace login: %v", err)
	}
}
