package broker_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
	"github.com/portico-idp/portico/testenv/browser"
)

// Passkeys in a real browser, with Chromium's virtual authenticator:
// enrolment as the second factor, the second factor at a later login, and
// the passkey as the whole login. Every page driven is checked with
// axe-core and kept as a screenshot.

// pkTab is the browser of the passkey tests, with its authenticator.
type pkTab struct {
	t    *testing.T
	ctx  context.Context
	b    *testenv.Broker
	br   *browser.Browser
	auth *browser.Authenticator
	rp   *testenv.RP
}

func (p *pkTab) must(err error) {
	p.t.Helper()
	if err != nil {
		p.t.Fatal(err)
	}
}

// at waits until the page's heading contains heading, then checks its
// accessibility and saves a screenshot named name.
func (p *pkTab) at(name, heading string) string {
	p.t.Helper()
	var h string
	for deadline := time.Now().Add(browser.DefaultTimeout); ; time.Sleep(50 * time.Millisecond) {
		var err error
		if h, err = p.br.Text(p.ctx, "h1"); err == nil && strings.Contains(h, heading) {
			break
		}
		if time.Now().After(deadline) {
			u, _ := p.br.URL(p.ctx)
			p.t.Fatalf("page %s: heading %q, want %q (at %s)", name, h, heading, u)
		}
	}
	p.br.CheckA11y(p.t)
	path, err := p.br.Screenshot(p.ctx, name)
	p.must(err)
	return path
}

// logout ends the browser's session through /logout, which without an
// id_token_hint asks first.
func (p *pkTab) logout(name string) {
	p.t.Helper()
	p.must(p.br.Navigate(p.ctx, p.b.URL+"/logout"))
	p.at(name+"-confirm", "Log out?")
	p.must(p.br.Click(p.ctx, `form button[type="submit"]`))
	p.at(name, "Logged out")
}

// start opens a new authorization request of the relying party.
func (p *pkTab) start() testenv.Flow {
	p.t.Helper()
	f := p.rp.NewFlow()
	p.must(p.br.Navigate(p.ctx, f.AuthURL))
	return f
}

// back waits for the redirect to the client, redeems the code, and
// returns the ID token's claims.
func (p *pkTab) back(f testenv.Flow) (*oidc.IDToken, pkClaims) {
	p.t.Helper()
	raw, err := p.br.WaitURL(p.ctx, testenv.RedirectURI)
	p.must(err)
	u, err := url.Parse(raw)
	p.must(err)
	if u.Query().Get("code") == "" {
		p.t.Fatalf("back at the client without a code: %s", raw)
	}
	_, idt, err := p.rp.Finish(p.ctx, f, testenv.Callback{Query: u.Query()})
	p.must(err)
	var c pkClaims
	p.must(idt.Claims(&c))
	return idt, c
}

var pkCodeRE = regexp.MustCompile(`[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}`)

type pkClaims struct {
	AMR []string `json:"amr"`
	ACR string   `json:"acr"`
}

// credential is the authenticator's only passkey.
func (p *pkTab) credential() browser.Credential {
	p.t.Helper()
	creds, err := p.auth.Credentials(p.ctx)
	p.must(err)
	if len(creds) != 1 {
		p.t.Fatalf("the authenticator holds %d credentials, want 1: %+v", len(creds), creds)
	}
	return creds[0]
}

// stored is the passkeys the broker keeps for user.
func (p *pkTab) stored(userID string) []struct {
	ID        []byte `json:"id"`
	SignCount uint32 `json:"sign_count"`
} {
	p.t.Helper()
	rec, err := p.b.Server.Store.GetRecord(p.ctx, "mfa", userID)
	p.must(err)
	var m struct {
		Passkeys []struct {
			ID        []byte `json:"id"`
			SignCount uint32 `json:"sign_count"`
		} `json:"passkeys"`
	}
	p.must(json.Unmarshal(rec.Value, &m))
	return m.Passkeys
}

// userVerifies sets whether the authenticator's user verification succeeds.
func (p *pkTab) userVerifies(ok bool) {
	p.t.Helper()
	_, err := browser.Run(p.ctx, p.br, chromedp.Action[cdp.Empty](func(ctx context.Context, t *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, t, cdpwebauthn.SetUserVerified, cdpwebauthn.SetUserVerifiedParams{AuthenticatorID: p.auth.ID, IsUserVerified: ok})
	}))
	p.must(err)
}

// newPKTab is a browser with a virtual authenticator at b, and the
// client's relying party.
func newPKTab(t *testing.T, b *testenv.Broker) *pkTab {
	t.Helper()
	p := &pkTab{t: t, ctx: t.Context(), b: b, br: browser.New(t)}
	var err error
	p.auth, err = p.br.AddAuthenticator(p.ctx)
	p.must(err)
	p.rp, err = testenv.NewRP(p.ctx, b.URL, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	p.must(err)
	return p
}

func passkeyConfig(t *testing.T) *config.Config {
	cfg := testenv.Config(t)
	cfg.Login.MFA.Clients = []string{testenv.ClientID}
	cfg.Login.Passkeys = config.Passkeys{Enabled: true, Passwordless: true}
	return cfg
}

// TestPasskeyBrowser: (a) a password login that must add a second factor
// enrols a passkey, is shown recovery codes, and comes back with amr hwk
// and mfa; (b) after logout, the password and the passkey as the second
// factor, and the sign count goes up; (c) the passkey alone logs the same
// user in, after one refused attempt without user verification.
func TestPasskeyBrowser(t *testing.T) {
	b := testenv.StartLocalhost(t, passkeyConfig(t))
	p := newPKTab(t, b)

	// (a) Enrolment.
	f := p.start()
	p.at("passkey-login-password", "Log in")
	p.must(p.br.Fill(p.ctx, "#username", testenv.UserName))
	p.must(p.br.Fill(p.ctx, "#password", testenv.UserPassword))
	p.must(p.br.Click(p.ctx, `form button[type="submit"]`))
	shot := p.at("passkey-enrol", "Set up two-step verification")
	if os.Getenv("PORTICO_SCREENSHOTS") == "docs" { // as the journey tests
		p.must(browser.Copy(shot, filepath.Join("..", "docs", "screenshots", "passkey-enrol.png")))
	}
	p.must(p.br.Click(p.ctx, `form[action$="/mfa/passkey/register"] button`))
	// The passkey page runs the ceremony by itself and posts the answer.
	p.at("passkey-recovery-codes", "Save your recovery codes")
	codes, err := p.br.Text(p.ctx, "#recovery-codes")
	p.must(err)
	if n := len(pkCodeRE.FindAllString(codes, -1)); n != 10 {
		t.Fatalf("%d recovery codes shown, want 10", n)
	}
	p.must(p.br.Click(p.ctx, `form button[type="submit"]`))
	idt, c := p.back(f)
	if !slices.Contains(c.AMR, "hwk") || !slices.Contains(c.AMR, "mfa") || !slices.Contains(c.AMR, "pwd") || c.ACR != "urn:portico:acr:mfa" {
		t.Errorf("after enrolment: amr %v acr %q", c.AMR, c.ACR)
	}
	sub := idt.Subject
	cred := p.credential()
	if cred.RPID != "localhost" || !cred.Resident || string(cred.UserHandle) != sub {
		t.Errorf("credential %+v: want a resident key for localhost with the user handle %q", cred, sub)
	}
	keys := p.stored(sub)
	if len(keys) != 1 || string(keys[0].ID) != string(cred.ID) {
		t.Fatalf("stored passkeys %+v, want the authenticator's %x", keys, cred.ID)
	}
	before := cred.SignCount

	// (b) The passkey as the second factor, after logging out.
	p.logout("passkey-logged-out")
	f = p.start()
	p.at("passkey-login-password-2", "Log in")
	p.must(p.br.Fill(p.ctx, "#username", testenv.UserName))
	p.must(p.br.Fill(p.ctx, "#password", testenv.UserPassword))
	p.must(p.br.Click(p.ctx, `form button[type="submit"]`))
	p.at("passkey-mfa", "Two-step verification")
	p.must(p.br.Click(p.ctx, `form[action$="/mfa/passkey"] button`))
	idt, c = p.back(f)
	if idt.Subject != sub || !slices.Contains(c.AMR, "hwk") || !slices.Contains(c.AMR, "mfa") || c.ACR != "urn:portico:acr:mfa" {
		t.Errorf("second factor: sub %q amr %v acr %q", idt.Subject, c.AMR, c.ACR)
	}
	after := p.credential().SignCount
	if after <= before {
		t.Errorf("sign count %d after the login, %d before", after, before)
	}
	if keys := p.stored(sub); int64(keys[0].SignCount) != after {
		t.Errorf("stored sign count %d, the authenticator's %d", keys[0].SignCount, after)
	}

	// (c) The passkey as the whole login.
	p.logout("passkey-logged-out-2")
	f = p.start()
	p.at("passkey-login-password-3", "Log in")
	// With one connector the password form comes first; the picker has
	// the passkey button.
	cur, err := p.br.URL(p.ctx)
	p.must(err)
	u, err := url.Parse(cur)
	p.must(err)
	p.must(p.br.Navigate(p.ctx, b.URL+"/login?req="+url.QueryEscape(u.Query().Get("req"))))
	p.at("passkey-picker", "Log in to")
	// First without user verification: the browser refuses, the page says
	// so and offers to try again.
	p.userVerifies(false)
	p.must(p.br.Click(p.ctx, `form[action*="/passkey/login"] button`))
	for deadline := time.Now().Add(browser.DefaultTimeout); ; time.Sleep(50 * time.Millisecond) {
		if s, err := p.br.Text(p.ctx, "#passkey-error"); err == nil && strings.Contains(s, "cancelled") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no error on the passkey page after a failed user verification")
		}
	}
	p.at("passkey-login-refused", "Log in with a passkey")
	p.userVerifies(true)
	p.must(p.br.Click(p.ctx, "#passkey-start"))
	idt, c = p.back(f)
	if idt.Subject != sub || !slices.Equal(c.AMR, []string{"hwk", "mfa"}) || c.ACR != "urn:portico:acr:mfa" {
		t.Errorf("passwordless: sub %q (want %q) amr %v acr %q", idt.Subject, sub, c.AMR, c.ACR)
	}
	if n := p.credential().SignCount; n <= after {
		t.Errorf("sign count %d after the passwordless login, %d before", n, after)
	}

	// (d) The account page adds a passkey. The authenticator that holds
	// one already is excluded; another one, on a new device, is not.
	p.must(p.br.Navigate(p.ctx, b.URL+"/account"))
	p.at("passkey-account", "Your account")
	p.must(p.br.Click(p.ctx, "#add-passkey"))
	for deadline := time.Now().Add(browser.DefaultTimeout); ; time.Sleep(50 * time.Millisecond) {
		if s, err := p.br.Text(p.ctx, "#passkey-error"); err == nil && strings.Contains(s, "already holds") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no error on the passkey page for an authenticator that holds a passkey already")
		}
	}
	p.at("passkey-account-exists", "Add a passkey")
	_, err = browser.Run(p.ctx, p.br, chromedp.Action[cdp.Empty](func(ctx context.Context, t *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, t, cdpwebauthn.RemoveVirtualAuthenticator, cdpwebauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: p.auth.ID})
	}))
	p.must(err)
	p.auth, err = p.br.AddAuthenticator(p.ctx)
	p.must(err)
	p.must(p.br.Click(p.ctx, "#passkey-start"))
	p.at("passkey-account-added", "Your account")
	if s, err := p.br.Text(p.ctx, "#passkeys"); err != nil || strings.Count(s, "added on") != 2 {
		t.Errorf("account page lists %q (%v), want two passkeys", s, err)
	}
	if keys := p.stored(sub); len(keys) != 2 {
		t.Errorf("%d passkeys stored, want 2", len(keys))
	}
	p.logout("passkey-logged-out-3")
	f = p.start()
	p.at("passkey-login-password-4", "Log in")
	cur, err = p.br.URL(p.ctx)
	p.must(err)
	u, err = url.Parse(cur)
	p.must(err)
	p.must(p.br.Navigate(p.ctx, b.URL+"/login?req="+url.QueryEscape(u.Query().Get("req"))))
	p.must(p.br.Click(p.ctx, `form[action*="/passkey/login"] button`))
	if idt, c = p.back(f); idt.Subject != sub || c.ACR != "urn:portico:acr:mfa" {
		t.Errorf("with the new passkey: sub %q acr %q", idt.Subject, c.ACR)
	}
}
