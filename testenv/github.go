package testenv

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// GitHub is a fake github.com laid out as GitHub Enterprise Server is: the
// web OAuth endpoints at URL, the REST API at APIURL (URL + "/api/v3").
// It follows GitHub's documented shapes: the JSON field names of /user,
// /user/emails, /user/orgs and /user/teams; per_page (default 30, at most
// 100) and page parameters with a Link header of rel="next", "last",
// "first" and "prev"; 401 {"message":"Bad credentials"} for a bad token;
// and a token endpoint that answers a bad code with HTTP 200 and
// error=bad_verification_code, form-encoded unless JSON is asked for.
//
// The authorize page is a login form (username, password), as GitHub shows
// to a browser without a session, so RP.Authorize fills it in; the fake
// then approves the app at once and redirects with a code.
type GitHub struct {
	URL, APIURL            string
	ClientID, ClientSecret string

	srv *httptest.Server

	mu       sync.Mutex
	maxPage  int
	users    map[string]*GitHubUser // by login
	codes    map[string]githubCode
	tokens   map[string]string // access token → login
	apiCalls int
}

// GitHubUser is an account of the fake.
type GitHubUser struct {
	ID       int64
	Login    string
	Name     string
	Password string
	Emails   []GitHubEmail
	Orgs     []string
	Teams    []GitHubTeam
}

// GitHubEmail is one of a user's addresses, as /user/emails has it.
type GitHubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

// GitHubTeam is a team of an organisation.
type GitHubTeam struct{ Org, Slug, Name string }

type githubCode struct {
	login, redirectURI, challenge string
}

// StartGitHub runs the fake for one OAuth app with users; it stops when
// the test ends.
func StartGitHub(t testing.TB, clientID, clientSecret string, users ...GitHubUser) *GitHub {
	t.Helper()
	g := &GitHub{ClientID: clientID, ClientSecret: clientSecret, maxPage: 100,
		users: map[string]*GitHubUser{}, codes: map[string]githubCode{}, tokens: map[string]string{}}
	for _, u := range users {
		g.users[u.Login] = &u
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", g.authorizePage)
	mux.HandleFunc("POST /login/oauth/authorize", g.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", g.accessToken)
	mux.HandleFunc("GET /api/v3/user", g.api(g.user))
	mux.HandleFunc("GET /api/v3/user/emails", g.api(g.emails))
	mux.HandleFunc("GET /api/v3/user/orgs", g.api(g.orgs))
	mux.HandleFunc("GET /api/v3/user/teams", g.api(g.teams))
	g.srv = httptest.NewServer(mux)
	g.URL, g.APIURL = g.srv.URL, g.srv.URL+"/api/v3"
	t.Cleanup(g.srv.Close)
	return g
}

// SetMaxPerPage lowers the largest page the API returns (GitHub's is
// 100), so a few orgs take several pages.
func (g *GitHub) SetMaxPerPage(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.maxPage = n
}

// RevokeTokens invalidates every token of login, as revoking the app's
// authorisation (or deleting the account) does.
func (g *GitHub) RevokeTokens(login string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for tok, l := range g.tokens {
		if l == login {
			delete(g.tokens, tok)
		}
	}
}

// UpdateUser changes an account under the fake's lock.
func (g *GitHub) UpdateUser(login string, f func(*GitHubUser)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g.users[login])
}

// APICalls counts the API requests answered so far.
func (g *GitHub) APICalls() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.apiCalls
}

var githubLoginPage = template.Must(template.New("login").Parse(`<!doctype html>
<title>Sign in to GitHub</title>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login/oauth/authorize">
{{range $k, $v := .Query}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}">
{{end}}<input name="username"> <input name="password" type="password"> <button>Sign in</button>
</form>`))

func (g *GitHub) authorizePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != g.ClientID {
		http.Error(w, "The client_id is not valid.", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	githubLoginPage.Execute(w, map[string]any{"Query": q})
}

func (g *GitHub) authorize(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f := r.PostForm
	g.mu.Lock()
	u := g.users[f.Get("username")]
	ok := u != nil && subtle.ConstantTimeCompare([]byte(u.Password), []byte(f.Get("password"))) == 1
	code := random()
	if ok {
		g.codes[code] = githubCode{login: u.Login, redirectURI: f.Get("redirect_uri"), challenge: f.Get("code_challenge")}
	}
	g.mu.Unlock()
	if !ok {
		q := url.Values{}
		for k, v := range f {
			if k != "username" && k != "password" {
				q[k] = v
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		githubLoginPage.Execute(w, map[string]any{"Query": q, "Error": "Incorrect username or password."})
		return
	}
	back, err := url.Parse(f.Get("redirect_uri"))
	if err != nil || back.Host == "" {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	v := back.Query()
	v.Set("code", code)
	v.Set("state", f.Get("state"))
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (g *GitHub) accessToken(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f := r.PostForm
	answer := func(v url.Values) {
		// GitHub answers errors with 200 too.
		if strings.Contains(r.Header.Get("Accept"), "json") {
			m := map[string]string{}
			for k := range v {
				m[k] = v.Get(k)
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			json.NewEncoder(w).Encode(m)
			return
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		w.Write([]byte(v.Encode()))
	}
	if f.Get("client_id") != g.ClientID || subtle.ConstantTimeCompare([]byte(f.Get("client_secret")), []byte(g.ClientSecret)) != 1 {
		answer(url.Values{"error": {"incorrect_client_credentials"}, "error_description": {"The client_id and/or client_secret passed are incorrect."}})
		return
	}
	g.mu.Lock()
	c, ok := g.codes[f.Get("code")]
	delete(g.codes, f.Get("code"))
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	if ok && c.challenge != "" && base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
		ok = false
	}
	tok := "gho_" + random()
	if ok {
		g.tokens[tok] = c.login
	}
	g.mu.Unlock()
	if !ok || (f.Get("redirect_uri") != "" && f.Get("redirect_uri") != c.redirectURI) {
		answer(url.Values{"error": {"bad_verification_code"}, "error_description": {"The code passed is incorrect or expired."},
			"error_uri": {"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"}})
		return
	}
	answer(url.Values{"access_token": {tok}, "token_type": {"bearer"}, "scope": {"read:org,read:user,user:email"}})
}

// api authenticates an API request and hands the user to h.
func (g *GitHub) api(h func(http.ResponseWriter, *http.Request, GitHubUser)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			tok, _ = strings.CutPrefix(auth, "token ")
		}
		g.mu.Lock()
		g.apiCalls++
		login, found := g.tokens[tok]
		var u GitHubUser
		if found {
			u = *g.users[login]
		}
		g.mu.Unlock()
		w.Header().Set("X-GitHub-Api-Version-Selected", "2022-11-28")
		if !found {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`))
			return
		}
		h(w, r, u)
	}
}

func (g *GitHub) user(w http.ResponseWriter, r *http.Request, u GitHubUser) {
	var public any // the public address: GitHub shows only a verified primary one
	for _, e := range u.Emails {
		if e.Primary && e.Verified {
			public = e.Email
		}
	}
	ghJSON(w, map[string]any{
		"login": u.Login, "id": u.ID, "node_id": "U_" + strconv.FormatInt(u.ID, 36), "type": "User", "site_admin": false,
		"avatar_url": g.URL + "/avatars/u/" + strconv.FormatInt(u.ID, 10), "html_url": g.URL + "/" + u.Login,
		"name": nullable(u.Name), "company": nil, "email": public,
	})
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (g *GitHub) emails(w http.ResponseWriter, r *http.Request, u GitHubUser) {
	items := make([]any, len(u.Emails))
	for i, e := range u.Emails {
		vis := any(nil)
		if e.Primary {
			vis = "private"
		}
		items[i] = map[string]any{"email": e.Email, "primary": e.Primary, "verified": e.Verified, "visibility": vis}
	}
	g.page(w, r, items)
}

func (g *GitHub) orgs(w http.ResponseWriter, r *http.Request, u GitHubUser) {
	items := make([]any, len(u.Orgs))
	for i, o := range u.Orgs {
		items[i] = g.orgJSON(o, i)
	}
	g.page(w, r, items)
}

func (g *GitHub) orgJSON(login string, i int) map[string]any {
	return map[string]any{"login": login, "id": 1000 + i, "node_id": "O_" + login, "url": g.APIURL + "/orgs/" + login, "description": nil}
}

func (g *GitHub) teams(w http.ResponseWriter, r *http.Request, u GitHubUser) {
	items := make([]any, len(u.Teams))
	for i, t := range u.Teams {
		items[i] = map[string]any{
			"id": 2000 + i, "node_id": "T_" + t.Slug, "name": t.Name, "slug": t.Slug, "description": nil,
			"privacy": "closed", "permission": "pull", "organization": g.orgJSON(t.Org, slices.Index(u.Orgs, t.Org)),
		}
	}
	g.page(w, r, items)
}

// page writes one page of items with GitHub's Link header.
func (g *GitHub) page(w http.ResponseWriter, r *http.Request, items []any) {
	q := r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per < 1 {
		per = 30
	}
	g.mu.Lock()
	per = min(per, g.maxPage)
	g.mu.Unlock()
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	last := max(1, (len(items)+per-1)/per)
	link := func(p int, rel string) string {
		v := url.Values{"per_page": {strconv.Itoa(per)}, "page": {strconv.Itoa(p)}}
		return fmt.Sprintf(`<%s%s?%s>; rel="%s"`, g.URL, r.URL.Path, v.Encode(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(page-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo, hi := min((page-1)*per, len(items)), min(page*per, len(items))
	ghJSON(w, items[lo:hi])
}

func ghJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v)
}
