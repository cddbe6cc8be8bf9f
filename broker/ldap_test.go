package broker_test

import (
	"context"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// ldapBroker starts slapd and a broker with two connectors: local, and
// "corp" on the directory (memberOf plus groupOfUniqueNames, nested).
func ldapBroker(t *testing.T) (*testenv.Broker, *testenv.Slapd) {
	t.Helper()
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	cfg := testenv.Config(t)
	cfg.Connectors = append(cfg.Connectors, config.Connector{ID: "corp", Type: "ldap", Name: "Corporate directory", Config: map[string]any{
		"url": s.URL(), "insecure_no_tls": true,
		"bind_dn": testenv.LDAPServiceDN, "bind_password": testenv.LDAPServicePassword,
		"connect_timeout": "1s", "timeout": "1s",
		"user_search": map[string]any{
			"base_dn": testenv.LDAPPeopleDN, "username_attributes": []any{"uid", "mail"},
			"enabled_filter": testenv.LDAPEnabledFilter, "groups_attribute": "memberOf",
		},
		"group_search": map[string]any{
			"base_dn": testenv.LDAPGroupsDN, "filter": "(objectClass=groupOfUniqueNames)",
			"member_attribute": "uniqueMember", "nested": true,
		},
	}})
	return testenv.Start(t, cfg), s
}

func corpRP(t *testing.T, b *testenv.Broker) *testenv.RP {
	rp := newRP(t, b)
	rp.Connector = "corp"
	return rp
}

// TestLDAPCodeFlow is acceptance 1 of the LDAP issue: a directory user logs
// in through the broker and the id_token carries the directory's email,
// name and groups, of both styles and nested.
func TestLDAPCodeFlow(t *testing.T) {
	ctx := context.Background()
	b, _ := ldapBroker(t)
	_, idt, err := corpRP(t, b).Login(ctx, testenv.LDAPAlice.UID, testenv.LDAPAlice.Password)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Email, Name       string
		PreferredUsername string `json:"preferred_username"`
		EmailVerified     bool   `json:"email_verified"`
		Groups            []string
	}
	idt.Claims(&c)
	if c.Email != testenv.LDAPAlice.Mail || c.Name != testenv.LDAPAlice.Name || c.PreferredUsername != "alice" || c.EmailVerified {
		t.Errorf("claims %+v", c)
	}
	for _, g := range []string{"admins", "developers", "staff", "everyone", "ops"} {
		if !slices.Contains(c.Groups, g) {
			t.Errorf("groups %q lack %q", c.Groups, g)
		}
	}
	// The directory's alice and the local alice are different people.
	_, local, err := newRP(t, b).Login(ctx, testenv.UserName, testenv.UserPassword)
	if err == nil {
		t.Fatal("with two connectors the RP should stop at the picker")
	}
	rp := newRP(t, b)
	rp.Connector = "local"
	if _, local, err = rp.Login(ctx, testenv.UserName, testenv.UserPassword); err != nil {
		t.Fatal(err)
	}
	if local.Subject == idt.Subject {
		t.Error("a local and a directory account got the same sub")
	}
	// Non-ASCII names survive the whole path.
	_, z, err := corpRP(t, b).Login(ctx, testenv.LDAPZoe.UID, testenv.LDAPZoe.Password)
	if err != nil {
		t.Fatal(err)
	}
	z.Claims(&c)
	if c.Name != testenv.LDAPZoe.Name {
		t.Errorf("name %q, want %q", c.Name, testenv.LDAPZoe.Name)
	}
	// The pool's connections show in /metrics: idle now, none held.
	_, m := getText(t, b.URL+"/metrics")
	if !regexp.MustCompile(`portico_ldap_pool_connections\{connector="corp",state="idle"\} [1-9]`).MatchString(m) ||
		!strings.Contains(m, `portico_ldap_pool_connections{connector="corp",state="in_use"} 0`) {
		t.Errorf("no LDAP pool gauges: %s", grepLines(m, "portico_ldap"))
	}
}

// TestLDAPBadLogins is acceptance 2 through the broker: every bad login is
// the same clean failure, and none logs in as anyone.
func TestLDAPBadLogins(t *testing.T) {
	ctx := context.Background()
	b, _ := ldapBroker(t)
	rp := corpRP(t, b)
	for _, c := range []struct{ user, pass string }{
		{testenv.LDAPAlice.UID, "wrong"},
		{"nobody", "whatever"},
		{testenv.LDAPAlice.UID, ""},
		{"*", testenv.LDAPAlice.Password},
		{"alice)(uid=*", testenv.LDAPAlice.Password},
		{"*)(|(uid=*", testenv.LDAPBob.Password},
		{`alice\`, testenv.LDAPAlice.Password},
		{"alice\x00", testenv.LDAPAlice.Password},
		{testenv.LDAPDave.UID, testenv.LDAPDave.Password},  // disabled
		{"shared@example.org", testenv.LDAPCarol.Password}, // two entries match
	} {
		cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, c.user, c.pass)
		if err != nil {
			t.Fatal(err)
		}
		m := alertRE.FindStringSubmatch(cb.Page)
		if cb.Query != nil || cb.Status != 401 || m == nil || m[1] != "Invalid username or password." {
			t.Errorf("login %q: status %d query %v", c.user, cb.Status, cb.Query)
		}
	}
}

// TestLDAPDirectoryDown is acceptance 4: with slapd killed, directory logins
// answer 503 "unavailable" while local logins go on; once slapd is back,
// directory logins work without a broker restart.
func TestLDAPDirectoryDown(t *testing.T) {
	ctx := context.Background()
	b, s := ldapBroker(t)
	rp := corpRP(t, b)
	if _, _, err := rp.Login(ctx, testenv.LDAPBob.UID, testenv.LDAPBob.Password); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, testenv.LDAPBob.UID, testenv.LDAPBob.Password)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Status != 503 || !strings.Contains(cb.Page, "not available") {
		t.Errorf("login with the directory down: %d %s", cb.Status, cb.Page)
	}
	lrp := newRP(t, b)
	lrp.Connector = "local"
	if _, _, err := lrp.Login(ctx, testenv.UserName, testenv.UserPassword); err != nil {
		t.Errorf("local login while the directory is down: %v", err)
	}
	s.Start()
	if _, _, err := rp.Login(ctx, testenv.LDAPBob.UID, testenv.LDAPBob.Password); err != nil {
		t.Errorf("login after the directory came back: %v", err)
	}
}

// TestLDAPRefresh is acceptance 5: a group change shows up after refresh,
// and a user deleted from the directory cannot refresh.
func TestLDAPRefresh(t *testing.T) {
	ctx := context.Background()
	b, s := ldapBroker(t)
	rp := corpRP(t, b)
	tok, _, err := rp.Login(ctx, testenv.LDAPBob.UID, testenv.LDAPBob.Password)
	if err != nil {
		t.Fatal(err)
	}
	root := s.RootConn(t)
	mod := goldap.NewModifyRequest("cn=ops,"+testenv.LDAPGroupsDN, nil)
	mod.Add("uniqueMember", []string{testenv.LDAPBob.DN()})
	if err := root.Modify(mod); err != nil {
		t.Fatal(err)
	}
	r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	if r.Status != 200 {
		t.Fatalf("refresh: %d %v", r.Status, r.Body)
	}
	idt, err := rp.Verifier.Verify(ctx, r.str("id_token"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Groups []string }
	idt.Claims(&c)
	if !slices.Contains(c.Groups, "ops") {
		t.Errorf("groups after refresh %q lack the new group ops", c.Groups)
	}
	if err := root.Del(goldap.NewDelRequest(testenv.LDAPBob.DN(), nil)); err != nil {
		t.Fatal(err)
	}
	r = postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}})
	if r.Status != 400 || r.str("error") != "invalid_grant" {
		t.Errorf("refresh of a deleted directory user: %d %v", r.Status, r.Body)
	}
}
