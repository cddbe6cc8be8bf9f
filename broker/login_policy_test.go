package broker_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// TestTheme: the product name, colour, style sheet, catalogue overrides
// and a template directory from login.theme reach the pages.
func TestTheme(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "loggedout.html"), []byte(`{{define "loggedout"}}{{template "head" .}}<h1>Bye from the custom template</h1>{{template "foot" .}}{{end}}`), 0o600)
	css := filepath.Join(t.TempDir(), "extra.css")
	os.WriteFile(css, []byte("body{letter-spacing:.01em}"), 0o600)
	cfg := testenv.Config(t)
	cfg.Login.Theme = config.Theme{ProductName: "Acme ID", Color: "#0a7d32", CSSFile: css, TemplatesDir: dir,
		Messages: map[string]string{"ui.login": "Sign in", "badLogin": "Those details are not right."}}
	b := testenv.Start(t, cfg)
	rp := newRP(t, b)
	cb, err := rp.Authorize(t.Context(), rp.NewFlow().AuthURL, testenv.UserName, "wrong")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<title>Sign in · Acme ID</title>", "Acme ID</span>", "background:#0a7d32", "letter-spacing:.01em", "Those details are not right."} {
		if !strings.Contains(cb.Page, want) {
			t.Errorf("themed login page lacks %q", want)
		}
	}
	if st, body := getText(t, b.URL+"/logout"); st != 200 || !strings.Contains(body, "Bye from the custom template") {
		t.Errorf("logout page from the template directory: %d %.300s", st, body)
	}
}

// TestMFAByGroup: a group in login.mfa.groups makes its members' logins
// stop at the second factor; others go through.
func TestMFAByGroup(t *testing.T) {
	cfg := adminConfig(t) // alice is in admins, bob in no group
	cfg.Login.MFA.Groups = []string{"admins"}
	b := testenv.Start(t, cfg)
	for user, pass := range map[string]string{testenv.UserName: testenv.UserPassword, bobName: bobPassword} {
		rp := newRP(t, b)
		rp.Connector = "local"
		cb, err := rp.Authorize(t.Context(), rp.NewFlow().AuthURL, user, pass)
		if err != nil {
			t.Fatal(err)
		}
		atMFA := cb.Query == nil && strings.Contains(cb.Page, "two-step verification")
		if want := user == testenv.UserName; atMFA != want {
			t.Errorf("%s: stopped at the second factor %v, want %v (status %d)", user, atMFA, want, cb.Status)
		}
	}
}

// TestSSOIdleTimeout: a session unused for login.session.idle_timeout ends;
// each use starts the idle time again. On the broker's clock, moved by
// the test: with a one-second timeout on the real clock a loaded machine
// let the session lapse before its first use.
func TestSSOIdleTimeout(t *testing.T) {
	cfg := ssoConfig(t)
	cfg.Login.Session.IdleTimeout = config.Duration(time.Minute)
	clock := testenv.NewClock()
	b := testenv.StartClock(t, cfg, clock)
	a, bb := ssoRPs(t, b)
	if _, _, err := a.Login(t.Context(), testenv.UserName, testenv.UserPassword); err != nil {
		t.Fatal(err)
	}
	clock.Advance(59 * time.Second)
	if tok, _, _ := authorizeSilently(t, bb); tok == nil {
		t.Fatal("the session did not serve B within the idle timeout")
	}
	clock.Advance(59 * time.Second) // two minutes since the login, under one since B's use
	if tok, _, _ := authorizeSilently(t, bb); tok == nil {
		t.Fatal("B's use did not keep the session alive")
	}
	clock.Advance(time.Minute) // the idle timeout since the latest use
	if tok, _, _ := authorizeSilently(t, bb); tok != nil {
		t.Fatal("the session served after its idle timeout")
	}
}

// TestTokenRateLimit: login.throttle.token_rate limits the token endpoint
// per authenticated client, with 429 and Retry-After.
func TestTokenRateLimit(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Login.Throttle.TokenRate = 2
	b := testenv.Start(t, cfg)
	var limited *http.Response
	for range 6 {
		req, _ := http.NewRequest(http.MethodPost, b.URL+"/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(testenv.ClientID, testenv.ClientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = resp
			break
		}
		if resp.StatusCode != 200 {
			t.Fatalf("token: %d", resp.StatusCode)
		}
	}
	if limited == nil {
		t.Fatal("six token requests at once to a client limited to 2/s were all served")
	}
	if n, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("Retry-After %q", limited.Header.Get("Retry-After"))
	}
}
