package broker_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/testenv"
)

// noFollow is a client that shows redirects instead of following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func authorizeURL(issuer string, q url.Values) string { return issuer + "/authorize?" + q.Encode() }

func baseQuery() url.Values {
	return url.Values{
		"client_id": {testenv.ClientID}, "redirect_uri": {testenv.RedirectURI}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {"st-1"}, "nonce": {"n-1"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
	}
}

// TestAuthorizeErrors covers every way /authorize refuses a request: the
// errors that must not redirect, and those returned at the redirect URI.
func TestAuthorizeErrors(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	tests := []struct {
		name     string
		edit     func(url.Values)
		status   int    // when no redirect is allowed
		errCode  string // when redirected
		errState string
		login    bool // not an error: the request goes on to the login
	}{
		{name: "unregistered redirect URI", edit: func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:5555/evil") }, status: 400},
		{name: "redirect URI differing in case", edit: func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:5555/Callback") }, status: 400},
		{name: "unknown client", edit: func(q url.Values) { q.Set("client_id", "nobody") }, status: 400},
		{name: "missing client", edit: func(q url.Values) { q.Del("client_id") }, status: 400},
		{name: "unsupported response_type", edit: func(q url.Values) { q.Set("response_type", "token") }, errCode: "unsupported_response_type", errState: "st-1"},
		{name: "missing response_type", edit: func(q url.Values) { q.Del("response_type") }, errCode: "invalid_request", errState: "st-1"},
		{name: "unknown scope", edit: func(q url.Values) { q.Set("scope", "openid admin") }, errCode: "invalid_scope", errState: "st-1"},
		{name: "plain PKCE", edit: func(q url.Values) { q.Set("code_challenge_method", "plain") }, errCode: "invalid_request", errState: "st-1"},
		{name: "malformed challenge", edit: func(q url.Values) { q.Set("code_challenge", "short") }, errCode: "invalid_request", errState: "st-1"},
		{name: "public client without PKCE", edit: func(q url.Values) {
			q.Set("client_id", testenv.PublicClient)
			q.Del("code_challenge")
			q.Del("code_challenge_method")
		}, errCode: "invalid_request", errState: "st-1"},
		{name: "prompt none without session", edit: func(q url.Values) { q.Set("prompt", "none") }, errCode: "login_required", errState: "st-1"},
		// What is stored before anyone logs in is bounded.
		{name: "state too long", edit: func(q url.Values) { q.Set("state", strings.Repeat("s", 2049)) }, errCode: "invalid_request"},
		{name: "state at the bound", edit: func(q url.Values) { q.Set("state", strings.Repeat("s", 2048)) }, login: true},
		{name: "nonce too long", edit: func(q url.Values) { q.Set("nonce", strings.Repeat("n", 513)) }, errCode: "invalid_request", errState: "st-1"},
		{name: "scope too long", edit: func(q url.Values) { q.Set("scope", "openid"+strings.Repeat(" profile", 200)) }, errCode: "invalid_request", errState: "st-1"},
		{name: "acr_values too long", edit: func(q url.Values) { q.Set("acr_values", strings.Repeat("a", 513)) }, errCode: "invalid_request", errState: "st-1"},
		// A request object that does not verify is refused, never
		// ignored (RFC 9101 §6.3); request objects by reference are not
		// supported; an unknown pushed request's redirect URI is unknown.
		{name: "unsigned request object", edit: func(q url.Values) { q.Set("request", "eyJhbGciOiJub25lIn0.e30.") }, errCode: "invalid_request_object", errState: "st-1"},
		{name: "request_uri by reference", edit: func(q url.Values) { q.Set("request_uri", "https://app.example.com/req") }, errCode: "request_uri_not_supported", errState: "st-1"},
		{name: "unknown pushed request_uri", edit: func(q url.Values) { q.Set("request_uri", "urn:ietf:params:oauth:request_uri:abc") }, status: 400},
		{name: "request and request_uri", edit: func(q url.Values) {
			q.Set("request", "eyJhbGciOiJub25lIn0.e30.")
			q.Set("request_uri", "https://app.example.com/req")
		}, errCode: "invalid_request", errState: "st-1"},
		{name: "request object without state", edit: func(q url.Values) {
			q.Set("request", "eyJhbGciOiJub25lIn0.e30.")
			q.Del("state")
		}, errCode: "invalid_request_object"},
		{name: "request object, unknown client", edit: func(q url.Values) {
			q.Set("request", "eyJhbGciOiJub25lIn0.e30.")
			q.Set("client_id", "nobody")
		}, status: 400},
		{name: "request_uri, unregistered redirect URI", edit: func(q url.Values) {
			q.Set("request_uri", "https://app.example.com/req")
			q.Set("redirect_uri", "http://127.0.0.1:5555/evil")
		}, status: 400},
		{name: "empty request", edit: func(q url.Values) { q.Set("request", ""); q.Set("request_uri", "") }, login: true},
		// A repeated parameter (RFC 6749 §3.1) goes back to the client once
		// client and redirect URI are known good (§4.1.2.1), without a
		// repeated state; a repeated client_id or redirect_uri cannot.
		{name: "repeated request", edit: func(q url.Values) { q["request"] = []string{"a", "b"} }, errCode: "invalid_request", errState: "st-1"},
		{name: "repeated request_uri", edit: func(q url.Values) { q["request_uri"] = []string{"a", "b"} }, errCode: "invalid_request", errState: "st-1"},
		{name: "repeated ui_locales", edit: func(q url.Values) { q["ui_locales"] = []string{"de", "en"} }, errCode: "invalid_request", errState: "st-1"},
		{name: "repeated scope", edit: func(q url.Values) { q["scope"] = []string{"openid", "openid"} }, errCode: "invalid_request", errState: "st-1"},
		{name: "repeated state", edit: func(q url.Values) { q["state"] = []string{"st-1", "st-2"} }, errCode: "invalid_request"},
		{name: "repeated client_id", edit: func(q url.Values) { q["client_id"] = []string{testenv.ClientID, testenv.ClientID} }, status: 400},
		{name: "repeated redirect_uri", edit: func(q url.Values) { q["redirect_uri"] = []string{testenv.RedirectURI, testenv.RedirectURI} }, status: 400},
		// Beside a request_uri or a request object the query's other
		// parameters are not read, repeated or not (RFC 9126 §4, RFC 9101).
		{name: "repeated state beside a request_uri", edit: func(q url.Values) {
			q.Set("request_uri", "urn:ietf:params:oauth:request_uri:abc")
			q["state"] = []string{"st-1", "st-2"}
		}, status: 400},
		{name: "repeated state beside a request object", edit: func(q url.Values) {
			q.Set("request", "eyJhbGciOiJub25lIn0.e30.")
			q["state"] = []string{"st-1", "st-1"}
		}, errCode: "invalid_request_object", errState: "st-1"},
		// Query and form_post only; the refusal of another comes in the query.
		{name: "response_mode fragment", edit: func(q url.Values) { q.Set("response_mode", "fragment") }, errCode: "invalid_request", errState: "st-1"},
		{name: "response_mode form_post", edit: func(q url.Values) { q.Set("response_mode", "form_post") }, login: true},
		{name: "response_mode query.jwt", edit: func(q url.Values) { q.Set("response_mode", "query.jwt") }, errCode: "invalid_request", errState: "st-1"},
		{name: "response_mode garbage", edit: func(q url.Values) { q.Set("response_mode", "Query") }, errCode: "invalid_request", errState: "st-1"},
		{name: "repeated response_mode", edit: func(q url.Values) { q["response_mode"] = []string{"form_post", "form_post"} }, errCode: "invalid_request", errState: "st-1"},
		{name: "response_mode query", edit: func(q url.Values) { q.Set("response_mode", "query") }, login: true},
		{name: "empty response_mode", edit: func(q url.Values) { q.Set("response_mode", "") }, login: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := baseQuery()
			tc.edit(q)
			resp, err := noFollow.Get(authorizeURL(b.URL, q))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			if tc.login {
				if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
					t.Fatalf("got %d Location %q; want a redirect to the login", resp.StatusCode, loc)
				}
				return
			}
			if tc.status != 0 {
				if resp.StatusCode != tc.status || loc != "" {
					t.Fatalf("got %d Location %q; want %d and no redirect", resp.StatusCode, loc, tc.status)
				}
				return
			}
			u, err := url.Parse(loc)
			if err != nil || !strings.HasPrefix(loc, testenv.RedirectURI+"?") {
				t.Fatalf("got %d Location %q; want a redirect to the client", resp.StatusCode, loc)
			}
			if got := u.Query().Get("error"); got != tc.errCode {
				t.Errorf("error = %q (%s), want %q", got, u.Query().Get("error_description"), tc.errCode)
			}
			if u.Query().Get("state") != tc.errState || u.Query().Get("iss") != b.URL {
				t.Errorf("state %q iss %q", u.Query().Get("state"), u.Query().Get("iss"))
			}
			if u.Query().Has("code") {
				t.Error("a code came with an error")
			}
		})
	}
}

var alertRE = regexp.MustCompile(`role="alert">([^<]*)<`)

// TestBadLoginsLookAlike: a wrong password and an unknown user get the
// same status and message, and no code.
func TestBadLoginsLookAlike(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, testenv.Config(t))
	rp := newRP(t, b)
	var msgs []string
	for _, c := range []struct{ user, pass string }{
		{testenv.UserName, "wrong-password"},
		{"nobody", "wrong-password"},
		{testenv.UserEmail, ""},
	} {
		cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, c.user, c.pass)
		if err != nil {
			t.Fatal(err)
		}
		if cb.Query != nil {
			t.Fatalf("%s: redirected to the client with %v", c.user, cb.Query)
		}
		m := alertRE.FindStringSubmatch(cb.Page)
		if cb.Status != http.StatusUnauthorized || m == nil {
			t.Fatalf("%s: status %d, page %q", c.user, cb.Status, cb.Page)
		}
		msgs = append(msgs, m[1])
	}
	for _, m := range msgs[1:] {
		if m != msgs[0] {
			t.Errorf("messages differ: %q", msgs)
		}
	}
	if msgs[0] != "Invalid username or password." {
		t.Errorf("message %q", msgs[0])
	}
}

// codeFor logs alice in and returns the code and the flow's verifier.
func codeFor(t *testing.T, rp *testenv.RP) (code string, f testenv.Flow) {
	t.Helper()
	f = rp.NewFlow()
	cb, err := rp.Authorize(context.Background(), f.AuthURL, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Query.Get("code") == "" || cb.Query.Get("state") != f.State {
		t.Fatalf("no code: status %d query %v", cb.Status, cb.Query)
	}
	return cb.Query.Get("code"), f
}

func exchange(code, verifier string) url.Values {
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testenv.RedirectURI}}
	if verifier != "" {
		v.Set("code_verifier", verifier)
	}
	return v
}

// TestTokenErrors covers the token endpoint's refusals, each with its
// RFC 6749 §5.2 error.
func TestTokenErrors(t *testing.T) {
	// The broker's clock stands still but for the expiry case, which moves
	// it: a short code TTL on the real clock expired the other cases' codes
	// on a loaded machine.
	clock := testenv.NewClock()
	b := testenv.StartClock(t, testenv.Config(t), clock)
	rp := newRP(t, b)

	t.Run("wrong client secret", func(t *testing.T) {
		code, f := codeFor(t, rp)
		r := postToken(t, b.URL, testenv.ClientID, "not-the-secret", exchange(code, f.Verifier))
		if r.Status != 401 || r.str("error") != "invalid_client" || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%d %v %q", r.Status, r.Body, r.Header.Get("WWW-Authenticate"))
		}
		// The failed attempt did not spend the code.
		if r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, exchange(code, f.Verifier)); r.Status != 200 {
			t.Errorf("code unusable after a failed client auth: %d %v", r.Status, r.Body)
		}
	})
	t.Run("unknown client", func(t *testing.T) {
		r := postToken(t, b.URL, "nobody", "x", url.Values{"grant_type": {"client_credentials"}})
		if r.Status != 401 || r.str("error") != "invalid_client" {
			t.Errorf("%d %v", r.Status, r.Body)
		}
	})
	t.Run("code replay revokes its tokens", func(t *testing.T) {
		code, f := codeFor(t, rp)
		first := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, exchange(code, f.Verifier))
		if first.Status != 200 {
			t.Fatalf("first exchange: %d %v", first.Status, first.Body)
		}
		second := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, exchange(code, f.Verifier))
		if second.Status != 400 || second.str("error") != "invalid_grant" {
			t.Errorf("replay: %d %v", second.Status, second.Body)
		}
		// The answer explains why the first tokens stopped working.
		if d := second.str("error_description"); !strings.Contains(d, "revoked") {
			t.Errorf("replay error_description %q does not say the tokens were revoked", d)
		}
		if st := userinfoStatus(t, b.URL, first.str("access_token")); st != 401 {
			t.Errorf("access token from a replayed code still works at userinfo: %d", st)
		}
		r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.str("refresh_token")}})
		if r.str("error") != "invalid_grant" {
			t.Errorf("refresh token from a replayed code still works: %d %v", r.Status, r.Body)
		}
	})
	t.Run("PKCE verifier mismatch", func(t *testing.T) {
		code, _ := codeFor(t, rp)
		r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, exchange(code, oauth2.GenerateVerifier()))
		if r.Status != 400 || r.str("error") != "invalid_grant" {
			t.Errorf("%d %v", r.Status, r.Body)
		}
	})
	t.Run("PKCE verifier missing", func(t *testing.T) {
		code, _ := codeFor(t, rp)
		r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, exchange(code, ""))
		if r.Status != 400 || r.str("error") != "invalid_grant" {
			t.Errorf("%d %v", r.Status, r.Body)
		}
	})
	t.Run("redirect_uri mismatch", func(t *testing.T) {
		code, f := codeFor(t, rp)
		v := exchange(code, f.Verifier)
		v.Set("redirect_uri", "http://127.0.0.1:5555/other")
		r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, v)
		if r.Status != 400 || r.str("error") != "invalid_grant" {
			t.Errorf("%d %v", r.Status, r.Body)
		}
	})
	t.Run("expired code", func(t *testing.T) {
		code, f := codeFor(t, rp)
		clock.Advance(b.Config.Tokens.AuthCodeTTL.Std()) // the code's whole TTL: expired at this instant
		r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, exchange(code, f.Verifier))
		if r.Status != 400 || r.str("error") != "invalid_grant" {
			t.Errorf("%d %v", r.Status, r.Body)
		}
	})
	t.Run("unsupported grant type", func(t *testing.T) {
		r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"password"}})
		if r.Status != 400 || r.str("error") != "unsupported_grant_type" {
			t.Errorf("%d %v", r.Status, r.Body)
		}
	})
	t.Run("public client may not use client_credentials", func(t *testing.T) {
		r := postToken(t, b.URL, "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {testenv.PublicClient}})
		if r.Status != 400 || r.str("error") != "unauthorized_client" {
			t.Errorf("%d %v", r.Status, r.Body)
		}
	})
	t.Run("client_credentials scope not allowed", func(t *testing.T) {
		r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}})
		if r.Status != 400 || r.str("error") != "invalid_scope" {
			t.Errorf("%d %v", r.Status, r.Body)
		}
	})
	t.Run("client_secret_post", func(t *testing.T) {
		r := postToken(t, b.URL, "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {testenv.ClientID}, "client_secret": {testenv.ClientSecret}})
		if r.Status != 200 {
			t.Errorf("%d %v", r.Status, r.Body)
		}
		r = postToken(t, b.URL, "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {testenv.ClientID}, "client_secret": {"wrong"}})
		// A 401 names a scheme whichever way the client authenticated
		// (RFC 7235 §3.1): Basic, the HTTP one (RFC 6749 §5.2).
		if r.Status != 401 || r.str("error") != "invalid_client" || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%d %v %q", r.Status, r.Body, r.Header.Get("WWW-Authenticate"))
		}
	})
}

func userinfoStatus(t *testing.T, issuer, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 401 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("401 without invalid_token: %q", resp.Header.Get("WWW-Authenticate"))
	}
	return resp.StatusCode
}

// TestAuthorizeRate: one address may start only so many authorization
// requests (each is stored) before 429 with Retry-After; the exact rate
// is TestAddrLimiter's, on a fake clock.
func TestAuthorizeRate(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Login.Throttle.AuthorizeRate = 1 // a burst of 5, then one a second
	b := testenv.Start(t, cfg)
	rp := newRP(t, b)
	limited := false
	for range 100 {
		resp, err := rp.Browser.Get(rp.NewFlow().AuthURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("100 authorization requests from one address, none refused")
	}
}

// TestRedirectURIOmitted: a client with one redirect URI may leave it out
// of the authorization request, and then out of the code's exchange too
// (RFC 6749 §4.1.3: required there "if the redirect_uri parameter was
// included in the authorization request"); one that sent it must send it
// again. Before, the exchange always required it (found by a black-box
// attack).
func TestRedirectURIOmitted(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, testenv.Config(t))
	rp := newRP(t, b)
	code := func(omit bool) (string, string) {
		t.Helper()
		f := rp.NewFlow()
		u, _ := url.Parse(f.AuthURL)
		if omit {
			q := u.Query()
			q.Del("redirect_uri")
			u.RawQuery = q.Encode()
		}
		cb, err := rp.Authorize(ctx, u.String(), testenv.UserName, testenv.UserPassword)
		if err != nil || cb.Query.Get("code") == "" {
			t.Fatalf("authorize (redirect_uri omitted: %v): %v %d %.300s", omit, err, cb.Status, cb.Page)
		}
		return cb.Query.Get("code"), f.Verifier
	}
	exchange := func(c, verifier string) tokenResponse {
		return postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"authorization_code"},
			"code": {c}, "code_verifier": {verifier}})
	}
	if r := exchange(code(true)); r.Status != http.StatusOK {
		t.Errorf("omitted at both: %d %v, want 200", r.Status, r.Body)
	}
	if r := exchange(code(false)); r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
		t.Errorf("sent at the authorization, omitted at the exchange: %d %v, want 400 invalid_grant", r.Status, r.Body)
	}
	c, v := code(true)
	r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"authorization_code"},
		"code": {c}, "code_verifier": {v}, "redirect_uri": {testenv.RedirectURI}})
	if r.Status != http.StatusOK {
		t.Errorf("omitted at the authorization, the registered one at the exchange: %d %v, want 200", r.Status, r.Body)
	}
}
