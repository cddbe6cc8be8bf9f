package broker_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/mfa"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/testenv"
)

// Self-service of local accounts (issue #22) over HTTP, with mail through
// a real SMTP server (mailpit): the links of reset, verification and
// invitation work once, expire, are bound to the account and die when its
// password changes; forgot-password tells nothing; registration is off by
// default and, on, obeys its rules.

// selfConfig is testenv.Config with mail to mp and the local connector's
// self-service turned on.
func selfConfig(t *testing.T, mp *testenv.Mailpit, local map[string]any) *config.Config {
	t.Helper()
	cfg := adminConfig(t)
	cfg.Mail = config.Mail{SMTP: config.MailSMTP{Host: mp.SMTPHost(), Port: mp.SMTPPort(), TLS: "none"}, From: "Portico <id@example.com>"}
	cfg.Connectors[0].Config = local
	return cfg
}

// linkRE finds a self-service link in a mail's text.
var linkRE = regexp.MustCompile(`https?://\S+/(reset|verify|invite|join)\?token=[A-Za-z0-9._%-]+(&ui_locales=[A-Za-z-]+)?`)

// mailTo waits for the n-th mail (1-based, oldest first) to addr and
// returns it with its link, checking both parts carry the link.
func mailTo(t *testing.T, mp *testenv.Mailpit, addr string, n int) (testenv.MailpitMessage, string) {
	t.Helper()
	for total := n; ; total++ {
		all := mp.WaitMessages(t, total)
		var mine []testenv.MailpitSummary
		for i := len(all) - 1; i >= 0; i-- { // newest first
			for _, to := range all[i].To {
				if strings.EqualFold(to.Address, addr) {
					mine = append(mine, all[i])
				}
			}
		}
		if len(mine) >= n {
			m := mp.Message(t, mine[n-1].ID)
			link := linkRE.FindString(m.Text)
			if link == "" || !strings.Contains(m.HTML, strings.ReplaceAll(link, "&", "&amp;")) {
				t.Fatalf("mail %q to %s: no link in both parts:\n%s\n%s", m.Subject, addr, m.Text, m.HTML)
			}
			return m, link
		}
	}
}

// mailWith waits for a mail to addr whose subject has subj.
func mailWith(t *testing.T, mp *testenv.Mailpit, addr, subj string) testenv.MailpitMessage {
	t.Helper()
	for n := 1; ; n++ {
		for _, m := range mp.WaitMessages(t, n) {
			for _, to := range m.To {
				if strings.EqualFold(to.Address, addr) && strings.Contains(m.Subject, subj) {
					return mp.Message(t, m.ID)
				}
			}
		}
	}
}

// altered is link with its token's signature changed.
func altered(t *testing.T, link string) string {
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	tok := []byte(q.Get("token"))
	tok[len(tok)-2] ^= 'A' ^ 'B' // a letter of base64url stays one
	if tok[len(tok)-2] < 'A' {
		tok[len(tok)-2] = 'Q'
	}
	q.Set("token", string(tok))
	u.RawQuery = q.Encode()
	return u.String()
}

// anon is a browser with no session.
func anon() *http.Client { return testenv.NewSSOBrowser(testenv.RedirectURI) }

// forgot asks for a reset link for login, in browser c.
func forgot(t *testing.T, b *testenv.Broker, c *http.Client, login string) page {
	t.Helper()
	return submit(t, c, getPage(t, c, b.URL+"/login/local/forgot"), map[string]string{"login": login})
}

// setPassword opens link and sets pw twice.
func setPassword(t *testing.T, c *http.Client, link, pw, again string) page {
	t.Helper()
	p := getPage(t, c, link)
	if p.Status != 200 {
		return p
	}
	return submit(t, c, p, map[string]string{"password": pw, "password2": again})
}

func TestSelfServiceReset(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	b := testenv.Start(t, selfConfig(t, mp, map[string]any{"password_reset": true}))
	here := acctLogin(t, b, testenv.UserName, testenv.UserPassword)

	// The login form offers it; the answer is the same page for a known
	// and an unknown name.
	pc := anon()
	picker := getPage(t, pc, b.URL+"/authorize?"+url.Values{"client_id": {testenv.ClientID}, "response_type": {"code"},
		"scope": {"openid"}, "redirect_uri": {testenv.RedirectURI}, "code_challenge": {strings.Repeat("a", 43)},
		"code_challenge_method": {"S256"}}.Encode())
	if m := regexp.MustCompile(`/login/local\?req=[\w-]+`).FindString(picker.Body); m == "" {
		t.Fatalf("no local login on the picker: %.400s", picker.Body)
	} else if p := getPage(t, pc, b.URL+m); !strings.Contains(p.Body, "/login/local/forgot?req=") {
		t.Fatalf("the login form offers no reset: %.400s", p.Body)
	}
	c := anon()
	known, unknown := forgot(t, b, c, testenv.UserEmail), forgot(t, b, c, "nobody@example.com")
	if known.Status != 200 || unknown.Status != 200 || known.Body != unknown.Body || !strings.Contains(known.Body, "Check your email") {
		t.Fatalf("known %d, unknown %d; the same page: %v\n%.400s", known.Status, unknown.Status, known.Body == unknown.Body, known.Body)
	}
	m1, link1 := mailTo(t, mp, testenv.UserEmail, 1)
	if !strings.Contains(m1.Subject, "Reset your password") || !strings.Contains(link1, "/reset?token=") {
		t.Fatalf("mail %q, link %s", m1.Subject, link1)
	}
	forgot(t, b, c, testenv.UserName) // by username too
	_, link2 := mailTo(t, mp, testenv.UserEmail, 2)

	// The form refuses, without spending the link: passwords that differ,
	// a common one.
	if p := setPassword(t, c, link1, "a-good-new-secret", "another-one"); p.Status != 400 || !strings.Contains(p.Body, "not the same") {
		t.Fatalf("different passwords: %d %.300s", p.Status, p.Body)
	}
	if p := setPassword(t, c, link1, "password", "password"); p.Status != 400 || !strings.Contains(p.Body, "most common") {
		t.Fatalf("a common password: %d %.300s", p.Status, p.Body)
	}
	// An altered link is refused.
	if p := setPassword(t, c, altered(t, link1), "a-good-new-secret", "a-good-new-secret"); p.Status != 400 || !strings.Contains(p.Body, "Link not valid") {
		t.Fatalf("altered link: %d %.300s", p.Status, p.Body)
	}
	if p := setPassword(t, c, link1, "a-good-new-secret", "a-good-new-secret"); p.Status != 200 || !strings.Contains(p.Body, "Password changed") {
		t.Fatalf("reset: %d %.300s", p.Status, p.Body)
	}
	// The reset ended every session of the account.
	if alive(t, b, here.tok) {
		t.Error("a session from before the reset lives on")
	}
	if passwordWorks(t, b, testenv.UserName, testenv.UserPassword) || !passwordWorks(t, b, testenv.UserName, "a-good-new-secret") {
		t.Fatal("the old password still works, or the new one does not")
	}
	// Once: the same link again; and the other link, sent before the
	// password changed, is dead too.
	for name, link := range map[string]string{"used": link1, "older": link2} {
		if p := getPage(t, c, link); p.Status != 400 || !strings.Contains(p.Body, "Link not valid") {
			t.Errorf("%s link: %d %.300s", name, p.Status, p.Body)
		}
	}
	// A link of the account page's password change kills a pending one.
	forgot(t, b, c, testenv.UserEmail)
	_, link3 := mailTo(t, mp, testenv.UserEmail, 3)
	a, err := b.Server.Store.GetLocalAccountByLogin(t.Context(), testenv.UserName)
	if err != nil {
		t.Fatal(err)
	}
	a.PasswordHash = a.PasswordHash + "x" // any change of the hash
	if err := b.Server.Store.UpdateLocalAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if p := getPage(t, c, link3); p.Status != 400 {
		t.Errorf("a link after the password changed elsewhere: %d", p.Status)
	}
	// A reset link is not a verify or invite link.
	if p := getPage(t, c, strings.Replace(link3, "/reset?", "/verify?", 1)); p.Status != 400 {
		t.Errorf("a reset link at /verify: %d", p.Status)
	}
	waitAudit(t, b.Server.Store, "account.password_reset", func(e store.AuditEvent) bool { return e.Type == "account.password_reset" })
	if logs := b.Logs(); strings.Contains(logs, "token=") {
		t.Error("a link is in the logs")
	}
}

// TestSelfServiceForgotThrottled: one address gets ten forgot forms an
// hour, then 429, known name or not.
func TestSelfServiceForgotThrottled(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	b := testenv.Start(t, selfConfig(t, mp, map[string]any{"password_reset": true}))
	c := anon()
	for i := range 10 {
		if p := forgot(t, b, c, "nobody@example.com"); p.Status != 200 {
			t.Fatalf("form %d: %d", i, p.Status)
		}
	}
	if p := forgot(t, b, c, testenv.UserEmail); p.Status != http.StatusTooManyRequests {
		t.Fatalf("the 11th form: %d", p.Status)
	}
}

func TestSelfServiceRegistration(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})

	// Off by default.
	off := testenv.Start(t, selfConfig(t, mp, map[string]any{"password_reset": true}))
	if p := getPage(t, anon(), off.URL+"/login/local/register"); p.Status != 404 {
		t.Fatalf("registration off: %d", p.Status)
	}

	b := testenv.Start(t, selfConfig(t, mp, map[string]any{"registration": map[string]any{
		"enabled": true, "allowed_domains": []string{"example.com"}, "terms_url": "https://example.com/terms"}}))
	c := anon()
	reg := func(fields map[string]string) page {
		t.Helper()
		return submit(t, c, getPage(t, c, b.URL+"/login/local/register"), fields)
	}
	good := map[string]string{"email": "carol@example.com", "name": "Carol", "terms": "yes"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	for name, c := range map[string]struct {
		fields map[string]string
		want   string
	}{
		"other domain": {with("email", "carol@other.org"), "this domain"},
		"bad address":  {with("email", "carol"), "valid email address"},
		"no terms":     {with("terms", ""), "Accept the terms"},
		"bidi name":    {with("name", "Carol \u202egnp.exe"), "not allowed"},
	} {
		if p := reg(c.fields); p.Status != 400 || !strings.Contains(p.Body, c.want) {
			t.Errorf("%s: %d %.300s", name, p.Status, p.Body)
		}
	}
	if p := reg(good); p.Status != 200 || !strings.Contains(p.Body, "Check your email") {
		t.Fatalf("registration: %d %.300s", p.Status, p.Body)
	}
	m, link := mailTo(t, mp, "carol@example.com", 1)
	if !strings.Contains(m.Subject, "Finish creating your account") || !strings.Contains(link, "/join?token=") || strings.Contains(m.Text, "Carol") {
		t.Fatalf("mail %q link %s (greets by a name nobody verified?)\n%s", m.Subject, link, m.Text)
	}
	// Nothing exists before the link is used: no account to log in to,
	// whatever password the registrant has in mind.
	if accts := accountsOf(t, b, "carol@example.com"); accts != 0 {
		t.Fatalf("%d accounts before the link was used", accts)
	}
	p := getPage(t, c, link)
	if p.Status != 200 || !strings.Contains(p.Body, `autocomplete="new-password"`) {
		t.Fatalf("the link's form: %d %.300s", p.Status, p.Body)
	}
	if r := submit(t, c, p, map[string]string{"password": "password123", "password2": "password123"}); r.Status != 400 || !strings.Contains(r.Body, "most common") {
		t.Fatalf("a common password: %d %.300s", r.Status, r.Body)
	}
	if r := submit(t, c, getPage(t, c, link), map[string]string{"password": "violet-tandem-river-42", "password2": "violet-tandem-river-42"}); r.Status != 200 || !strings.Contains(r.Body, "Your account is ready") {
		t.Fatalf("finish: %d %.300s", r.Status, r.Body)
	}
	if p := getPage(t, c, link); p.Status != 400 {
		t.Errorf("the link twice: %d", p.Status)
	}
	rp := newRP(t, b)
	rp.Connector = "local"
	_, idt, err := rp.Login(t.Context(), "carol@example.com", "violet-tandem-river-42")
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
		Name          string `json:"name"`
	}
	_ = idt.Claims(&claims)
	if claims.Email != "carol@example.com" || !claims.EmailVerified || claims.Name != "Carol" {
		t.Errorf("claims of the registered account %+v", claims)
	}
	// The same address again: the same page, no second account, a note
	// to the owner with a reset link.
	if p := reg(good); p.Status != 200 || !strings.Contains(p.Body, "Check your email") {
		t.Fatalf("second registration: %d", p.Status)
	}
	m2 := mailWith(t, mp, "carol@example.com", "Your account at")
	if !strings.Contains(m2.Text, "tried to create an account") || !strings.Contains(linkRE.FindString(m2.Text), "/reset?") {
		t.Errorf("second mail %q: %s", m2.Subject, m2.Text)
	}
	if n := accountsOf(t, b, "carol@example.com"); n != 1 {
		t.Errorf("%d accounts of carol@example.com", n)
	}
	// Someone registers dora's address; dora's link makes the account
	// with dora's password, and the first link dies once one is used.
	reg(with("email", "dora@example.com"))
	reg(with("email", "dora@example.com"))
	_, d1 := mailTo(t, mp, "dora@example.com", 1)
	_, d2 := mailTo(t, mp, "dora@example.com", 2)
	if r := setPassword(t, c, d2, "harbor-nickel-prism-3", "harbor-nickel-prism-3"); r.Status != 200 {
		t.Fatalf("dora's link: %d", r.Status)
	}
	if p := getPage(t, c, d1); p.Status != 400 {
		t.Errorf("the other registration link after the account was made: %d", p.Status)
	}
	// Bots: an address's registrations in an hour are bounded.
	for i := 0; ; i++ {
		p := reg(with("email", "bot@example.com"))
		if p.Status == http.StatusTooManyRequests {
			break
		}
		if i > 12 {
			t.Fatal("registrations are not throttled")
		}
	}
}

// accountsOf counts the local accounts of address.
func accountsOf(t *testing.T, b *testenv.Broker, address string) int {
	t.Helper()
	accts, err := b.Server.Store.ListLocalAccounts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range accts {
		if strings.EqualFold(a.Email, address) {
			n++
		}
	}
	return n
}

func TestSelfServiceInvitation(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	b := testenv.Start(t, selfConfig(t, mp, nil))
	tok := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	r := call(t, b, tok, http.MethodPost, "/accounts", map[string]any{"username": "dave", "email": "dave@example.com", "invite": true, "password": "x-y-z-long-pw"})
	mustStatus(t, r, 400, "invite with a password")
	long := strings.Repeat("e", 250) + "@example.com" // parses, but no mail reaches it (RFC 5321)
	mustStatus(t, call(t, b, tok, http.MethodPost, "/accounts", map[string]any{"username": "long", "email": long, "invite": true}), 400, "invite an address over 254 bytes")
	r = call(t, b, tok, http.MethodPost, "/accounts", map[string]any{"username": "dave", "email": "dave@example.com", "invite": true})
	mustStatus(t, r, 201, "invite")
	id, _ := r.Body["id"].(string)
	if r.Body["invitation_expires"] == nil || r.Body["email_verified"] != false {
		t.Fatalf("invitation answer %s", r.Raw)
	}
	m, link := mailTo(t, mp, "dave@example.com", 1)
	if !strings.Contains(m.Subject, "invited") || !strings.Contains(link, "/invite?token=") {
		t.Fatalf("mail %q link %s", m.Subject, link)
	}
	c := anon()
	if p := setPassword(t, c, link, "dave", "dave"); p.Status != 400 {
		t.Fatalf("a password the policy refuses: %d", p.Status)
	}
	if p := setPassword(t, c, link, "amber-kettle-onion-77", "amber-kettle-onion-77"); p.Status != 200 || !strings.Contains(p.Body, "ready") {
		t.Fatalf("invitation: %d %.300s", p.Status, p.Body)
	}
	if !passwordWorks(t, b, "dave", "amber-kettle-onion-77") {
		t.Fatal("the invited account does not log in")
	}
	if p := getPage(t, c, link); p.Status != 400 {
		t.Errorf("the invitation twice: %d", p.Status)
	}
	mustStatus(t, call(t, b, tok, http.MethodPost, "/accounts/"+id+"/invitation", nil), 409, "invite an account with a password")
	a, err := b.Server.Store.GetLocalAccount(t.Context(), id)
	if err != nil || !a.EmailVerified {
		t.Errorf("after the invitation: verified %v, %v", a.EmailVerified, err)
	}
}

// TestSelfServiceVerifyRequired: require_verified_email refuses a login
// with an unverified address and mails a link; the link lets it in.
func TestSelfServiceVerifyRequired(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	cfg := selfConfig(t, mp, map[string]any{"require_verified_email": true})
	no := false
	cfg.Users[0].EmailVerified = &no
	b := testenv.Start(t, cfg)
	rp := newRP(t, b)
	rp.Connector = "local"
	if _, _, err := rp.Login(t.Context(), testenv.UserName, testenv.UserPassword); err == nil || !strings.Contains(err.Error(), "Confirm your email") {
		t.Fatalf("login with an unverified address: %v", err)
	}
	_, link := mailTo(t, mp, testenv.UserEmail, 1)
	c := anon()
	if p := submit(t, c, getPage(t, c, link), nil); p.Status != 200 {
		t.Fatalf("verify: %d %.300s", p.Status, p.Body)
	}
	if _, _, err := rp.Login(t.Context(), testenv.UserName, testenv.UserPassword); err != nil {
		t.Fatalf("login after verifying: %v", err)
	}
}

// TestSelfServiceResetSecondFactor: with reset_second_factor, a person
// with an authenticator app gives its code with the new password; the
// link alone, or a wrong code, changes nothing and spends nothing.
func TestSelfServiceResetSecondFactor(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	cfg := selfConfig(t, mp, map[string]any{"password_reset": true, "reset_second_factor": true})
	cfg.Connectors = cfg.Connectors[:1]
	cfg.Login.MFA.Clients = []string{testenv.ClientID}
	b := testenv.Start(t, cfg)
	secret := enrolTOTP(t, b)

	hash := func() string {
		a, err := b.Server.Store.GetLocalAccountByLogin(t.Context(), testenv.UserName)
		if err != nil {
			t.Fatal(err)
		}
		return a.PasswordHash
	}
	before := hash()
	c := anon()
	forgot(t, b, c, testenv.UserName)
	_, link := mailTo(t, mp, testenv.UserEmail, 1)
	p := getPage(t, c, link)
	if p.Status != 200 || !strings.Contains(p.Body, `name="code"`) {
		t.Fatalf("the reset form asks no code: %d %.300s", p.Status, p.Body)
	}
	if r := submit(t, c, p, map[string]string{"password": "cobalt-ferry-whistle-2", "password2": "cobalt-ferry-whistle-2", "code": "000000"}); r.Status != 401 {
		t.Fatalf("a wrong code: %d", r.Status)
	}
	if hash() != before {
		t.Fatal("a wrong code changed the password")
	}
	r := submit(t, c, getPage(t, c, link), map[string]string{"password": "cobalt-ferry-whistle-2", "password2": "cobalt-ferry-whistle-2",
		"code": mfa.Code(secret, time.Now().Add(mfa.Period))})
	if r.Status != 200 || !strings.Contains(r.Body, "Password changed") || hash() == before {
		t.Fatalf("with the right code: %d %.300s", r.Status, r.Body)
	}
}

// TestSelfServiceLinksExpire: each link works for its purpose's lifetime
// (reset 30m, verify 24h, invite 7d by default), then says it expired.
func TestSelfServiceLinksExpire(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	clock := testenv.NewClock()
	b := testenv.StartClock(t, selfConfig(t, mp, map[string]any{"password_reset": true, "registration": map[string]any{"enabled": true}}), clock)
	c := anon()
	forgot(t, b, c, testenv.UserName)
	_, reset := mailTo(t, mp, testenv.UserEmail, 1)
	submit(t, c, getPage(t, c, b.URL+"/login/local/register"), map[string]string{"email": "frank@example.com"})
	_, verify := mailTo(t, mp, "frank@example.com", 1)
	tok := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	mustStatus(t, call(t, b, tok, http.MethodPost, "/accounts", map[string]any{"username": "gina", "email": "gina@example.com", "invite": true}), 201, "invite")
	_, invite := mailTo(t, mp, "gina@example.com", 1)

	works := func(link string) bool {
		p := getPage(t, c, link)
		if p.Status != 200 && !strings.Contains(p.Body, "Link expired") {
			t.Fatalf("%s: %d %.300s", link, p.Status, p.Body)
		}
		return p.Status == 200
	}
	for _, step := range []struct {
		advance              time.Duration
		reset, verify, invit bool
	}{
		{29 * time.Minute, true, true, true},
		{2 * time.Minute, false, true, true},
		{24 * time.Hour, false, false, true},
		{6 * 24 * time.Hour, false, false, false},
	} {
		clock.Advance(step.advance)
		if works(reset) != step.reset || works(verify) != step.verify || works(invite) != step.invit {
			t.Fatalf("after %v more: reset %v verify %v invite %v, want %v %v %v", step.advance,
				works(reset), works(verify), works(invite), step.reset, step.verify, step.invit)
		}
	}
}
