package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/portico-idp/portico/broker/mfa"
	"github.com/portico-idp/portico/testenv"
	"github.com/portico-idp/portico/testenv/browser"
)

// The login journey as a person met it (issue #22): where someone typing,
// reloading, going Back or using a screen reader tripped. Each test walks
// the pages in Chromium, with axe-core on each.

// attr returns attribute name of the element sel, "" when either is
// missing.
func (j *walk) attr(sel, name string) string {
	j.t.Helper()
	v, err := browser.Run(j.ctx, j.br, chromedp.Evaluate[string](
		fmt.Sprintf(`document.querySelector(%q)?.getAttribute(%q) ?? ""`, sel, name)))
	j.must(err)
	return v
}

// focused returns the id of the element with the focus.
func (j *walk) focused() string {
	j.t.Helper()
	id, err := j.br.Focused(j.ctx)
	j.must(err)
	return id
}

// history goes Back (-1), Forward (1), or reloads (0), and waits until
// another document is shown and loaded. Not chromedp.NavigateBack, which
// waits for a load event: a page the browser kept in memory (the
// back/forward cache) is shown again without one.
func (j *walk) history(dir int) {
	j.t.Helper()
	// Mark the document shown, so that its successor is told from it; a
	// mark of its own for each call, as a kept page may carry an older one.
	marks++
	mark := fmt.Sprint(marks)
	_, err := browser.Run(j.ctx, j.br, chromedp.Evaluate[string](`document.documentElement.dataset.left = "`+mark+`"`))
	j.must(err)
	_, err = browser.Run(j.ctx, j.br, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if dir == 0 {
			_, err := cdp.Call(ctx, t, cdppage.Reload, cdppage.ReloadParams{})
			return err
		}
		h, err := cdp.Call(ctx, t, cdppage.GetNavigationHistory, cdp.Empty{})
		if err != nil {
			return err
		}
		i := int(h.CurrentIndex) + dir
		if i < 0 || i >= len(h.Entries) {
			return fmt.Errorf("no history entry %d of %d", i, len(h.Entries))
		}
		_, err = cdp.Call(ctx, t, cdppage.NavigateToHistoryEntry, cdppage.NavigateToHistoryEntryParams{EntryID: h.Entries[i].ID})
		return err
	}))
	j.must(err)
	js := `document.readyState === "complete" && document.documentElement.dataset.left !== "` + mark + `"`
	for deadline := time.Now().Add(browser.DefaultTimeout); ; time.Sleep(50 * time.Millisecond) {
		if done, err := browser.Run(j.ctx, j.br, chromedp.Evaluate[bool](js)); err == nil && done {
			return
		}
		if time.Now().After(deadline) {
			u, _ := j.br.URL(j.ctx)
			j.t.Fatalf("no other page after going %+d in history (at %s)", dir, u)
		}
	}
}

var marks int

// backTo goes Back and checks that the page shown is heading's, the step
// the login waits at. The browser may instead show the page it kept in
// memory (the back/forward cache), which asks nothing of the server: then
// that page's form, sent again with values, must lead there. It is sent
// by script, as chromedp's queries do not see a page restored so.
func (j *walk) backTo(name, heading, form string, values map[string]string) {
	j.t.Helper()
	j.history(-1)
	h, err := browser.Run(j.ctx, j.br, chromedp.Evaluate[string](`document.querySelector("h1")?.textContent ?? ""`))
	j.must(err)
	if !strings.Contains(h, heading) {
		j.t.Logf("%s: Back showed the kept page %q; sending its form again", name, h)
		v, _ := json.Marshal(values)
		sent, err := browser.Run(j.ctx, j.br, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
	const f = document.querySelector(%q);
	if (!f) return false;
	for (const [k, v] of Object.entries(%s)) f.elements[k].value = v;
	f.requestSubmit();
	return true;
})()`, form, v)))
		j.must(err)
		if !sent {
			j.t.Fatalf("%s: Back showed %q, not the page the login waits at (%q) nor a form that leads there", name, h, heading)
		}
	}
	j.page(name, heading)
}

// tiedError checks that the field sel is marked invalid and described by
// the page's error, as a screen reader announces it on the field.
func (j *walk) tiedError(page, sel string) {
	j.t.Helper()
	if got := j.attr(sel, "aria-invalid"); got != "true" {
		j.t.Errorf("%s: %s aria-invalid=%q, want true", page, sel, got)
	}
	if ids := strings.Fields(j.attr(sel, "aria-describedby")); !slices.Contains(ids, "form-error") {
		j.t.Errorf("%s: %s aria-describedby=%v, want the error (form-error)", page, sel, ids)
	}
}

// TestBrowserPasswordForm: after a wrong password the focus is on the
// password (the name is still filled in), both fields are tied to the
// error; a name typed with spaces around it logs in.
func TestBrowserPasswordForm(t *testing.T) {
	b := testenv.StartLocalhost(t, testenv.Config(t))
	j := newJourney(t, b)
	rp := j.rp(testenv.ClientID, testenv.ClientSecret)
	f := j.start(rp)
	j.page("login-app-named", "Log in to "+testenv.ClientID)
	if got := j.focused(); got != "username" {
		t.Errorf("focus at load on %q, want the username", got)
	}
	j.password(testenv.UserName, "wrong password")
	j.alert("login-wrong-password", "Log in", "Invalid username or password")
	if got := j.focused(); got != "password" {
		t.Errorf("focus after a wrong password on %q, want the password (the name is filled in)", got)
	}
	j.tiedError("login-wrong-password", "#password")
	j.tiedError("login-wrong-password", "#username")

	j.password(" "+testenv.UserName+"  ", testenv.UserPassword)
	if _, idt := j.back(rp, f); idt.Subject == "" {
		t.Fatal("no user after a login with spaces around the name")
	}
}

// TestBrowserSecondFactorErrors: each second-factor form ties its error
// to its own field; a wrong recovery code says so (not the TOTP message),
// keeps its section open with the focus on it; the two forms' buttons
// have distinct names, and the recovery field lets password managers
// fill it.
func TestBrowserSecondFactorErrors(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Login.MFA.Clients = []string{testenv.ClientID}
	b := testenv.StartLocalhost(t, cfg)
	j := newJourney(t, b)
	rp := j.rp(testenv.ClientID, testenv.ClientSecret)
	f := j.start(rp)
	j.password(testenv.UserName, testenv.UserPassword)
	j.page("mfa-enrol", "Set up two-step verification")
	secret := j.totpSecret()
	j.code("#code", "000000")
	j.alert("mfa-enrol-wrong-code", "Set up two-step verification", "not right")
	j.tiedError("mfa-enrol-wrong-code", "#code")
	j.code("#code", mfa.Code(secret, time.Now()))
	j.page("recovery-codes", "Save your recovery codes")
	codes := codeRE.FindAllString(j.text("#recovery-codes"), -1)
	j.must(j.br.Click(j.ctx, `form button[type="submit"]`))
	j.back(rp, f)

	j = newJourney(t, b)
	f = j.start(rp)
	j.password(testenv.UserName, testenv.UserPassword)
	j.page("mfa", "Two-step verification")
	names, err := browser.Run(j.ctx, j.br, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("button")].map(b => b.textContent.trim())`))
	j.must(err)
	if len(names) != 2 || names[0] == names[1] {
		t.Errorf("the second factor's buttons are named %q, want two distinct names", names)
	}
	if ac := j.attr("#recovery", "autocomplete"); ac != "one-time-code" {
		t.Errorf("recovery field autocomplete=%q, want one-time-code", ac)
	}

	// A wrong TOTP code: the code field.
	j.code("#code", "000000")
	j.alert("mfa-wrong-code", "Two-step verification", "Check the time")
	j.tiedError("mfa-wrong-code", "#code")
	if got := j.focused(); got != "code" {
		t.Errorf("focus after a wrong code on %q, want the code", got)
	}

	// A wrong recovery code: its own message, its section open, its field.
	j.must(j.br.Click(j.ctx, "summary"))
	j.code("#recovery", "aaaa-bbbb-cccc-dddd")
	j.alert("mfa-wrong-recovery", "Two-step verification", "recovery code is not right")
	if s := j.text(`[role="alert"]`); strings.Contains(s, "time") {
		t.Errorf("a wrong recovery code says %q", s)
	}
	if !j.open("details") {
		t.Error("the recovery section closed after a wrong recovery code")
	}
	if got := j.focused(); got != "recovery" {
		t.Errorf("focus after a wrong recovery code on %q, want the recovery field", got)
	}
	j.tiedError("mfa-wrong-recovery", "#recovery")
	if got := j.attr("#code", "aria-invalid"); got != "" {
		t.Errorf("the TOTP field is marked invalid (%q) after a wrong recovery code", got)
	}
	j.code("#recovery", codes[0])
	j.back(rp, f)
}

// open reports whether the <details> sel is open.
func (j *walk) open(sel string) bool {
	j.t.Helper()
	v, err := browser.Run(j.ctx, j.br, chromedp.Evaluate[bool](fmt.Sprintf(`!!document.querySelector(%q)?.open`, sel)))
	j.must(err)
	return v
}

// TestBrowserBackAndReload: Back from the second factor's pages, or a
// reload of the recovery codes, shows the page the login waits at — the
// codes again, until the person continues — not "Login expired".
func TestBrowserBackAndReload(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Login.MFA.Clients = []string{testenv.ClientID}
	b := testenv.StartLocalhost(t, cfg)
	j := newJourney(t, b)
	rp := j.rp(testenv.ClientID, testenv.ClientSecret)
	f := j.start(rp)
	j.password(testenv.UserName, testenv.UserPassword)
	j.page("mfa-enrol", "Set up two-step verification")
	secret := j.totpSecret()
	login := map[string]string{"username": testenv.UserName, "password": testenv.UserPassword}
	j.backTo("mfa-enrol-after-back", "Set up two-step verification", `form[action$="/login/local"]`, login) // the password page's login is past it
	if s := j.totpSecret(); string(s) != string(secret) {
		t.Fatal("Back showed another key to enrol")
	}

	j.code("#code", mfa.Code(secret, time.Now()))
	j.page("recovery-codes", "Save your recovery codes")
	codes := j.text("#recovery-codes")
	j.history(0)
	j.page("recovery-codes-reloaded", "Save your recovery codes")
	if again := j.text("#recovery-codes"); again != codes || len(codeRE.FindAllString(again, -1)) != 10 {
		t.Fatalf("after a reload the codes are %q, were %q", again, codes)
	}
	enrol := map[string]string{"code": mfa.Code(secret, time.Now())}
	j.backTo("recovery-codes-after-back", "Save your recovery codes", `form[action$="/mfa/enrol"]`, enrol) // the enrolment is done

	if again := j.text("#recovery-codes"); again != codes {
		t.Fatalf("after Back the codes are %q, were %q", again, codes)
	}
	j.must(j.br.Click(j.ctx, `form button[type="submit"]`))
	j.back(rp, f)

	// A later login: Back from the code page comes back to it.
	j = newJourney(t, b)
	f = j.start(rp)
	j.password(testenv.UserName, testenv.UserPassword)
	j.page("mfa", "Two-step verification")
	j.backTo("mfa-after-back", "Two-step verification", `form[action$="/login/local"]`, login)
	j.code("#code", mfa.Code(secret, time.Now().Add(mfa.Period)))
	j.back(rp, f)
}

// TestBrowserLogoutCancel: the logout question's Cancel is reached from
// the keyboard and keeps the person logged in.
func TestBrowserLogoutCancel(t *testing.T) {
	b := testenv.StartLocalhost(t, testenv.Config(t))
	j := newJourney(t, b)
	rp := j.rp(testenv.ClientID, testenv.ClientSecret)
	f := j.start(rp)
	j.password(testenv.UserName, testenv.UserPassword)
	j.back(rp, f)
	j.must(j.br.Navigate(j.ctx, b.URL+"/logout"))
	j.page("logout-confirm", "Log out?")
	for range 10 { // Tab through the page to Cancel
		if j.focused() == "logout-cancel" {
			break
		}
		j.must(j.br.Press(j.ctx, "\t"))
	}
	if got := j.focused(); got != "logout-cancel" {
		t.Fatalf("Tab never reached Cancel (focus on %q)", got)
	}
	j.must(j.br.Press(j.ctx, "\r"))
	j.page("logout-cancelled", "Still logged in")
	f = j.start(rp) // the session still answers: no password page
	if _, idt := j.back(rp, f); idt.Subject == "" {
		t.Fatal("no login from the session after Cancel")
	}
}
