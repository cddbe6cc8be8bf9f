package broker_test

import (
	"context"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/testenv"
	"github.com/portico-idp/portico/testenv/browser"
)

// The account page in a real browser (issue #22): a person with two
// passkeys removes one and the other still logs them in while the removed
// one does not; renames a passkey; makes new recovery codes, after which
// an old one is refused and a new one accepted; ends an application's
// session; and changes their password. Every page is checked with
// axe-core and kept as a screenshot.

// authenticatorCreds returns the credentials of the tab's authenticator
// with their private keys, to put back later.
func (p *pkTab) rawCredentials() []*cdpwebauthn.Credential {
	p.t.Helper()
	res, err := browser.Run(p.ctx, p.br, chromedp.Action[cdpwebauthn.GetCredentialsResult](func(ctx context.Context, t *chromedp.Target) (cdpwebauthn.GetCredentialsResult, error) {
		return cdp.Call(ctx, t, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: p.auth.ID})
	}))
	p.must(err)
	return res.Credentials
}

// holdOnly makes the authenticator hold cred and nothing else.
func (p *pkTab) holdOnly(cred *cdpwebauthn.Credential) {
	p.t.Helper()
	_, err := browser.Run(p.ctx, p.br, chromedp.Action[cdp.Empty](func(ctx context.Context, t *chromedp.Target) (cdp.Empty, error) {
		if _, err := cdp.Call(ctx, t, cdpwebauthn.ClearCredentials, cdpwebauthn.ClearCredentialsParams{AuthenticatorID: p.auth.ID}); err != nil {
			return cdp.Empty{}, err
		}
		// The fields Chromium takes back: cdproto's Credential also sends
		// generateCmtgKeyOnNextOperation, which this Chromium refuses.
		type credential struct {
			CredentialID         []byte  `json:"credentialId"`
			IsResidentCredential bool    `json:"isResidentCredential"`
			RpID                 string  `json:"rpId"`
			PrivateKey           []byte  `json:"privateKey"`
			UserHandle           []byte  `json:"userHandle"`
			SignCount            float64 `json:"signCount"`
		}
		type params struct {
			AuthenticatorID cdpwebauthn.AuthenticatorID `json:"authenticatorId"`
			Credential      credential                  `json:"credential"`
		}
		add := cdp.Command[params, cdp.Empty]{Method: cdpwebauthn.CommandAddCredential}
		return cdp.Call(ctx, t, add, params{p.auth.ID, credential{cred.CredentialID, cred.IsResidentCredential, cred.RpID,
			cred.PrivateKey, cred.UserHandle, cred.SignCount}})
	}))
	p.must(err)
}

// newAuthenticator replaces the tab's authenticator by an empty one: a
// second device.
func (p *pkTab) newAuthenticator() {
	p.t.Helper()
	_, err := browser.Run(p.ctx, p.br, chromedp.Action[cdp.Empty](func(ctx context.Context, t *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, t, cdpwebauthn.RemoveVirtualAuthenticator, cdpwebauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: p.auth.ID})
	}))
	p.must(err)
	p.auth, err = p.br.AddAuthenticator(p.ctx)
	p.must(err)
}

// token waits for the redirect to the client and redeems the code.
func (p *pkTab) token(f testenv.Flow) *oauth2.Token {
	p.t.Helper()
	raw, err := p.br.WaitURL(p.ctx, testenv.RedirectURI)
	p.must(err)
	u, err := url.Parse(raw)
	p.must(err)
	tok, _, err := p.rp.Finish(p.ctx, f, testenv.Callback{Query: u.Query()})
	p.must(err)
	return tok
}

// text is the text of sel, waited for until it contains want.
func (p *pkTab) text(sel, want string) string {
	p.t.Helper()
	var s string
	for deadline := time.Now().Add(browser.DefaultTimeout); ; time.Sleep(50 * time.Millisecond) {
		var err error
		if s, err = p.br.Text(p.ctx, sel); err == nil && strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			u, _ := p.br.URL(p.ctx)
			p.t.Fatalf("%s says %q, want %q (at %s)", sel, s, want, u)
		}
	}
}

// done waits for the account page after a change (its ?done=what), then
// checks it as at does.
func (p *pkTab) done(name, what string) {
	p.t.Helper()
	for deadline := time.Now().Add(browser.DefaultTimeout); ; time.Sleep(50 * time.Millisecond) {
		if u, err := p.br.URL(p.ctx); err == nil && strings.Contains(u, "/account?done="+what) {
			break
		}
		if time.Now().After(deadline) {
			u, _ := p.br.URL(p.ctx)
			p.t.Fatalf("page %s: at %s, want the account page after %s", name, u, what)
		}
	}
	p.at(name, "Your account")
}

// passwordLogin fills the password form of a new authorization request.
func (p *pkTab) passwordLogin(name, password string) testenv.Flow {
	p.t.Helper()
	f := p.start()
	p.at(name, "Log in")
	p.must(p.br.Fill(p.ctx, "#username", testenv.UserName))
	p.must(p.br.Fill(p.ctx, "#password", password))
	p.must(p.br.Click(p.ctx, `form button[type="submit"]`))
	return f
}

// passkeyLogin starts a new authorization request and logs in with the
// authenticator's passkey alone.
func (p *pkTab) passkeyLogin(name string) testenv.Flow {
	p.t.Helper()
	f := p.start()
	p.at(name, "Log in")
	cur, err := p.br.URL(p.ctx)
	p.must(err)
	u, err := url.Parse(cur)
	p.must(err)
	p.must(p.br.Navigate(p.ctx, p.b.URL+"/login?req="+url.QueryEscape(u.Query().Get("req"))))
	p.at(name+"-picker", "Log in to")
	p.must(p.br.Click(p.ctx, `form[action*="/passkey/login"] button`))
	return f
}

func TestAccountBrowser(t *testing.T) {
	b := testenv.StartLocalhost(t, passkeyConfig(t))
	p := newPKTab(t, b)

	// A login that enrols the first passkey, with recovery codes.
	f := p.passwordLogin("account-login", testenv.UserPassword)
	p.at("account-enrol", "Set up two-step verification")
	p.must(p.br.Click(p.ctx, `form[action$="/mfa/passkey/register"] button`))
	p.at("account-first-codes", "Save your recovery codes")
	codes, err := p.br.Text(p.ctx, "#recovery-codes")
	p.must(err)
	oldCodes := pkCodeRE.FindAllString(codes, -1)
	p.must(p.br.Click(p.ctx, `form button[type="submit"]`))
	tok := p.token(f)
	first := p.rawCredentials()[0]
	firstID := base64.RawURLEncoding.EncodeToString(first.CredentialID)

	// The account page lists the passkey by name, the recovery codes
	// left, and the application this browser is logged in to.
	p.must(p.br.Navigate(p.ctx, b.URL+"/account"))
	p.at("account-page", "Your account")
	p.text("#passkeys", "Passkey 1")
	p.text("#recovery-left", "10")
	p.text("#apps", "(in this browser)")
	p.text("#browsers", "This browser")

	// A second passkey, on another device.
	p.newAuthenticator()
	p.must(p.br.Click(p.ctx, "#add-passkey"))
	p.done("account-passkey-added", "passkey")
	p.text("#passkeys", "Passkey 2")
	second := p.rawCredentials()[0]
	secondID := base64.RawURLEncoding.EncodeToString(second.CredentialID)

	// Rename the second.
	field := `form.rename:has(input[value="` + secondID + `"]) input[name="name"]`
	p.must(p.br.Fill(p.ctx, field, "Laptop"))
	p.must(p.br.Click(p.ctx, `form.rename:has(input[value="`+secondID+`"]) button`))
	p.done("account-passkey-renamed", "renamed")
	if s := p.text("#passkeys", "Laptop"); !strings.Contains(s, "Passkey 1") || strings.Contains(s, "Passkey 2") {
		t.Errorf("after renaming: %q", s)
	}

	// Remove the first.
	p.must(p.br.Click(p.ctx, `form.remove:has(input[value="`+firstID+`"]) button`))
	p.done("account-passkey-removed", "removed")
	p.text(".notice", "removed")
	if s := p.text("#passkeys", "Laptop"); strings.Contains(s, "Passkey 1") {
		t.Errorf("after removing the first passkey the list says %q", s)
	}

	// New recovery codes.
	p.must(p.br.Click(p.ctx, "#regenerate-recovery"))
	p.at("account-new-codes", "Save your recovery codes")
	codes, err = p.br.Text(p.ctx, "#recovery-codes")
	p.must(err)
	newCodes := pkCodeRE.FindAllString(codes, -1)
	if len(newCodes) != 10 || len(oldCodes) != 10 || slices.ContainsFunc(newCodes, func(c string) bool { return slices.Contains(oldCodes, c) }) {
		t.Fatalf("recovery codes: %d old, %d new, or some alike", len(oldCodes), len(newCodes))
	}
	p.must(p.br.Click(p.ctx, `form button[type="submit"]`))
	p.done("account-codes-done", "recovery")
	p.text(".notice", "new recovery codes")

	// End the application's session: its tokens stop working.
	if !alive(t, b, tok) {
		t.Fatal("the application's session ended early")
	}
	p.must(p.br.Click(p.ctx, `form[action$="/account/apps/`+testenv.ClientID+`/end"] button`))
	p.done("account-app-ended", "ended")
	p.text(".notice", "session has ended")
	if alive(t, b, tok) {
		t.Error("the application's session still stands after End")
	}

	// Change the password.
	p.must(p.br.Click(p.ctx, "#change-password"))
	p.at("account-password", "Change your password")
	p.must(p.br.Fill(p.ctx, "#current", testenv.UserPassword))
	p.must(p.br.Fill(p.ctx, "#new", "a-new-secret-1"))
	p.must(p.br.Fill(p.ctx, "#confirm", "a-new-secret-2"))
	p.must(p.br.Click(p.ctx, `form button[type="submit"]`))
	p.text("#password-error", "not the same")
	p.at("account-password-mismatch", "Change your password")
	p.must(p.br.Fill(p.ctx, "#current", testenv.UserPassword))
	p.must(p.br.Fill(p.ctx, "#new", "a-new-secret-1"))
	p.must(p.br.Fill(p.ctx, "#confirm", "a-new-secret-1"))
	p.must(p.br.Click(p.ctx, `form button[type="submit"]`))
	p.done("account-password-changed", "password")
	p.text(".notice", "password was changed")

	// The passkey left logs in.
	p.logout("account-logged-out")
	f = p.passkeyLogin("account-passkey-login")
	if idt, _ := p.back(f); idt.Subject != string(second.UserHandle) {
		t.Errorf("the passkey left logged in %q", idt.Subject)
	}

	// The old password is refused, the new one asks for the second
	// factor: an old recovery code is refused, a new one accepted.
	p.logout("account-logged-out-2")
	p.passwordLogin("account-old-password", testenv.UserPassword)
	p.text("#form-error", "")
	p.at("account-old-password-refused", "Log in")
	p.must(p.br.Fill(p.ctx, "#username", testenv.UserName))
	p.must(p.br.Fill(p.ctx, "#password", "a-new-secret-1"))
	p.must(p.br.Click(p.ctx, `form button[type="submit"]`))
	p.at("account-mfa", "Two-step verification")
	p.must(p.br.Click(p.ctx, "details summary"))
	p.must(p.br.Fill(p.ctx, "#recovery", oldCodes[0]))
	p.must(p.br.Click(p.ctx, `form:has(#recovery) button`))
	p.text("#form-error", "not right")
	p.at("account-old-code-refused", "Two-step verification")
	p.must(p.br.Fill(p.ctx, "#recovery", newCodes[0]))
	p.must(p.br.Click(p.ctx, `form:has(#recovery) button`))
	if raw, err := p.br.WaitURL(p.ctx, testenv.RedirectURI); err != nil || !strings.Contains(raw, "code=") {
		t.Fatalf("a new recovery code did not log in: %s %v", raw, err)
	}

	// The removed passkey logs in no more.
	p.logout("account-logged-out-3")
	p.holdOnly(first)
	p.passkeyLogin("account-removed-passkey")
	p.text("#passkey-error", "could not be used")
	p.at("account-removed-passkey-refused", "Log in with a passkey")
}
