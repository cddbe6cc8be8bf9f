package broker_test

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/journey"

	csaml "github.com/crewjam/saml"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// samlBroker starts the test IdP and a broker with two connectors, local
// and "corp-saml" on the IdP's metadata URL, and registers the broker's SP
// metadata at the IdP, as an administrator would.
func samlBroker(t *testing.T, extra map[string]any) (*testenv.Broker, *testenv.SAMLIdP) {
	t.Helper()
	idp := testenv.StartSAMLIdP(t)
	cc := map[string]any{"idp_metadata_url": idp.MetadataURL, "insecure_allow_http": true}
	for k, v := range extra {
		cc[k] = v
	}
	cfg := testenv.Config(t)
	cfg.Connectors = append(cfg.Connectors, config.Connector{ID: "corp-saml", Type: "saml", Name: "Corporate SSO", Config: cc})
	b := testenv.Start(t, cfg)
	if err := idp.RegisterSP(context.Background(), journey.MetadataURL(b.URL, "corp-saml")); err != nil {
		t.Fatal(err)
	}
	return b, idp
}

func samlRP(t *testing.T, b *testenv.Broker) *testenv.RP {
	rp := newRP(t, b)
	rp.Connector = "corp-saml"
	return rp
}

// TestSAMLCodeFlow is acceptance 1 of the SAML issue: an OIDC code flow
// through the SAML IdP; the id_token carries Portico's sub, and the email,
// name and groups the IdP asserted; the identity's subject is the NameID.
func TestSAMLCodeFlow(t *testing.T) {
	for _, signed := range []bool{false, true} {
		name := "redirect binding"
		if signed {
			name = "signed requests, POST binding"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b, _ := samlBroker(t, map[string]any{"sign_requests": signed})
			_, idt, err := samlRP(t, b).LoginSAML(ctx, testenv.SAMLAlice.Login, testenv.SAMLAlice.Password)
			if err != nil {
				t.Fatal(err)
			}
			var c struct {
				Email, Name       string
				PreferredUsername string `json:"preferred_username"`
				EmailVerified     bool   `json:"email_verified"`
				Groups            []string
			}
			idt.Claims(&c)
			a := testenv.SAMLAlice
			if c.Email != a.Email || c.Name != a.Name || c.PreferredUsername != a.Login || c.EmailVerified {
				t.Errorf("claims %+v", c)
			}
			for _, g := range a.Groups {
				if !slices.Contains(c.Groups, g) {
					t.Errorf("groups %q lack %q", c.Groups, g)
				}
			}
			if idt.Subject == a.NameID || idt.Subject == "" {
				t.Errorf("sub %q: want Portico's own id", idt.Subject)
			}
			// The IdP's cross-site POST came without the browser cookie, and
			// Portico posted it again from its own page.
			if !strings.Contains(b.Logs(), `"method":"POST","path":"/callback/corp-saml","status":200`) {
				t.Error("no re-post of the cross-site callback")
			}
			ids, err := b.Server.Store.ListIdentities(ctx, idt.Subject)
			if err != nil || len(ids) != 1 || ids[0].ConnectorID != "corp-saml" || ids[0].Subject != a.NameID {
				t.Errorf("identities of %s: %+v, %v", idt.Subject, ids, err)
			}
			// The same person again is the same user; another is not.
			_, again, err := samlRP(t, b).LoginSAML(ctx, a.Login, a.Password)
			if err != nil || again.Subject != idt.Subject {
				t.Errorf("second login: %v, sub %q", err, again.Subject)
			}
			_, bob, err := samlRP(t, b).LoginSAML(ctx, testenv.SAMLBob.Login, testenv.SAMLBob.Password)
			if err != nil || bob.Subject == idt.Subject {
				t.Errorf("bob: %v", err)
			}
		})
	}
}

// TestSAMLMetadataServed is acceptance 4 through the broker: the SP
// metadata is at /metadata/{connector} and parses.
func TestSAMLMetadataServed(t *testing.T) {
	b, _ := samlBroker(t, nil)
	resp, err := http.Get(journey.MetadataURL(b.URL, "corp-saml"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ed csaml.EntityDescriptor
	if err := decodeXML(resp, &ed); err != nil {
		t.Fatal(err)
	}
	if ed.EntityID != journey.MetadataURL(b.URL, "corp-saml") || len(ed.SPSSODescriptors) != 1 ||
		ed.SPSSODescriptors[0].AssertionConsumerServices[0].Location != journey.CallbackURL(b.URL, "corp-saml") {
		t.Errorf("metadata %+v", ed)
	}
}

// TestSAMLMetadataRotation is acceptance 3: the IdP rotates its signing
// key; the metadata refresh picks it up and logins keep working; with the
// metadata endpoint down, the last good metadata is used and a warning
// logged. A response the broker cannot trust fails the login cleanly,
// logged with its IDs and without its XML.
func TestSAMLMetadataRotation(t *testing.T) {
	ctx := context.Background()
	b, idp := samlBroker(t, map[string]any{"idp_metadata_refresh": "1s"})
	rp := samlRP(t, b)
	if _, _, err := rp.LoginSAML(ctx, testenv.SAMLAlice.Login, testenv.SAMLAlice.Password); err != nil {
		t.Fatal(err)
	}
	if err := idp.RotateKey(false); err != nil {
		t.Fatal(err)
	}
	samlWait(t, "a login after the key rotation", func() bool {
		_, _, err := rp.LoginSAML(ctx, testenv.SAMLAlice.Login, testenv.SAMLAlice.Password)
		return err == nil
	})
	if !strings.Contains(b.Logs(), "IdP signing certificates changed") {
		t.Error("the rotation was not logged")
	}

	idp.SetMetadataDown(true)
	samlWait(t, "a failed refresh", func() bool { return strings.Contains(b.Logs(), "keeping the last good metadata") })
	for _, line := range strings.Split(b.Logs(), "\n") {
		if strings.Contains(line, "keeping the last good metadata") && !strings.Contains(line, `"level":"WARN"`) {
			t.Errorf("not a warning: %s", line)
		}
	}
	if _, _, err := rp.LoginSAML(ctx, testenv.SAMLBob.Login, testenv.SAMLBob.Password); err != nil {
		t.Errorf("login with the metadata endpoint down: %v", err)
	}
}

// TestSAMLRejectedAtBroker: a response signed with a key Portico does not
// trust ends the login with access_denied; the log says why, with the
// response's ID (the assertion is encrypted, and not decrypted unless the
// response verifies), and holds no XML.
func TestSAMLRejectedAtBroker(t *testing.T) {
	b, idp := samlBroker(t, nil) // hourly refresh: the rotation is not seen
	idp.RotateKey(false)
	rp := samlRP(t, b)
	cb, err := rp.AuthorizeSAML(context.Background(), rp.NewFlow().AuthURL, testenv.SAMLAlice.Login, testenv.SAMLAlice.Password)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Query != nil || cb.Status != http.StatusForbidden || !strings.Contains(cb.Page, "error=access_denied") {
		t.Errorf("status %d, query %v, page %.300s", cb.Status, cb.Query, cb.Page)
	}
	logs := b.Logs()
	if !strings.Contains(logs, "response rejected") || !strings.Contains(logs, `(response \"id-`) || !strings.Contains(logs, "trusted certs") {
		t.Errorf("no reason logged:\n%s", logs)
	}
	if strings.Contains(logs, "<saml") || strings.Contains(logs, "EncryptedAssertion") || strings.Contains(logs, "SignatureValue") {
		t.Errorf("the response is in the logs:\n%s", logs)
	}
}

func samlWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func decodeXML(resp *http.Response, v any) error {
	return xml.NewDecoder(resp.Body).Decode(v)
}

// postSAML posts an IdP's response to the ACS from a browser without
// Portico's cookie, following Portico's re-post page once, and returns the
// final answer (not following a redirect to the client).
func postSAML(t *testing.T, post testenv.SAMLPost) *http.Response {
	t.Helper()
	resp, err := noFollow.PostForm(post.Action, post.Fields)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == 200 {
		page, _ := readAll(resp)
		if form, err := testenv.ParseForm(resp.Request.URL, page); err == nil && form.Values.Has("portico_bounce") {
			if resp, err = noFollow.PostForm(form.Action, form.Values); err != nil {
				t.Fatal(err)
			}
		}
	}
	return resp
}

// TestSAMLIdPInitiated: an unsolicited response is refused unless the
// connector enables IdP-initiated login; enabled, it gives the default
// client a code (no state) that redeems to tokens for the asserted user,
// once.
func TestSAMLIdPInitiated(t *testing.T) {
	ctx := context.Background()
	a := testenv.SAMLAlice

	b, idp := samlBroker(t, nil)
	post, err := idp.Initiate(ctx, journey.MetadataURL(b.URL, "corp-saml"), "", a.Login, a.Password)
	if err != nil {
		t.Fatal(err)
	}
	if r := postSAML(t, post); r.StatusCode != 400 || r.Header.Get("Location") != "" {
		t.Fatalf("unsolicited response with IdP-initiated login off: %d %q", r.StatusCode, r.Header.Get("Location"))
	}

	b, idp = samlBroker(t, map[string]any{"idp_initiated": map[string]any{
		"enabled": true, "default_client_id": testenv.ClientID, "default_redirect_uri": testenv.RedirectURI,
	}})
	post, err = idp.Initiate(ctx, journey.MetadataURL(b.URL, "corp-saml"), "", a.Login, a.Password)
	if err != nil {
		t.Fatal(err)
	}
	r := postSAML(t, post)
	loc := r.Header.Get("Location")
	if r.StatusCode != 303 || !strings.HasPrefix(loc, testenv.RedirectURI+"?code=") || strings.Contains(loc, "state=") {
		t.Fatalf("IdP-initiated login: %d %q", r.StatusCode, loc)
	}
	// Anyone can post an assertion into a browser: it must not become
	// that browser's session for every application.
	for _, ck := range r.Cookies() {
		if ck.Name == testenv.SessionCookie && ck.MaxAge >= 0 {
			t.Error("an IdP-initiated login set the single sign-on cookie")
		}
	}
	u, _ := url.Parse(loc)
	tr := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{
		"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "redirect_uri": {testenv.RedirectURI}})
	if tr.Status != 200 {
		t.Fatalf("code exchange: %d %v", tr.Status, tr.Body)
	}
	idt, err := newRP(t, b).Verifier.Verify(ctx, tr.str("id_token"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Email string }
	idt.Claims(&c)
	if c.Email != a.Email {
		t.Errorf("email %q, want %q", c.Email, a.Email)
	}
	if r := postSAML(t, post); r.StatusCode == 303 {
		t.Errorf("a replayed unsolicited response logged in again: %q", r.Header.Get("Location"))
	}
}
