package broker_test

import (
	"encoding/base32"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/mfa"
	"github.com/portico-idp/portico/testenv"
)

// throttleConfig locks an account after three failures, for an hour: no
// machine is slow enough for a lock to end during a test. That locks end
// is broker/throttle's test, on an injected clock.
func throttleConfig(t *testing.T) *config.Config {
	cfg := testenv.Config(t)
	cfg.Login.Throttle = config.Throttle{FreeFailures: 3, LockAfter: 3, LockFor: config.Duration(time.Hour)}
	return cfg
}

// loginForm opens a new authorization in a new browser and returns the
// password form's page.
func loginForm(t *testing.T, b *testenv.Broker) (*http.Client, page) {
	rp := newRP(t, b)
	return rp.Browser, getPage(t, rp.Browser, rp.NewFlow().AuthURL)
}

// TestBruteForce is acceptance 7: after the threshold, further attempts for
// an account are throttled even with the right password, with Retry-After
// saying when the lock ends, and the lock ends then; an unknown account
// behaves the same; TOTP guessing is throttled too. The throttle reads the
// broker's clock, which stands still here: on the real clock a short lock
// ended while a loaded machine was still failing "nobody", and the right
// password then logged in (issue 19: "throttled answer: 303").
func TestBruteForce(t *testing.T) {
	clock := testenv.NewClock()
	b := testenv.StartClock(t, throttleConfig(t), clock)
	for _, user := range []string{testenv.UserName, "nobody"} {
		var got []int
		for i := range 5 {
			pass := "wrong-password"
			if i >= 3 {
				pass = testenv.UserPassword // the right one, for alice
			}
			br, form := loginForm(t, b)
			p := submit(t, br, form, map[string]string{"username": user, "password": pass})
			got = append(got, p.Status)
			if p.Status == http.StatusTooManyRequests {
				if !strings.Contains(p.Body, "Too many attempts") || !strings.Contains(p.Body, `name="password"`) {
					t.Errorf("%s: the 429 page does not say why or lost the form: %.300s", user, p.Body)
				}
			}
		}
		if want := []int{401, 401, 401, 429, 429}; !slicesEqual(got, want) {
			t.Errorf("%s: statuses %v, want %v", user, got, want)
		}
	}
	// Retry-After on the throttled answer: the rest of the hour's lock.
	br, form := loginForm(t, b)
	f, err := testenv.ParseForm(form.URL, form.Body)
	if err != nil {
		t.Fatal(err)
	}
	f.Values.Set("username", testenv.UserName)
	f.Values.Set("password", testenv.UserPassword)
	resp, err := br.PostForm(f.Action, f.Values)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 429 || err != nil || retry != 3600 { // the clock stood still: all of it
		t.Fatalf("throttled answer: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// A second before the lock ends it still holds; at its end the right
	// password logs in.
	clock.Advance(time.Duration(retry-1) * time.Second)
	br, form = loginForm(t, b)
	if p := submit(t, br, form, map[string]string{"username": testenv.UserName, "password": testenv.UserPassword}); p.Status != 429 {
		t.Fatalf("a second before the lock ends: %d, want 429", p.Status)
	}
	clock.Advance(time.Second)
	br, form = loginForm(t, b)
	if p := submit(t, br, form, map[string]string{"username": testenv.UserName, "password": testenv.UserPassword}); !strings.HasPrefix(p.Location, testenv.RedirectURI+"?code=") {
		t.Fatalf("after the lock ended: %d to %q", p.Status, p.Location)
	}
}

var manualKeyRE = regexp.MustCompile(`id="manual-key">([A-Z2-7 ]+)<`)

// TestBruteForceTOTP: guessing second-factor codes is throttled per user.
func TestBruteForceTOTP(t *testing.T) {
	cfg := throttleConfig(t)
	cfg.Login.MFA.Clients = []string{testenv.ClientID}
	b := testenv.Start(t, cfg)
	secret := enrolTOTP(t, b)
	// Guess.
	br, form := loginForm(t, b)
	challenge := submit(t, br, form, map[string]string{"username": testenv.UserName, "password": testenv.UserPassword})
	var got []int
	for range 4 {
		got = append(got, submit(t, br, challenge, map[string]string{"code": "123456"}).Status)
	}
	if want := []int{401, 401, 401, 429}; !slicesEqual(got, want) {
		t.Fatalf("TOTP guesses: %v, want %v", got, want)
	}
	// Even the right code waits for the lock.
	if p := submit(t, br, challenge, map[string]string{"code": mfa.Code(secret, time.Now().Add(mfa.Period))}); p.Status != 429 {
		t.Fatalf("right code during the lock: %d", p.Status)
	}
}

// enrolTOTP logs alice in through the login form of a client that needs
// a second factor, enrols an authenticator and returns its secret.
func enrolTOTP(t *testing.T, b *testenv.Broker) []byte {
	t.Helper()
	br, form := loginForm(t, b)
	enrol := submit(t, br, form, map[string]string{"username": testenv.UserName, "password": testenv.UserPassword})
	m := manualKeyRE.FindStringSubmatch(enrol.Body)
	if m == nil {
		t.Fatalf("no enrolment page: %d %s", enrol.Status, enrol.URL)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	if codes := submit(t, br, enrol, map[string]string{"code": mfa.Code(secret, time.Now())}); !strings.Contains(codes.Body, "recovery-codes") {
		t.Fatalf("enrolment refused: %d", codes.Status)
	}
	return secret
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPasswordSpraying: one address trying a password on many names is
// throttled by its address once its failures pass ten times an account's
// allowance, even for a name it never tried.
func TestPasswordSpraying(t *testing.T) {
	b := testenv.Start(t, throttleConfig(t)) // 3 per account: 30 per address
	for i := range 30 {
		br, form := loginForm(t, b)
		if p := submit(t, br, form, map[string]string{"username": "user" + strconv.Itoa(i), "password": "Winter2026!"}); p.Status != 401 {
			t.Fatalf("spray %d: %d, want 401", i, p.Status)
		}
	}
	br, form := loginForm(t, b)
	if p := submit(t, br, form, map[string]string{"username": testenv.UserName, "password": testenv.UserPassword}); p.Status != 429 {
		t.Fatalf("after 30 failures from one address, a fresh name: %d, want 429", p.Status)
	}
}

// TestThrottleAddressNotSpoofable: X-Forwarded-For does not choose the
// address counted unless it comes from a trusted proxy.
func TestThrottleAddressNotSpoofable(t *testing.T) {
	spray := func(b *testenv.Broker) int {
		for i := range 31 {
			br, form := loginForm(t, b)
			f, err := testenv.ParseForm(form.URL, form.Body)
			if err != nil {
				t.Fatal(err)
			}
			f.Values.Set("username", "user"+strconv.Itoa(i))
			f.Values.Set("password", "Winter2026!")
			req, _ := http.NewRequest(http.MethodPost, f.Action, strings.NewReader(f.Values.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", "198.51.100."+strconv.Itoa(i+1))
			resp, err := br.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests {
				return i
			}
		}
		return -1
	}
	if n := spray(testenv.Start(t, throttleConfig(t))); n != 30 {
		t.Errorf("spraying with forged X-Forwarded-For: throttled at attempt %d, want 30 (the real address counted)", n)
	}
	cfg := throttleConfig(t)
	cfg.Ops.TrustedProxies = []string{"127.0.0.1"} // the test client plays the load balancer
	if n := spray(testenv.Start(t, cfg)); n != -1 {
		t.Errorf("behind a trusted proxy, clients at distinct addresses were throttled together at attempt %d", n)
	}
}
