package broker_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/testenv"
	"github.com/portico-idp/portico/testenv/browser"
)

// formPostRP is a relying party's redirect URI that takes the
// authorization response by POST (OAuth 2.0 Form Post Response Mode).
type formPostRP struct {
	srv *httptest.Server
	got chan url.Values
	rp  *testenv.RP
}

func newFormPostRP(t *testing.T, b *testenv.Broker) *formPostRP {
	t.Helper()
	f := &formPostRP{got: make(chan url.Values, 4)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.ParseForm() != nil {
			http.Error(w, "want a form POST", http.StatusMethodNotAllowed)
			return
		}
		f.got <- r.PostForm
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><html lang="en"><title>App</title><h1>Signed in to the app</h1></html>`))
	}))
	t.Cleanup(f.srv.Close)
	// A loopback redirect URI matches the registered one on any port.
	rp, err := testenv.NewRP(t.Context(), b.URL, testenv.ClientID, testenv.ClientSecret, f.srv.URL+"/callback")
	if err != nil {
		t.Fatal(err)
	}
	f.rp = rp
	return f
}

// received waits for the POST the browser made to the redirect URI.
func (f *formPostRP) received(t *testing.T) url.Values {
	t.Helper()
	select {
	case v := <-f.got:
		return v
	case <-t.Context().Done():
		t.Fatal("the application never received the response")
		return nil
	}
}

// TestFormPostBrowser: with response_mode=form_post the code reaches the
// application in a POST body, both by the page's own script and, where
// script does not run, by its button; the page passes axe-core; an
// independent client (x/oauth2 and go-oidc) redeems the code.
func TestFormPostBrowser(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	app := newFormPostRP(t, b)
	j := newJourney(t, b)
	mode := oauth2.SetAuthURLParam("response_mode", "form_post")
	finish := func(f testenv.Flow, v url.Values) {
		t.Helper()
		if v.Get("iss") != b.URL || v.Get("state") != f.State || v.Get("code") == "" {
			t.Fatalf("posted %v", v)
		}
		if _, _, err := app.rp.Finish(j.ctx, f, testenv.Callback{Query: v}); err != nil {
			t.Fatal(err)
		}
	}
	scripts := func(on bool) {
		t.Helper()
		_, err := browser.Run(j.ctx, j.br, chromedp.Action[cdp.Empty](func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
			return cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		}))
		j.must(err)
	}

	// The page posts itself.
	f := j.start(app.rp, mode)
	j.page("login-form-post", "Log in")
	j.password(testenv.UserName, testenv.UserPassword)
	finish(f, app.received(t))
	if _, err := j.br.WaitURL(j.ctx, app.srv.URL+"/callback"); err != nil {
		t.Fatal(err)
	}

	// Where script does not run (the browser's session answers at once)
	// the page stays, to be checked, and its button posts it. Script comes
	// back on after the page loaded, for axe-core: the page's own script
	// ran (not) when it was parsed.
	scripts(false)
	f = j.start(app.rp, mode)
	j.must(j.br.WaitVisible(j.ctx, `#autopost button`))
	scripts(true)
	j.page("form-post", "Continue")
	select {
	case v := <-app.got:
		t.Fatalf("posted without script or a click: %v", v)
	default:
	}
	j.must(j.br.Click(j.ctx, `#autopost button`))
	finish(f, app.received(t))
}
