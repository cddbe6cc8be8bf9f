package ui

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestLang(t *testing.T) {
	gin.SetMode(gin.TestMode)
	for _, c := range []struct {
		name      string
		theme     Theme
		query     string // the request's query
		accept    string // Accept-Language
		useLocals string // UseLocales (the login's ui_locales)
		want      string
	}{
		{name: "default", want: "en"},
		{name: "theme default", theme: Theme{Language: "de"}, want: "de"},
		{name: "accept", accept: "de-DE,de;q=0.9,en;q=0.5", want: "de"},
		{name: "accept order", accept: "en-GB,de;q=0.8", want: "en"},
		{name: "accept q-values", accept: "en;q=0.1,de;q=0.9", want: "de"},
		{name: "accept unoffered", accept: "fr-FR,fr", want: "en"},
		{name: "accept unoffered, theme default", theme: Theme{Language: "de"}, accept: "fr", want: "de"},
		{name: "accept malformed", accept: "de;q=x;;,", want: "en"},
		{name: "accept one bad range", accept: "de, zz-!!;q=0.5", want: "de"},
		{name: "accept bad q elsewhere", accept: "de,en;q=abc", want: "de"},
		{name: "accept bogus tag", accept: "fr;q=0.9, i-bogus;q=0.1, de;q=0.5", want: "de"},
		{name: "accept q zero", accept: "de;q=0, en;q=0.1", want: "en"},
		{name: "accept huge", accept: strings.Repeat("de,", 400), want: "en"},
		{name: "query ui_locales", query: "ui_locales=de", accept: "en", want: "de"},
		{name: "query ui_locales order", query: "ui_locales=fr+de-AT+en", want: "de"},
		{name: "query unoffered falls to accept", query: "ui_locales=fr", accept: "de", want: "de"},
		{name: "login's locales first", useLocals: "de", query: "ui_locales=en", accept: "en", want: "de"},
		{name: "login's unoffered locales", useLocals: "ja", accept: "de", want: "de"},
		{name: "not offered by theme", theme: Theme{Languages: []string{"en"}}, accept: "de", useLocals: "de", want: "en"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := New(c.theme, "https://id.example.com", slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			ctx, _ := gin.CreateTestContext(w)
			ctx.Request = httptest.NewRequest(http.MethodGet, "/login?"+c.query, nil)
			if c.accept != "" {
				ctx.Request.Header.Set("Accept-Language", c.accept)
			}
			if c.useLocals != "" {
				p.UseLocales(ctx, c.useLocals)
			}
			if got := p.Lang(ctx); got != c.want {
				t.Fatalf("Lang = %q, want %q", got, c.want)
			}
			p.Page(ctx, http.StatusBadRequest, MsgBadLogin)
			if got := w.Header().Get("Content-Language"); got != c.want {
				t.Errorf("Content-Language = %q, want %q", got, c.want)
			}
			if !strings.Contains(w.Body.String(), `<html lang="`+c.want+`">`) {
				t.Errorf("page is not marked lang=%q", c.want)
			}
			if want := catalogues[c.want][MsgBadLogin].Text; !strings.Contains(w.Body.String(), want) {
				t.Errorf("page lacks %q", want)
			}
		})
	}
}

func TestLanguagesRefused(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, th := range []Theme{{Language: "fr"}, {Languages: []string{"en", "fr"}}, {Language: "de", Languages: []string{"en"}}} {
		if _, err := New(th, "https://id.example.com", log); err == nil {
			t.Errorf("New(%+v) took it", th)
		}
	}
}

func TestTranslations(t *testing.T) {
	p, err := New(Theme{Messages: map[string]string{MsgBadLogin: "All: no."}, Translations: map[string]map[string]string{"de": {MsgBadLogin: "Nein."}}},
		"https://id.example.com", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.MsgIn("de", MsgBadLogin); got != "Nein." {
		t.Errorf("de = %q", got)
	}
	if got := p.MsgIn("en", MsgBadLogin); got != "All: no." {
		t.Errorf("en = %q", got)
	}
	for sec, want := range map[float64]string{90: "90 Sekunden", 1800: "30 Minuten", 86400: "24 Stunden", 7 * 86400: "7 Tage"} {
		if got := p.durationIn("de", sec); got != want {
			t.Errorf("durationIn(de, %v) = %q, want %q", sec, got, want)
		}
	}
}
