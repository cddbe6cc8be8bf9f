package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"time"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/testenv"
)

// TestFullDisk runs `portico serve` with its Badger store on a small
// filesystem of the test's own (a tmpfs) and fills it. Badger writes
// through mmap, so unguarded the process would die of SIGBUS; instead it
// must stay up, answer what needs a write with 503 temporarily_unavailable
// and what only reads as usual, say why in /readyz, /metrics and its log,
// and resume by itself when the space is freed, with nothing committed
// lost. Then the same across a restart on a full disk: a graceful stop
// that does not fault, a start that refuses with a clear message, and a
// start once there is room that finds every token.
func TestFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the portico binary")
	}
	ctx := context.Background()
	fs := testenv.TmpFS(t, 48<<20)
	bin := buildPortico(t)
	addr := freeAddr(t)
	hash, err := local.Hash(testenv.UserPassword, testenv.FastParams)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "portico.yaml")
	// The floor is smaller than the default (96 MiB) to fit the tmpfs;
	// the auth code lives long enough to be redeemed after the outage.
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, `issuer: http://%[1]s
listen: %[1]s
storage: {type: badger, dir: %[2]s, min_free_space: 16MiB}
connectors: [{id: local, type: local}]
clients:
  - {id: %[3]s, secret: %[4]s, redirect_uris: ["%[5]s"], grant_types: [authorization_code, refresh_token]}
users:
  - {username: %[6]s, email: %[7]s, password_hash: "%[8]s"}
tokens: {auth_code_ttl: 10m}
log: {level: warn}
`, addr, filepath.Join(fs, "data"), testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI, testenv.UserName, testenv.UserEmail, hash), 0o600); err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + addr
	b := &testenv.Broker{URL: issuer}

	p := startWithLog(t, bin, cfgPath, issuer)
	rp, err := testenv.NewRP(ctx, issuer, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	// A browser with a single sign-on session, for after the fill.
	sso, err := testenv.NewRP(ctx, issuer, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	sso.Browser = testenv.NewSSOBrowser(testenv.RedirectURI)
	if _, _, err := sso.Login(ctx, testenv.UserName, testenv.UserPassword); err != nil {
		t.Fatal(err)
	}
	// A login whose code the application redeems only after the outage.
	pending := rp.NewFlow()
	pendingCB, err := rp.Authorize(ctx, pending.AuthURL, testenv.UserName, testenv.UserPassword)
	if err != nil || pendingCB.Query.Get("code") == "" {
		t.Fatalf("authorize: %v %d", err, pendingCB.Status)
	}

	filler := testenv.FillFS(t, fs)
	st, body := waitReadyz(t, issuer, http.StatusServiceUnavailable)
	if !strings.Contains(body, `"name":"store","status":"failed"`) || !strings.Contains(body, "writes refused") ||
		!strings.Contains(body, "below the floor of 16.0 MiB") {
		t.Errorf("readyz on a full disk = %d %s, want the store failed and why", st, body)
	}
	if st := getStatus(t, issuer+"/healthz"); st != http.StatusOK {
		t.Errorf("healthz on a full disk: %d", st)
	}
	m := scrapeText(t, issuer)
	if m["portico_store_refusing_writes"] != 1 || m["portico_store_free_bytes"] >= m["portico_store_min_free_bytes"] ||
		m["portico_store_min_free_bytes"] != 16<<20 {
		t.Errorf("metrics on a full disk: refusing %v, free %v, min %v", m["portico_store_refusing_writes"],
			m["portico_store_free_bytes"], m["portico_store_min_free_bytes"])
	}

	// What needs a write: 503, temporarily_unavailable, and no harm done.
	if r := refresh(t, b, first.RefreshToken); r.Status != http.StatusServiceUnavailable || r.str("error") != "temporarily_unavailable" {
		t.Errorf("refresh on a full disk: %d %v, want 503 temporarily_unavailable", r.Status, r.Body)
	}
	redeem := url.Values{"grant_type": {"authorization_code"}, "code": {pendingCB.Query.Get("code")},
		"redirect_uri": {testenv.RedirectURI}, "code_verifier": {pending.Verifier}}
	if r := postToken(t, issuer, testenv.ClientID, testenv.ClientSecret, redeem); r.Status != http.StatusServiceUnavailable ||
		r.str("error") != "temporarily_unavailable" {
		t.Errorf("code exchange on a full disk: %d %v, want 503 temporarily_unavailable", r.Status, r.Body)
	}
	// A login cannot store its request: the browser goes back to the
	// application with the OAuth error for it (RFC 6749 §4.1.2.1).
	if cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, testenv.UserName, testenv.UserPassword); err != nil ||
		cb.Query.Get("error") != "temporarily_unavailable" {
		t.Errorf("login on a full disk: %v, status %d, query %v, want error=temporarily_unavailable", err, cb.Status, cb.Query)
	}
	// The same from the browser's session, silent or not: the session's
	// record cannot be updated, and the application is told so.
	for _, prompt := range []string{"", "none"} {
		f := sso.NewFlow(oauth2.SetAuthURLParam("prompt", prompt))
		if cb, err := sso.Authorize(ctx, f.AuthURL, "", ""); err != nil || cb.Query.Get("error") != "temporarily_unavailable" {
			t.Errorf("single sign-on (prompt=%q) on a full disk: %v, status %d, query %v, want error=temporarily_unavailable", prompt, err, cb.Status, cb.Query)
		}
	}
	// What only reads: as usual.
	if st := getStatus(t, issuer+"/keys"); st != http.StatusOK {
		t.Errorf("/keys on a full disk: %d", st)
	}
	for name, tok := range map[string]string{"access token": first.AccessToken, "refresh token": first.RefreshToken} {
		if !active(t, b, tok) {
			t.Errorf("introspection of a live %s on a full disk: inactive", name)
		}
	}
	if st := userinfoStatus(t, issuer, second.AccessToken); st != http.StatusOK {
		t.Errorf("userinfo on a full disk: %d", st)
	}
	select {
	case <-p.exited:
		t.Fatalf("portico died on a full disk: %v\n%s", p.cmd.ProcessState, p.log)
	default:
	}
	if !strings.Contains(p.log.String(), "refusing writes until the data directory's filesystem has more free space") {
		t.Errorf("no log line says why writes are refused:\n%s", p.log)
	}

	// Space back: service resumes without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitReadyz(t, issuer, http.StatusOK)
	if m := scrapeText(t, issuer); m["portico_store_refusing_writes"] != 0 {
		t.Errorf("portico_store_refusing_writes = %v with space back", m["portico_store_refusing_writes"])
	}
	rotated := refresh(t, b, first.RefreshToken) // the refused attempt rotated nothing
	if rotated.Status != http.StatusOK {
		t.Fatalf("refresh with space back: %d %v", rotated.Status, rotated.Body)
	}
	late, _, err := rp.Finish(ctx, pending, pendingCB)
	if err != nil {
		t.Fatalf("the code refused during the outage, redeemed after: %v", err)
	}
	third, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatalf("login with space back: %v", err)
	}

	// A restart while the disk is full.
	filler = testenv.FillFS(t, fs)
	waitReadyz(t, issuer, http.StatusServiceUnavailable)
	if err := p.stop(); err != nil {
		t.Errorf("SIGTERM on a full disk: %v, want a clean exit\n%s", err, p.log)
	}
	if strings.Contains(p.log.String(), "unexpected fault") {
		t.Errorf("portico faulted while stopping on a full disk:\n%s", p.log)
	}
	out, err := runToExit(t, bin, "serve", "--config", cfgPath)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("serve on a full disk: %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{"not starting", "below the floor of 16.0 MiB", "storage.min_free_space"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve on a full disk does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "unexpected fault") {
		t.Errorf("portico faulted starting on a full disk:\n%s", out)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	startWithLog(t, bin, cfgPath, issuer)
	waitReadyz(t, issuer, http.StatusOK)
	// Nothing committed was lost: every live token from before, from the
	// outage and from the restart is still alive, and the rotated-away
	// refresh token is still spent.
	for name, tok := range map[string]string{
		"second access token": second.AccessToken, "second refresh token": second.RefreshToken,
		"rotated refresh token": rotated.str("refresh_token"), "rotated access token": rotated.str("access_token"),
		"late refresh token": late.RefreshToken, "third refresh token": third.RefreshToken,
	} {
		if !active(t, b, tok) {
			t.Errorf("%s lost across the full disk and restart", name)
		}
	}
	if active(t, b, first.RefreshToken) {
		t.Error("the refresh token rotated before the restart is active again")
	}
	if r := refresh(t, b, third.RefreshToken); r.Status != http.StatusOK {
		t.Errorf("refresh after the restart: %d %v", r.Status, r.Body)
	}
}

// stop ends the process with SIGTERM, a graceful stop, and returns its
// exit status as an error (nil for 0).
func (p *loggedPortico) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		return errors.New("no exit 30 s after SIGTERM")
	}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Errorf("killed by %v", ws.Signal())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("exit status %d", code)
	}
	return nil
}

// runToExit runs bin with args until it exits (within a minute) and
// returns its output and cmd.Wait's error.
func runToExit(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(cctx, bin, args...).CombinedOutput()
	if cctx.Err() != nil {
		t.Fatalf("%s %v did not exit within a minute:\n%s", bin, args, out)
	}
	return string(out), err
}

func statusOf(u string) (int, error) {
	resp, err := http.Get(u)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func getStatus(t *testing.T, u string) int {
	t.Helper()
	st, err := statusOf(u)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitReadyz polls /readyz until it answers want, for at most 10 s: the
// store re-measures its free space at most a second after the last
// measure, and the probe sees the change then.
func waitReadyz(t *testing.T, issuer string, want int) (int, string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(issuer + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == want {
			return resp.StatusCode, string(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d %s after 10 s, want %d", resp.StatusCode, body, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scrapeText reads the unlabelled series of /metrics.
func scrapeText(t *testing.T, issuer string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(issuer + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for line := range strings.Lines(string(raw)) {
		name, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out[name] = f
		}
	}
	return out
}
