package browser_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/portico-idp/portico/testenv/browser"
)

// loginTest is what a test of Portico's login page looks like. In a real
// _test.go file it is a func TestXxx(t *testing.T), issuer is a broker
// that testenv started, and redirectURI a client's registered redirect
// URI (nothing needs to serve it).
func loginTest(t *testing.T, issuer, redirectURI string) {
	b := browser.New(t) // its own profile: cookies start empty
	ctx := t.Context()

	// WebAuthn refuses IP addresses: use localhost when passkeys are in play.
	authURL := browser.Localhost(issuer) + "/authorize?" + url.Values{
		"client_id":     {"app"},
		"redirect_uri":  {redirectURI},
		"response_type": {"code"},
		"scope":         {"openid"},
		"state":         {"xyz"},
	}.Encode()
	if err := b.Navigate(ctx, authURL); err != nil {
		t.Fatal(err)
	}
	b.CheckA11y(t) // fails the test for serious or critical axe-core findings
	if err := b.FillLabel(ctx, "Username", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := b.FillLabel(ctx, "Password", "wrong"); err != nil {
		t.Fatal(err)
	}
	if err := b.Click(ctx, `button[type="submit"]`); err != nil {
		t.Fatal(err)
	}
	msg, err := b.Text(ctx, `[role="alert"]`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "Invalid") {
		t.Errorf("error message %q", msg)
	}
	if path, err := b.Screenshot(ctx, "login-error"); err == nil {
		// Keep it for the docs (relative to the test's package directory).
		_ = browser.Copy(path, "../../docs/screenshots/login-error.png")
	}

	if err := b.FillLabel(ctx, "Password", "s3cret\n"); err != nil { // Enter submits
		t.Fatal(err)
	}
	back, err := b.WaitURL(ctx, redirectURI) // the redirect back, query included
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(back)
	if u.Query().Get("state") != "xyz" || u.Query().Get("code") == "" {
		t.Errorf("redirected to %s", back)
	}
}

// passkeyTest registers a passkey through a page and checks that the
// authenticator holds it.
func passkeyTest(t *testing.T, registerPage string) {
	b := browser.New(t)
	ctx := t.Context()
	auth, err := b.AddAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Navigate(ctx, browser.Localhost(registerPage)); err != nil {
		t.Fatal(err)
	}
	if err := b.Click(ctx, "#add-passkey"); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitVisible(ctx, "#passkey-added"); err != nil {
		t.Fatal(err)
	}
	creds, err := auth.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != 1 || creds[0].RPID != "localhost" || !creds[0].Resident {
		t.Errorf("credentials %+v", creds)
	}
}

// This example is compiled, not run: it needs a broker. See loginTest and
// passkeyTest above for typical use.
func Example() {
	_, _ = loginTest, passkeyTest
}
