package github_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-idp/portico/connectors/github"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
	"github.com/portico-idp/portico/testenv"
)

const callback = "http://127.0.0.1:9/callback/github"

var (
	alice = testenv.GitHubUser{
		ID: 583231, Login: "alice", Name: "Alice Example", Password: "alice-gh",
		Emails: []testenv.GitHubEmail{{Email: "alice@old.example", Verified: true}, {Email: "alice@example.com", Primary: true, Verified: true}},
		Orgs:   []string{"acme", "globex", "initech", "umbrella", "hooli"},
		Teams:  []testenv.GitHubTeam{{Org: "acme", Slug: "dev", Name: "Dev"}, {Org: "acme", Slug: "ops", Name: "Ops"}, {Org: "globex", Slug: "sre", Name: "SRE"}},
	}
	bob = testenv.GitHubUser{
		ID: 9919, Login: "bob", Password: "bob-gh",
		Emails: []testenv.GitHubEmail{{Email: "bob@example.com", Primary: true, Verified: false}},
		Orgs:   []string{"globex"},
	}
	all = sdk.Scopes{OfflineAccess: true, Groups: true}
)

func newFake(t *testing.T) *testenv.GitHub {
	return testenv.StartGitHub(t, "gh-client", "gh-secret", alice, bob)
}

func newConnector(t *testing.T, gh *testenv.GitHub, edit func(*github.Config)) *github.Connector {
	t.Helper()
	cfg := github.Config{ClientID: gh.ClientID, ClientSecret: gh.ClientSecret, BaseURL: gh.URL, Timeout: upstream.Duration(2 * time.Second)}
	if edit != nil {
		edit(&cfg)
	}
	key := make([]byte, 32)
	rand.Read(key)
	c, err := github.New(cfg, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// login plays the browser through the fake's login form.
func login(t *testing.T, c *github.Connector, s sdk.Scopes, user, password string) (sdk.Identity, error) {
	t.Helper()
	ctx := context.Background()
	rd, err := c.LoginURL(ctx, s, callback, "state-1")
	if err != nil {
		return sdk.Identity{}, err
	}
	browser := testenv.NewBrowser(callback)
	resp, err := browser.Get(rd.URL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form, err := testenv.ParseForm(resp.Request.URL, string(page))
	if err != nil {
		t.Fatalf("GitHub's authorize page: %v", err)
	}
	form.Values.Set("username", user)
	form.Values.Set("password", password)
	resp, err = browser.PostForm(form.Action, form.Values)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("no redirect back: %s", resp.Status)
	}
	if loc.Query().Get("state") != "state-1" {
		t.Fatalf("state %q", loc.Query().Get("state"))
	}
	return c.HandleCallback(ctx, s, sdk.CallbackRequest{Method: http.MethodGet, URL: callback, Query: loc.Query(), Data: rd.Data})
}

// TestLogin is acceptance 2 at the connector: the numeric id as subject,
// the primary address, and every page of orgs and teams as groups.
func TestLogin(t *testing.T) {
	gh := newFake(t)
	gh.SetMaxPerPage(2) // 5 orgs: three pages
	c := newConnector(t, gh, nil)
	rd, _ := c.LoginURL(context.Background(), all, callback, "st")
	u, _ := url.Parse(rd.URL)
	if q := u.Query(); q.Get("scope") != "read:user user:email read:org" || q.Get("code_challenge_method") != "S256" || q.Get("state") != "st" ||
		u.Path != "/login/oauth/authorize" {
		t.Errorf("authorize URL %s", rd.URL)
	}
	before := gh.APICalls()
	id, err := login(t, c, all, "alice", "alice-gh")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"acme", "globex", "initech", "umbrella", "hooli", "acme:dev", "acme:ops", "globex:sre"}
	if id.Subject != "583231" || id.Username != "alice" || id.PreferredUsername != "alice" || id.Name != "Alice Example" ||
		id.Email != "alice@example.com" || !id.EmailVerified || !slices.Equal(id.Groups, want) {
		t.Errorf("identity %+v", id)
	}
	// /user, one page of emails, three of orgs, two of teams.
	if n := gh.APICalls() - before; n != 7 {
		t.Errorf("%d API calls, want 7", n)
	}
	if len(id.ConnectorData) == 0 || strings.Contains(string(id.ConnectorData), "gho_") {
		t.Errorf("connector data %q", id.ConnectorData)
	}
	// Without the groups scope no memberships are read.
	if id, err = login(t, c, sdk.Scopes{}, "alice", "alice-gh"); err != nil || id.Groups != nil {
		t.Errorf("without groups: %v %q", err, id.Groups)
	}
}

func TestUnverifiedEmail(t *testing.T) {
	gh := newFake(t)
	id, err := login(t, newConnector(t, gh, nil), all, "bob", "bob-gh")
	if err != nil {
		t.Fatal(err)
	}
	if id.Email != "bob@example.com" || id.EmailVerified || id.Name != "bob" {
		t.Errorf("identity %+v", id)
	}
}

func TestAllowedOrgs(t *testing.T) {
	gh := newFake(t)
	c := newConnector(t, gh, func(c *github.Config) { c.AllowedOrgs = []string{"ACME"} })
	if _, err := login(t, c, all, "bob", "bob-gh"); !errors.Is(err, sdk.ErrInvalidCredentials) {
		t.Errorf("non-member: %v", err)
	}
	id, err := login(t, c, all, "alice", "alice-gh")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(id.Groups, []string{"acme", "acme:dev", "acme:ops"}) {
		t.Errorf("groups %q: only the allowed org's", id.Groups)
	}
	// The membership check holds without the groups scope too.
	if _, err := login(t, c, sdk.Scopes{}, "bob", "bob-gh"); !errors.Is(err, sdk.ErrInvalidCredentials) {
		t.Errorf("non-member without groups: %v", err)
	}
}

func TestCallbackFailures(t *testing.T) {
	gh := newFake(t)
	c := newConnector(t, gh, nil)
	ctx := context.Background()
	rd, _ := c.LoginURL(ctx, all, callback, "s")
	tests := []struct {
		name  string
		c     *github.Connector
		query url.Values
		want  error
	}{
		{"cancelled", c, url.Values{"error": {"access_denied"}, "error_description": {"The user has denied your application access."}}, sdk.ErrInvalidCredentials},
		{"bad code", c, url.Values{"code": {"forged"}}, sdk.ErrInvalidCredentials},
		{"no code", c, url.Values{}, sdk.ErrInvalidCredentials},
		{"wrong client secret", newConnector(t, gh, func(c *github.Config) { c.ClientSecret = "wrong" }), url.Values{"code": {"x"}}, sdk.ErrUnavailable},
	}
	for _, tt := range tests {
		id, err := tt.c.HandleCallback(ctx, all, sdk.CallbackRequest{URL: callback, Query: tt.query, Data: rd.Data})
		if !errors.Is(err, tt.want) || id.Subject != "" {
			t.Errorf("%s: %v, %+v", tt.name, err, id)
		}
	}
}

func TestRefresh(t *testing.T) {
	ctx := context.Background()
	gh := newFake(t)
	c := newConnector(t, gh, func(c *github.Config) { c.AllowedOrgs = []string{"acme", "globex"} })
	id, err := login(t, c, all, "alice", "alice-gh")
	if err != nil {
		t.Fatal(err)
	}
	gh.UpdateUser("alice", func(u *testenv.GitHubUser) { u.Orgs = []string{"globex"}; u.Teams = nil; u.Name = "Alice Renamed" })
	fresh, err := c.Refresh(ctx, all, id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fresh.Groups, []string{"globex"}) || fresh.Name != "Alice Renamed" || fresh.Subject != id.Subject || len(fresh.ConnectorData) == 0 {
		t.Errorf("refreshed %+v", fresh)
	}
	gh.UpdateUser("alice", func(u *testenv.GitHubUser) { u.Orgs = []string{"initech"} })
	if _, err := c.Refresh(ctx, all, fresh); !errors.Is(err, sdk.ErrUserGone) {
		t.Errorf("after leaving the allowed orgs: %v", err)
	}
	gh.UpdateUser("alice", func(u *testenv.GitHubUser) { u.Orgs = []string{"acme"} })
	if _, err := c.Refresh(ctx, all, fresh); err != nil {
		t.Errorf("back in: %v", err)
	}
	gh.RevokeTokens("alice")
	if _, err := c.Refresh(ctx, all, fresh); !errors.Is(err, sdk.ErrUserGone) {
		t.Errorf("after revocation: %v", err)
	}
	fresh.ConnectorData[len(fresh.ConnectorData)-1] ^= 1
	if _, err := c.Refresh(ctx, all, fresh); err == nil || errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("tampered data: %v", err)
	}
}

// TestAPIFailures: GitHub down, slow, erroring, rate limiting or sending
// garbage is "unavailable"; a Link to another host is not followed.
func TestAPIFailures(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", 500) }},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
		}},
		{"rate limited", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-RateLimit-Remaining", "0")
			http.Error(w, `{"message":"API rate limit exceeded"}`, 403)
		}},
		{"garbage", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }},
		{"link elsewhere", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/user" {
				w.Write([]byte(`{"id":1,"login":"x"}`))
				return
			}
			w.Header().Set("Link", `<`+other.URL+`/user/emails?page=2>; rel="next"`)
			w.Write([]byte(`[]`))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := httptest.NewServer(tt.handler)
			defer api.Close()
			gh := newFake(t)
			c := newConnector(t, gh, func(c *github.Config) { c.APIURL = api.URL; c.Timeout = upstream.Duration(200 * time.Millisecond) })
			start := time.Now()
			if _, err := login(t, c, all, "alice", "alice-gh"); !errors.Is(err, sdk.ErrUnavailable) {
				t.Errorf("err = %v", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("a Link to another host was followed %d times", n)
	}
}

func TestParseConfig(t *testing.T) {
	c, err := github.ParseConfig([]byte(`{"client_id":"a","client_secret":"b"}`))
	if err != nil || c.BaseURL != github.DefaultBaseURL || c.APIURL != github.DefaultAPIURL || c.Timeout != upstream.Duration(upstream.DefaultTimeout) {
		t.Errorf("defaults: %+v %v", c, err)
	}
	c, err = github.ParseConfig([]byte(`{"client_id":"a","client_secret":"b","base_url":"https://github.example.com"}`))
	if err != nil || c.APIURL != "https://github.example.com/api/v3" {
		t.Errorf("enterprise: %+v %v", c, err)
	}
	for _, tt := range []struct{ json, want string }{
		{`{}`, "github: config.client_id: required"},
		{`{"client_id":"a","client_secret":"b","base_url":"http://github.example.com"}`, "github: config.base_url:"},
		{`{"client_id":"a","client_secret":"b","api_url":"ftp://x"}`, "github: config.api_url:"},
		{`{"client_id":"a","client_secret":"b","allowed_orgs":["a/b"]}`, "github: config.allowed_orgs[0]:"},
		{`{"client_id":"a","client_secret":"b","orgs":["a"]}`, `github: config: unknown field "orgs"`},
		{`{"client_id":"a","client_secret":"b","timeout":"-1s"}`, "github: config.timeout:"},
	} {
		if _, err := github.ParseConfig([]byte(tt.json)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.json, err, tt.want)
		}
	}
}
