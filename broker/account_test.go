package broker_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/testenv"
)

// page is what a browser shows after a request and its redirects.
type page struct {
	Status   int
	URL      *url.URL
	Body     string
	Location string // of a redirect the browser stopped at
}

func open(t *testing.T, c *http.Client, req *http.Request) page {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Request.URL, string(body), resp.Header.Get("Location")}
}

func getPage(t *testing.T, c *http.Client, u string) page {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return open(t, c, req)
}

// submit posts the page's first form with its values and set over them.
func submit(t *testing.T, c *http.Client, p page, set map[string]string) page {
	t.Helper()
	f, err := testenv.ParseForm(p.URL, p.Body)
	if err != nil {
		t.Fatalf("%v on %s (%d): %.400s", err, p.URL, p.Status, p.Body)
	}
	for k, v := range set {
		f.Values.Set(k, v)
	}
	req, _ := http.NewRequest(http.MethodPost, f.Action, strings.NewReader(f.Values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return open(t, c, req)
}

// TestExplicitLinking: a logged-in person links an account of another
// connector by logging in with it from the account page; an account that
// is another user's is refused, and so are forged and unlisted requests.
func TestExplicitLinking(t *testing.T) {
	cfg := adminConfig(t) // connectors local and staff, users alice and bob
	yes := true
	cfg.Connectors[1].Link = config.ConnectorLink{Explicit: &yes}
	b := testenv.Start(t, cfg)

	// alice's staff account belongs to a user of its own already.
	_, aliceStaff := loginAt(t, b, "staff", testenv.UserName, testenv.UserPassword)

	rp := newRP(t, b)
	rp.Browser = testenv.NewSSOBrowser(testenv.RedirectURI)
	rp.Connector = "local"
	_, alice, err := rp.Login(t.Context(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	if alice.Subject == aliceStaff.Subject {
		t.Fatal("two logins with linking off made one user")
	}
	br := rp.Browser
	acct := getPage(t, br, b.URL+"/account")
	if acct.Status != 200 || !strings.Contains(acct.Body, "Link Staff login") || strings.Contains(acct.Body, "Link Email") {
		t.Fatalf("account page offers no staff link, or offers local: %d %.600s", acct.Status, acct.Body)
	}

	// Forged: no CSRF token; and a connector the policy does not name.
	if p := submit(t, br, acct, map[string]string{"csrf": "forged"}); p.Status != 403 {
		t.Errorf("link with a forged csrf token: %d, want 403", p.Status)
	}
	unlisted := strings.Replace(acct.Body, "/account/link/staff", "/account/link/local", 1)
	if p := submit(t, br, page{acct.Status, acct.URL, unlisted, ""}, nil); p.Status != 404 {
		t.Errorf("link of a connector the policy does not name: %d, want 404", p.Status)
	}

	// Another user's account: refused, nothing moves.
	form := submit(t, br, acct, nil)
	if !strings.Contains(form.URL.Path, "/login/staff") || !strings.Contains(form.Body, `name="password"`) {
		t.Fatalf("link did not lead to staff's login form: %s %d", form.URL, form.Status)
	}
	refused := submit(t, br, form, map[string]string{"username": testenv.UserName, "password": testenv.UserPassword})
	if refused.Status != 409 || !strings.Contains(refused.Body, "already linked to another user") {
		t.Fatalf("linking another user's account: %d %.300s", refused.Status, refused.Body)
	}
	if _, again := loginAt(t, b, "staff", testenv.UserName, testenv.UserPassword); again.Subject != aliceStaff.Subject {
		t.Fatal("a refused link moved the identity")
	}

	// bob's staff account is nobody's: it becomes alice's.
	form = submit(t, br, getPage(t, br, b.URL+"/account"), nil)
	done := submit(t, br, form, map[string]string{"username": bobName, "password": bobPassword})
	if done.Status != 200 || done.URL.Path != "/account" || !strings.Contains(done.Body, "now linked") || !strings.Contains(done.Body, "Staff login: "+bobName) {
		t.Fatalf("after linking: %d %s %.600s", done.Status, done.URL, done.Body)
	}
	if _, viaStaff := loginAt(t, b, "staff", bobName, bobPassword); viaStaff.Subject != alice.Subject {
		t.Fatalf("bob's staff login is user %q, want alice's %q", viaStaff.Subject, alice.Subject)
	}
	waitAudit(t, b.Server.Store, "identity.link", func(e store.AuditEvent) bool {
		return e.Type == "identity.link" && e.UserID == alice.Subject && e.ConnectorID == "staff" && e.Details["method"] == "explicit"
	})
	waitAudit(t, b.Server.Store, "identity.link_refused", func(e store.AuditEvent) bool {
		return e.Type == "identity.link_refused" && e.UserID == alice.Subject && e.Details["reason"] == "linked_elsewhere"
	})

	// Without a session the account page asks to log in, and link refuses.
	fresh := testenv.NewSSOBrowser(testenv.RedirectURI)
	picker := getPage(t, fresh, b.URL+"/account")
	if picker.URL.Path != "/login" {
		t.Fatalf("account page without a session went to %s, want the login picker", picker.URL)
	}
	form = getPage(t, fresh, b.URL+"/login/local?"+picker.URL.RawQuery)
	if p := submit(t, fresh, form, map[string]string{"username": testenv.UserName, "password": testenv.UserPassword}); p.URL.Path != "/account" || !strings.Contains(p.Body, "Staff login: "+bobName) {
		t.Errorf("logging in for the account page: %d %s", p.Status, p.URL)
	}
	req, _ := http.NewRequest(http.MethodPost, b.URL+"/account/link/staff", strings.NewReader("csrf=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p := open(t, fresh, req); p.Status != 403 {
		t.Errorf("link without a session: %d, want 403", p.Status)
	}
}
