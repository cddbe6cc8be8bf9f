package broker_test

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

var inlineScriptRE = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// fetchPage GETs u with c and returns the answer and its body.
func fetchPage(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// TestFormPostPage: the form_post answer is a page whose one script runs
// by its hash alone (no unsafe-inline, no nonce), that escapes what the
// client sent, is not cached, and carries errors the same way.
func TestFormPostPage(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Clients = append(cfg.Clients, config.Client{ID: "native", Public: true, RedirectURIs: []string{"com.example.app:/cb"},
		GrantTypes: []string{"authorization_code"}})
	b := testenv.Start(t, cfg)
	rp := newRP(t, b)
	rp.Browser = testenv.NewSSOBrowser(testenv.RedirectURI)
	// Log in once (query mode) so that the browser's session answers the
	// form_post requests at once.
	if _, _, err := rp.Login(t.Context(), testenv.UserName, testenv.UserPassword); err != nil {
		t.Fatal(err)
	}
	mode := oauth2.SetAuthURLParam("response_mode", "form_post")
	f := rp.NewFlow(mode)
	hostile := `"><script>alert(1)</script>`
	f.AuthURL = strings.Replace(f.AuthURL, "state="+url.QueryEscape(f.State), "state="+url.QueryEscape(f.State+hostile), 1)
	f.State += hostile

	resp, page := fetchPage(t, rp.Browser, f.AuthURL)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %.300s", resp.StatusCode, page)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	scripts := inlineScriptRE.FindAllStringSubmatch(page, -1)
	if len(scripts) != 1 {
		t.Fatalf("%d inline scripts, want 1: %s", len(scripts), page)
	}
	sum := sha256.Sum256([]byte(scripts[0][1]))
	want := "script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	directives := strings.Split(csp, "; ")
	if !slices.Contains(directives, want) || !slices.Contains(directives, "default-src 'none'") ||
		slices.ContainsFunc(directives, func(d string) bool { return strings.HasPrefix(d, "script-src") && d != want }) {
		t.Errorf("CSP %q, want %q and nothing looser", csp, want)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	if strings.Contains(page, hostile) {
		t.Error("the state is in the page unescaped")
	}
	form, err := testenv.ParseForm(resp.Request.URL, page)
	if err != nil {
		t.Fatal(err)
	}
	if form.Action != testenv.RedirectURI || form.Values.Get("state") != f.State || form.Values.Get("iss") != b.URL {
		t.Fatalf("form to %q with %v", form.Action, form.Values)
	}
	if _, _, err := rp.Finish(t.Context(), f, testenv.Callback{Query: form.Values}); err != nil {
		t.Fatal(err)
	}

	// Errors after the redirect URI is known take the same way.
	for name, q := range map[string]url.Values{
		"invalid_scope":  {"scope": {"openid nonsense"}},
		"invalid_target": {"resource": {"https://api.example.com/"}},
	} {
		t.Run(name, func(t *testing.T) {
			u := rp.OAuth2.AuthCodeURL("st-2", mode, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
			for k, v := range q {
				u = strings.Replace(u, "&"+k+"=", "&x"+k+"=", 1) + "&" + url.Values{k: v}.Encode()
			}
			resp, page := fetchPage(t, rp.Browser, u)
			form, err := testenv.ParseForm(resp.Request.URL, page)
			if resp.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("status %d: %.300s", resp.StatusCode, page)
			}
			if form.Action != testenv.RedirectURI || form.Values.Get("error") != name || form.Values.Get("state") != "st-2" || form.Values.Has("code") {
				t.Fatalf("form to %q with %v", form.Action, form.Values)
			}
		})
	}

	// A page cannot post to a native app's private-use scheme: the
	// refusal comes in the query, where the app can read it.
	native := url.Values{"client_id": {"native"}, "response_type": {"code"}, "redirect_uri": {"com.example.app:/cb"}, "state": {"st-4"},
		"response_mode": {"form_post"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	resp, _ = fetchPage(t, noFollow, b.URL+"/authorize?"+native.Encode())
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), "com.example.app:/cb?") ||
		loc.Query().Get("error") != "invalid_request" || loc.Query().Get("state") != "st-4" {
		t.Fatalf("form_post to a private-use scheme: %d %q", resp.StatusCode, loc)
	}

	// An unsupported mode cannot carry its own error: it comes in the query.
	u := rp.OAuth2.AuthCodeURL("st-3", oauth2.SetAuthURLParam("response_mode", "fragment"))
	resp, _ = fetchPage(t, rp.Browser, u)
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("state") != "st-3" {
		t.Fatalf("got %d %q", resp.StatusCode, loc)
	}
}
