package broker_test

import (
	"context"
	"encoding/base32"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/mfa"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/connectors/oidc/oidctest"
	"github.com/portico-idp/portico/testenv"
	"github.com/portico-idp/portico/testenv/browser"
)

// The login journey in a real browser (issue: browser tests). Each test
// drives Debian's headless Chromium through Portico's pages, checks every
// page with axe-core, and keeps a screenshot of each; with
// PORTICO_SCREENSHOTS=docs set, those also replace docs/screenshots/.

// walk is one person's browser at one broker, with the relying parties
// it logs in to.
type walk struct {
	t   *testing.T
	ctx context.Context
	b   *testenv.Broker
	br  *browser.Browser
}

func newJourney(t *testing.T, b *testenv.Broker) *walk {
	return &walk{t: t, ctx: t.Context(), b: b, br: browser.New(t)}
}

// docsShots are the screenshots kept in docs/screenshots: one per page.
var docsShots = map[string]bool{"login": true, "picker": true, "login-error": true, "mfa-enrol": true,
	"recovery-codes": true, "mfa": true, "consent": true, "account": true, "logged-out": true, "error": true, "failed": true,
	// The admin console (console_browser_test.go).
	"console-overview": true, "console-users": true, "console-user": true, "console-confirm": true,
	"console-client-new": true, "console-client-created": true, "console-clients": true, "console-client": true,
	"console-accounts": true, "console-connectors": true, "console-keys": true, "console-audit": true,
	"console-connector-form": true, "console-connector-refused": true, "console-login-refused": true,
	"console-confirm-password": true, "console-client-rotated": true}

// rp returns a relying party of client at the broker.
func (j *walk) rp(client, secret string) *testenv.RP {
	j.t.Helper()
	rp, err := testenv.NewRP(j.ctx, j.b.URL, client, secret, testenv.RedirectURI)
	if err != nil {
		j.t.Fatal(err)
	}
	return rp
}

// must fails the test on err.
func (j *walk) must(err error) {
	j.t.Helper()
	if err != nil {
		j.t.Fatal(err)
	}
}

// start opens an authorization request of rp in the browser.
func (j *walk) start(rp *testenv.RP, extra ...oauth2.AuthCodeOption) testenv.Flow {
	j.t.Helper()
	f := rp.NewFlow(extra...)
	// When the browser's session answers at once, the page loaded is the
	// client's redirect URI, which nothing serves here: back() reads it.
	if err := j.br.Navigate(j.ctx, f.AuthURL); err != nil && !strings.Contains(err.Error(), "ERR_CONNECTION_REFUSED") {
		j.t.Fatal(err)
	}
	return f
}

// page checks the page the browser shows: its heading, accessibility,
// and a screenshot named name.
func (j *walk) page(name, heading string) {
	j.t.Helper()
	// A click's navigation may not have happened yet: wait for the page.
	var h string
	for deadline := time.Now().Add(browser.DefaultTimeout); ; time.Sleep(50 * time.Millisecond) {
		j.must(j.br.WaitVisible(j.ctx, "h1"))
		var err error
		if h, err = j.br.Text(j.ctx, "h1"); err == nil && strings.Contains(h, heading) {
			break
		}
		if time.Now().After(deadline) {
			u, _ := j.br.URL(j.ctx)
			j.t.Fatalf("page %s: heading %q, want %q (at %s)", name, h, heading, u)
		}
	}
	j.br.CheckA11y(j.t)
	path, err := j.br.Screenshot(j.ctx, name)
	j.must(err)
	if os.Getenv("PORTICO_SCREENSHOTS") == "docs" && docsShots[name] {
		j.must(browser.Copy(path, filepath.Join("..", "docs", "screenshots", name+".png")))
	}
}

// alert waits for an error on the page that contains want (the page's
// heading may not change, so it is no sign of the new page), then checks
// the page as page does.
func (j *walk) alert(name, heading, want string) {
	j.t.Helper()
	for deadline := time.Now().Add(browser.DefaultTimeout); ; time.Sleep(50 * time.Millisecond) {
		if s, err := j.br.Text(j.ctx, `[role="alert"]`); err == nil && strings.Contains(s, want) {
			break
		}
		if time.Now().After(deadline) {
			j.t.Fatalf("page %s: no alert saying %q", name, want)
		}
	}
	j.page(name, heading)
}

// password fills and submits the password form.
func (j *walk) password(user, pass string) {
	j.t.Helper()
	j.must(j.br.Fill(j.ctx, "#username", user))
	j.must(j.br.Fill(j.ctx, "#password", pass))
	j.must(j.br.Click(j.ctx, `form button[type="submit"]`))
}

// code fills input sel and submits its form.
func (j *walk) code(sel, value string) {
	j.t.Helper()
	j.must(j.br.Fill(j.ctx, sel, value+"\n"))
}

// back waits for the redirect to the client and redeems the code.
func (j *walk) back(rp *testenv.RP, f testenv.Flow) (*oauth2.Token, *oidc.IDToken) {
	j.t.Helper()
	raw, err := j.br.WaitURL(j.ctx, testenv.RedirectURI)
	j.must(err)
	u, err := url.Parse(raw)
	j.must(err)
	tok, idt, err := rp.Finish(j.ctx, f, testenv.Callback{Query: u.Query()})
	j.must(err)
	return tok, idt
}

// text returns the text of sel.
func (j *walk) text(sel string) string {
	j.t.Helper()
	s, err := j.br.Text(j.ctx, sel)
	j.must(err)
	return s
}

// loginClaims are the claims the journey tests read.
type loginClaims struct {
	AMR      []string `json:"amr"`
	ACR      string   `json:"acr"`
	AuthTime int64    `json:"auth_time"`
}

func loginClaimsOf(t *testing.T, idt *oidc.IDToken) loginClaims {
	var c loginClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// totpSecret reads the manual key off the enrolment page.
func (j *walk) totpSecret() []byte {
	j.t.Helper()
	key := strings.ReplaceAll(j.text("#manual-key"), " ", "")
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key)
	j.must(err)
	return secret
}

var codeRE = regexp.MustCompile(`[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}`)

// TestBrowserTOTP is acceptance 1 and 3: password, TOTP enrolment with a
// code the test computes, login with a code; a wrong and a reused code are
// refused; a recovery code works once.
func TestBrowserTOTP(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Login.MFA.Clients = []string{testenv.ClientID}
	b := testenv.StartLocalhost(t, cfg)
	j := newJourney(t, b)
	rp := j.rp(testenv.ClientID, testenv.ClientSecret)

	f := j.start(rp)
	j.page("login", "Log in")
	j.password(testenv.UserName, testenv.UserPassword)
	j.page("mfa-enrol", "Set up two-step verification")
	secret := j.totpSecret()
	j.code("#code", "000000")
	j.alert("mfa-enrol-wrong-code", "Set up two-step verification", "not right")
	enrolCode := mfa.Code(secret, time.Now())
	j.code("#code", enrolCode)
	j.page("recovery-codes", "Save your recovery codes")
	codes := codeRE.FindAllString(j.text("#recovery-codes"), -1)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10", len(codes))
	}
	j.must(j.br.Click(j.ctx, `form button[type="submit"]`))
	_, idt := j.back(rp, f)
	if c := loginClaimsOf(t, idt); !slices.Contains(c.AMR, "otp") || !slices.Contains(c.AMR, "mfa") || c.ACR != "urn:portico:acr:mfa" {
		t.Fatalf("after enrolment: amr %v acr %q", c.AMR, c.ACR)
	}

	// A new browser (no session): password, then the code. The enrolment
	// code is refused (its step is spent); the next step's is accepted.
	j2 := newJourney(t, b)
	f = j2.start(rp)
	j2.password(testenv.UserName, testenv.UserPassword)
	j2.page("mfa", "Two-step verification")
	j2.code("#code", enrolCode)
	j2.alert("mfa-reused-code", "Two-step verification", "not right")
	j2.code("#code", mfa.Code(secret, time.Now().Add(mfa.Period)))
	if _, idt2 := j2.back(rp, f); idt2.Subject != idt.Subject {
		t.Fatalf("TOTP login as %q, want %q", idt2.Subject, idt.Subject)
	}

	// Recovery code (acceptance 3): once, then refused.
	for i, want := range []bool{true, false} {
		j3 := newJourney(t, b)
		f = j3.start(rp)
		j3.password(testenv.UserName, testenv.UserPassword)
		j3.must(j3.br.Click(j3.ctx, "summary"))
		j3.code("#recovery", strings.ToUpper(codes[3]))
		if !want {
			j3.alert("mfa-recovery-reused", "Two-step verification", "not right")
			continue
		}
		_, idt3 := j3.back(rp, f)
		if c := loginClaimsOf(t, idt3); idt3.Subject != idt.Subject || !slices.Contains(c.AMR, "mfa") {
			t.Fatalf("recovery login %d: sub %q amr %v", i, idt3.Subject, c.AMR)
		}
	}
	waitAudit(t, b.Server.Store, "mfa.recovery_used", func(e store.AuditEvent) bool {
		return e.Type == "mfa.recovery_used" && e.UserID == idt.Subject && e.Details["left"] == "9"
	})
}

// TestBrowserStepUp is acceptance 4: a user logged in with a password only
// is asked for a second factor when a client asks acr_values for it, and
// the id_token's amr and acr say so.
func TestBrowserStepUp(t *testing.T) {
	b := testenv.StartLocalhost(t, testenv.Config(t))
	j := newJourney(t, b)
	rp := j.rp(testenv.ClientID, testenv.ClientSecret)
	f := j.start(rp)
	j.password(testenv.UserName, testenv.UserPassword)
	_, idt := j.back(rp, f)
	if c := loginClaimsOf(t, idt); !slices.Equal(c.AMR, []string{"pwd"}) || c.ACR != "urn:portico:acr:pwd" {
		t.Fatalf("password login: amr %v acr %q", c.AMR, c.ACR)
	}
	// Same browser, so the session answers the password; the second
	// factor it lacks is asked for (here: enrolled on the spot).
	f = j.start(rp, oauth2.SetAuthURLParam("acr_values", "urn:portico:acr:mfa"))
	j.page("step-up", "Set up two-step verification")
	j.code("#code", mfa.Code(j.totpSecret(), time.Now()))
	j.page("step-up-recovery-codes", "Save your recovery codes")
	j.must(j.br.Click(j.ctx, `form button[type="submit"]`))
	_, up := j.back(rp, f)
	c := loginClaimsOf(t, up)
	if up.Subject != idt.Subject || !slices.Contains(c.AMR, "pwd") || !slices.Contains(c.AMR, "mfa") || c.ACR != "urn:portico:acr:mfa" {
		t.Fatalf("after step-up: sub %q amr %v acr %q", up.Subject, c.AMR, c.ACR)
	}
}

// TestBrowserSSO is acceptance 5: log in to app A, then app B logs in
// without a password prompt; logout ends both.
func TestBrowserSSO(t *testing.T) {
	b := testenv.StartLocalhost(t, ssoConfig(t))
	j := newJourney(t, b)
	a, bb := j.rp(testenv.ClientID, testenv.ClientSecret), j.rp(appB, appBSecret)
	f := j.start(a)
	j.password(testenv.UserName, testenv.UserPassword)
	tokA, idA := j.back(a, f)
	f = j.start(bb) // no password page: straight back to B
	tokB, idB := j.back(bb, f)
	if idB.Subject != idA.Subject {
		t.Fatalf("B logged in %q, A %q", idB.Subject, idA.Subject)
	}
	j.must(j.br.Navigate(j.ctx, b.URL+"/logout")) // no hint: asks first
	j.page("logout-confirm", "Log out?")
	rawID, _ := tokA.Extra("id_token").(string)
	j.must(j.br.Navigate(j.ctx, b.URL+"/logout?id_token_hint="+url.QueryEscape(rawID)))
	j.page("logged-out", "Logged out")
	for name, tok := range map[string]*oauth2.Token{"A": tokA, "B": tokB} {
		if st := userinfoStatus(t, b.URL, tok.AccessToken); st != 401 {
			t.Errorf("app %s's token after logout: userinfo %d", name, st)
		}
	}
	j.start(bb)
	j.page("login-after-logout", "Log in")
}

// TestBrowserConsent is acceptance 6: consent shown once for a third-party
// client, skipped for a first-party one, shown again after the person
// revokes it on the account page.
func TestBrowserConsent(t *testing.T) {
	cfg := ssoConfig(t)
	cfg.Clients[2].Consent, cfg.Clients[2].Name = true, "Partner App"
	b := testenv.StartLocalhost(t, cfg)
	j := newJourney(t, b)
	first, third := j.rp(testenv.ClientID, testenv.ClientSecret), j.rp(appB, appBSecret)

	f := j.start(first)
	j.password(testenv.UserName, testenv.UserPassword)
	j.back(first, f) // first party: no consent page

	f = j.start(third)
	j.page("consent", "Allow access?")
	if s := j.text("#scopes"); !strings.Contains(s, "email address") || !strings.Contains(j.text("main"), "Partner App") {
		t.Fatalf("consent page lists %q", s)
	}
	j.must(j.br.Click(j.ctx, `button[value="allow"]`))
	j.back(third, f)
	f = j.start(third) // remembered
	j.back(third, f)

	j.must(j.br.Navigate(j.ctx, b.URL+"/account"))
	j.page("account", "Your account")
	j.must(j.br.Click(j.ctx, `form[action*="/consents/"] button`))
	if s := j.text(`[role="status"]`); !strings.Contains(s, "Access for Partner App revoked") {
		t.Fatalf("notice after revoking: %q, want the application named", s)
	}
	j.start(third)
	j.page("consent-again", "Allow access?")
	j.must(j.br.Click(j.ctx, `button[value="deny"]`))
	raw, err := j.br.WaitURL(j.ctx, testenv.RedirectURI)
	j.must(err)
	if u, _ := url.Parse(raw); u.Query().Get("error") != "access_denied" {
		t.Fatalf("deny: back with %s", raw)
	}
}

// TestBrowserPages checks the remaining pages: the picker, a failed login,
// the error page.
func TestBrowserPages(t *testing.T) {
	cfg := adminConfig(t)
	b := testenv.StartLocalhost(t, cfg)
	j := newJourney(t, b)
	rp := j.rp(testenv.ClientID, testenv.ClientSecret)
	j.start(rp)
	j.page("picker", "Log in to "+testenv.ClientID)
	j.must(j.br.Click(j.ctx, `a[href*="/login/local"]`))
	j.password(testenv.UserName, "wrong password")
	j.alert("login-error", "Log in", "Invalid username or password")
	j.must(j.br.Navigate(j.ctx, b.URL+"/authorize?client_id=nobody"))
	j.page("error", "Unknown application")
}

// TestBrowserKeyboard: the login works from the keyboard alone, in the
// page's focus order: the username field has focus, Tab reaches the
// password, Enter submits.
func TestBrowserKeyboard(t *testing.T) {
	b := testenv.StartLocalhost(t, testenv.Config(t))
	j := newJourney(t, b)
	rp := j.rp(testenv.ClientID, testenv.ClientSecret)
	f := j.start(rp)
	j.page("login", "Log in")
	focused := func() string {
		id, err := browser.Run(j.ctx, j.br, chromedp.Evaluate[string](`document.activeElement.id`))
		j.must(err)
		return id
	}
	if id := focused(); id != "username" {
		t.Fatalf("focus at load is on %q, want the username field", id)
	}
	_, err := browser.Run(j.ctx, j.br, chromedp.KeyEvent(testenv.UserName+"\t"))
	j.must(err)
	if id := focused(); id != "password" {
		t.Fatalf("Tab from the username went to %q, want the password field", id)
	}
	_, err = browser.Run(j.ctx, j.br, chromedp.KeyEvent(testenv.UserPassword+"\r"))
	j.must(err)
	if _, idt := j.back(rp, f); idt.Subject == "" {
		t.Fatal("no user after a keyboard-only login")
	}
}

// TestBrowserFailedPage: the page of a login the upstream refused (with a
// way back to the application) passes the same accessibility check.
func TestBrowserFailedPage(t *testing.T) {
	iss := oidctest.New(t, upClientID, upClientSecret, map[string]any{"sub": "u1"})
	iss.Update(func(s *oidctest.Settings) { s.AuthError = "access_denied" })
	l := loopbackListener(t)
	cfg := testenv.Config(t)
	cfg.Connectors = []config.Connector{oidcConnector("upstream", iss.URL, nil)}
	b := startOnListener(t, l, cfg, "http://"+l.Addr().String(), nil)
	j := newJourney(t, b)
	j.start(j.rp(testenv.ClientID, testenv.ClientSecret))
	j.page("failed", "Login failed")
	if !strings.Contains(j.text("a.button"), "Back to the application") {
		t.Error("the failed page has no way back")
	}
}
