package ldap_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/portico-idp/portico/connectors/ldap"
	"github.com/portico-idp/portico/testenv"
)

// Acceptance 4 of issue 18: with the first URL down (slapd killed: the
// port refuses; or frozen: it accepts and never answers), logins go to the
// second; after the first failure no login dials the first again, which
// is asserted by counting dial attempts, not by timing. When the first
// comes back, one health check marks it up and logins return to it.
func TestFailover(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		down  func(*testenv.Slapd)
		up    func(*testenv.Slapd)
		early bool // the first server fails under a pooled connection, not at dial
	}{
		{"killed", (*testenv.Slapd).Kill, (*testenv.Slapd).Start, false},
		{"frozen", (*testenv.Slapd).Freeze, (*testenv.Slapd).Thaw, false},
		{"killed under a pooled connection", (*testenv.Slapd).Kill, (*testenv.Slapd).Start, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s1 := testenv.StartSlapd(t, testenv.SlapdOptions{})
			s2 := testenv.StartSlapd(t, testenv.SlapdOptions{})
			cfg := baseConfig(s1)
			cfg.URL, cfg.URLs = "", []string{s1.URL(), s2.URL()}
			cfg.ConnectTimeout = ldap.Duration(time.Second)
			cfg.Timeout = ldap.Duration(time.Second)
			cfg.HealthCheckInterval = ldap.Duration(5 * time.Minute) // the test runs the checks
			if !tt.early {
				tt.down(s1)
			}
			c, _ := newConnector(t, cfg)
			if tt.early {
				login(t, c, testenv.LDAPBob) // a pooled connection to s1
				tt.down(s1)
			}
			login(t, c, testenv.LDAPAlice)
			before := ldap.DialAttempts(c)
			if got := c.Servers(); got[0].Up || !got[1].Up {
				t.Fatalf("after the failure: %+v", got)
			}
			for range 3 {
				ldap.DropIdle(c) // each login dials afresh
				login(t, c, testenv.LDAPBob)
			}
			after := ldap.DialAttempts(c)
			if after[0] != before[0] || after[1] != before[1]+3 {
				t.Errorf("dial attempts %v then %v: the down server was tried again", before, after)
			}

			tt.up(s1)
			ldap.CheckServers(ctx, c)
			if got := c.Servers(); !got[0].Up || !got[1].Up {
				t.Fatalf("after the health check: %+v", got)
			}
			ldap.DropIdle(c)
			login(t, c, testenv.LDAPAlice)
			if again := ldap.DialAttempts(c); !slices.Equal(again, []int64{after[0] + 2, after[1]}) { // check + login
				t.Errorf("dial attempts %v then %v: logins did not return to the first server", after, again)
			}
		})
	}
}

// With every server down the connector says so (Servers), and a login
// tries them all rather than failing without asking: the directory may be
// back before the health check notices.
func TestFailoverAllDown(t *testing.T) {
	s1 := testenv.StartSlapd(t, testenv.SlapdOptions{})
	s2 := testenv.StartSlapd(t, testenv.SlapdOptions{})
	cfg := baseConfig(s1)
	cfg.URL, cfg.URLs = "", []string{s1.URL(), s2.URL()}
	cfg.HealthCheckInterval = ldap.Duration(5 * time.Minute)
	s1.Kill()
	s2.Kill()
	c, _ := newConnector(t, cfg)
	if _, err := c.Login(context.Background(), withGroups, "alice", "alice-secret"); err == nil {
		t.Fatal("login with every server down")
	}
	if got := c.Servers(); got[0].Up || got[1].Up {
		t.Fatalf("servers %+v", got)
	}
	s2.Start()
	login(t, c, testenv.LDAPAlice)
	if got := c.Servers(); got[0].Up || !got[1].Up {
		t.Errorf("servers %+v", got)
	}
}
