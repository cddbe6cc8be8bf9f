package broker_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/broker/mfa"
	"github.com/portico-idp/portico/testenv"
	"github.com/portico-idp/portico/testenv/browser"
)

// The journey in the second language (issue #22, acceptance 7): chosen by
// the login's ui_locales, then by the browser's Accept-Language; every
// page is German and marked so.

// lang is the language the page says it is in.
func (j *walk) lang() string {
	j.t.Helper()
	l, err := browser.Run(j.ctx, j.br, chromedp.Evaluate[string](`document.documentElement.lang`))
	j.must(err)
	return l
}

// german checks the page is German: marked lang=de, with heading.
func (j *walk) german(name, heading string) {
	j.t.Helper()
	j.page(name, heading)
	if l := j.lang(); l != "de" {
		j.t.Fatalf("page %s: lang %q, want de", name, l)
	}
}

func TestBrowserGermanUILocales(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Login.MFA.Clients = []string{testenv.ClientID}
	b := testenv.StartLocalhost(t, cfg)
	j := newJourney(t, b)
	rp := j.rp(testenv.ClientID, testenv.ClientSecret)

	// The browser asks for English: the login's ui_locales wins.
	j.acceptLanguage("en-US,en")
	f := j.start(rp, oauth2.SetAuthURLParam("ui_locales", "fr-CA de"))
	j.german("de-login", "Bei example-app anmelden")
	if s := j.text(`label[for="username"]`); s != "Benutzername oder E-Mail-Adresse" {
		t.Fatalf("username label %q", s)
	}
	j.password(testenv.UserName, "wrong password")
	j.alert("de-login-error", "anmelden", "Ungültiger Benutzername oder ungültiges Passwort")
	j.password(testenv.UserName, testenv.UserPassword)
	j.german("de-mfa-enrol", "Zwei-Faktor-Authentifizierung einrichten")
	secret := j.totpSecret()
	j.code("#code", "000000")
	j.alert("de-mfa-enrol-wrong", "Zwei-Faktor-Authentifizierung einrichten", "nicht richtig")
	j.code("#code", mfa.Code(secret, time.Now()))
	j.german("de-recovery-codes", "Speichern Sie Ihre Wiederherstellungscodes")
	j.must(j.br.Click(j.ctx, `form button[type="submit"]`))
	if _, idt := j.back(rp, f); idt.Subject == "" {
		t.Fatal("no user after the German login")
	}
}

func TestBrowserGermanAcceptLanguage(t *testing.T) {
	b := testenv.StartLocalhost(t, testenv.Config(t))
	j := newJourney(t, b)
	j.acceptLanguage("de-AT,de;q=0.9,en;q=0.5")
	rp := j.rp(testenv.ClientID, testenv.ClientSecret)
	f := j.start(rp)
	j.german("de-al-login", "Bei example-app anmelden")
	j.password(testenv.UserName, testenv.UserPassword)
	j.back(rp, f)
	j.must(j.br.Navigate(j.ctx, b.URL+"/account"))
	j.german("de-account", "Ihr Konto")
	j.must(j.br.Navigate(j.ctx, b.URL+"/logout"))
	j.german("de-logout", "Abmelden?")

	// Discovery names the languages.
	resp, err := http.Get(b.URL + "/.well-known/openid-configuration")
	j.must(err)
	defer resp.Body.Close()
	var doc struct {
		UILocales []string `json:"ui_locales_supported"`
	}
	j.must(json.NewDecoder(resp.Body).Decode(&doc))
	if !slices.Equal(doc.UILocales, []string{"en", "de"}) {
		t.Fatalf("ui_locales_supported %v", doc.UILocales)
	}
}

// acceptLanguage makes the browser send Accept-Language h.
func (j *walk) acceptLanguage(h string) {
	j.t.Helper()
	_, err := browser.Run(j.ctx, j.br, chromedp.Action[cdp.Empty](func(ctx context.Context, t *chromedp.Target) (cdp.Empty, error) {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return cdp.Empty{}, err
		}
		return cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": h}})
	}))
	j.must(err)
}

// TestConsoleLanguage: the admin console's pages follow Accept-Language
// too (a page any browser reaches: a callback that failed).
func TestConsoleLanguage(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	get := func(lang string) (string, string) {
		req, _ := http.NewRequest(http.MethodGet, b.URL+"/admin/callback?state=nope&code=x", nil)
		req.Header.Set("Accept-Language", lang)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("Content-Language"), string(body)
	}
	enLang, en := get("en")
	deLang, de := get("de-DE,de;q=0.9")
	if enLang != "en" || deLang != "de" || !strings.Contains(de, `<html lang="de">`) || de == en {
		t.Fatalf("console pages: en %q, de %q; German page:\n%.600s", enLang, deLang, de)
	}
}
