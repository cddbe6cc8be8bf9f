package testenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"
)

// RP is a relying party on go-oidc and x/oauth2: what an application that
// logs its users in through Portico runs.
type RP struct {
	Provider *oidc.Provider
	OAuth2   oauth2.Config
	Verifier *oidc.IDTokenVerifier
	// Browser is the user agent: it keeps cookies and stops at the
	// redirect URI instead of following it.
	Browser *http.Client
	// Connector, if set, is the connector picked when the login page
	// offers several.
	Connector string
	// AllowConsent answers a consent page with "allow"; without it the
	// page is where Authorize stops.
	AllowConsent bool
}

// NewRP discovers issuer and returns a relying party for the client.
func NewRP(ctx context.Context, issuer, clientID, secret, redirectURI string, scopes ...string) (*RP, error) {
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email", "groups", oidc.ScopeOfflineAccess}
	}
	style := oauth2.AuthStyleInHeader
	if secret == "" {
		style = oauth2.AuthStyleInParams
	}
	ep := p.Endpoint()
	ep.AuthStyle = style
	return &RP{
		Provider: p,
		OAuth2:   oauth2.Config{ClientID: clientID, ClientSecret: secret, RedirectURL: redirectURI, Endpoint: ep, Scopes: scopes},
		Verifier: p.Verifier(&oidc.Config{ClientID: clientID}),
		Browser:  NewBrowser(redirectURI),
	}, nil
}

// NewBrowser returns an HTTP client with a cookie jar that follows redirects
// except to stopAt, where it hands back the redirect response. It refuses
// Portico's single sign-on cookie, so that each authorization asks for the
// password, as most tests want; NewSSOBrowser keeps it.
func NewBrowser(stopAt string) *http.Client {
	c := NewSSOBrowser(stopAt)
	c.Jar = noSSOJar{c.Jar}
	return c
}

// SessionCookie is the name of Portico's single sign-on cookie.
const SessionCookie = "portico_session"

// noSSOJar drops the single sign-on cookie.
type noSSOJar struct{ http.CookieJar }

func (j noSSOJar) SetCookies(u *url.URL, cs []*http.Cookie) {
	j.CookieJar.SetCookies(u, slices.DeleteFunc(slices.Clone(cs), func(c *http.Cookie) bool { return c.Name == SessionCookie }))
}

// NewSSOBrowser is NewBrowser with every cookie kept: a browser in which
// one login serves later ones.
func NewSSOBrowser(stopAt string) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar: jar,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), stopAt) {
				return http.ErrUseLastResponse
			}
			if len(via) > 10 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
}

// Flow is one authorization request's secrets.
type Flow struct {
	State, Nonce, Verifier string
	AuthURL                string
}

// NewFlow returns a fresh state, nonce and PKCE verifier and the
// authorization URL carrying them.
func (rp *RP) NewFlow(extra ...oauth2.AuthCodeOption) Flow {
	f := Flow{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)}, extra...)
	f.AuthURL = rp.OAuth2.AuthCodeURL(f.State, opts...)
	return f
}

// Callback is where the browser was sent back to the application.
type Callback struct {
	Status int        // of the last page when the browser did not come back
	Page   string     // that page's body
	Query  url.Values // the redirect URI's query when it did
}

// Authorize opens authURL in the browser and, if a login form is shown,
// submits username and password. It returns where the browser ended up.
func (rp *RP) Authorize(ctx context.Context, authURL, username, password string) (Callback, error) {
	resp, err := get(ctx, rp.Browser, authURL)
	if err != nil {
		return Callback{}, err
	}
	if cb, done := atRedirect(resp); done {
		return cb, nil
	}
	page, err := readBody(resp)
	if err != nil {
		return Callback{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Callback{Status: resp.StatusCode, Page: page}, nil
	}
	if rp.Connector != "" && resp.Request.URL.Path == "/login" {
		// The picker: follow the chosen connector's link, as a person would.
		link := pickLink(page, "/login/"+url.PathEscape(rp.Connector)+"?")
		if link == "" {
			return Callback{Status: resp.StatusCode, Page: page}, fmt.Errorf("no connector %q on the login page", rp.Connector)
		}
		next, err := resp.Request.URL.Parse(link)
		if err != nil {
			return Callback{}, err
		}
		if resp, err = get(ctx, rp.Browser, next.String()); err != nil {
			return Callback{}, err
		}
		if page, err = readBody(resp); err != nil {
			return Callback{}, err
		}
		if resp.StatusCode != http.StatusOK {
			return Callback{Status: resp.StatusCode, Page: page}, nil
		}
	}
	form, err := ParseForm(resp.Request.URL, page)
	if err != nil {
		return Callback{Status: resp.StatusCode, Page: page}, nil
	}
	form.Values.Set("username", username)
	form.Values.Set("password", password)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, form.Action, strings.NewReader(form.Values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = rp.Browser.Do(req)
	if err != nil {
		return Callback{}, err
	}
	if cb, done := atRedirect(resp); done {
		return cb, nil
	}
	page, err = readBody(resp)
	if err != nil || !rp.AllowConsent || resp.StatusCode != http.StatusOK || !strings.HasSuffix(resp.Request.URL.Path, "/consent") {
		return Callback{Status: resp.StatusCode, Page: page}, err
	}
	return rp.answer(ctx, resp.Request.URL, page, url.Values{"answer": {"allow"}})
}

// answer submits the page's form with set over its values and returns
// where the browser ended up.
func (rp *RP) answer(ctx context.Context, at *url.URL, page string, set url.Values) (Callback, error) {
	form, err := ParseForm(at, page)
	if err != nil {
		return Callback{Status: http.StatusOK, Page: page}, nil
	}
	for k, v := range set {
		form.Values[k] = v
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, form.Action, strings.NewReader(form.Values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := rp.Browser.Do(req)
	if err != nil {
		return Callback{}, err
	}
	if cb, done := atRedirect(resp); done {
		return cb, nil
	}
	page, err = readBody(resp)
	return Callback{Status: resp.StatusCode, Page: page}, err
}

// Login runs the whole code flow for the user and returns the token and
// the verified id_token, as an application's callback handler would.
func (rp *RP) Login(ctx context.Context, username, password string) (*oauth2.Token, *oidc.IDToken, error) {
	f := rp.NewFlow()
	cb, err := rp.Authorize(ctx, f.AuthURL, username, password)
	if err != nil {
		return nil, nil, err
	}
	return rp.Finish(ctx, f, cb)
}

// Finish is what an application does where the browser came back: check
// state, exchange the code with the PKCE verifier, verify the id_token,
// its nonce and at_hash.
func (rp *RP) Finish(ctx context.Context, f Flow, cb Callback) (*oauth2.Token, *oidc.IDToken, error) {
	if cb.Query == nil {
		return nil, nil, fmt.Errorf("login did not return to the application: status %d: %.500s", cb.Status, cb.Page)
	}
	if e := cb.Query.Get("error"); e != "" {
		return nil, nil, fmt.Errorf("authorization error %s: %s", e, cb.Query.Get("error_description"))
	}
	if cb.Query.Get("state") != f.State {
		return nil, nil, errors.New("state mismatch")
	}
	tok, err := rp.OAuth2.Exchange(ctx, cb.Query.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return nil, nil, fmt.Errorf("exchange: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.Verifier.Verify(ctx, raw)
	if err != nil {
		return nil, nil, fmt.Errorf("verify id_token: %w", err)
	}
	if idt.Nonce != f.Nonce {
		return nil, nil, errors.New("nonce mismatch")
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		return nil, nil, fmt.Errorf("at_hash: %w", err)
	}
	return tok, idt, nil
}

func get(ctx context.Context, c *http.Client, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return c.Do(req)
}

func atRedirect(resp *http.Response) (Callback, bool) {
	if resp.StatusCode < 300 || resp.StatusCode >= 400 {
		return Callback{}, false
	}
	loc, err := resp.Location()
	resp.Body.Close()
	if err != nil {
		return Callback{Status: resp.StatusCode}, true
	}
	return Callback{Status: resp.StatusCode, Query: loc.Query()}, true
}

func readBody(resp *http.Response) (string, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b), err
}

func random() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Form is an HTML form as a browser would submit it.
type Form struct {
	Action string
	Values url.Values
}

// ParseForm finds the first POST form in page and its inputs' values.
func ParseForm(base *url.URL, page string) (Form, error) {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return Form{}, err
	}
	var form *html.Node
	var find func(*html.Node)
	find = func(n *html.Node) {
		if form != nil {
			return
		}
		if n.Type == html.ElementNode && n.Data == "form" && strings.EqualFold(attr(n, "method"), "post") {
			form = n
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			find(c)
		}
	}
	find(doc)
	if form == nil {
		return Form{}, errors.New("no POST form on the page")
	}
	action, err := base.Parse(attr(form, "action"))
	if err != nil {
		return Form{}, err
	}
	f := Form{Action: action.String(), Values: url.Values{}}
	var inputs func(*html.Node)
	inputs = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			f.Values.Set(attr(n, "name"), attr(n, "value"))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			inputs(c)
		}
	}
	inputs(form)
	return f, nil
}

// pickLink returns the first href in page that starts with prefix.
func pickLink(page, prefix string) string {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return ""
	}
	var found string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if found != "" {
			return
		}
		if n.Type == html.ElementNode && n.Data == "a" && strings.HasPrefix(attr(n, "href"), prefix) {
			found = attr(n, "href")
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return found
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
