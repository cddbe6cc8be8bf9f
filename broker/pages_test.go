package broker_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// TestLoginPageHeaders: login pages refuse framing and caching, and the
// binding cookie is HttpOnly and SameSite=Lax.
func TestLoginPageHeaders(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	rp := newRP(t, b)
	resp, err := rp.Browser.Get(rp.NewFlow().AuthURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Request.URL.Path, "/login/local") {
		t.Fatalf("authorize led to %d %s", resp.StatusCode, resp.Request.URL)
	}
	h := resp.Header
	if h.Get("X-Frame-Options") != "DENY" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
		h.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", h)
	}
	cookie := setCookie(t, b.URL+"/authorize?"+url.Values(baseQuery()).Encode())
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Lax") || strings.Contains(cookie, "Secure") {
		t.Errorf("cookie on http: %q", cookie)
	}
}

// setCookie returns the Set-Cookie header of one GET.
func setCookie(t *testing.T, u string) string {
	t.Helper()
	resp, err := noFollow.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Set-Cookie")
}

// TestSecureCookieOnHTTPSIssuer: with an https issuer the cookie is Secure.
func TestSecureCookieOnHTTPSIssuer(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Issuer = "https://127.0.0.1:1"
	l := testenv.StartHandler(t, cfg)
	req := httptest.NewRequest(http.MethodGet, "/authorize?"+baseQuery().Encode(), nil)
	w := httptest.NewRecorder()
	l.ServeHTTP(w, req)
	if c := w.Header().Get("Set-Cookie"); !strings.Contains(c, "Secure") || !strings.Contains(c, "HttpOnly") {
		t.Errorf("cookie with an https issuer: %q", c)
	}
}

// TestLoginCSRF: a login form posted without its CSRF token, or from a
// browser that did not start the login, is refused and issues no code.
func TestLoginCSRF(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, testenv.Config(t))
	rp := newRP(t, b)
	resp, err := rp.Browser.Get(rp.NewFlow().AuthURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := readAll(resp)
	form, err := testenv.ParseForm(resp.Request.URL, page)
	if err != nil {
		t.Fatal(err)
	}
	form.Values.Set("username", testenv.UserName)
	form.Values.Set("password", testenv.UserPassword)
	post := func(c *http.Client, v url.Values) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, form.Action, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	noCSRF := url.Values{}
	for k, v := range form.Values {
		noCSRF[k] = v
	}
	noCSRF.Set("csrf", "forged")
	if r := post(rp.Browser, noCSRF); r.StatusCode != http.StatusForbidden {
		t.Errorf("forged CSRF token: %d", r.StatusCode)
	}
	other := testenv.NewBrowser(testenv.RedirectURI) // another browser: no binding cookie
	if r := post(other, form.Values); r.StatusCode != http.StatusBadRequest {
		t.Errorf("post from another browser: %d", r.StatusCode)
	}
	// The real form still works once.
	r := post(rp.Browser, form.Values)
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), testenv.RedirectURI+"?code=") {
		t.Fatalf("the genuine form: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := post(rp.Browser, form.Values); r.StatusCode != http.StatusBadRequest {
		t.Errorf("the form posted twice: %d", r.StatusCode)
	}
}

func readAll(resp *http.Response) (string, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestConnectorPicker: with two connectors the login page offers both, and
// each leads to its own form.
func TestConnectorPicker(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.Config(t)
	cfg.Connectors = append(cfg.Connectors, config.Connector{ID: "staff", Type: "local", Name: "Staff accounts"})
	b := testenv.Start(t, cfg)
	rp := newRP(t, b)
	resp, err := rp.Browser.Get(rp.NewFlow().AuthURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := readAll(resp)
	if resp.Request.URL.Path != "/login" || !strings.Contains(page, "Email") || !strings.Contains(page, "Staff accounts") ||
		!strings.Contains(page, "/login/staff?req=") || !strings.Contains(page, "/login/local?req=") {
		t.Fatalf("picker at %s: %s", resp.Request.URL, page)
	}
	// RP.Authorize stops at the picker (no POST form there).
	cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, testenv.UserName, testenv.UserPassword)
	if err != nil || cb.Status != 200 || cb.Query != nil {
		t.Fatalf("authorize at the picker: %v %+v", err, cb.Status)
	}
}

// TestRacingFormSubmits: the same login form posted twice at once gives a
// code to exactly one of the posts.
func TestRacingFormSubmits(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	rp := newRP(t, b)
	resp, err := rp.Browser.Get(rp.NewFlow().AuthURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := readAll(resp)
	form, err := testenv.ParseForm(resp.Request.URL, page)
	if err != nil {
		t.Fatal(err)
	}
	form.Values.Set("username", testenv.UserName)
	form.Values.Set("password", testenv.UserPassword)
	const n = 4
	codes := make(chan bool, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, form.Action, strings.NewReader(form.Values.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r, err := rp.Browser.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			r.Body.Close()
			codes <- r.StatusCode == http.StatusSeeOther && strings.Contains(r.Header.Get("Location"), "code=")
		})
	}
	wg.Wait()
	close(codes)
	got := 0
	for ok := range codes {
		if ok {
			got++
		}
	}
	if got != 1 {
		t.Errorf("%d of %d racing submits of one form got a code, want 1", got, n)
	}
}
