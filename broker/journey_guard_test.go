package broker_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/connectors/oidc/oidctest"
	"github.com/portico-idp/portico/testenv"
)

// The login journey's guards, each a regression test of a way around a
// step that a review found.

// mfaLogin starts a login that stops at the second factor (its client is
// in login.mfa.clients) and returns the browser, the /mfa page and the
// request id.
func mfaLogin(t *testing.T, b *testenv.Broker) (*http.Client, page, string) {
	br, form := loginForm(t, b)
	p := submit(t, br, form, map[string]string{"username": testenv.UserName, "password": testenv.UserPassword})
	if p.URL.Path != "/mfa" {
		t.Fatalf("login did not stop at /mfa: %d %s", p.Status, p.URL)
	}
	return br, p, p.URL.Query().Get("req")
}

// TestStepsCannotBeSkipped: a request waiting at its second factor is
// taken on by no other step: not consent, not the login pages of another
// connector, not the password form again.
func TestStepsCannotBeSkipped(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Login.MFA.Clients = []string{testenv.ClientID}
	cfg.Clients[0].Consent = true
	b := testenv.Start(t, cfg)
	br, mfaPage, req := mfaLogin(t, b)
	f, err := testenv.ParseForm(mfaPage.URL, mfaPage.Body)
	if err != nil {
		t.Fatal(err)
	}
	csrf := f.Values.Get("csrf")
	post := func(path string, v url.Values) page {
		r, _ := http.NewRequest(http.MethodPost, b.URL+path, strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return open(t, br, r)
	}
	// Each is either refused or, not acted on, sent back to the page the
	// login waits at (a form the browser kept and showed again on Back):
	// never on to the client, and the request keeps its user and step.
	before, err := b.Server.Store.GetAuthRequest(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	stays := func(what string, p page) {
		t.Helper()
		if p.Location != "" || (p.Status != 400 && (p.Status != 200 || p.URL.Path != "/mfa" || strings.Contains(p.Body, `name="password"`))) {
			t.Errorf("%s: %d at %s to %q, want refused or back at /mfa", what, p.Status, p.URL, p.Location)
		}
	}
	stays("consent posted while the second factor is owed", post("/consent", url.Values{"req": {req}, "csrf": {csrf}, "answer": {"allow"}}))
	stays("continue without the second factor", post("/mfa/continue", url.Values{"req": {req}, "csrf": {csrf}}))
	stays("the password page opened again", getPage(t, br, b.URL+"/login/local?req="+req))
	stays("the password form posted again", post("/login/local", url.Values{"req": {req}, "csrf": {csrf}, "username": {bobName}, "password": {"x"}}))
	after, err := b.Server.Store.GetAuthRequest(t.Context(), req)
	if err != nil || after.UserID != before.UserID || after.Step != "/mfa" || len(after.AMR) != len(before.AMR) {
		t.Errorf("the request changed: %+v, was %+v (%v)", after, before, err)
	}
}

var keyRE = regexp.MustCompile(`id="manual-key">([A-Z2-7 ]+)<`)

// TestPendingTOTPIsPerLogin: a TOTP key shown to one login (perhaps by
// someone who knows the password) is not the key the next login enrols.
func TestPendingTOTPIsPerLogin(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Login.MFA.Clients = []string{testenv.ClientID}
	b := testenv.Start(t, cfg)
	_, first, _ := mfaLogin(t, b)
	_, second, _ := mfaLogin(t, b)
	k1, k2 := keyRE.FindStringSubmatch(first.Body), keyRE.FindStringSubmatch(second.Body)
	if k1 == nil || k2 == nil {
		t.Fatal("no manual key on the enrolment pages")
	}
	if k1[1] == k2[1] {
		t.Fatal("two logins were shown the same pending TOTP key")
	}
}

// TestThrottleFoldsSpaces: names that a directory compares as one (" alice",
// "Alice ") count against one account.
func TestThrottleFoldsSpaces(t *testing.T) {
	b := testenv.Start(t, throttleConfig(t))
	for _, name := range []string{" alice", "Alice  ", "  ALICE"} {
		br, form := loginForm(t, b)
		if p := submit(t, br, form, map[string]string{"username": name, "password": "wrong"}); p.Status != 401 {
			t.Fatalf("%q: %d", name, p.Status)
		}
	}
	br, form := loginForm(t, b)
	if p := submit(t, br, form, map[string]string{"username": testenv.UserName, "password": testenv.UserPassword}); p.Status != 429 {
		t.Fatalf("after three failures under spaced names, alice: %d, want 429", p.Status)
	}
}

// TestUpstreamLoginThenSecondFactor: a login through a redirect connector
// goes on to the second factor (it used to fail as "already used").
func TestUpstreamLoginThenSecondFactor(t *testing.T) {
	iss := oidctest.New(t, upClientID, upClientSecret, map[string]any{"sub": "u1", "email": "u1@example.com", "email_verified": true})
	l := loopbackListener(t)
	cfg := testenv.Config(t)
	cfg.Connectors = []config.Connector{oidcConnector("upstream", iss.URL, nil)}
	cfg.Login.MFA.Connectors = []string{"upstream"}
	b := startOnListener(t, l, cfg, "http://"+l.Addr().String(), nil)
	rp := newRP(t, b)
	p := getPage(t, rp.Browser, rp.NewFlow().AuthURL) // through the upstream and back
	if p.Status != 200 || p.URL.Path != "/mfa" || !strings.Contains(p.Body, "Set up two-step verification") {
		t.Fatalf("after the upstream: %d at %s: %.300s", p.Status, p.URL, p.Body)
	}
}

// TestSSOUserSwitchEndsFirst: when a second person logs in on the same
// browser, the first person's application sessions end with theirs.
func TestSSOUserSwitchEndsFirst(t *testing.T) {
	cfg := adminConfig(t)
	cfg.Clients = append(cfg.Clients, ssoConfig(t).Clients[2])
	b := testenv.Start(t, cfg)
	a, _ := ssoRPs(t, b)
	a.Connector = "local"
	tok, _, err := a.Login(t.Context(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	f := a.NewFlow(oauthParam("prompt", "login"))
	cb, err := a.Authorize(t.Context(), f.AuthURL, bobName, bobPassword)
	if err != nil || cb.Query.Get("code") == "" {
		t.Fatalf("bob's login: %v %d", err, cb.Status)
	}
	if st := userinfoStatus(t, b.URL, tok.AccessToken); st != 401 {
		t.Errorf("alice's token after bob logged in on her browser: userinfo %d, want 401", st)
	}
}

func oauthParam(k, v string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam(k, v) }

// TestLogoutWithoutHintAsks: a logout link without id_token_hint (which
// any page could carry) asks the person before ending their session; the
// answer is taken only from Portico's own form.
func TestLogoutWithoutHintAsks(t *testing.T) {
	b := testenv.Start(t, ssoConfig(t))
	a, bb := ssoRPs(t, b)
	tok, _, err := a.Login(t.Context(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	ask := getPage(t, a.Browser, b.URL+"/logout")
	if ask.Status != 200 || !strings.Contains(ask.Body, "Log out?") {
		t.Fatalf("logout without a hint: %d %.300s", ask.Status, ask.Body)
	}
	// A forged POST (no form token) only asks again.
	r, _ := http.NewRequest(http.MethodPost, b.URL+"/logout", strings.NewReader("csrf=forged"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p := open(t, a.Browser, r); !strings.Contains(p.Body, "Log out?") {
		t.Fatalf("a forged logout POST was taken: %d", p.Status)
	}
	if st := userinfoStatus(t, b.URL, tok.AccessToken); st != 200 {
		t.Fatalf("asking logged out already: %d", st)
	}
	if p := submit(t, a.Browser, ask, nil); !strings.Contains(p.Body, "logged out") {
		t.Fatalf("confirmed logout: %d %.300s", p.Status, p.Body)
	}
	if st := userinfoStatus(t, b.URL, tok.AccessToken); st != 401 {
		t.Errorf("after the confirmed logout the token still works: %d", st)
	}
	if tok, _, _ := authorizeSilently(t, bb); tok != nil {
		t.Error("after the confirmed logout the session still logs in")
	}
}
