package broker_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/testenv"
)

// logoutRP is a relying party's back-channel logout endpoint: a real HTTP
// server on 127.0.0.1 that hands every logout_token it receives to got.
type logoutRP struct {
	URL string
	got chan string
	// answer is the status of the n-th request (from 1); nil answers 200.
	answer func(n int) int
	// block, when set, holds every request until it is closed; entered
	// says a request is being held.
	block, entered chan struct{}

	mu sync.Mutex
	n  int
}

func newLogoutRP(t *testing.T) *logoutRP {
	t.Helper()
	rp := &logoutRP{got: make(chan string, 32)}
	srv := httptest.NewServer(http.HandlerFunc(rp.serve))
	t.Cleanup(srv.Close)
	rp.URL = srv.URL + "/backchannel?tenant=a" // §2.2: a query is allowed
	return rp
}

func (rp *logoutRP) serve(w http.ResponseWriter, r *http.Request) {
	// §2.5: a POST of a form with the one parameter logout_token.
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.URL.Query().Get("tenant") != "a" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	rp.mu.Lock()
	rp.n++
	n := rp.n
	rp.mu.Unlock()
	rp.got <- r.PostForm.Get("logout_token")
	if rp.block != nil {
		rp.entered <- struct{}{}
		<-rp.block
	}
	status := http.StatusOK
	if rp.answer != nil {
		status = rp.answer(n)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
}

// next waits for the next logout token the RP receives.
func (rp *logoutRP) next(t *testing.T, what string) string {
	t.Helper()
	select {
	case tok := <-rp.got:
		return tok
	case <-time.After(time.Minute):
		t.Fatalf("%s: no logout token reached the RP", what)
		return ""
	}
}

// backchannelConfig is adminConfig with the confidential client
// registered for back-channel logout at uri.
func backchannelConfig(t *testing.T, uri string) *testenv.Broker {
	cfg := adminConfig(t)
	cfg.Clients[0].BackchannelLogoutURI = uri
	cfg.Clients[0].BackchannelLogoutSessionRequired = true
	return testenv.Start(t, cfg)
}

// checkLogoutToken verifies raw as a relying party would (Back-Channel
// Logout §2.6), with go-oidc against Portico's JWKS: signature, iss, aud,
// exp; then iat, jti, events, sid, sub, no nonce, and the typ header. It
// returns the jti.
func checkLogoutToken(t *testing.T, b *testenv.Broker, raw, wantSub, wantSID string) string {
	t.Helper()
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, b.URL)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: testenv.ClientID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("logout token does not verify: %v", err)
	}
	// The header, decoded by hand: §2.4's explicit type.
	h, _, _ := strings.Cut(raw, ".")
	hb, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var header map[string]any
	if err := json.Unmarshal(hb, &header); err != nil {
		t.Fatal(err)
	}
	if header["typ"] != "logout+jwt" || header["kid"] == nil {
		t.Errorf("header %v, want typ logout+jwt and a kid", header)
	}
	var c map[string]any
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c["iss"] != b.URL || idt.Subject != wantSub || c["sid"] != wantSID {
		t.Errorf("iss %v sub %v sid %v, want %s %s %s", c["iss"], idt.Subject, c["sid"], b.URL, wantSub, wantSID)
	}
	if len(idt.Audience) != 1 || idt.Audience[0] != testenv.ClientID {
		t.Errorf("aud %v, want [%s]", idt.Audience, testenv.ClientID)
	}
	if _, ok := c["nonce"]; ok {
		t.Error("a logout token carries a nonce (§2.4 forbids it)")
	}
	iat, _ := c["iat"].(float64)
	exp, _ := c["exp"].(float64)
	if now := float64(time.Now().Unix()); iat < now-60 || iat > now+5 || exp <= iat || exp-iat > 120 {
		t.Errorf("iat %v exp %v: want now and a short life", iat, exp)
	}
	ev, _ := c["events"].(map[string]any)
	if m, ok := ev["http://schemas.openid.net/event/backchannel-logout"].(map[string]any); !ok || len(m) != 0 || len(ev) != 1 {
		t.Errorf("events %v, want the back-channel logout event with {}", c["events"])
	}
	jti, _ := c["jti"].(string)
	if len(jti) < 16 {
		t.Errorf("jti %q", jti)
	}
	return jti
}

// sidOf returns the sid the client's id_token carried.
func sidOf(t *testing.T, idt *oidc.IDToken) string {
	t.Helper()
	var c struct {
		SID string `json:"sid"`
	}
	if err := idt.Claims(&c); err != nil || c.SID == "" {
		t.Fatalf("id_token without sid: %v", err)
	}
	return c.SID
}

// TestBackchannelLogoutEachWay: every way a session ends sends the client
// one logout token for exactly that session, valid for an independent
// verifier. A case's token naming another session would fail its check.
func TestBackchannelLogoutEachWay(t *testing.T) {
	ctx := context.Background()
	rp := newLogoutRP(t)
	b := backchannelConfig(t, rp.URL)
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	jtis := map[string]bool{}
	for _, c := range []struct {
		name string
		end  func(t *testing.T, r *testenv.RP, tok *oauth2.Token, sub, sid string)
	}{
		{"logout", func(t *testing.T, r *testenv.RP, tok *oauth2.Token, _, _ string) {
			hint, _ := tok.Extra("id_token").(string)
			if st, page := logoutPage(t, r.Browser, b.URL, url.Values{"id_token_hint": {hint}}); st != 200 || strings.Contains(page, confirmMark) {
				t.Fatalf("logout: %d %.200s", st, page)
			}
		}},
		{"admin ends one session", func(t *testing.T, _ *testenv.RP, _ *oauth2.Token, sub, sid string) {
			mustStatus(t, call(t, b, admin, "DELETE", "/users/"+sub+"/sessions/"+sid, nil), 204, "end session")
		}},
		{"admin ends all sessions", func(t *testing.T, _ *testenv.RP, _ *oauth2.Token, sub, _ string) {
			mustStatus(t, call(t, b, admin, "DELETE", "/users/"+sub+"/sessions", nil), 200, "end sessions")
		}},
		{"user disabled", func(t *testing.T, _ *testenv.RP, _ *oauth2.Token, sub, _ string) {
			mustStatus(t, call(t, b, admin, "PATCH", "/users/"+sub, map[string]any{"disabled": true}), 200, "disable")
			t.Cleanup(func() { call(t, b, admin, "PATCH", "/users/"+sub, map[string]any{"disabled": false}) })
		}},
		{"refresh token replayed", func(t *testing.T, _ *testenv.RP, tok *oauth2.Token, _, _ string) {
			if r := refresh(t, b, tok.RefreshToken); r.Status != 200 {
				t.Fatalf("refresh: %d %v", r.Status, r.Body)
			}
			if r := refresh(t, b, tok.RefreshToken); r.Status != 400 {
				t.Fatalf("replay: %d %v, want 400", r.Status, r.Body)
			}
		}},
		{"refresh token revoked", func(t *testing.T, _ *testenv.RP, tok *oauth2.Token, _, _ string) {
			revoke(t, b, tok.RefreshToken, "refresh_token")
		}},
		{"user deleted", func(t *testing.T, _ *testenv.RP, _ *oauth2.Token, sub, _ string) {
			mustStatus(t, call(t, b, admin, "DELETE", "/users/"+sub, nil), 204, "delete")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRPFor(t, b, "local")
			r.Browser = testenv.NewSSOBrowser(testenv.RedirectURI)
			tok, idt, err := r.Login(ctx, testenv.UserName, testenv.UserPassword)
			if err != nil {
				t.Fatal(err)
			}
			sid := sidOf(t, idt)
			c.end(t, r, tok, idt.Subject, sid)
			jti := checkLogoutToken(t, b, rp.next(t, c.name), idt.Subject, sid)
			if jtis[jti] {
				t.Errorf("jti %s used twice", jti)
			}
			jtis[jti] = true
		})
	}
	// Each delivery is audited; metrics count them.
	waitFor(t, "delivered audit events", func() bool {
		return strings.Count(b.Logs(), `"type":"logout.backchannel_delivered"`) == len(jtis)
	})
	if got := counter(t, b, "portico_backchannel_logouts_total", "delivered"); got != float64(len(jtis)) {
		t.Errorf("delivered counter %v, want %d", got, len(jtis))
	}
	if jwtInLog.MatchString(b.Logs()) {
		t.Error("a token reached the log")
	}
}

// jwtInLog matches a JWS in compact form: a base64url JSON header, then two
// dots. Searching for "eyJ" alone also matched random identifiers in the
// log (one in about 13,000 ids of 22 characters holds it): a flaky test.
var jwtInLog = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.`)

// waitFor polls cond until it holds. The background worker gives no other
// signal once it has audited; the bound only turns a hang into a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// counter reads one series of a counter from the broker's metrics.
func counter(t *testing.T, b *testenv.Broker, name, result string) float64 {
	t.Helper()
	fams, err := b.Server.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{result=%q}", name, result)
	return 0
}

// TestBackchannelLogoutHungRP: an RP that takes the request and never
// answers does not hold up the user's logout. The RP's handler is still
// blocked when the logout page comes back; a synchronous delivery would
// make the logout request hit its client timeout instead.
func TestBackchannelLogoutHungRP(t *testing.T) {
	rp := newLogoutRP(t)
	rp.block, rp.entered = make(chan struct{}), make(chan struct{}, 8)
	b := backchannelConfig(t, rp.URL)
	released := false
	release := func() {
		if !released {
			released = true
			close(rp.block)
		}
	}
	defer release() // before the RP's server closes, which waits for it
	r := newRPFor(t, b, "local")
	r.Browser = testenv.NewSSOBrowser(testenv.RedirectURI)
	r.Browser.Timeout = 10 * time.Second
	tok, idt, err := r.Login(context.Background(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	hint, _ := tok.Extra("id_token").(string)
	st, page := logoutPage(t, r.Browser, b.URL, url.Values{"id_token_hint": {hint}})
	if st != 200 || !strings.Contains(page, "logged out") {
		t.Fatalf("logout: %d %.300s", st, page)
	}
	raw := rp.next(t, "hung RP")
	select {
	case <-rp.entered: // the RP holds the request: it has not answered
	case <-time.After(time.Minute):
		t.Fatal("the RP never got the request")
	}
	checkLogoutToken(t, b, raw, idt.Subject, sidOf(t, idt))
	release()
	waitFor(t, "the delivery once the RP answers", func() bool {
		return strings.Contains(b.Logs(), `"type":"logout.backchannel_delivered"`)
	})
}

// TestBackchannelLogoutRetries: a 500 is retried with the same token; a
// 400 (the RP refused the token, §2.8) is not; an RP that is down fails
// after the bounded attempts, audited and counted. The revocation that
// ended the session was answered meanwhile (revoke checks its 200).
func TestBackchannelLogoutRetries(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downURL := "http://" + closed.Addr().String() + "/backchannel"
	closed.Close() // nothing listens there now
	for _, c := range []struct {
		name      string
		answer    func(n int) int
		down      bool
		posts     int // requests the RP sees
		waits     int // retries the broker waited for
		delivered bool
		reason    string
	}{
		{name: "500 then 200", answer: func(n int) int {
			if n == 1 {
				return 500
			}
			return 200
		}, posts: 2, waits: 1, delivered: true},
		{name: "always 503", answer: func(int) int { return 503 }, posts: 5, waits: 4, reason: "status"},
		{name: "400 is final", answer: func(int) int { return 400 }, posts: 1, reason: "status"},
		{name: "redirect is final", answer: func(int) int { return 307 }, posts: 1, reason: "status"},
		{name: "down", down: true, waits: 4, reason: "unreachable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rp := newLogoutRP(t)
			rp.answer = c.answer
			uri := rp.URL
			if c.down {
				uri = downURL
			}
			b := backchannelConfig(t, uri)
			// Retries happen when this says, with no wall-clock backoff.
			var mu sync.Mutex
			waits := 0
			b.Server.Broker.SetBackchannelWait(func(ctx context.Context, attempt int) error {
				mu.Lock()
				defer mu.Unlock()
				if waits++; attempt != waits {
					t.Errorf("wait after attempt %d, want %d", attempt, waits)
				}
				return ctx.Err()
			})
			tok, _ := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
			revoke(t, b, tok.RefreshToken, "refresh_token")
			want := "logout.backchannel_failed"
			if c.delivered {
				want = "logout.backchannel_delivered"
			}
			waitFor(t, want, func() bool { return strings.Contains(b.Logs(), `"type":"`+want+`"`) })
			var first string
			for i := range c.posts {
				raw := <-rp.got // already received: the outcome is audited after
				if i == 0 {
					first = raw
				} else if raw != first {
					t.Error("a retry sent another token")
				}
			}
			if len(rp.got) != 0 {
				t.Errorf("%d requests more than %d", len(rp.got), c.posts)
			}
			mu.Lock()
			if waits != c.waits {
				t.Errorf("%d waits, want %d", waits, c.waits)
			}
			mu.Unlock()
			if c.reason != "" && !strings.Contains(b.Logs(), `"reason":"`+c.reason+`"`) {
				t.Errorf("no failure with reason %s in the log", c.reason)
			}
			result := map[bool]string{true: "delivered", false: "failed"}[c.delivered]
			if got := counter(t, b, "portico_backchannel_logouts_total", result); got != 1 {
				t.Errorf("%s counter %v, want 1", result, got)
			}
		})
	}
}

// TestBackchannelLogoutShutdown: stopping the server does not wait for a
// hung RP beyond the grace period: the delivery is cancelled, audited as
// failed for the shutdown, and Stop returns.
func TestBackchannelLogoutShutdown(t *testing.T) {
	rp := newLogoutRP(t)
	rp.block, rp.entered = make(chan struct{}), make(chan struct{}, 8)
	defer close(rp.block) // before the RP's server closes, which waits for it
	b := backchannelConfig(t, rp.URL)
	b.Server.Broker.SetBackchannelCloseGrace(0)
	tok, _ := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	revoke(t, b, tok.RefreshToken, "refresh_token")
	<-rp.got
	select {
	case <-rp.entered:
	case <-time.After(time.Minute):
		t.Fatal("the RP never got the request")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- b.Stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Stop waits for a hung RP")
	}
	if logs := b.Logs(); !strings.Contains(logs, `"type":"logout.backchannel_failed"`) || !strings.Contains(logs, `"reason":"shutdown"`) {
		t.Error("the cancelled delivery was not audited as failed for the shutdown")
	}
}
