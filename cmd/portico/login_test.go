package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// `portico login` against a real broker (testenv, in this process) whose
// clock the command's waits move: no test sleeps through an interval.

const cliClient = defaultCLIClient

func loginBroker(t *testing.T) (*testenv.Broker, *testenv.Clock) {
	t.Helper()
	cfg := testenv.Config(t)
	cfg.Clients = append(cfg.Clients,
		config.Client{ID: adminClient, Secret: adminSecret, GrantTypes: []string{"client_credentials"}, Scopes: []string{"admin"}, Admin: true},
		config.Client{ID: cliClient, Name: "Portico CLI", Public: true, Admin: true, GrantTypes: []string{config.GrantDeviceCode}, Scopes: []string{"admin"}})
	clock := testenv.NewClock()
	b := testenv.StartClock(t, cfg, clock)
	// alice logs in once (her user is made) and is made an administrator.
	rp, err := testenv.NewRP(t.Context(), b.URL, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	_, idt, err := rp.Login(t.Context(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	cc := clientcredentials.Config{ClientID: adminClient, ClientSecret: adminSecret, TokenURL: b.URL + "/token",
		Scopes: []string{"admin"}, AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPatch, b.URL+"/admin/v1/users/"+idt.Subject, strings.NewReader(`{"roles":["admin"]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("make alice an admin: %v %v", err, resp)
	}
	resp.Body.Close()
	return b, clock
}

var userCodeOut = regexp.MustCompile(`\n\s+([A-Z]{4}-[A-Z]{4})\n`)

// answerInBrowser plays the person: reads the code the command printed,
// enters it at the broker, logs in as alice and answers.
func answerInBrowser(t *testing.T, issuer, printed, answer string) {
	t.Helper()
	m := userCodeOut.FindStringSubmatch(printed)
	if m == nil {
		t.Fatalf("no user code printed:\n%s", printed)
	}
	br := testenv.NewBrowser("http://stop.invalid/")
	post := func(p *http.Response, set map[string]string) *http.Response {
		t.Helper()
		defer p.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(p.Body, 1<<20))
		f, err := testenv.ParseForm(p.Request.URL, string(body))
		if err != nil {
			t.Fatalf("%v at %s (%d)", err, p.Request.URL, p.StatusCode)
		}
		for k, v := range set {
			f.Values.Set(k, v)
		}
		r, err := br.PostForm(f.Action, f.Values)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	p, err := br.Get(issuer + "/device?user_code=" + url.QueryEscape(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	p = post(p, nil)
	p = post(p, map[string]string{"username": testenv.UserName, "password": testenv.UserPassword})
	p = post(p, map[string]string{"answer": answer})
	p.Body.Close()
	if p.StatusCode != 200 {
		t.Fatalf("answering the device request: %d at %s", p.StatusCode, p.Request.URL)
	}
}

// runLogin runs portico login with args; wait stands in for the
// command's waits between polls, given what it printed so far.
func runLogin(t *testing.T, wait func(d time.Duration, printed string), args ...string) (string, error) {
	t.Helper()
	errOut := &syncBuffer{}
	old := loginWait
	loginWait = func(ctx context.Context, d time.Duration) error {
		wait(d, errOut.String())
		return ctx.Err()
	}
	defer func() { loginWait = old }()
	root := newRoot()
	root.SetArgs(append([]string{"login"}, args...))
	root.SetOut(&syncBuffer{})
	root.SetErr(errOut)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return errOut.String(), root.ExecuteContext(ctx)
}

// TestLogin: portico login waits the server's interval, slows down when
// told to (5 s more, kept), saves the token with mode 0600, and the admin
// commands given --server use it.
func TestLogin(t *testing.T) {
	b, clock := loginBroker(t)
	file := filepath.Join(t.TempDir(), "conf", "portico", "token.json")
	t.Setenv(envTokenFile, file)
	t.Setenv(envAdminToken, "")
	t.Setenv(envClientID, "")
	t.Setenv(envClientSecret, "")

	var waits []time.Duration
	_, err := runLogin(t, func(d time.Duration, printed string) {
		waits = append(waits, d)
		switch len(waits) {
		case 2:
			// The second poll comes a second early (a clock that runs
			// fast, say): the broker answers slow_down.
			clock.Advance(d - time.Second)
		case 3:
			answerInBrowser(t, b.URL, printed, "allow")
			clock.Advance(d)
		default:
			clock.Advance(d)
		}
	}, "--server", b.URL)
	if err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{5 * time.Second, 5 * time.Second, 10 * time.Second}; !slices.Equal(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	var saved savedToken
	raw, _ := os.ReadFile(file)
	if err := json.Unmarshal(raw, &saved); err != nil || saved.Server != b.URL || !slices.Contains(strings.Fields(saved.Scope), "admin") {
		t.Fatalf("saved token %s (%v)", raw, err)
	}

	// The admin commands use it.
	if out := mustRun(t, "", "users", "list", "--server", b.URL); !listed(out, testenv.UserName) {
		t.Errorf("users list with the saved token:\n%s", out)
	}
	// Not for another server, and not when others can read it.
	if msg := mustFail(t, "", "users", "list", "--server", "http://127.0.0.1:1"); !strings.Contains(msg, "saved token is for") {
		t.Errorf("another server: %q", msg)
	}
	os.Chmod(file, 0o644)
	if msg := mustFail(t, "", "users", "list", "--server", b.URL); !strings.Contains(msg, "readable by others") {
		t.Errorf("a token file others can read: %q", msg)
	}
}

// TestLoginDenied: a denial in the browser ends the command with an error
// and saves nothing.
func TestLoginDenied(t *testing.T) {
	b, clock := loginBroker(t)
	file := filepath.Join(t.TempDir(), "token.json")
	_, err := runLogin(t, func(d time.Duration, printed string) {
		answerInBrowser(t, b.URL, printed, "deny")
		clock.Advance(d)
	}, "--server", b.URL, "--token-file", file)
	if err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("login denied: %v", err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("a token file after a denial: %v", err)
	}
}
