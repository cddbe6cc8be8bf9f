package browser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// site is the test server: a login form that posts and redirects to a
// relying party, pages with and without accessibility problems, a tall
// page, cookies, and a WebAuthn page. Every httptest server listens on
// 127.0.0.1.
func site(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		loginPage(w, r.FormValue("redirect_uri"), "", "")
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		ru, user, pass := r.PostFormValue("redirect_uri"), r.PostFormValue("username"), r.PostFormValue("password")
		if user != "alice" || pass != "s3cret" {
			loginPage(w, ru, user, "Wrong username or password.")
			return
		}
		http.Redirect(w, r, ru+"?code=c0de&state=st%20ate", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /to", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
	})
	mux.HandleFunc("GET /bad", func(w http.ResponseWriter, r *http.Request) {
		// Portico's pages' CSP: axe-core must run despite it.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src data:")
		fmt.Fprint(w, `<!doctype html><html lang="en"><title>Bad</title><main><h1>Bad</h1>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<form><input type="text" name="q"></form></main>`)
	})
	mux.HandleFunc("GET /good", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src data:")
		fmt.Fprint(w, `<!doctype html><html lang="en"><title>Good</title><main><h1>Good</h1>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="Portico logo">
<form><label for="q">Search</label><input id="q" type="text" name="q"></form></main>`)
	})
	mux.HandleFunc("GET /tall", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>Tall</title><body style="margin:0">
<div style="height:3000px;background:linear-gradient(#fff,#036)">top</div><p id="end">end</p>`)
	})
	mux.HandleFunc("GET /cookie", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("set") {
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "alice", Path: "/", HttpOnly: true})
		}
		v := "none"
		if c, err := r.Cookie("session"); err == nil {
			v = c.Value
		}
		fmt.Fprintf(w, `<!doctype html><title>Cookie</title><p id="c">%s</p>`, html.EscapeString(v))
	})
	mux.HandleFunc("GET /webauthn", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, webauthnPage) // webauthn_test.go
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

// loginPage is a sign-in form that keeps the relying party's redirect_uri
// in a hidden field, as an authorization request's state would be kept.
func loginPage(w http.ResponseWriter, redirectURI, user, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	errHTML := ""
	if msg != "" {
		errHTML = `<p id="error" role="alert">` + html.EscapeString(msg) + `</p>`
	}
	fmt.Fprintf(w, `<!doctype html><html lang="en"><title>Sign in</title><main><h1>Sign in</h1>%s
<form method="post" action="/login">
<input type="hidden" name="redirect_uri" value="%s">
<label for="user">Username</label> <input id="user" name="username" value="%s">
<label>Password <input id="password" name="password" type="password"></label>
<button type="submit">Sign in</button>
</form></main>`, errHTML, html.EscapeString(redirectURI), html.EscapeString(user))
}

// rpServer is a relying party whose /callback redirects on to /done, as an
// application does once it has redeemed the code.
func rpServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/done", http.StatusFound)
	})
	mux.HandleFunc("GET /done", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>App</title><p id="welcome">Welcome back</p>`)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

// closedURL is an http://127.0.0.1 address where nothing listens.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestLoginFormRedirectsToRP(t *testing.T) {
	rp := rpServer(t)
	ts := site(t)
	b := New(t)
	ctx := t.Context()

	if err := b.Navigate(ctx, ts.URL+"/login?redirect_uri="+url.QueryEscape(rp.URL+"/callback")); err != nil {
		t.Fatal(err)
	}
	// A wrong password: the server answers with the form again, the user
	// name filled in, and an error.
	must(t, b.FillLabel(ctx, "Username", "alice"))
	must(t, b.FillLabel(ctx, "Password", "wrong"))
	must(t, b.Click(ctx, `button[type="submit"]`))
	if err := b.WaitVisible(ctx, "#error"); err != nil {
		t.Fatal(err)
	}
	if msg, err := b.Text(ctx, "#error"); err != nil || msg != "Wrong username or password." {
		t.Fatalf("error text = %q, %v", msg, err)
	}
	// Fill must replace the prefilled "alice", not append to it.
	must(t, b.Fill(ctx, "#user", "alice"))
	must(t, b.Fill(ctx, "#password", "s3cret\n")) // Enter submits
	got, err := b.WaitURL(ctx, rp.URL+"/callback")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if q := u.Query(); q.Get("code") != "c0de" || q.Get("state") != "st ate" {
		t.Errorf("callback URL %s: want code=c0de and state=%q", got, "st ate")
	}
	// The callback redirected on: the tab now shows /done.
	if err := b.WaitVisible(ctx, "#welcome"); err != nil {
		t.Fatal(err)
	}
	if now, err := b.URL(ctx); err != nil || now != rp.URL+"/done" {
		t.Errorf("URL = %q, %v; want %s/done", now, err, rp.URL)
	}
	want := []string{ts.URL + "/login?redirect_uri=", ts.URL + "/login", ts.URL + "/login", rp.URL + "/callback?code=", rp.URL + "/done"}
	if v := b.Visited(); !prefixes(v, want) {
		t.Errorf("Visited = %q, want prefixes %q", v, want)
	}
}

func prefixes(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			return false
		}
	}
	return true
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestWaitURLUnservedRedirect(t *testing.T) {
	ts := site(t)
	b := New(t)
	ctx := t.Context()
	callback := closedURL(t) + "/callback"

	// Through the form: Click does not wait, WaitURL catches the address.
	must(t, b.Navigate(ctx, ts.URL+"/login?redirect_uri="+url.QueryEscape(callback)))
	must(t, b.Fill(ctx, "#user", "alice"))
	must(t, b.Fill(ctx, "#password", "s3cret"))
	must(t, b.Click(ctx, "button"))
	got, err := b.WaitURL(ctx, callback)
	if err != nil {
		t.Fatal(err)
	}
	if got != callback+"?code=c0de&state=st%20ate" {
		t.Errorf("WaitURL = %q", got)
	}

	// Navigating straight to a redirect to nowhere fails, naming the
	// address; URL reports it, not Chromium's error page.
	dead := callback + "?code=other"
	err = b.Navigate(ctx, ts.URL+"/to?u="+url.QueryEscape(dead))
	if err == nil || !strings.Contains(err.Error(), dead) {
		t.Errorf("Navigate to a dead redirect: err = %v, want it to name %s", err, dead)
	}
	if now, err := b.URL(ctx); err != nil || now != dead {
		t.Errorf("URL = %q, %v; want %s", now, err, dead)
	}
	// Since that Navigate, the earlier callback does not count.
	if got, err := b.WaitURL(ctx, callback); err != nil || got != dead {
		t.Errorf("WaitURL = %q, %v; want %s", got, err, dead)
	}
}

func TestTimeoutFailsWithMessage(t *testing.T) {
	ts := site(t)
	b := New(t)
	ctx := t.Context()
	must(t, b.Navigate(ctx, ts.URL+"/tall"))

	b.SetTimeout(300 * time.Millisecond)
	start := time.Now()
	err := b.WaitVisible(ctx, "#never")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("WaitVisible took %v with a 300ms timeout", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	for _, want := range []string{`"#never"`, "300ms", ts.URL + "/tall", `"Tall"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	_, err = b.WaitURL(ctx, "http://nowhere.invalid/")
	if err == nil || !strings.Contains(err.Error(), ts.URL+"/tall") {
		t.Errorf("WaitURL: err = %v, want a timeout listing the URLs visited", err)
	}

	// The caller's context still cancels a longer wait, and the tab
	// survives both.
	b.SetTimeout(0)
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := b.Click(cctx, "#never"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Click with a done context: err = %v", err)
	}
	if text, err := b.Text(ctx, "#end"); err != nil || text != "end" {
		t.Errorf("Text after timeouts = %q, %v", text, err)
	}
	title, err := Run(ctx, b, chromedp.Title())
	if err != nil || title != "Tall" {
		t.Errorf("Run(Title) = %q, %v", title, err)
	}
}

func TestBrowsersHaveTheirOwnCookies(t *testing.T) {
	ts := site(t)
	alice, bob := New(t), New(t)
	ctx := t.Context()
	must(t, alice.Navigate(ctx, ts.URL+"/cookie?set"))
	must(t, alice.Navigate(ctx, ts.URL+"/cookie"))
	must(t, bob.Navigate(ctx, ts.URL+"/cookie"))
	if v, err := alice.Text(ctx, "#c"); err != nil || v != "alice" {
		t.Errorf("first browser's cookie = %q, %v; want alice", v, err)
	}
	if v, err := bob.Text(ctx, "#c"); err != nil || v != "none" {
		t.Errorf("second browser sees cookie %q, %v; want none", v, err)
	}
}

func TestScreenshotIsFullPage(t *testing.T) {
	ts := site(t)
	b := New(t)
	ctx := t.Context()
	must(t, b.Navigate(ctx, ts.URL+"/tall"))
	path, err := b.Screenshot(ctx, "tall page")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(path, "tall_page.png") {
		t.Errorf("path %s", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if cfg.Height < 3000 {
		t.Errorf("screenshot is %dx%d: want the whole 3000px page", cfg.Width, cfg.Height)
	}
	kept := t.TempDir() + "/docs/screenshots/tall.png"
	if err := Copy(path, kept); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(kept); err != nil || !bytes.Equal(got, data) {
		t.Errorf("Copy: %v", err)
	}
}

func TestA11yFindsViolationsUnderCSP(t *testing.T) {
	if _, err := axePath(); err != nil {
		require(t, err.Error())
	}
	ts := site(t)
	b := New(t)
	ctx := t.Context()

	must(t, b.Navigate(ctx, ts.URL+"/bad"))
	vs, err := b.A11y(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]Violation{}
	for _, v := range vs {
		found[v.ID] = v
	}
	for id, target := range map[string]string{"image-alt": "img", "label": "input"} {
		v, ok := found[id]
		if !ok {
			t.Errorf("no %s violation in %v", id, vs)
			continue
		}
		if !v.Serious() || v.Help == "" || !strings.HasPrefix(v.HelpURL, "https://") || len(v.Targets) != 1 || v.Targets[0] != target {
			t.Errorf("violation %+v: want serious, with help and target %s", v, target)
		}
	}
	// CheckA11y reports them as a test failure...
	r := &recorder{TB: t}
	b.CheckA11y(r)
	if len(r.errors) != 1 || !strings.Contains(r.errors[0], "image-alt") || !strings.Contains(r.errors[0], "[input]") {
		t.Errorf("CheckA11y on a bad page reported %q", r.errors)
	}

	// ... and passes a page without them (a second run reuses the loaded
	// axe-core only within a page; this is a new one).
	must(t, b.Navigate(ctx, ts.URL+"/good"))
	r = &recorder{TB: t}
	b.CheckA11y(r)
	if len(r.errors) != 0 {
		t.Errorf("CheckA11y on a good page: %q", r.errors)
	}
}

// recorder is a testing.TB that records Errorf, and ends the goroutine at
// Skip and Fatal, recording them too.
type recorder struct {
	testing.TB
	errors, skips, fatals []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Skip(args ...any) {
	r.skips = append(r.skips, fmt.Sprint(args...))
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) {
	r.fatals = append(r.fatals, fmt.Sprint(args...))
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) { r.Fatal(fmt.Sprintf(format, args...)) }

// inGoroutine runs f(r) where runtime.Goexit ends only f.
func inGoroutine(r *recorder, f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
}

func TestMissingChromiumSkipsOrFailsInCI(t *testing.T) {
	t.Setenv("PORTICO_CHROMIUM", t.TempDir()+"/no-chromium")
	t.Setenv("CI", "")
	r := &recorder{TB: t}
	inGoroutine(r, func(tb testing.TB) { New(tb) })
	if len(r.skips) != 1 || len(r.fatals) != 0 || !strings.Contains(r.skips[0], "no-chromium") {
		t.Errorf("without CI: skips %q, fatals %q", r.skips, r.fatals)
	}
	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	inGoroutine(r, func(tb testing.TB) { New(tb) })
	if len(r.fatals) != 1 || len(r.skips) != 0 || !strings.Contains(r.fatals[0], "CI=true") {
		t.Errorf("with CI=true: skips %q, fatals %q", r.skips, r.fatals)
	}
}

func TestMissingAxeSkipsOrFailsInCI(t *testing.T) {
	t.Setenv("PORTICO_AXE_JS", t.TempDir()+"/no-axe.js")
	t.Setenv("CI", "")
	var b Browser // CheckA11y gives up before it uses the browser
	r := &recorder{TB: t}
	inGoroutine(r, b.CheckA11y)
	if len(r.skips) != 1 || len(r.fatals) != 0 || !strings.Contains(r.skips[0], "no-axe.js") {
		t.Errorf("without CI: skips %q, fatals %q", r.skips, r.fatals)
	}
	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	inGoroutine(r, b.CheckA11y)
	if len(r.fatals) != 1 || len(r.skips) != 0 {
		t.Errorf("with CI=true: skips %q, fatals %q", r.skips, r.fatals)
	}
}

func TestLocalhost(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080/a?b=c": "http://localhost:8080/a?b=c",
		"http://[::1]:9/x":            "http://localhost:9/x",
		"http://127.0.0.1":            "http://localhost",
		"https://example.com:1/":      "https://example.com:1/",
		"http://10.0.0.1:1/":          "http://10.0.0.1:1/",
	} {
		if got := Localhost(in); got != want {
			t.Errorf("Localhost(%q) = %q, want %q", in, got, want)
		}
	}
}
