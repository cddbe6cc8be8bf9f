package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/sdk"
)

// SAMLPost is a form a page would post: the IdP's response on its way to
// the ACS URL.
type SAMLPost struct {
	Action string
	Fields url.Values
}

// Login drives a browser through an SP-initiated login that a connector's
// LoginURL started: to the IdP (redirect or auto-posted form), through its
// login form as user, up to the auto-posted response, which it returns
// instead of posting to the ACS. browser may be nil.
func (s *SAMLIdP) Login(ctx context.Context, browser *http.Client, rd sdk.Redirect, user, password string) (SAMLPost, error) {
	if browser == nil {
		browser = NewBrowser("\x00") // follows every redirect
	}
	var req *http.Request
	var err error
	if rd.PostForm != nil {
		v := url.Values{}
		for k, f := range rd.PostForm {
			v.Set(k, f)
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, rd.URL, strings.NewReader(v.Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, rd.URL, nil)
	}
	if err != nil {
		return SAMLPost{}, err
	}
	resp, err := browser.Do(req)
	if err != nil {
		return SAMLPost{}, err
	}
	return s.untilACS(ctx, browser, resp, user, password)
}

// Initiate drives an IdP-initiated login to the SP spEntityID as user and
// returns the unsolicited response the IdP would post to the SP.
func (s *SAMLIdP) Initiate(ctx context.Context, spEntityID, relayState, user, password string) (SAMLPost, error) {
	browser := NewBrowser("\x00")
	v := url.Values{"sp": {spEntityID}, "RelayState": {relayState}}
	resp, err := browser.PostForm(s.URL+"/initiate", v)
	if err != nil {
		return SAMLPost{}, err
	}
	return s.untilACS(ctx, browser, resp, user, password)
}

func (s *SAMLIdP) untilACS(ctx context.Context, browser *http.Client, resp *http.Response, user, password string) (SAMLPost, error) {
	st, err := walkForms(ctx, browser, resp, user, password, func(action string) bool { return !strings.HasPrefix(action, s.URL) })
	if err != nil {
		return SAMLPost{}, err
	}
	if st.post == nil {
		return SAMLPost{}, fmt.Errorf("the IdP did not post a response: status %d: %.300s", st.status, st.page)
	}
	return *st.post, nil
}

// AuthorizeSAML is Authorize for a SAML connector: it opens authURL,
// picks rp.Connector on the picker, follows the browser to the IdP, logs
// in there as user and lets the IdP's and Portico's auto-posted forms go
// through, until the browser is back at the application or stuck.
func (rp *RP) AuthorizeSAML(ctx context.Context, authURL, user, password string) (Callback, error) {
	resp, err := get(ctx, rp.Browser, authURL)
	if err != nil {
		return Callback{}, err
	}
	if cb, done := atRedirect(resp); done {
		return cb, nil
	}
	if rp.Connector != "" && resp.Request.URL.Path == "/login" && resp.StatusCode == http.StatusOK {
		page, err := readBody(resp)
		if err != nil {
			return Callback{}, err
		}
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
	}
	st, err := walkForms(ctx, rp.Browser, resp, user, password, nil)
	if err != nil {
		return Callback{}, err
	}
	if st.redirect != nil {
		return *st.redirect, nil
	}
	return Callback{Status: st.status, Page: st.page}, nil
}

// LoginSAML is Login through a SAML connector.
func (rp *RP) LoginSAML(ctx context.Context, user, password string) (*oauth2.Token, *oidc.IDToken, error) {
	f := rp.NewFlow()
	cb, err := rp.AuthorizeSAML(ctx, f.AuthURL, user, password)
	if err != nil {
		return nil, nil, err
	}
	return rp.Finish(ctx, f, cb)
}

// walked is where walkForms stopped.
type walked struct {
	status   int
	page     string
	redirect *Callback // the browser was sent to the stop URL
	post     *SAMLPost // a hidden form that stopPost held back
}

// walkForms acts as a person with a browser without JavaScript (and with
// SameSite=Lax cookies, not sent with a POST to another origin): on a page
// with a login form (a password input) it types user and password; on a
// page whose POST form has only hidden inputs (an auto-post page: the
// IdP's response, Portico's re-post) it submits. It stops at a redirect
// the browser did not follow, at any other page, or before submitting a
// hidden form to an action for which stopPost is true.
func walkForms(ctx context.Context, browser *http.Client, resp *http.Response, user, password string, stopPost func(action string) bool) (walked, error) {
	for range 10 {
		if cb, done := atRedirect(resp); done {
			return walked{status: cb.Status, redirect: &cb}, nil
		}
		page, err := readBody(resp)
		if err != nil {
			return walked{}, err
		}
		w := walked{status: resp.StatusCode, page: page}
		if resp.StatusCode != http.StatusOK {
			return w, nil
		}
		f, ok := parseTypedForm(resp.Request.URL, page)
		if !ok {
			return w, nil
		}
		switch {
		case f.password != "":
			f.values.Set(f.text, user)
			f.values.Set(f.password, password)
		case f.onlyHidden:
			if stopPost != nil && stopPost(f.action) {
				w.post = &SAMLPost{Action: f.action, Fields: f.values}
				return w, nil
			}
		default:
			return w, nil
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.action, strings.NewReader(f.values.Encode()))
		if err != nil {
			return walked{}, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		client := browser
		if u := req.URL; u.Scheme != resp.Request.URL.Scheme || u.Host != resp.Request.URL.Host {
			// A POST to another site carries no SameSite=Lax cookie. The
			// IdP and Portico are on other sites in production, though
			// both are on 127.0.0.1 here.
			noCookies := *browser
			noCookies.Jar = nil
			client = &noCookies
		}
		if resp, err = client.Do(req); err != nil {
			return walked{}, err
		}
	}
	return walked{}, errors.New("too many forms")
}

type typedForm struct {
	action         string
	values         url.Values
	text, password string // names of the first text and password inputs
	onlyHidden     bool   // every named input is hidden
}

// parseTypedForm reads the first POST form of page, knowing its inputs'
// types.
func parseTypedForm(base *url.URL, page string) (typedForm, bool) {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return typedForm{}, false
	}
	var form *html.Node
	var find func(*html.Node)
	find = func(n *html.Node) {
		if form == nil && n.Type == html.ElementNode && n.Data == "form" && strings.EqualFold(attr(n, "method"), "post") {
			form = n
		}
		for c := n.FirstChild; c != nil && form == nil; c = c.NextSibling {
			find(c)
		}
	}
	find(doc)
	if form == nil {
		return typedForm{}, false
	}
	action, err := base.Parse(attr(form, "action"))
	if err != nil {
		return typedForm{}, false
	}
	f := typedForm{action: action.String(), values: url.Values{}, onlyHidden: true}
	var inputs func(*html.Node)
	inputs = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			name, typ := attr(n, "name"), strings.ToLower(attr(n, "type"))
			switch typ {
			case "submit", "button", "image":
				return
			case "password":
				if f.password == "" {
					f.password = name
				}
			case "", "text", "email":
				if f.text == "" {
					f.text = name
				}
			}
			if typ != "hidden" {
				f.onlyHidden = false
			}
			f.values.Set(name, attr(n, "value"))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			inputs(c)
		}
	}
	inputs(form)
	return f, true
}
