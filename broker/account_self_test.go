package broker_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/testenv"
)

// The account page's own changes over HTTP (issue #22): what the browser
// tests (account_browser_test.go) cannot show from a real browser —
// forged and stale requests, another user's ids, bounded input.

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// acctBrowser is a browser logged in to the client and thus to Portico.
type acctBrowser struct {
	t   *testing.T
	b   *testenv.Broker
	c   *http.Client
	tok *oauth2.Token
	sub string
}

func acctLogin(t *testing.T, b *testenv.Broker, user, password string) *acctBrowser {
	t.Helper()
	rp := newRP(t, b)
	rp.Browser = testenv.NewSSOBrowser(testenv.RedirectURI)
	rp.Connector = "local"
	tok, idt, err := rp.Login(t.Context(), user, password)
	if err != nil {
		t.Fatal(err)
	}
	return &acctBrowser{t, b, rp.Browser, tok, idt.Subject}
}

// csrf is the account page's form token.
func (a *acctBrowser) csrf() string {
	a.t.Helper()
	p := getPage(a.t, a.c, a.b.URL+"/account")
	m := csrfRE.FindStringSubmatch(p.Body)
	if p.Status != 200 || p.URL.Path != "/account" || m == nil {
		a.t.Fatalf("account page: %d %s %.300s", p.Status, p.URL, p.Body)
	}
	return m[1]
}

// post posts form to the account page's path rel.
func (a *acctBrowser) post(rel string, form url.Values) page {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.b.URL+rel, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return open(a.t, a.c, req)
}

// passwordWorks reports whether user logs in with password.
func passwordWorks(t *testing.T, b *testenv.Broker, user, password string) bool {
	t.Helper()
	rp := newRP(t, b)
	rp.Connector = "local"
	_, _, err := rp.Login(t.Context(), user, password)
	return err == nil
}

// putPasskeys gives user a stored passkey of id, as a registration would.
func putPasskeys(t *testing.T, st store.Store, userID string, ids ...[]byte) {
	t.Helper()
	type pk struct {
		ID      []byte    `json:"id"`
		Name    string    `json:"name"`
		Created time.Time `json:"created"`
	}
	var m struct {
		Passkeys []pk     `json:"passkeys"`
		Recovery []string `json:"recovery"`
	}
	for i, id := range ids {
		m.Passkeys = append(m.Passkeys, pk{ID: id, Name: "Key " + string(rune('A'+i)), Created: time.Now()})
	}
	m.Recovery = []string{"x"}
	val, _ := json.Marshal(m)
	if err := st.PutRecord(t.Context(), store.Record{Kind: "mfa", Key: userID, Value: val}); err != nil {
		t.Fatal(err)
	}
}

func passkeyCount(t *testing.T, st store.Store, userID string) int {
	t.Helper()
	rec, err := st.GetRecord(t.Context(), "mfa", userID)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Passkeys []json.RawMessage `json:"passkeys"`
	}
	if err := json.Unmarshal(rec.Value, &m); err != nil {
		t.Fatal(err)
	}
	return len(m.Passkeys)
}

// TestAccountRefusals: every change of the account page needs the page's
// form token; the sensitive ones a recent login (else the person logs in
// again and nothing changes); another user's passkeys and applications
// are not found; what is posted is bounded. No request gets a 500.
func TestAccountRefusals(t *testing.T) {
	clock := testenv.NewClock()
	b := testenv.StartClock(t, adminConfig(t), clock)
	st := b.Server.Store
	alice := acctLogin(t, b, testenv.UserName, testenv.UserPassword)
	bob := acctLogin(t, b, bobName, bobPassword)
	// Stored passkeys, so that the forms have something to act on.
	aliceKey, bobKey := []byte{1, 2, 3, 4}, []byte{5, 6, 7, 8}
	putPasskeys(t, st, alice.sub, aliceKey)
	putPasskeys(t, st, bob.sub, bobKey)
	aliceID, bobID := base64.RawURLEncoding.EncodeToString(aliceKey), base64.RawURLEncoding.EncodeToString(bobKey)
	csrf := alice.csrf()
	newPw := url.Values{"current": {testenv.UserPassword}, "new": {"a-new-secret-1"}, "confirm": {"a-new-secret-1"}}

	// Forged: no change, 403.
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/account/passkey/remove", url.Values{"id": {aliceID}}},
		{"/account/passkey/rename", url.Values{"id": {aliceID}, "name": {"x"}}},
		{"/account/recovery", nil},
		{"/account/password", newPw},
		{"/account/apps/" + testenv.ClientID + "/end", nil},
		{"/account/sessions/end", nil},
	} {
		f := url.Values{"csrf": {"forged"}}
		for k, v := range tc.form {
			f[k] = v
		}
		if p := alice.post(tc.path, f); p.Status != 403 {
			t.Errorf("%s with a forged token: %d, want 403", tc.path, p.Status)
		}
	}
	if !alive(t, b, alice.tok) || !alive(t, b, bob.tok) || passkeyCount(t, st, alice.sub) != 1 {
		t.Fatal("a forged request changed something")
	}

	// A passkey user's session without a second factor: log in again.
	if p := alice.post("/account/passkey/remove", url.Values{"csrf": {csrf}, "id": {aliceID}}); !strings.HasPrefix(p.URL.Path, "/login") {
		t.Errorf("removing a passkey from a login without the second factor went to %s (%d), want the login", p.URL, p.Status)
	}
	if passkeyCount(t, st, alice.sub) != 1 {
		t.Fatal("a passkey was removed from a session without the second factor")
	}
	// Without second factors, a fresh login is enough.
	for _, id := range []string{alice.sub, bob.sub} {
		if err := st.DeleteRecord(t.Context(), "mfa", id); err != nil {
			t.Fatal(err)
		}
	}
	putPasskeys(t, st, bob.sub, bobKey) // bob's stay

	// Another user's ids: not found, nothing happens.
	if p := alice.post("/account/passkey/remove", url.Values{"csrf": {csrf}, "id": {bobID}}); p.Status != 404 {
		t.Errorf("removing bob's passkey as alice: %d, want 404", p.Status)
	}
	if p := alice.post("/account/passkey/rename", url.Values{"csrf": {csrf}, "id": {bobID}, "name": {"mine"}}); p.Status != 404 {
		t.Errorf("renaming bob's passkey as alice: %d, want 404", p.Status)
	}
	if passkeyCount(t, st, bob.sub) != 1 {
		t.Fatal("alice removed bob's passkey")
	}
	// alice's own session of the client ends by the account page; bob's
	// of the same client is not hers to end.
	if p := alice.post("/account/apps/"+testenv.ClientID+"/end", url.Values{"csrf": {csrf}}); p.Status != 200 || !strings.Contains(p.Body, "session has ended") {
		t.Fatalf("ending alice's application session: %d %.300s", p.Status, p.Body)
	}
	if alive(t, b, alice.tok) || !alive(t, b, bob.tok) {
		t.Fatalf("after alice ended her application session: hers alive %v, bob's alive %v", alive(t, b, alice.tok), alive(t, b, bob.tok))
	}
	if p := alice.post("/account/apps/"+testenv.ClientID+"/end", url.Values{"csrf": {csrf}}); p.Status != 404 || !alive(t, b, bob.tok) {
		t.Errorf("ending a client alice has no session of (bob has): %d, want 404 and bob's alive", p.Status)
	}
	if p := alice.post("/account/apps/"+strings.Repeat("c", 300)+"/end", url.Values{"csrf": {csrf}}); p.Status != 404 {
		t.Errorf("an overlong client id: %d, want 404", p.Status)
	}

	// Bounded input (the names a passkey may have: account_test.go in
	// broker/journey). alice has no passkey now: every id is unknown.
	for name, form := range map[string]url.Values{
		"overlong id": {"id": {strings.Repeat("A", 5000)}, "name": {"x"}},
		"unknown id":  {"id": {"AAAA"}, "name": {"x"}},
		"missing id":  {"name": {"x"}},
		"bob's id":    {"id": {bobID}, "name": {strings.Repeat("n", 65)}},
	} {
		form.Set("csrf", csrf)
		if p := alice.post("/account/passkey/rename", form); p.Status != 404 {
			t.Errorf("rename, %s: %d, want 404", name, p.Status)
		}
	}
	for name, form := range map[string]url.Values{
		"overlong new":     {"current": {testenv.UserPassword}, "new": {strings.Repeat("p", 1025)}, "confirm": {strings.Repeat("p", 1025)}},
		"overlong current": {"current": {strings.Repeat("p", 1025)}, "new": {"a-new-secret-1"}, "confirm": {"a-new-secret-1"}},
		"empty new":        {"current": {testenv.UserPassword}, "new": {""}, "confirm": {""}},
		"mismatch":         {"current": {testenv.UserPassword}, "new": {"a-new-secret-1"}, "confirm": {"a-new-secret-2"}},
	} {
		form.Set("csrf", csrf)
		if p := alice.post("/account/password", form); p.Status != 400 {
			t.Errorf("password, %s: %d, want 400", name, p.Status)
		}
	}
	wrong := url.Values{"csrf": {csrf}, "current": {"not-it"}, "new": {"a-new-secret-1"}, "confirm": {"a-new-secret-1"}}
	if p := alice.post("/account/password", wrong); p.Status != 401 || !strings.Contains(p.Body, "current password is not correct") {
		t.Errorf("a wrong current password: %d %.300s", p.Status, p.Body)
	}

	// Stale: the login is older than login.account.fresh_login (10m).
	clock.Advance(11 * time.Minute)
	newPw.Set("csrf", csrf)
	if p := alice.post("/account/password", newPw); !strings.HasPrefix(p.URL.Path, "/login") {
		t.Errorf("a password change from a stale login went to %s (%d), want the login", p.URL, p.Status)
	}
	if !passwordWorks(t, b, testenv.UserName, testenv.UserPassword) || passwordWorks(t, b, testenv.UserName, "a-new-secret-1") {
		t.Fatal("a stale login changed the password")
	}
	if p := getPage(t, alice.c, b.URL+"/account/password"); !strings.HasPrefix(p.URL.Path, "/login") {
		t.Errorf("the password form from a stale login: %s, want the login", p.URL)
	}
	for _, path := range []string{"/", "/passkey/rename", "/passkey/remove", "/recovery", "/password", "/apps/x/end", "/sessions/end"} {
		if p := alice.post("/account"+path, url.Values{"csrf": {strings.Repeat("\x00", 100)}, "id": {"\xff\xfe"}}); p.Status >= 500 {
			t.Errorf("POST /account%s with junk: %d", path, p.Status)
		}
	}
}

// TestAccountPasswordChange: the current password is required; once
// changed, the old one is refused and the new one works, every other
// session of the person ends (other browsers, their applications) and
// this browser stays logged in.
func TestAccountPasswordChange(t *testing.T) {
	b := testenv.Start(t, adminConfig(t))
	here := acctLogin(t, b, testenv.UserName, testenv.UserPassword)
	there := acctLogin(t, b, testenv.UserName, testenv.UserPassword)
	bob := acctLogin(t, b, bobName, bobPassword)

	form := getPage(t, here.c, b.URL+"/account/password")
	if form.Status != 200 || !strings.Contains(form.Body, `autocomplete="current-password"`) {
		t.Fatalf("password form: %d %.300s", form.Status, form.Body)
	}
	done := submit(t, here.c, form, map[string]string{"current": testenv.UserPassword, "new": "a-new-secret-1", "confirm": "a-new-secret-1"})
	if done.Status != 200 || done.URL.Path != "/account" || !strings.Contains(done.Body, "Your password was changed") {
		t.Fatalf("after the change: %d %s %.300s", done.Status, done.URL, done.Body)
	}
	if passwordWorks(t, b, testenv.UserName, testenv.UserPassword) || !passwordWorks(t, b, testenv.UserName, "a-new-secret-1") {
		t.Fatal("the old password still works, or the new one does not")
	}
	if !alive(t, b, here.tok) || alive(t, b, there.tok) || !alive(t, b, bob.tok) {
		t.Errorf("sessions after the change: this browser's %v (want true), the other's %v (want false), bob's %v (want true)",
			alive(t, b, here.tok), alive(t, b, there.tok), alive(t, b, bob.tok))
	}
	if p := getPage(t, there.c, b.URL+"/account"); p.URL.Path == "/account" {
		t.Error("the other browser is still logged in")
	}
	if p := getPage(t, here.c, b.URL+"/account"); p.URL.Path != "/account" {
		t.Errorf("this browser was logged out: %s", p.URL)
	}
	waitAudit(t, b.Server.Store, "user.password_change", func(e store.AuditEvent) bool {
		return e.Type == "user.password_change" && e.UserID == here.sub && e.Details["result"] == "changed" && e.Details["browsers_ended"] == "1"
	})
}

// TestAccountEndOtherSessions: "End other sessions" ends the other
// browsers' sessions and their applications', not this browser's.
func TestAccountEndOtherSessions(t *testing.T) {
	b := testenv.Start(t, adminConfig(t))
	here := acctLogin(t, b, testenv.UserName, testenv.UserPassword)
	there := acctLogin(t, b, testenv.UserName, testenv.UserPassword)
	acct := getPage(t, here.c, b.URL+"/account")
	if strings.Count(acct.Body, "Another browser") != 1 || !strings.Contains(acct.Body, "This browser") {
		t.Fatalf("account page lists the browsers wrongly: %.2000s", acct.Body)
	}
	if p := here.post("/account/sessions/end", url.Values{"csrf": {here.csrf()}}); p.Status != 200 || !strings.Contains(p.Body, "other sessions have ended") {
		t.Fatalf("end other sessions: %d %.300s", p.Status, p.Body)
	}
	if !alive(t, b, here.tok) || alive(t, b, there.tok) {
		t.Errorf("after ending other sessions: here alive %v (want true), there %v (want false)", alive(t, b, here.tok), alive(t, b, there.tok))
	}
	if p := getPage(t, there.c, b.URL+"/account"); p.URL.Path == "/account" {
		t.Error("the other browser is still logged in")
	}
	if p := getPage(t, here.c, b.URL+"/account"); strings.Contains(p.Body, "Another browser") {
		t.Error("the account page still lists another browser")
	}
	waitAudit(t, b.Server.Store, "user.sessions_end", func(e store.AuditEvent) bool {
		return e.Type == "user.sessions_end" && e.UserID == here.sub && e.Details["browsers"] == "1" && e.Details["scope"] == "others"
	})
}
