package broker_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/journey"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/connectors/oidc/oidctest"
	"github.com/portico-idp/portico/sdk/upstream"
	"github.com/portico-idp/portico/testenv"
)

// Broker-to-broker federation: broker A is a plain Portico with alice;
// broker B logs people in at A through the oidc connector, as any
// upstream OpenID provider. B's issuer must be known before A starts (A
// registers B's callback URLs for B's client), so B's port is taken first.

const (
	upClientID     = "broker-b"
	upClientSecret = "broker-b-secret"
	upTenant       = "11111111-2222-3333-4444-555555555555"
)

// upstreamPair is broker A (the upstream) and B's listener and issuer.
type upstreamPair struct {
	A       *testenv.Broker
	bListen net.Listener
	bIssuer string
}

func loopbackListener(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// startUpstreamA starts A, with a confidential client for B that may come
// back to any of B's connectors. A's issuer has a path when path is set.
func startUpstreamA(t *testing.T, path string, bConnectors ...string) upstreamPair {
	t.Helper()
	p := upstreamPair{bListen: loopbackListener(t)}
	p.bIssuer = "http://" + p.bListen.Addr().String()
	cfg := testenv.Config(t)
	var redirects []string
	for _, id := range bConnectors {
		redirects = append(redirects, journey.CallbackURL(p.bIssuer, id))
	}
	cfg.Clients = append(cfg.Clients, config.Client{ID: upClientID, Secret: upClientSecret, RedirectURIs: redirects,
		GrantTypes: []string{"authorization_code", "refresh_token"}})
	if path == "" {
		p.A = testenv.Start(t, cfg)
		return p
	}
	l := loopbackListener(t)
	p.A = startOnListener(t, l, cfg, "http://"+l.Addr().String()+path, nil)
	return p
}

// startOnListener runs a broker for cfg with issuer on l until the test
// ends, logging into logs if not nil.
func startOnListener(t *testing.T, l net.Listener, cfg *config.Config, issuer string, logs *testenv.LogBuffer) *testenv.Broker {
	t.Helper()
	cfg.Listen, cfg.Issuer, cfg.Storage.Dir = l.Addr().String(), issuer, t.TempDir()
	log := testenv.Logger(t)
	if logs != nil {
		log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err := testenv.StartOn(l, cfg, log)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })
	return b
}

// startB starts broker B with these connectors (its local users stay, but
// it has no local connector).
func (p upstreamPair) startB(t *testing.T, connectors ...config.Connector) *testenv.Broker {
	t.Helper()
	cfg := testenv.Config(t)
	cfg.Connectors = connectors
	return startOnListener(t, p.bListen, cfg, p.bIssuer, nil)
}

// oidcConnector is B's connector to A.
func oidcConnector(id, issuer string, extra map[string]any) config.Connector {
	c := map[string]any{"issuer": issuer, "client_id": upClientID, "client_secret": upClientSecret,
		"scopes": []any{"openid", "profile", "email", "groups"}, "timeout": "2s"}
	for k, v := range extra {
		c[k] = v
	}
	return config.Connector{ID: id, Type: "oidc", Name: "Upstream " + id, Config: c}
}

// upstreamClaims are the claims of B's id_token.
type upstreamClaims struct {
	Email             string   `json:"email"`
	EmailVerified     bool     `json:"email_verified"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
	Groups            []string `json:"groups"`
}

func claimsOf(t *testing.T, idt *oidc.IDToken) upstreamClaims {
	t.Helper()
	var c upstreamClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// upstreamRefreshToken opens the refresh token B keeps for user's identity
// at connector: B's store holds it sealed under the connector's key,
// derived from the master key in B's data directory as server.connectorKey
// derives it.
func upstreamRefreshToken(t *testing.T, b *testenv.Broker, connector, userID string) string {
	t.Helper()
	idents, err := b.Server.Store.ListIdentities(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	i := -1
	for j, x := range idents {
		if x.ConnectorID == connector {
			i = j
		}
	}
	if i < 0 {
		t.Fatalf("no identity at %s for %s", connector, userID)
	}
	master, err := os.ReadFile(filepath.Join(b.Config.Storage.Dir, "connector-master.key"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, master)
	m.Write([]byte("portico connector key\x00" + connector))
	s, err := upstream.NewSealer(m.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Open(idents[i].ConnectorData, idents[i].Subject)
	if err != nil {
		t.Fatalf("open connector data: %v", err)
	}
	if tok.Refresh == "" || strings.Contains(string(idents[i].ConnectorData), tok.Refresh) {
		t.Fatalf("refresh token missing, or stored in clear")
	}
	return tok.Refresh
}

func refreshAt(t *testing.T, issuer, client, secret, rt string) tokenResponse {
	t.Helper()
	return postToken(t, issuer, client, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// TestUpstreamFederation is acceptance 1: an app logs in at B, which
// federates to A; B's id_token carries A's user's claims; a refresh at B
// refreshes at A (A's refresh token rotates, the old one is dead there);
// with A down B's refresh fails softly and the session survives; once
// alice is deleted at A, B's refresh is invalid_grant.
func TestUpstreamFederation(t *testing.T) {
	ctx := context.Background()
	p := startUpstreamA(t, "", "upstream")
	b := p.startB(t, oidcConnector("upstream", p.A.URL, nil))

	tok, idt, err := newRP(t, b).Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	c := claimsOf(t, idt)
	if c.Email != testenv.UserEmail || !c.EmailVerified || c.Name != "Alice Example" || c.PreferredUsername != testenv.UserName ||
		!slices.Equal(c.Groups, []string{"admins", "staff"}) {
		t.Errorf("B's claims %+v", c)
	}
	rt0 := upstreamRefreshToken(t, b, "upstream", idt.Subject)

	r := refreshAt(t, b.URL, testenv.ClientID, testenv.ClientSecret, tok.RefreshToken)
	if r.Status != 200 {
		t.Fatalf("refresh at B: %d %v", r.Status, r.Body)
	}
	refreshed, err := newRP(t, b).Verifier.Verify(ctx, r.str("id_token"))
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(t, refreshed); c.Email != testenv.UserEmail || !slices.Equal(c.Groups, []string{"admins", "staff"}) || refreshed.Subject != idt.Subject {
		t.Errorf("refreshed claims %+v", c)
	}
	rt1 := upstreamRefreshToken(t, b, "upstream", idt.Subject)
	if rt1 == rt0 {
		t.Fatal("A's refresh token did not rotate: B did not refresh at A")
	}

	// A down: B's refresh is "try later", and ends nothing.
	if err := p.A.Stop(); err != nil {
		t.Fatal(err)
	}
	if r2 := refreshAt(t, b.URL, testenv.ClientID, testenv.ClientSecret, r.str("refresh_token")); r2.Status != 503 || r2.str("error") != "temporarily_unavailable" {
		t.Errorf("refresh with A down: %d %v", r2.Status, r2.Body)
	}
	p.A.Restart(t)
	r = refreshAt(t, b.URL, testenv.ClientID, testenv.ClientSecret, r.str("refresh_token"))
	if r.Status != 200 {
		t.Fatalf("refresh once A is back: %d %v", r.Status, r.Body)
	}

	// The token B rotated away is dead at A. (Presenting it is a replay,
	// so A also ends that upstream session: a new login follows.)
	if old := refreshAt(t, p.A.URL, upClientID, upClientSecret, rt0); old.Status != 400 || old.str("error") != "invalid_grant" {
		t.Errorf("A accepted the rotated-away upstream token: %d %v", old.Status, old.Body)
	}

	tok, _, err = newRP(t, b).Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := p.A.Server.Store.GetLocalAccountByLogin(ctx, testenv.UserName)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.A.Server.Store.DeleteLocalAccount(ctx, acc.ID); err != nil {
		t.Fatal(err)
	}
	if r := refreshAt(t, b.URL, testenv.ClientID, testenv.ClientSecret, tok.RefreshToken); r.Status != 400 || r.str("error") != "invalid_grant" {
		t.Errorf("refresh at B after alice was deleted at A: %d %v", r.Status, r.Body)
	}
}

// upstreamFailed checks that a login ended cleanly: no 500, no return to
// the application with a code, and a page offering the OAuth error back.
func upstreamFailed(t *testing.T, cb testenv.Callback, err error, status int, oauthErr string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if cb.Query != nil && cb.Query.Get("code") != "" {
		t.Fatalf("the application got a code: %v", cb.Query)
	}
	if cb.Status != status || (oauthErr != "" && !strings.Contains(cb.Page, "error="+oauthErr)) {
		t.Fatalf("status %d, want %d with %s; page %.300s", cb.Status, status, oauthErr, cb.Page)
	}
}

// TestUpstreamMisbehaves is acceptance 3 through broker B: an upstream
// sending bad id_tokens, an error, a foreign state or nothing in time
// fails the login cleanly.
func TestUpstreamMisbehaves(t *testing.T) {
	ctx := context.Background()
	iss := oidctest.New(t, upClientID, upClientSecret, map[string]any{"sub": "u1", "email": "u1@example.com", "email_verified": true})
	l := loopbackListener(t)
	cfg := testenv.Config(t)
	// A timeout a loaded machine's well-behaved upstream meets; the
	// timeout case hangs until it passes (oidctest's Hang) instead of
	// guessing a delay longer than it.
	cfg.Connectors = []config.Connector{oidcConnector("upstream", iss.URL, map[string]any{"timeout": "2s"})}
	logs := &testenv.LogBuffer{}
	b := startOnListener(t, l, cfg, "http://"+l.Addr().String(), logs)

	if _, _, err := newRP(t, b).Login(ctx, "", ""); err != nil {
		t.Fatalf("a well-behaved upstream: %v", err)
	}
	tests := []struct {
		name    string
		set     func(*oidctest.Settings)
		status  int
		oauthEr string
		logged  string // why, in B's log
	}{
		{"wrong audience", func(s *oidctest.Settings) { s.Audience = "someone-else" }, 403, "access_denied", "expected audience"},
		{"wrong nonce", func(s *oidctest.Settings) { s.Nonce = "replayed-nonce" }, 403, "access_denied", "nonce does not match"},
		{"expired", func(s *oidctest.Settings) { s.Expired = true }, 403, "access_denied", "token is expired"},
		{"unknown key", func(s *oidctest.Settings) { s.UnknownKey = true }, 403, "access_denied", "failed to verify"},
		{"error parameter", func(s *oidctest.Settings) { s.AuthError = "access_denied" }, 403, "access_denied", "upstream answered access_denied"},
		{"timeout", func(s *oidctest.Settings) { s.Hang = true }, 503, "temporarily_unavailable", "Client.Timeout exceeded"},
		{"token endpoint 500", func(s *oidctest.Settings) { s.TokenStatus = 500 }, 503, "temporarily_unavailable", "500 Internal Server Error"},
		{"state of another login", func(s *oidctest.Settings) { s.State = "not-a-pending-request" }, 400, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss.Update(func(s *oidctest.Settings) { *s = oidctest.Settings{Claims: s.Claims} })
			iss.Update(tt.set)
			rp := newRP(t, b)
			start, logged := time.Now(), len(logs.String())
			cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, "", "")
			upstreamFailed(t, cb, err, tt.status, tt.oauthEr)
			if d := time.Since(start); d > 20*time.Second { // liveness: a hang would never end
				t.Errorf("failing took %v", d)
			}
			if !strings.Contains(logs.String()[logged:], tt.logged) {
				t.Errorf("B's log does not say %q", tt.logged)
			}
		})
	}
	iss.Update(func(s *oidctest.Settings) { *s = oidctest.Settings{Claims: s.Claims} })

	// A callback URL replayed (a double submit, or one taken from the
	// history) fails: the pending login was spent by the first.
	t.Run("replayed callback", func(t *testing.T) {
		rp := newRP(t, b)
		callback := journey.CallbackURL(b.URL, "upstream")
		rp.Browser = testenv.NewBrowser(callback)
		cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, "", "")
		if err != nil || cb.Query.Get("code") == "" {
			t.Fatalf("did not stop at B's callback: %v %+v", err, cb)
		}
		back := callback + "?" + cb.Query.Encode()
		app := testenv.NewBrowser(testenv.RedirectURI)
		app.Jar = rp.Browser.Jar
		for i, want := range []int{http.StatusSeeOther, http.StatusBadRequest} {
			resp, err := app.Get(back)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("callback #%d: %s, want %d", i+1, resp.Status, want)
			}
			if loc, _ := resp.Location(); i == 1 && loc != nil {
				t.Errorf("the replay was sent to %s", loc)
			}
		}
	})
}

// TestUpstreamGitHub is acceptance 2 through B: groups from every page of
// orgs and teams, an unverified primary email passed on as unverified,
// and allowed_orgs refusing a non-member.
func TestUpstreamGitHub(t *testing.T) {
	ctx := context.Background()
	gh := testenv.StartGitHub(t, "gh-client", "gh-secret",
		testenv.GitHubUser{ID: 583231, Login: "alice", Name: "Alice Example", Password: "alice-gh",
			Emails: []testenv.GitHubEmail{{Email: testenv.UserEmail, Primary: true, Verified: true}},
			Orgs:   []string{"acme", "globex", "initech"},
			Teams:  []testenv.GitHubTeam{{Org: "acme", Slug: "dev"}, {Org: "acme", Slug: "ops"}, {Org: "globex", Slug: "sre"}}},
		testenv.GitHubUser{ID: 9919, Login: "bob", Name: "Bob", Password: "bob-gh",
			Emails: []testenv.GitHubEmail{{Email: "bob@example.com", Primary: true}}, Orgs: []string{"globex"}},
	)
	gh.SetMaxPerPage(2)
	ghc := func(id string, extra map[string]any) config.Connector {
		c := map[string]any{"client_id": gh.ClientID, "client_secret": gh.ClientSecret, "base_url": gh.URL, "timeout": "2s"}
		for k, v := range extra {
			c[k] = v
		}
		return config.Connector{ID: id, Type: "github", Name: "GitHub " + id, Config: c}
	}
	l := loopbackListener(t)
	cfg := testenv.Config(t)
	cfg.Connectors = []config.Connector{ghc("github", nil), ghc("github-acme", map[string]any{"allowed_orgs": []any{"acme"}})}
	b := startOnListener(t, l, cfg, "http://"+l.Addr().String(), nil)
	rp := func(connector string) *testenv.RP {
		r := newRP(t, b)
		r.Connector = connector
		return r
	}

	tok, idt, err := rp("github").Login(ctx, "alice", "alice-gh")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"acme", "globex", "initech", "acme:dev", "acme:ops", "globex:sre"}
	if c := claimsOf(t, idt); !slices.Equal(c.Groups, want) || c.Email != testenv.UserEmail || !c.EmailVerified || c.PreferredUsername != "alice" {
		t.Errorf("alice's claims %+v", c)
	}
	_, idt, err = rp("github").Login(ctx, "bob", "bob-gh")
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(t, idt); c.Email != "bob@example.com" || c.EmailVerified {
		t.Errorf("bob's unverified primary email: %+v", c)
	}
	r := rp("github-acme")
	cb, err := r.Authorize(ctx, r.NewFlow().AuthURL, "bob", "bob-gh")
	upstreamFailed(t, cb, err, 403, "access_denied")
	if _, idt, err = rp("github-acme").Login(ctx, "alice", "alice-gh"); err != nil {
		t.Fatalf("alice is in acme: %v", err)
	}
	if c := claimsOf(t, idt); !slices.Equal(c.Groups, []string{"acme", "acme:dev", "acme:ops"}) {
		t.Errorf("groups beyond allowed_orgs: %q", c.Groups)
	}

	// Refresh re-reads GitHub; a revoked token ends the session.
	if r := refreshAt(t, b.URL, testenv.ClientID, testenv.ClientSecret, tok.RefreshToken); r.Status != 200 {
		t.Fatalf("refresh: %d %v", r.Status, r.Body)
	} else {
		tok.RefreshToken = r.str("refresh_token")
	}
	gh.RevokeTokens("alice")
	if r := refreshAt(t, b.URL, testenv.ClientID, testenv.ClientSecret, tok.RefreshToken); r.Status != 400 || r.str("error") != "invalid_grant" {
		t.Errorf("refresh after GitHub revoked the token: %d %v", r.Status, r.Body)
	}
}

// TestUpstreamDistinctIdentities is acceptance 4: alice through two OIDC
// connectors to the same upstream and through GitHub, with the same
// verified email everywhere, is three external identities and, with no
// linking policy, three Portico users.
func TestUpstreamDistinctIdentities(t *testing.T) {
	ctx := context.Background()
	p := startUpstreamA(t, "", "upstream", "upstream2")
	gh := testenv.StartGitHub(t, "gh-client", "gh-secret", testenv.GitHubUser{ID: 42, Login: "alice", Password: "alice-gh",
		Emails: []testenv.GitHubEmail{{Email: testenv.UserEmail, Primary: true, Verified: true}}})
	b := p.startB(t, oidcConnector("upstream", p.A.URL, nil), oidcConnector("upstream2", p.A.URL, nil),
		config.Connector{ID: "github", Type: "github", Config: map[string]any{"client_id": gh.ClientID, "client_secret": gh.ClientSecret, "base_url": gh.URL}})
	subs := map[string]string{}
	for _, c := range []struct{ connector, user, pass string }{
		{"upstream", testenv.UserName, testenv.UserPassword},
		{"upstream2", testenv.UserName, testenv.UserPassword},
		{"github", "alice", "alice-gh"},
	} {
		rp := newRP(t, b)
		rp.Connector = c.connector
		_, idt, err := rp.Login(ctx, c.user, c.pass)
		if err != nil {
			t.Fatalf("%s: %v", c.connector, err)
		}
		if cl := claimsOf(t, idt); cl.Email != testenv.UserEmail || !cl.EmailVerified {
			t.Fatalf("%s: claims %+v", c.connector, cl)
		}
		for other, sub := range subs {
			if sub == idt.Subject {
				t.Errorf("%s and %s gave the same sub %s", c.connector, other, sub)
			}
		}
		subs[c.connector] = idt.Subject
		idents, err := b.Server.Store.ListIdentities(ctx, idt.Subject)
		if err != nil || len(idents) != 1 || idents[0].ConnectorID != c.connector {
			t.Errorf("%s: identities of the user: %+v %v", c.connector, idents, err)
		}
	}
}

// TestUpstreamPresets: the Google and Microsoft presets against broker A
// standing in for them (A's issuer has Microsoft's path shape,
// /<tenant>/v2.0): each preset's derived config works end to end.
func TestUpstreamPresets(t *testing.T) {
	ctx := context.Background()
	p := startUpstreamA(t, "/"+upTenant+"/v2.0", "google", "microsoft")
	authority := strings.TrimSuffix(p.A.URL, "/"+upTenant+"/v2.0")
	b := p.startB(t,
		config.Connector{ID: "google", Type: "google", Config: map[string]any{
			"issuer": p.A.URL, "client_id": upClientID, "client_secret": upClientSecret}},
		config.Connector{ID: "microsoft", Type: "microsoft", Config: map[string]any{
			"authority": authority, "tenant": upTenant, "client_id": upClientID, "client_secret": upClientSecret,
			// A has no oid claim; Entra's default subject.
			"claim_mapping": map[string]any{"subject": "sub"}}},
	)
	for _, c := range []struct {
		connector, username string
		verified            bool
	}{
		{"google", testenv.UserEmail, true},    // Google's username is the email
		{"microsoft", testenv.UserName, false}, // no xms_edov: not verified
	} {
		rp := newRP(t, b)
		rp.Connector = c.connector
		// The Google preset sends prompt=consent upstream for a refresh
		// token, and A, standing in for Google, asks as Google would.
		rp.AllowConsent = true
		_, idt, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
		if err != nil {
			t.Fatalf("%s: %v", c.connector, err)
		}
		if cl := claimsOf(t, idt); cl.Email != testenv.UserEmail || cl.EmailVerified != c.verified || cl.PreferredUsername != c.username || cl.Name != "Alice Example" {
			t.Errorf("%s: claims %+v", c.connector, cl)
		}
	}
}
