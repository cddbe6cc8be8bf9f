package broker_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// The device authorization grant (RFC 8628) over HTTP: the device's
// requests, the person's pages driven by a cookie-keeping client, and the
// polling answers, with the broker's clock moved by the test instead of
// sleeping. device_browser_test.go drives the same pages in Chromium.

const (
	deviceClient = "tv-app"         // public, device grant and refresh
	deviceSecret = "tv-app-secret!" // of deviceConfidential
	// deviceConfidential authenticates with a secret.
	deviceConfidential = "tv-backend"
)

func deviceConfig(t testing.TB) *config.Config {
	cfg := testenv.Config(t)
	cfg.Clients = append(cfg.Clients,
		config.Client{ID: deviceClient, Name: "Living Room TV", Public: true, GrantTypes: []string{config.GrantDeviceCode, "refresh_token"}},
		config.Client{ID: deviceConfidential, Secret: deviceSecret, GrantTypes: []string{config.GrantDeviceCode}})
	return cfg
}

// deviceAuth is a /device/authorize answer.
type deviceAuth struct {
	tokenResponse
	DeviceCode, UserCode, URI, URIComplete string
	ExpiresIn, Interval                    int
}

// authorizeDevice posts form to /device/authorize as client (secret empty
// for a public one).
func authorizeDevice(t *testing.T, issuer, client, secret string, form url.Values) deviceAuth {
	t.Helper()
	user := client
	if secret == "" {
		form.Set("client_id", client)
		user = ""
	}
	r := postDevice(t, issuer+"/device/authorize", user, secret, form)
	num := func(k string) int { f, _ := r.Body[k].(float64); return int(f) }
	return deviceAuth{tokenResponse: r, DeviceCode: r.str("device_code"), UserCode: r.str("user_code"),
		URI: r.str("verification_uri"), URIComplete: r.str("verification_uri_complete"), ExpiresIn: num("expires_in"), Interval: num("interval")}
}

// poll asks /token for the device code's tokens as the public client.
func poll(t *testing.T, issuer, deviceCode string) tokenResponse {
	t.Helper()
	return pollAs(t, issuer, deviceClient, deviceCode)
}

// pollAs polls as the public client.
func pollAs(t *testing.T, issuer, client, deviceCode string) tokenResponse {
	t.Helper()
	return postToken(t, issuer, "", "", url.Values{"grant_type": {config.GrantDeviceCode}, "client_id": {client}, "device_code": {deviceCode}})
}

// pollErr polls and checks the error it answers.
func pollErr(t *testing.T, issuer, deviceCode, want string) tokenResponse {
	t.Helper()
	r := poll(t, issuer, deviceCode)
	if r.Status != http.StatusBadRequest || r.str("error") != want {
		t.Fatalf("poll: %d %v, want 400 %s", r.Status, r.Body, want)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("poll answer without Cache-Control: no-store")
	}
	return r
}

// noRedirectStop is a stopAt no redirect matches: the client follows all.
const noRedirectStop = "http://stop.invalid/"

// enterCode opens verification_uri_complete in br and submits the code
// form, returning the page it leads to.
func enterCode(t *testing.T, br *http.Client, d deviceAuth) page {
	t.Helper()
	p := getPage(t, br, d.URIComplete)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `value="`+d.UserCode+`"`) {
		t.Fatalf("device page: %d, code not filled in: %.300s", p.Status, p.Body)
	}
	return submit(t, br, p, nil)
}

// approveAs logs user in through the page the code led to and answers
// the approval page with answer ("allow" or "deny").
func approveAs(t *testing.T, br *http.Client, login page, user, pass, answer string) page {
	t.Helper()
	p := submit(t, br, login, map[string]string{"username": user, "password": pass})
	if p.Status != http.StatusOK || !strings.Contains(p.URL.Path, "/device/approve") {
		t.Fatalf("after login: %d at %s: %.300s", p.Status, p.URL, p.Body)
	}
	return submit(t, br, p, map[string]string{"answer": answer})
}

var userCodeRE = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

// TestDeviceFlow: the whole grant as RFC 8628 describes it, with each
// polling answer: authorization_pending, slow_down (the interval grows by
// 5 seconds and stays grown), the tokens once approved (id_token for
// openid, a refresh token for offline_access), then invalid_grant for the
// spent code.
func TestDeviceFlow(t *testing.T) {
	clock := testenv.NewClock()
	b := testenv.StartClock(t, deviceConfig(t), clock)

	d := authorizeDevice(t, b.URL, deviceClient, "", url.Values{"scope": {"openid profile offline_access"}})
	switch {
	case d.Status != http.StatusOK:
		t.Fatalf("device authorization: %d %v", d.Status, d.Body)
	case len(d.DeviceCode) < 40 || !userCodeRE.MatchString(d.UserCode):
		t.Fatalf("codes: device %q, user %q", d.DeviceCode, d.UserCode)
	case d.URI != b.URL+"/device" || d.URIComplete != b.URL+"/device?user_code="+d.UserCode:
		t.Fatalf("verification URIs %q, %q", d.URI, d.URIComplete)
	case d.ExpiresIn != 600 || d.Interval != 5:
		t.Fatalf("expires_in %d, interval %d", d.ExpiresIn, d.Interval)
	case d.Header.Get("Cache-Control") != "no-store":
		t.Fatal("device authorization without Cache-Control: no-store")
	}

	pollErr(t, b.URL, d.DeviceCode, "authorization_pending")
	// Polled again at once: too fast. The interval grows to 10 s...
	pollErr(t, b.URL, d.DeviceCode, "slow_down")
	// ...and stays grown: 6 s later is still too early...
	clock.Advance(6 * time.Second)
	pollErr(t, b.URL, d.DeviceCode, "slow_down")
	// ...now 15 s; after 16 the device may ask.
	clock.Advance(16 * time.Second)
	pollErr(t, b.URL, d.DeviceCode, "authorization_pending")

	br := testenv.NewBrowser(noRedirectStop)
	done := approveAs(t, br, enterCode(t, br, d), testenv.UserName, testenv.UserPassword, "allow")
	if done.Status != http.StatusOK || !strings.Contains(done.Body, "Device approved") {
		t.Fatalf("approval: %d %.300s", done.Status, done.Body)
	}
	clock.Advance(16 * time.Second)
	tok := poll(t, b.URL, d.DeviceCode)
	if tok.Status != http.StatusOK || tok.str("access_token") == "" || tok.str("id_token") == "" || tok.str("refresh_token") == "" {
		t.Fatalf("approved poll: %d %v", tok.Status, tok.Body)
	}
	if c := jwtClaims(t, tok.str("id_token")); c["aud"] != deviceClient || c["name"] != "Alice Example" {
		t.Errorf("id_token claims %v", c)
	}
	// The refresh token works like any other.
	rt := postToken(t, b.URL, "", "", url.Values{"grant_type": {"refresh_token"}, "client_id": {deviceClient}, "refresh_token": {tok.str("refresh_token")}})
	if rt.Status != http.StatusOK {
		t.Errorf("refresh: %d %v", rt.Status, rt.Body)
	}
	// The device code is spent.
	clock.Advance(16 * time.Second)
	pollErr(t, b.URL, d.DeviceCode, "invalid_grant")
	// So is the user code.
	p := enterCode(t, testenv.NewBrowser(noRedirectStop), d)
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "not valid") {
		t.Errorf("an answered user code entered again: %d %.300s", p.Status, p.Body)
	}
	// The field says it is the one in error, for screen readers.
	if !strings.Contains(p.Body, `aria-describedby="code-help form-error" aria-invalid="true"`) {
		t.Errorf("the refused code's field is not marked invalid: %.600s", p.Body)
	}
}

// TestDeviceDeniedAndExpired: a denial reaches the device as
// access_denied; a code nobody answered expires (by the broker's clock)
// into expired_token, and its user code is refused like a wrong one.
func TestDeviceDeniedAndExpired(t *testing.T) {
	clock := testenv.NewClock()
	b := testenv.StartClock(t, deviceConfig(t), clock)

	denied := authorizeDevice(t, b.URL, deviceClient, "", url.Values{"scope": {"openid"}})
	br := testenv.NewBrowser(noRedirectStop)
	if p := approveAs(t, br, enterCode(t, br, denied), testenv.UserName, testenv.UserPassword, "deny"); !strings.Contains(p.Body, "Device denied") {
		t.Fatalf("denial: %d %.300s", p.Status, p.Body)
	}
	pollErr(t, b.URL, denied.DeviceCode, "access_denied")

	late := authorizeDevice(t, b.URL, deviceClient, "", url.Values{"scope": {"openid"}})
	// The person opens the code form, then waits too long.
	login := enterCode(t, testenv.NewBrowser(noRedirectStop), late)
	clock.Advance(10*time.Minute + time.Second)
	pollErr(t, b.URL, late.DeviceCode, "expired_token")
	if p := enterCode(t, testenv.NewBrowser(noRedirectStop), late); p.Status != http.StatusBadRequest {
		t.Errorf("an expired user code: %d", p.Status)
	}
	if p := submit(t, br, login, map[string]string{"username": testenv.UserName, "password": testenv.UserPassword}); p.Status == http.StatusOK {
		t.Errorf("a login for an expired device code went on: %s", p.URL)
	}
}

// TestDeviceErrors: what a device's requests get wrong is answered with
// RFC 6749 §5.2 errors, never a 500.
func TestDeviceErrors(t *testing.T) {
	b := testenv.Start(t, deviceConfig(t))
	for _, tc := range []struct {
		name           string
		client, secret string
		form           url.Values
		status         int
		code           string
	}{
		{"client without the grant", testenv.ClientID, testenv.ClientSecret, url.Values{}, 400, "unauthorized_client"},
		{"unknown scope", deviceClient, "", url.Values{"scope": {"openid write:everything"}}, 400, "invalid_scope"},
		{"admin scope of a non-admin client", deviceClient, "", url.Values{"scope": {"admin"}}, 400, "invalid_scope"},
		{"scope too long", deviceClient, "", url.Values{"scope": {strings.Repeat("openid ", 200)}}, 400, "invalid_request"},
		{"wrong secret", deviceConfidential, "nope", url.Values{}, 401, "invalid_client"},
		{"confidential", deviceConfidential, deviceSecret, url.Values{"scope": {"openid"}}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := authorizeDevice(t, b.URL, tc.client, tc.secret, tc.form)
			if d.Status != tc.status || d.str("error") != tc.code {
				t.Errorf("%d %v, want %d %q", d.Status, d.Body, tc.status, tc.code)
			}
		})
	}
	other := authorizeDevice(t, b.URL, deviceConfidential, deviceSecret, url.Values{})
	for _, tc := range []struct {
		name string
		form url.Values
		code string
	}{
		{"no device_code", url.Values{}, "invalid_request"},
		{"unknown device_code", url.Values{"device_code": {"nope"}}, "invalid_grant"},
		{"huge device_code", url.Values{"device_code": {strings.Repeat("x", 10000)}}, "invalid_grant"},
		{"another client's code", url.Values{"device_code": {other.DeviceCode}}, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("grant_type", config.GrantDeviceCode)
			tc.form.Set("client_id", deviceClient)
			if r := postToken(t, b.URL, "", "", tc.form); r.Status != 400 || r.str("error") != tc.code {
				t.Errorf("%d %v, want 400 %s", r.Status, r.Body, tc.code)
			}
		})
	}
	// A client without the grant may not poll either.
	r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {config.GrantDeviceCode}, "device_code": {other.DeviceCode}})
	if r.str("error") != "unauthorized_client" {
		t.Errorf("poll by a client without the grant: %d %v", r.Status, r.Body)
	}
}

// TestDeviceCodeGuessing: wrong user codes are failed guesses, throttled
// per address like passwords (with the address's allowance, ten times an
// account's): past the free failures the form answers 429 with
// Retry-After — for the right code too, or the guessing would go on.
func TestDeviceCodeGuessing(t *testing.T) {
	cfg := deviceConfig(t)
	cfg.Login.Throttle = config.Throttle{FreeFailures: 3, BaseDelay: config.Duration(time.Hour), MaxDelay: config.Duration(time.Hour)}
	const free = 3 * 10
	b := testenv.Start(t, cfg)
	d := authorizeDevice(t, b.URL, deviceClient, "", url.Values{"scope": {"openid"}})
	br := testenv.NewBrowser(noRedirectStop)
	form := getPage(t, br, b.URL+"/device")
	// Malformed, unknown, well-formed but unknown: all the same answer,
	// and all count; the one past the free failures too.
	wrong := []string{"hello", "BCDF-GHJK", "bcdfghjz"}
	for len(wrong) < free+1 {
		wrong = append(wrong, "ZZZZ-ZZ"+string(userCodeAlphabet[len(wrong)%20])+string(userCodeAlphabet[len(wrong)/20]))
	}
	for i, code := range wrong {
		if code == d.UserCode {
			continue
		}
		if p := submit(t, br, form, map[string]string{"user_code": code}); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "not valid") {
			t.Fatalf("wrong code %d: %d %.300s", i, p.Status, p.Body)
		}
	}
	typed := strings.ToLower(strings.ReplaceAll(d.UserCode, "-", " "))
	req, _ := http.NewRequest(http.MethodPost, b.URL+"/device", strings.NewReader(url.Values{"csrf": {formValue(t, form, "csrf")}, "user_code": {typed}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := br.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the right code after the free failures: %d, want 429", resp.StatusCode)
	}
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	// Without the failures (all test traffic comes from 127.0.0.1, so a
	// fresh broker stands in for another address) the right code, typed
	// loosely, starts the login.
	b2 := testenv.Start(t, deviceConfig(t))
	d2 := authorizeDevice(t, b2.URL, deviceClient, "", url.Values{"scope": {"openid"}})
	br2 := testenv.NewBrowser(noRedirectStop)
	f2 := getPage(t, br2, b2.URL+"/device")
	if p := submit(t, br2, f2, map[string]string{"user_code": " " + strings.ToLower(d2.UserCode) + " "}); p.Status != http.StatusOK || !strings.Contains(p.URL.Path, "/login/") {
		t.Errorf("a right code typed loosely: %d at %s", p.Status, p.URL)
	}
}

// userCodeAlphabet is the broker's (device.go).
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// TestDeviceCSRF: the code form takes only posts of its own page.
func TestDeviceCSRF(t *testing.T) {
	b := testenv.Start(t, deviceConfig(t))
	d := authorizeDevice(t, b.URL, deviceClient, "", url.Values{"scope": {"openid"}})
	br := testenv.NewBrowser(noRedirectStop)
	form := getPage(t, br, d.URIComplete)
	if p := submit(t, br, form, map[string]string{"csrf": "forged"}); p.Status != http.StatusForbidden {
		t.Errorf("forged token: %d", p.Status)
	}
	// The page's token in another browser (without this one's cookie).
	if p := submit(t, testenv.NewBrowser(noRedirectStop), form, nil); p.Status != http.StatusForbidden {
		t.Errorf("another browser: %d", p.Status)
	}
}

// formValue reads a field of the page's first form.
func formValue(t *testing.T, p page, name string) string {
	t.Helper()
	f, err := testenv.ParseForm(p.URL, p.Body)
	if err != nil {
		t.Fatal(err)
	}
	return f.Values.Get(name)
}

// postDevice posts form to u, with basic auth when user is set, and reads
// the JSON answer.
func postDevice(t *testing.T, u, user, pass string, form url.Values) tokenResponse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := tokenResponse{Status: resp.StatusCode, Header: resp.Header}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r.Body); err != nil {
		t.Fatalf("%s answered %d with non-JSON: %v", u, resp.StatusCode, err)
	}
	return r
}

// TestDeviceAdminScope: the CLI's way to an admin token. The admin scope
// goes only to a client the file trusts for administration (admin: true,
// allowed the device grant), for a user who is an administrator, and only
// after a fresh login: a live single sign-on session serves the device's
// other requests but never this one.
func TestDeviceAdminScope(t *testing.T) {
	const cli = "portico-cli"
	cfg := adminConfig(t) // two connectors: the login starts at the picker
	cfg.Clients = append(cfg.Clients, config.Client{ID: cli, Name: "Portico CLI", Public: true, Admin: true,
		GrantTypes: []string{config.GrantDeviceCode}, Scopes: []string{"admin"}})
	b := testenv.Start(t, cfg)
	machine := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	_, alice := loginAt(t, b, "local", testenv.UserName, testenv.UserPassword)
	mustStatus(t, call(t, b, machine, "PATCH", "/users/"+alice.Subject, map[string]any{"roles": []string{"admin"}}), 200, "make alice an admin")

	app := newRPFor(t, b, "local")
	app.Browser = testenv.NewSSOBrowser(testenv.RedirectURI)
	if _, _, err := app.Login(t.Context(), testenv.UserName, testenv.UserPassword); err != nil {
		t.Fatal(err)
	}
	br := app.Browser
	// Without the admin scope the session serves the login...
	plain := authorizeDevice(t, b.URL, cli, "", url.Values{"scope": {"openid"}})
	if p := enterCode(t, br, plain); !strings.HasSuffix(p.URL.Path, "/device/approve") {
		t.Fatalf("single sign-on did not serve the device without the admin scope: %d at %s", p.Status, p.URL)
	}
	// ...with it, the person logs in again.
	d := authorizeDevice(t, b.URL, cli, "", url.Values{"scope": {"openid admin"}})
	p := enterCode(t, br, d)
	if !strings.HasSuffix(p.URL.Path, "/login") {
		t.Fatalf("the admin scope was served from the session: %d at %s", p.Status, p.URL)
	}
	p = getPage(t, br, b.URL+"/login/local?"+p.URL.RawQuery)
	if done := approveAs(t, br, p, testenv.UserName, testenv.UserPassword, "allow"); !strings.Contains(done.Body, "Device approved") {
		t.Fatalf("approval: %d %.300s", done.Status, done.Body)
	}
	tok := pollAs(t, b.URL, cli, d.DeviceCode)
	if tok.Status != 200 || !slices.Contains(strings.Fields(tok.str("scope")), "admin") {
		t.Fatalf("admin device token: %d %v", tok.Status, tok.Body)
	}
	mustStatus(t, call(t, b, tok.str("access_token"), "GET", "/users", nil), 200, "the CLI's token at the admin API")

	// bob is no administrator: his grant narrows, and the API refuses it.
	d = authorizeDevice(t, b.URL, cli, "", url.Values{"scope": {"openid admin"}})
	br2 := testenv.NewBrowser(noRedirectStop)
	p = enterCode(t, br2, d)
	p = getPage(t, br2, b.URL+"/login/local?"+p.URL.RawQuery)
	approveAs(t, br2, p, bobName, bobPassword, "allow")
	tok = pollAs(t, b.URL, cli, d.DeviceCode)
	if tok.Status != 200 || slices.Contains(strings.Fields(tok.str("scope")), "admin") {
		t.Fatalf("a non-administrator's device token: %d %v", tok.Status, tok.Body)
	}
	mustStatus(t, call(t, b, tok.str("access_token"), "GET", "/users", nil), 403, "a non-administrator's token")
}

// TestDeviceClientsAtRuntime: a client given the device grant by dynamic
// registration (RFC 7591) or by the admin API uses it like one from the
// file; refresh_token goes with it without authorization_code.
func TestDeviceClientsAtRuntime(t *testing.T) {
	cfg := regConfig(t)
	cfg.Clients = append(cfg.Clients, adminConfig(t).Clients[2]) // the admin machine client
	b := testenv.Start(t, cfg)

	reg := regDo(t, http.MethodPost, b.URL+"/register", initialToken, map[string]any{
		"client_name": "Kiosk", "token_endpoint_auth_method": "none",
		"grant_types": []string{config.GrantDeviceCode, "refresh_token"}})
	if reg.Status != http.StatusCreated {
		t.Fatalf("registration: %d %v", reg.Status, reg.Body)
	}
	if d := authorizeDevice(t, b.URL, reg.str("client_id"), "", url.Values{"scope": {"openid"}}); d.Status != 200 {
		t.Errorf("registered device client: %d %v", d.Status, d.Body)
	}

	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	r := call(t, b, admin, "POST", "/clients", map[string]any{"id": "signage", "public": true,
		"grant_types": []string{config.GrantDeviceCode, "refresh_token"}})
	mustStatus(t, r, http.StatusCreated, "admin API client with the device grant")
	if d := authorizeDevice(t, b.URL, "signage", "", url.Values{"scope": {"openid"}}); d.Status != 200 {
		t.Errorf("admin API device client: %d %v", d.Status, d.Body)
	}
}
