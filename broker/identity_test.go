package broker_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/audit"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/mapping"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/testenv"
)

// ldapCorp is the "corp" connector on s, as ldapBroker sets it up; with
// verified, the directory's mail counts as verified.
func ldapCorp(s *testenv.Slapd, verified bool) config.Connector {
	return config.Connector{ID: "corp", Type: "ldap", Name: "Corporate directory", Config: map[string]any{
		"url": s.URL(), "insecure_no_tls": true, "email_verified": verified,
		"bind_dn": testenv.LDAPServiceDN, "bind_password": testenv.LDAPServicePassword,
		"connect_timeout": "2s", "timeout": "2s",
		"user_search": map[string]any{
			"base_dn": testenv.LDAPPeopleDN, "username_attributes": []any{"uid"},
			"enabled_filter": testenv.LDAPEnabledFilter, "groups_attribute": "memberOf",
			"extra_attributes": []any{"employeeNumber"},
		},
		"group_search": map[string]any{
			"base_dn": testenv.LDAPGroupsDN, "filter": "(objectClass=groupOfUniqueNames)",
			"member_attribute": "uniqueMember", "nested": true,
		},
	}}
}

func githubConn(gh *testenv.GitHub) config.Connector {
	return config.Connector{ID: "github", Type: "github", Name: "GitHub", Config: map[string]any{
		"client_id": gh.ClientID, "client_secret": gh.ClientSecret, "base_url": gh.URL, "timeout": "2s"}}
}

// loginAt logs user in at b through connector, with the RP's default
// scopes unless scopes are given.
func loginAt(t *testing.T, b *testenv.Broker, connector, user, pass string, scopes ...string) (*oauth2.Token, *oidc.IDToken) {
	t.Helper()
	rp, err := testenv.NewRP(context.Background(), b.URL, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	rp.Connector = connector
	tok, idt, err := rp.Login(context.Background(), user, pass)
	if err != nil {
		t.Fatalf("login of %s through %s: %v", user, connector, err)
	}
	return tok, idt
}

func claimMap(t *testing.T, idt *oidc.IDToken) map[string]any {
	t.Helper()
	var m map[string]any
	if err := idt.Claims(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func userinfo(t *testing.T, issuer, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&m) != nil {
		t.Fatalf("userinfo: %d", resp.StatusCode)
	}
	return m
}

// waitAudit waits for the audit event that match accepts to reach the
// store (it is written in the background) and returns it.
func waitAudit(t *testing.T, st store.Store, what string, match func(store.AuditEvent) bool) store.AuditEvent {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		evs, err := st.ListAuditEvents(context.Background(), time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(evs, match); i >= 0 {
			return evs[i]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit event %s among %d events", what, len(evs))
		}
	}
}

// TestAccountLinking is acceptance 1 of identity management: a user who
// logs in through LDAP and then GitHub with the same verified email is one
// Portico user with two identities when the policy allows it, two users
// when it does not, and never one on an unverified or ambiguous email.
func TestAccountLinking(t *testing.T) {
	ctx := context.Background()
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	gh := testenv.StartGitHub(t, "gh-client", "gh-secret",
		testenv.GitHubUser{ID: 1, Login: "alice", Password: "gh-pw", Name: "Alice GH",
			Emails: []testenv.GitHubEmail{{Email: "Alice@Example.ORG", Primary: true, Verified: true}}},
		testenv.GitHubUser{ID: 2, Login: "mallory", Password: "gh-pw", Name: "Mallory",
			Emails: []testenv.GitHubEmail{{Email: testenv.LDAPAlice.Mail, Primary: true, Verified: false}}},
		testenv.GitHubUser{ID: 3, Login: "shared", Password: "gh-pw",
			Emails: []testenv.GitHubEmail{{Email: testenv.LDAPCarol.Mail, Primary: true, Verified: true}}},
	)
	yes, no := new(bool), new(bool)
	*yes = true
	for _, c := range []struct {
		name          string
		linking       bool  // the top-level policy
		ldap, github  *bool // the connectors' own
		ldapVerified  bool
		ldapUsers     []testenv.LDAPUser
		githubUser    string
		wantOneUser   bool
		wantLinkAudit string
	}{
		{"top-level policy links", true, nil, nil, true, []testenv.LDAPUser{testenv.LDAPAlice}, "alice", true, audit.IdentityLink},
		{"no policy: two users", false, nil, nil, true, []testenv.LDAPUser{testenv.LDAPAlice}, "alice", false, ""},
		{"both connectors opt in", false, yes, yes, true, []testenv.LDAPUser{testenv.LDAPAlice}, "alice", true, audit.IdentityLink},
		{"one connector opts out", true, nil, no, true, []testenv.LDAPUser{testenv.LDAPAlice}, "alice", false, ""},
		{"unverified upstream email never links", true, nil, nil, true, []testenv.LDAPUser{testenv.LDAPAlice}, "mallory", false, ""},
		{"unverified directory email never links", true, nil, nil, false, []testenv.LDAPUser{testenv.LDAPAlice}, "alice", false, ""},
		{"an email of two users never links", true, nil, nil, true, []testenv.LDAPUser{testenv.LDAPCarol, testenv.LDAPCarl}, "shared", false, audit.LinkSkipped},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testenv.Config(t)
			corp, github := ldapCorp(s, c.ldapVerified), githubConn(gh)
			corp.Link.VerifiedEmail, github.Link.VerifiedEmail = c.ldap, c.github
			cfg.Connectors = append(cfg.Connectors, corp, github)
			cfg.Linking.VerifiedEmail = c.linking
			b := testenv.Start(t, cfg)

			var ldapSubs []string
			for _, u := range c.ldapUsers {
				_, idt := loginAt(t, b, "corp", u.UID, u.Password)
				ldapSubs = append(ldapSubs, idt.Subject)
			}
			_, idt := loginAt(t, b, "github", c.githubUser, "gh-pw")
			if got := slices.Contains(ldapSubs, idt.Subject); got != c.wantOneUser {
				t.Fatalf("one user: %v, want %v (subs %q and %q)", got, c.wantOneUser, ldapSubs, idt.Subject)
			}
			idents, err := b.Server.Store.ListIdentities(ctx, idt.Subject)
			if err != nil {
				t.Fatal(err)
			}
			var conns []string
			for _, i := range idents {
				conns = append(conns, i.ConnectorID)
			}
			slices.Sort(conns)
			want := []string{"github"}
			if c.wantOneUser {
				want = []string{"corp", "github"}
				// Both ways in stay the one user.
				if _, again := loginAt(t, b, "corp", c.ldapUsers[0].UID, c.ldapUsers[0].Password); again.Subject != idt.Subject {
					t.Errorf("the directory login after linking is %s, not %s", again.Subject, idt.Subject)
				}
			}
			if !slices.Equal(conns, want) {
				t.Errorf("identities of the GitHub login's user: %q, want %q", conns, want)
			}
			if c.wantLinkAudit != "" {
				waitAudit(t, b.Server.Store, c.wantLinkAudit, func(e store.AuditEvent) bool {
					return e.Type == c.wantLinkAudit && e.ConnectorID == "github"
				})
			}
		})
	}
}

// TestClaimMapping is acceptance 2: claim-mapping rules change the
// id_token and userinfo as docs/identity.md says; custom scopes release
// custom claims to the clients allowed them, and to no other.
func TestClaimMapping(t *testing.T) {
	ctx := context.Background()
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	gh := testenv.StartGitHub(t, "gh-client", "gh-secret", testenv.GitHubUser{ID: 7, Login: "alice", Password: "gh-pw",
		Emails: []testenv.GitHubEmail{{Email: "Alice@Example.com", Primary: true, Verified: true}},
		Orgs:   []string{"acme", "globex", "initech"},
		Teams:  []testenv.GitHubTeam{{Org: "acme", Slug: "dev"}, {Org: "acme", Slug: "ops"}, {Org: "globex", Slug: "sre"}}})
	cfg := testenv.Config(t)
	corp := ldapCorp(s, true)
	corp.ClaimMapping = []mapping.Rule{
		{Claim: "employee_number", From: []string{"attributes.employeeNumber"}},
		{Claim: "org_unit", From: []string{"attributes.dn"}, Regex: `,ou=([^,]+),`, Lower: true},
		{Claim: "preferred_username", From: []string{"email"}, Regex: `^[^@]+`},
	}
	corp.Groups = mapping.Groups{Deny: []string{"everyone", "cycle-*"}, Prefix: true}
	github := githubConn(gh)
	github.ClaimMapping = []mapping.Rule{
		{Claim: "email", From: []string{"email"}, Lower: true},
		{Claim: "teams", From: []string{"groups"}, Regex: `:(.+)$`, Multi: true},
	}
	github.Groups = mapping.Groups{Allow: []string{"acme*", "re:globex(:.*)?"}, Deny: []string{"acme:ops"}}
	cfg.Connectors = append(cfg.Connectors, corp, github)
	cfg.Scopes = map[string]config.Scope{"hr": {Claims: []string{"employee_number"}}, "org": {Claims: []string{"org_unit", "teams"}}}
	cfg.Clients[0].ExtraScopes = []string{"hr", "org"}
	cfg.Clients = append(cfg.Clients, config.Client{ID: "plain-app", Secret: "plain-secret", RedirectURIs: []string{testenv.RedirectURI}})
	b := testenv.Start(t, cfg)
	scopes := []string{"openid", "profile", "email", "groups", "hr", "org"}

	tok, idt := loginAt(t, b, "corp", testenv.LDAPAlice.UID, testenv.LDAPAlice.Password, scopes...)
	cl := claimMap(t, idt)
	if cl["employee_number"] != "1001" || cl["org_unit"] != "people" || cl["preferred_username"] != "alice" || cl["email_verified"] != true {
		t.Errorf("directory claims %v", cl)
	}
	var groups []string
	json.Unmarshal([]byte(jsonString(cl["groups"])), &groups)
	for _, g := range groups {
		if !strings.HasPrefix(g, "corp:") || g == "corp:everyone" {
			t.Errorf("group %q in %q", g, groups)
		}
	}
	if !slices.Contains(groups, "corp:admins") || !slices.Contains(groups, "corp:ops") {
		t.Errorf("groups %q lack corp:admins or corp:ops", groups)
	}
	if _, ok := cl["teams"]; ok {
		t.Error("teams, which the directory does not map, is in the id_token")
	}
	ui := userinfo(t, b.URL, tok.AccessToken)
	for _, k := range []string{"employee_number", "org_unit", "preferred_username", "email", "groups"} {
		if !reflect.DeepEqual(ui[k], cl[k]) {
			t.Errorf("userinfo %s = %v, id_token has %v", k, ui[k], cl[k])
		}
	}

	_, idt = loginAt(t, b, "github", "alice", "gh-pw", scopes...)
	cl = claimMap(t, idt)
	if jsonString(cl["teams"]) != `["dev","ops","sre"]` || jsonString(cl["groups"]) != `["acme","globex","acme:dev","globex:sre"]` ||
		cl["email"] != "alice@example.com" || cl["email_verified"] != true {
		t.Errorf("GitHub claims %v", cl)
	}

	// Scopes not asked for release nothing.
	_, idt = loginAt(t, b, "corp", testenv.LDAPAlice.UID, testenv.LDAPAlice.Password, "openid")
	if cl := claimMap(t, idt); cl["employee_number"] != nil || cl["groups"] != nil || cl["email"] != nil {
		t.Errorf("claims with only openid: %v", cl)
	}
	// A client without the extra scope may not ask for it.
	rp, err := testenv.NewRP(ctx, b.URL, "plain-app", "plain-secret", testenv.RedirectURI, "openid", "hr")
	if err != nil {
		t.Fatal(err)
	}
	rp.Connector = "corp"
	cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, testenv.LDAPAlice.UID, testenv.LDAPAlice.Password)
	if err != nil || cb.Query.Get("error") != "invalid_scope" {
		t.Errorf("a client without extra scopes asked for hr: %v %v", cb.Query, err)
	}
	// Discovery advertises the custom scopes and claims.
	var doc struct {
		Scopes []string `json:"scopes_supported"`
		Claims []string `json:"claims_supported"`
	}
	resp, err := http.Get(b.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	for _, s := range []string{"hr", "org", "roles"} {
		if !slices.Contains(doc.Scopes, s) {
			t.Errorf("scopes_supported %q lacks %s", doc.Scopes, s)
		}
	}
	for _, c := range []string{"employee_number", "org_unit", "teams", "roles"} {
		if !slices.Contains(doc.Claims, c) {
			t.Errorf("claims_supported %q lacks %s", doc.Claims, c)
		}
	}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestInvalidMappingFailsAtStart: a bad rule stops the server at start,
// with the rule's path in the message.
func TestInvalidMappingFailsAtStart(t *testing.T) {
	const head = "issuer: https://id.example.com\nstorage: {dir: /tmp/x}\n"
	conns := func(rules string) string {
		return head + "connectors:\n- {id: local, type: local}\n- id: corp\n  type: ldap\n" + rules
	}
	for _, c := range []struct{ name, yaml, want string }{
		{"bad regexp", conns("  claim_mapping:\n  - {claim: a, from: [name]}\n  - {claim: b, from: [email]}\n  - {claim: dept, from: [attributes.ou], regex: '(['}\n"),
			"config: connectors[1].claim_mapping[2].regex: invalid regexp: error parsing regexp: missing closing ]"},
		{"misspelt field", conns("  claim_mapping:\n  - {claim: dept, form: [name]}\n"),
			"config: connectors[1].claim_mapping[0].form: unknown field (did you mean from?)"},
		{"reserved claim", conns("  claim_mapping:\n  - {claim: sub, from: [email]}\n"),
			`config: connectors[1].claim_mapping[0].claim: "sub" is set by Portico and cannot be mapped`},
		{"unknown source", conns("  claim_mapping:\n  - {claim: dept, from: [mail]}\n"),
			`config: connectors[1].claim_mapping[0].from[0]: unknown source "mail"`},
		{"bad group pattern", conns("  groups: {deny: ['re:(x']}\n"), "config: connectors[1].groups.deny[0]: invalid regexp"},
		{"misspelt link", conns("  link: {verified: true}\n"), "config: connectors[1].link.verified: unknown field"},
		{"scope of an unmapped claim", head + "scopes:\n  hr: {claims: [salary]}\n", `config: scopes.hr.claims[0]: no connector's claim_mapping sets claim "salary"`},
		{"standard scope redefined", conns("  claim_mapping: [{claim: dept, from: [name]}]\n") + "scopes:\n  email: {claims: [dept]}\n",
			`config: scopes.email: "email" is a standard scope and cannot be redefined`},
		{"misspelt scope field", head + "scopes:\n  hr: {claim: [x]}\n", "config: scopes.hr.claim: unknown field (did you mean claims?)"},
		{"undefined extra scope", head + "clients:\n- {id: app, public: true, redirect_uris: ['http://127.0.0.1/cb'], extra_scopes: [hr]}\n",
			`config: clients[0].extra_scopes[0]: scope "hr" is not defined under scopes`},
		{"multi in one connector only", conns("  claim_mapping: [{claim: teams, from: [groups], multi: true}]\n- id: gh\n  type: github\n  claim_mapping: [{claim: teams, from: [groups]}]\n"),
			`config: connectors[2].claim_mapping: claim "teams" is multi here but not in connectors[1]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse: %v\nwant an error containing %q", err, c.want)
			}
		})
	}
	// The same check stops a server whose configuration is built in code.
	cfg := testenv.Config(t)
	cfg.Connectors[0].ClaimMapping = []mapping.Rule{{Claim: "dept", From: []string{"name"}, Regex: "a{2,1}"}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg.Storage.Dir, cfg.Listen, cfg.Issuer = t.TempDir(), l.Addr().String(), "http://"+l.Addr().String()
	if _, err := testenv.StartOn(l, cfg, testenv.Logger(t)); err == nil || !strings.Contains(err.Error(), "connectors[0].claim_mapping[0].regex: invalid regexp") {
		t.Fatalf("start with a bad rule: %v", err)
	}
}

// TestLocalGroupsAndRoles: groups and roles assigned in Portico travel in
// the tokens on top of the upstream's, and logins keep them.
func TestLocalGroupsAndRoles(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, testenv.Config(t))
	all := []string{"openid", "profile", "groups", "roles", "offline_access"}
	_, idt := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword, all...)
	if cl := claimMap(t, idt); cl["roles"] != nil || jsonString(cl["groups"]) != `["admins","staff"]` {
		t.Errorf("claims before any assignment: %v", cl)
	}
	u, err := b.Server.Store.GetUser(ctx, idt.Subject)
	if err != nil {
		t.Fatal(err)
	}
	u.LocalGroups, u.Roles = []string{"portico-admins", "staff"}, []string{"auditor", "billing"}
	if err := b.Server.Store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	tok, idt := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword, all...)
	cl := claimMap(t, idt)
	if jsonString(cl["groups"]) != `["admins","staff","portico-admins"]` || jsonString(cl["roles"]) != `["auditor","billing"]` {
		t.Errorf("claims with local groups and roles: %v", cl)
	}
	if ui := userinfo(t, b.URL, tok.AccessToken); jsonString(ui["roles"]) != `["auditor","billing"]` || jsonString(ui["groups"]) != jsonString(cl["groups"]) {
		t.Errorf("userinfo %v", ui)
	}
	r := refresh(t, b, tok.RefreshToken)
	if r.Status != 200 {
		t.Fatalf("refresh: %d %v", r.Status, r.Body)
	}
	if at := decodeSegment(t, strings.Split(r.str("access_token"), ".")[1]); jsonString(at["groups"]) != jsonString(cl["groups"]) {
		t.Errorf("access token groups after refresh %v", at["groups"])
	}
	if u, _ = b.Server.Store.GetUser(ctx, idt.Subject); !slices.Equal(u.Roles, []string{"auditor", "billing"}) || len(u.LocalGroups) != 2 {
		t.Errorf("a login changed Portico's own assignments: %+v", u)
	}
	_, idt = loginAt(t, b, "local", testenv.UserName, testenv.UserPassword, "openid", "groups")
	if cl := claimMap(t, idt); cl["roles"] != nil {
		t.Errorf("roles without the roles scope: %v", cl)
	}
}

// TestDisabledUserCannotLogIn: the password was right, but the account
// is disabled in Portico.
func TestDisabledUserCannotLogIn(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, testenv.Config(t))
	_, idt := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	u, err := b.Server.Store.GetUser(ctx, idt.Subject)
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := b.Server.Store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	rp := newRP(t, b)
	cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Query != nil || cb.Status != http.StatusForbidden || !strings.Contains(cb.Page, "Account disabled") {
		t.Errorf("login of a disabled user: status %d query %v", cb.Status, cb.Query)
	}
	waitAudit(t, b.Server.Store, "login.failure user_disabled", func(e store.AuditEvent) bool {
		return e.Type == audit.LoginFailure && e.UserID == u.ID && e.Details["reason"] == "user_disabled"
	})
}
