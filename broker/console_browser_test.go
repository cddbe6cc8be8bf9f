package broker_test

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"
	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/mfa"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/testenv"
	"github.com/portico-idp/portico/testenv/browser"
)

// consoleConfig is the test config with the console's second factor
// required, an admin client for the test's own API calls, and bob.
func consoleConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg := testenv.Config(t)
	cfg.Login.MFA.Clients = []string{config.ConsoleClient}
	cfg.Clients = append(cfg.Clients, config.Client{ID: adminClientID, Secret: adminClientSecret,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"admin"}, Admin: true})
	hash, err := local.Hash(bobPassword, testenv.FastParams)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Users = append(cfg.Users, config.User{Username: bobName, Email: "bob@example.com", PasswordHash: hash})
	return cfg
}

// consoleLogin logs user in to the console in j's browser, enrolling TOTP.
func consoleLogin(j *walk, base, user, pass string, now func() time.Time) {
	j.t.Helper()
	j.must(j.br.Navigate(j.ctx, base+"/admin/"))
	j.page("console-login", "Log in")
	j.password(user, pass)
	j.page("console-mfa-enrol", "Set up two-step verification")
	secret := j.totpSecret()
	j.code("#code", mfa.Code(secret, now()))
	j.page("console-recovery-codes", "Save your recovery codes")
	j.must(j.br.Click(j.ctx, `form button[type="submit"]`))
}

// tokenStatus tries client id with secret at the token endpoint with a
// code that does not exist: 400 invalid_grant means the client
// authenticated, 401 invalid_client that it did not.
func tokenStatus(t *testing.T, base, id, secret string) int {
	t.Helper()
	return postToken(t, base, id, secret, url.Values{"grant_type": {"authorization_code"}, "code": {"nope"},
		"redirect_uri": {"https://app.example/cb"}}).Status
}

var hourRE = regexp.MustCompile(`login\.success: (\d+) in the last hour`)

// TestConsole is acceptance 1, 3, 4 and 5 of the admin console: an
// administrator logs in with TOTP through the code flow, sees the
// overview's charts count the logins, creates a client by keyboard alone
// and sees its secret once, rotates it; finds a user, ends one of its
// sessions (the application's refresh then fails), resets its second
// factors and disables it, and finds each in the audit log and its CSV.
// Every page is checked with axe-core and photographed.
func TestConsole(t *testing.T) {
	b := testenv.Start(t, consoleConfig(t))
	ctx := context.Background()
	machine := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	_, alice := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	mustStatus(t, call(t, b, machine, "PATCH", "/users/"+alice.Subject, map[string]any{"roles": []string{"admin"}}), 200, "make alice an admin")
	// bob has a session in the application, with a refresh token.
	bobTok, bob := loginAt(t, b, "local", bobName, bobPassword, "openid", "offline_access")

	j := newJourney(t, b)
	consoleLogin(j, b.URL, testenv.UserName, testenv.UserPassword, time.Now)
	j.page("console-overview", "Overview")

	// Acceptance 4: the charts count the logins of the last hour (alice's
	// and bob's to the application, alice's to the console).
	waitAudit(t, b.Server.Store, "the console login", func(e store.AuditEvent) bool {
		return e.Type == "login.success" && e.ClientID == config.ConsoleClient
	})
	j.must(j.br.Navigate(j.ctx, b.URL+"/admin/"))
	j.page("console-overview", "Overview")
	m := hourRE.FindStringSubmatch(j.text("main"))
	if n, _ := strconv.Atoi(m[1]); m == nil || n < 3 {
		t.Fatalf("overview: logins in the last hour %v, want at least 3", m)
	}
	if !strings.Contains(j.text("main"), "local") {
		t.Error("overview: no row for the local connector")
	}

	// Acceptance 1: a client created by keyboard alone, its secret once.
	j.must(j.br.Navigate(j.ctx, b.URL+"/admin/new-client"))
	j.page("console-client-new", "New client")
	tabTo(j, "id")
	j.must(j.br.Press(j.ctx, "console-app"))
	tabTo(j, "redirect_uris")
	j.must(j.br.Press(j.ctx, "https://app.example/cb"))
	tabTo(j, "consent")
	j.must(j.br.Press(j.ctx, kb.Tab))
	if f, _ := j.br.Focused(j.ctx); f != "button" {
		t.Fatalf("after the last field the focus is on %q, want the submit button", f)
	}
	j.must(j.br.Press(j.ctx, kb.Enter))
	j.page("console-client-created", "Client created")
	secret, err := j.br.Value(j.ctx, "#secret")
	j.must(err)
	if tokenStatus(t, b.URL, "console-app", secret) != 400 {
		t.Fatal("the secret shown does not authenticate the client")
	}
	j.must(j.br.Navigate(j.ctx, b.URL+"/admin/clients/console-app"))
	j.page("console-client", "Client")
	if strings.Contains(j.text("main"), secret) {
		t.Fatal("the client page shows the secret again")
	}
	j.must(j.br.Click(j.ctx, `form[action$="/rotate"] button`))
	j.page("console-confirm", "Are you sure?")
	j.must(j.br.Click(j.ctx, `form button.danger`))
	j.page("console-client-rotated", "New client secret")
	secret2, err := j.br.Value(j.ctx, "#secret")
	j.must(err)
	if secret2 == secret || tokenStatus(t, b.URL, "console-app", secret) != 401 || tokenStatus(t, b.URL, "console-app", secret2) != 400 {
		t.Fatal("after rotation the old secret must fail and the new one work")
	}

	// Its settings change from the form; what the form lacks stays.
	j.must(j.br.Navigate(j.ctx, b.URL+"/admin/clients/console-app"))
	j.must(j.br.Fill(j.ctx, "#e-name", "Console App"))
	j.must(j.br.Click(j.ctx, "#e-consent"))
	j.must(j.br.Click(j.ctx, `form[action$="/edit"] button[type="submit"]`))
	waitNote(j, "The client is saved.")
	j.page("console-client-saved", "Client")
	got := call(t, b, machine, "GET", "/clients/console-app", nil)
	if got.Body["name"] != "Console App" || got.Body["consent"] != true || got.Body["has_secret"] != true {
		t.Fatalf("after the edit: %v", got.Body)
	}
	if tokenStatus(t, b.URL, "console-app", secret2) != 400 {
		t.Fatal("the edit lost the client's secret")
	}

	// Acceptance 3: bob, found by search.
	j.must(j.br.Navigate(j.ctx, b.URL+"/admin/users"))
	j.page("console-users", "Users")
	j.must(j.br.Fill(j.ctx, "#q", bobName+"\n"))
	j.must(j.br.WaitVisible(j.ctx, `a[href$="/admin/users/`+bob.Subject+`"]`))
	j.must(j.br.Click(j.ctx, `a[href$="/admin/users/`+bob.Subject+`"]`))
	j.page("console-user", "User")
	j.must(j.br.Click(j.ctx, `tr[data-client="`+testenv.ClientID+`"] form button`))
	j.page("console-confirm-session", "Are you sure?")
	j.must(j.br.Click(j.ctx, `form button.danger`))
	waitNote(j, "The session has ended.")
	j.page("console-user-session-ended", "User")
	rp := newRP(t, b)
	if _, err := rp.OAuth2.TokenSource(ctx, &oauth2.Token{RefreshToken: bobTok.RefreshToken}).Token(); err == nil {
		t.Fatal("bob's application still refreshes after the console ended its session")
	}
	for action, note := range map[string]string{"reset-mfa": "second factors are removed", "disable": "user is disabled"} {
		j.must(j.br.Click(j.ctx, `form[action$="/`+action+`"] button`))
		j.page("console-confirm-"+action, "Are you sure?")
		j.must(j.br.Click(j.ctx, `form button.danger`))
		waitNote(j, note)
		j.page("console-user-"+action, "User")
	}
	if s := j.text("#state"); s != "disabled" {
		t.Fatalf("bob's state after disable: %q", s)
	}

	// Each change is in the audit log page and its CSV, with alice as
	// the actor.
	for _, typ := range []string{"admin.client_create", "admin.client_secret_rotate", "admin.user_sessions_revoke", "admin.user_mfa_reset", "admin.user_update"} {
		waitAudit(t, b.Server.Store, typ, func(e store.AuditEvent) bool { return e.Type == typ })
	}
	j.must(j.br.Navigate(j.ctx, b.URL+"/admin/audit?actor=user:"+alice.Subject))
	j.page("console-audit", "Audit log")
	log := j.text("#events")
	csvRows := consoleCSV(t, j, b.URL+"/admin/audit.csv?actor=user:"+alice.Subject)
	for _, typ := range []string{"admin.client_create", "admin.client_secret_rotate", "admin.user_sessions_revoke", "admin.user_mfa_reset", "admin.user_update"} {
		if !strings.Contains(log, typ) {
			t.Errorf("the audit page lacks %s", typ)
		}
		if !strings.Contains(csvRows, typ) {
			t.Errorf("the CSV export lacks %s", typ)
		}
	}
	// A local account: created, then a new password set after a page
	// that names it; the account logs in with the new one. A password
	// the policy refuses (a common one, one with the username) is shown
	// on the form it was typed in, which keeps all but the password.
	j.must(j.br.Navigate(j.ctx, b.URL+"/admin/accounts"))
	j.must(j.br.Fill(j.ctx, "#username", "carol"))
	j.must(j.br.Fill(j.ctx, "#email", "carol@example.com"))
	j.must(j.br.Fill(j.ctx, "#password", "password"))
	j.must(j.br.Click(j.ctx, `form[action$="/admin/accounts"] button[type="submit"]`))
	j.alert("console-account-weak-password", "Local accounts", "This password cannot be used: password is one of the most common passwords")
	if v, _ := j.br.Value(j.ctx, "#username"); v != "carol" {
		t.Fatalf("the refused form lost the username: %q", v)
	}
	if v, _ := j.br.Value(j.ctx, "#password"); v != "" {
		t.Fatal("the page wrote the refused password back")
	}
	if f, _ := j.br.Focused(j.ctx); f != "password" {
		t.Errorf("focus on %q after the refusal, want the password", f)
	}
	j.must(j.br.Fill(j.ctx, "#password", "plum orchard at dawn"))
	j.must(j.br.Click(j.ctx, `form[action$="/admin/accounts"] button[type="submit"]`))
	waitNote(j, "The account is created.")
	j.must(j.br.Click(j.ctx, `tr[data-account="carol"] form[action$="/password"] button`))
	j.page("console-confirm-password", "Are you sure?")
	if m := j.text("main"); !strings.Contains(m, "new password for the local account carol") {
		t.Fatalf("the password page does not say what happens to whom: %q", m)
	}
	j.must(j.br.Fill(j.ctx, "#new-password", "Carol-Carol-Carol"))
	j.must(j.br.Click(j.ctx, `form button.danger`))
	waitText(j, "#password-error", "This password cannot be used: password contains the username or email address")
	j.page("console-confirm-password-refused", "Are you sure?")
	j.must(j.br.Fill(j.ctx, "#new-password", "plum orchard at dusk"))
	j.must(j.br.Click(j.ctx, `form button.danger`))
	waitNote(j, "The password is set.")
	loginAt(t, b, "local", "carol", "plum orchard at dusk")

	for _, p := range []string{"accounts", "connectors", "keys", "clients"} {
		j.must(j.br.Navigate(j.ctx, b.URL+"/admin/"+p))
		j.page("console-"+p, map[string]string{"accounts": "Local accounts", "connectors": "Connectors", "keys": "Signing keys", "clients": "Clients"}[p])
	}

	// At 320 px wide no page needs sideways scrolling (tables scroll in
	// their own box, which the keyboard can reach).
	j.must(j.br.Viewport(j.ctx, 320, 640))
	for _, p := range []string{"", "users", "users/" + bob.Subject, "accounts", "clients", "clients/console-app", "new-client", "connectors?type=ldap", "keys", "audit"} {
		j.must(j.br.Navigate(j.ctx, b.URL+"/admin/"+p))
		j.must(j.br.WaitVisible(j.ctx, "h1"))
		if wide, err := j.br.Overflows(j.ctx); err != nil || wide {
			t.Errorf("/admin/%s at 320 px: wider than the window (%v)", p, err)
		}
	}

	// Alice's sessions ended elsewhere: the console's token dies with
	// them, and the console says so, drops its cookie and offers the
	// login (not a dead end that keeps answering 401).
	mustStatus(t, call(t, b, machine, "DELETE", "/users/"+alice.Subject+"/sessions", nil), 200, "end alice's sessions")
	j.must(j.br.Navigate(j.ctx, b.URL+"/admin/users"))
	j.page("console-session-ended", "Session ended")
	if _, err := j.br.Cookie(j.ctx, "portico_console"); err == nil {
		t.Fatal("the console kept the cookie of a session the API no longer takes")
	}
	j.must(j.br.Navigate(j.ctx, b.URL+"/admin/keys"))
	j.page("console-login-again", "Log in")
}

// waitNote waits for the note an action's page shows (its heading may be
// the page's before, so it is no sign of the new page).
func waitNote(j *walk, want string) {
	j.t.Helper()
	waitText(j, `[role="status"]`, want)
}

// waitText waits for the element sel to say want.
func waitText(j *walk, sel, want string) {
	j.t.Helper()
	for deadline := time.Now().Add(browser.DefaultTimeout); ; time.Sleep(50 * time.Millisecond) {
		if s, err := j.br.Text(j.ctx, sel); err == nil && strings.Contains(s, want) {
			return
		}
		if time.Now().After(deadline) {
			j.t.Fatalf("%s does not say %q", sel, want)
		}
	}
}

// tabTo presses Tab until the element with id has the focus.
func tabTo(j *walk, id string) {
	j.t.Helper()
	for range 40 {
		j.must(j.br.Press(j.ctx, kb.Tab))
		if f, _ := j.br.Focused(j.ctx); f == id {
			return
		}
	}
	j.t.Fatalf("Tab never reached #%s", id)
}

// consoleCSV downloads the CSV export with the browser's session cookie
// and returns it, after checking it parses.
func consoleCSV(t *testing.T, j *walk, u string) string {
	t.Helper()
	cookie, err := j.br.Cookie(j.ctx, "portico_console")
	j.must(err)
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.AddCookie(&http.Cookie{Name: "portico_console", Value: cookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV export: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll(); err != nil {
		t.Fatalf("CSV export does not parse: %v", err)
	}
	return string(raw)
}

// TestConsoleRefuses: a user who is not an administrator gets no console
// session; a token the console did not get itself — an administrator's
// machine token, an application's — opens nothing; a form without the
// session's form token and a return address off the console are refused.
func TestConsoleRefuses(t *testing.T) {
	clock := testenv.NewClock() // still: the address rate below counts no refill
	b := testenv.StartClock(t, consoleConfig(t), clock)
	j := newJourney(t, b)
	consoleLogin(j, b.URL, bobName, bobPassword, clock.Now)
	j.page("console-login-refused", "Login failed")
	if _, err := j.br.Cookie(j.ctx, "portico_console"); err == nil {
		t.Fatal("a non-administrator got a console session cookie")
	}

	machine := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	app, _ := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for name, tok := range map[string]string{"machine": machine, "application": app.AccessToken} {
		req, _ := http.NewRequest(http.MethodGet, b.URL+"/admin/users", nil)
		req.AddCookie(&http.Cookie{Name: "portico_console", Value: tok})
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/login") {
			t.Errorf("%s token as a console cookie: %d to %q, want the login", name, resp.StatusCode, loc)
		}
		form := url.Values{"confirm": {"yes"}}
		req, _ = http.NewRequest(http.MethodPost, b.URL+"/admin/keys/rotate", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "portico_console", Value: tok})
		if resp, err = noRedirect.Do(req); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s token posting to the console: %d, want 401", name, resp.StatusCode)
		}
	}
	for _, ret := range []string{"https://evil.example/", "//evil.example/admin/", "/admin/v1/keys", "/login"} {
		resp, err := noRedirect.Get(b.URL + "/admin/login?return=" + url.QueryEscape(ret))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !strings.Contains(resp.Header.Get("Location"), "/authorize?") {
			t.Fatalf("login with return %q: %d %q", ret, resp.StatusCode, resp.Header.Get("Location"))
		}
		// The return address is kept server-side: the callback, not the
		// URL, says where to go; an outside one became the overview.
	}
}

// TestConsoleRefusesMore: what a black-box test of the console found.
// A callback this browser did not start shows no words of the URL's; the
// console's client cannot be deleted, replaced or re-created through the
// admin API; /admin/login, which stores a record per call, is held to the
// address rate as /authorize is.
func TestConsoleRefusesMore(t *testing.T) {
	clock := testenv.NewClock()
	b := testenv.StartClock(t, consoleConfig(t), clock)
	resp, err := http.Get(b.URL + "/admin/callback?error=Call+IT+at+555-0100&state=x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), "555") {
		t.Errorf("callback with another browser's state: %d, shows the URL's words: %v", resp.StatusCode, strings.Contains(string(body), "555"))
	}

	machine := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	cl := map[string]any{"id": config.ConsoleClient, "public": true, "redirect_uris": []string{"https://evil.example/cb"},
		"grant_types": []string{"authorization_code"}}
	for _, r := range []struct{ method, path string }{
		{"DELETE", "/clients/" + config.ConsoleClient}, {"PUT", "/clients/" + config.ConsoleClient},
		{"POST", "/clients/" + config.ConsoleClient + "/secret"},
	} {
		var body any
		if r.method == "PUT" {
			body = cl
		}
		mustStatus(t, call(t, b, machine, r.method, r.path, body), http.StatusConflict, r.method+" "+r.path)
	}
	if got := call(t, b, machine, "GET", "/clients/"+config.ConsoleClient, nil); got.Status != 200 || got.Body["redirect_uris"] == nil {
		t.Fatalf("the console's client after the refused changes: %d %v", got.Status, got.Body)
	}
	mustStatus(t, call(t, b, machine, "DELETE", "/clients/"+config.ConsoleClient, nil), http.StatusConflict, "delete again")

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	limited := 0
	for range 150 { // the default rate: 20 a second, a burst of 100; the clock stands still
		resp, err := noRedirect.Get(b.URL + "/admin/login?return=" + url.QueryEscape("/admin/"+strings.Repeat("a", 4000)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 50 {
		t.Errorf("%d of 150 console logins from one address refused, want the 50 past the burst", limited)
	}
}

// TestConsoleConnectors is acceptance 2 of the admin console: an LDAP
// connector against the test slapd, from the form the API's schema of the
// ldap type makes; "Test connection" shows the directory's refusal of a
// wrong bind password, then succeeds without adding anything; added, the
// directory's users log in through it at once. (That a connector added on
// one replica reaches another's login page within a second is
// TestReplicas', through the same API.)
func TestConsoleConnectors(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	b := testenv.Start(t, consoleConfig(t))
	machine := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	_, alice := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	mustStatus(t, call(t, b, machine, "PATCH", "/users/"+alice.Subject, map[string]any{"roles": []string{"admin"}}), 200, "make alice an admin")
	j := newJourney(t, b)
	consoleLogin(j, b.URL, testenv.UserName, testenv.UserPassword, time.Now)
	j.page("console-overview", "Overview")

	j.must(j.br.Navigate(j.ctx, b.URL+"/admin/connectors?type=ldap"))
	j.page("console-connector-form", "Connectors")
	in := func(path string) string { return `[id="cfg.` + path + `"]` }
	fill := func(password string) {
		j.must(j.br.Fill(j.ctx, "#c-id", "corp"))
		j.must(j.br.Fill(j.ctx, "#c-name", "Corporate directory"))
		j.must(j.br.Fill(j.ctx, in("url"), s.URL()))
		j.must(j.br.Fill(j.ctx, in("bind_dn"), testenv.LDAPServiceDN))
		j.must(j.br.Fill(j.ctx, in("bind_password"), password))
		j.must(j.br.Fill(j.ctx, in("connect_timeout"), "2s"))
		j.must(j.br.Fill(j.ctx, in("user_search.base_dn"), testenv.LDAPPeopleDN))
		j.must(j.br.Fill(j.ctx, in("user_search.username_attributes"), "uid\nmail"))
	}
	fill("wrong-password")
	j.must(j.br.Click(j.ctx, in("insecure_no_tls")))
	j.must(j.br.Click(j.ctx, `button[value="test"]`))
	j.alert("console-connector-refused", "Connectors", "Invalid Credentials")
	// The form keeps what was typed but the password.
	if v, _ := j.br.Value(j.ctx, in("bind_dn")); v != testenv.LDAPServiceDN {
		t.Fatalf("bind_dn after the refusal: %q", v)
	}
	if v, _ := j.br.Value(j.ctx, in("bind_password")); v != "" {
		t.Fatal("the page wrote the bind password back")
	}
	fill(testenv.LDAPServicePassword)
	j.must(j.br.Click(j.ctx, `button[value="test"]`))
	waitNote(j, "The connector works")
	if got := call(t, b, machine, "GET", "/connectors", nil); strings.Contains(string(got.Raw), `"corp"`) {
		t.Fatal("Test connection added the connector")
	}
	j.must(j.br.Fill(j.ctx, in("bind_password"), testenv.LDAPServicePassword))
	j.must(j.br.Click(j.ctx, `button[value="add"]`))
	waitNote(j, "on the login page")
	j.page("console-connector-added", "Connectors")
	rp := newRP(t, b)
	rp.Connector = "corp"
	if _, _, err := rp.Login(context.Background(), testenv.LDAPAlice.UID, testenv.LDAPAlice.Password); err != nil {
		t.Fatalf("login through the connector the console added: %v", err)
	}

	// What a second black-box test found: a directory that does not
	// answer, or a base DN the service account cannot read, is no
	// success; a test keeps no files; programs are not tested here.
	ldapCfg := func(url, base string) map[string]any {
		return map[string]any{"url": url, "insecure_no_tls": true, "bind_dn": testenv.LDAPServiceDN,
			"bind_password": testenv.LDAPServicePassword, "connect_timeout": "2s", "timeout": "2s",
			"user_search": map[string]any{"base_dn": base, "username_attributes": []string{"uid"}}}
	}
	for name, cfg := range map[string]map[string]any{
		"unreachable":   ldapCfg("ldap://127.0.0.1:1", testenv.LDAPPeopleDN),
		"unreadable DN": ldapCfg(s.URL(), "ou=nowhere,"+testenv.LDAPBaseDN),
	} {
		r := call(t, b, machine, "POST", "/connectors/test", map[string]any{"id": "t", "type": "ldap", "config": cfg})
		if r.Status != 400 || r.Body["error"] != "invalid_connector" {
			t.Errorf("test of an LDAP connector, %s: %d %v", name, r.Status, r.Body)
		}
	}
	if r := call(t, b, machine, "POST", "/connectors/test", map[string]any{"id": "t", "type": "ldap", "config": ldapCfg(s.URL(), testenv.LDAPPeopleDN)}); r.Status != 200 || r.Body["checked"] != true {
		t.Errorf("test of a working LDAP connector: %d %v", r.Status, r.Body)
	}
	dir := b.Server.Config.Storage.Dir
	before, _ := os.ReadDir(dir)
	r := call(t, b, machine, "POST", "/connectors/test", map[string]any{"id": "samltest", "type": "saml", "config": map[string]any{
		"idp_metadata_url": "http://127.0.0.1:1/md", "insecure_allow_http": true}})
	if r.Status == 200 && r.Body["checked"] == true {
		t.Errorf("a SAML test claims it asked the IdP: %v", r.Body)
	}
	if after, _ := os.ReadDir(dir); len(after) != len(before) {
		t.Errorf("a test left files in the data directory: %d entries, then %d", len(before), len(after))
	}
	if r := call(t, b, machine, "POST", "/connectors/test", map[string]any{"id": "p", "type": "plugin", "config": map[string]any{"path": "/bin/true"}}); r.Status != 400 {
		t.Errorf("test of a plugin: %d %v, want 400 (programs are not tested here)", r.Status, r.Body)
	}
}
