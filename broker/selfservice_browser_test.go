package broker_test

import (
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/testenv"
)

// The self-service pages in Chromium with axe-core (issue #22): "Forgot
// password?" from the login form to a new password through the mailed
// link, in English and in German, and the registration form with its
// errors tied to their fields.

func TestBrowserSelfServiceReset(t *testing.T) {
	for _, lang := range []struct {
		name, locales, login, forgot, sent, reset, done, fieldErr string
	}{
		{"en", "", "Log in to example-app", "Reset your password", "Check your email", "Choose a new password", "Password changed", "most common"},
		{"de", "de", "Bei example-app anmelden", "Passwort zurücksetzen", "Sehen Sie in Ihr Postfach", "Neues Passwort wählen", "Passwort geändert", "häufigsten"},
	} {
		t.Run(lang.name, func(t *testing.T) {
			mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
			cfg := selfConfig(t, mp, map[string]any{"password_reset": true})
			cfg.Connectors = cfg.Connectors[:1] // no picker
			b := testenv.StartLocalhost(t, cfg)
			j := newJourney(t, b)
			rp := j.rp(testenv.ClientID, testenv.ClientSecret)
			var extra []oauth2.AuthCodeOption
			if lang.locales != "" {
				extra = append(extra, oauth2.SetAuthURLParam("ui_locales", lang.locales))
			}
			j.start(rp, extra...)
			j.page("self-login-"+lang.name, lang.login)
			j.must(j.br.Click(j.ctx, "#forgot"))
			j.page("self-forgot-"+lang.name, lang.forgot)
			j.must(j.br.Fill(j.ctx, "#login", testenv.UserName+"\n"))
			j.page("self-forgot-sent-"+lang.name, lang.sent)

			m, link := mailTo(t, mp, testenv.UserEmail, 1)
			if lang.name == "de" && !strings.Contains(m.Subject, "Passwort zurücksetzen") {
				t.Errorf("the mail is not in the page's language: %q", m.Subject)
			}
			j.must(j.br.Navigate(j.ctx, link))
			j.page("self-reset-"+lang.name, lang.reset)
			j.must(j.br.Fill(j.ctx, "#password", "password"))
			j.must(j.br.Fill(j.ctx, "#password2", "password"+"\n"))
			j.alert("self-reset-refused-"+lang.name, lang.reset, lang.fieldErr)
			if inv, err := j.br.Value(j.ctx, `#password[aria-invalid="true"][aria-describedby="form-error"]`); err != nil {
				t.Errorf("the refused password's field is not tied to its error: %v %q", err, inv)
			}
			j.must(j.br.Fill(j.ctx, "#password", "quiet-meadow-lantern-31"))
			j.must(j.br.Fill(j.ctx, "#password2", "quiet-meadow-lantern-31\n"))
			j.page("self-reset-done-"+lang.name, lang.done)
			if !passwordWorks(t, b, testenv.UserName, "quiet-meadow-lantern-31") {
				t.Fatal("the new password does not log in")
			}
		})
	}
}

func TestBrowserSelfServiceRegister(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	cfg := selfConfig(t, mp, map[string]any{"registration": map[string]any{
		"enabled": true, "allowed_domains": []string{"example.com"}, "terms_url": "https://example.com/terms"}})
	cfg.Connectors = cfg.Connectors[:1]
	b := testenv.StartLocalhost(t, cfg)
	j := newJourney(t, b)
	j.start(j.rp(testenv.ClientID, testenv.ClientSecret))
	j.page("self-register-login", "Log in to")
	j.must(j.br.Click(j.ctx, "#register"))
	j.page("self-register", "Create an account")
	j.must(j.br.Fill(j.ctx, "#email", "erin@other.org"))
	j.must(j.br.Fill(j.ctx, "#name", "Erin"))
	j.must(j.br.Click(j.ctx, "#terms"))
	j.must(j.br.Click(j.ctx, `form button[type="submit"]`))
	j.alert("self-register-domain", "Create an account", "this domain")
	if id, err := j.br.Focused(j.ctx); err != nil || id != "email" {
		t.Errorf("focus after a refused domain: %q %v", id, err)
	}
	if _, err := j.br.Value(j.ctx, `#email[aria-invalid="true"][aria-describedby="form-error"]`); err != nil {
		t.Errorf("the address is not tied to its error: %v", err)
	}
	j.must(j.br.Fill(j.ctx, "#email", "erin@example.com"))
	j.must(j.br.Click(j.ctx, "#terms"))
	j.must(j.br.Click(j.ctx, `form button[type="submit"]`))
	j.page("self-register-sent", "Check your email")
	_, link := mailTo(t, mp, "erin@example.com", 1)
	j.must(j.br.Navigate(j.ctx, link))
	j.page("self-register-password", "Create an account")
	j.must(j.br.Fill(j.ctx, "#password", "silver-canyon-drift-64"))
	j.must(j.br.Fill(j.ctx, "#password2", "silver-canyon-drift-64\n"))
	j.page("self-registered", "Your account is ready")
	if !passwordWorks(t, b, "erin@example.com", "silver-canyon-drift-64") {
		t.Fatal("the registered account does not log in")
	}
}
