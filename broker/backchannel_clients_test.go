package broker_test

import (
	"context"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/portico-idp/portico/testenv"
)

// TestBackchannelDiscovery: discovery says back-channel logout, with sid,
// is supported (Back-Channel Logout §2.1).
func TestBackchannelDiscovery(t *testing.T) {
	doc := discovery(t, testenv.Start(t, testenv.Config(t)).URL)
	for _, k := range []string{"backchannel_logout_supported", "backchannel_logout_session_supported"} {
		if doc[k] != true {
			t.Errorf("%s = %v, want true", k, doc[k])
		}
	}
}

// TestBackchannelAdminAPI: the admin API reads the file's settings, takes
// them on create and replace under the file's URI rule, and refuses the
// rest with 400.
func TestBackchannelAdminAPI(t *testing.T) {
	b := backchannelConfig(t, "https://rp.example.com/bc")
	admin := ccToken(t, b, adminClientID, adminClientSecret, "admin")
	got := call(t, b, admin, "GET", "/clients/"+testenv.ClientID, nil)
	if got.Body["backchannel_logout_uri"] != "https://rp.example.com/bc" || got.Body["backchannel_logout_session_required"] != true {
		t.Errorf("seeded client: %s", got.Raw)
	}
	client := func(uri string, required bool) map[string]any {
		return map[string]any{"id": "bc", "redirect_uris": []string{"https://rp.example.com/cb"},
			"backchannel_logout_uri": uri, "backchannel_logout_session_required": required}
	}
	mustStatus(t, call(t, b, admin, "POST", "/clients", client("https://rp.example.com/bc?t=1", true)), 201, "create")
	r := call(t, b, admin, "GET", "/clients/bc", nil)
	if r.Body["backchannel_logout_uri"] != "https://rp.example.com/bc?t=1" || r.Body["backchannel_logout_session_required"] != true {
		t.Errorf("created client: %s", r.Raw)
	}
	mustStatus(t, call(t, b, admin, "PUT", "/clients/bc", client("http://127.0.0.1:9/bc", false)), 200, "replace")
	for _, c := range []struct {
		name     string
		uri      string
		required bool
	}{
		{"http off loopback", "http://rp.example.com/bc", false},
		{"fragment", "https://rp.example.com/bc#x", false},
		{"custom scheme", "com.example:/bc", false},
		{"session required without a URI", "", true},
	} {
		mustStatus(t, call(t, b, admin, "PUT", "/clients/bc", client(c.uri, c.required)), 400, c.name)
	}
	if r := call(t, b, admin, "GET", "/clients/bc", nil); r.Body["backchannel_logout_uri"] != "http://127.0.0.1:9/bc" {
		t.Errorf("a refused replace changed the client: %s", r.Raw)
	}
}

// TestBackchannelRegistration: dynamic registration (RFC 7591, OpenID
// Connect Registration with Back-Channel Logout §2.2) accepts the metadata,
// echoes it, and refuses a URI that breaks the rule. A registered client's
// session end reaches its URI.
func TestBackchannelRegistration(t *testing.T) {
	cfg := regConfig(t)
	cfg.Registration.AllowPrivateURIs = true // the RP is on loopback
	b := testenv.Start(t, cfg)
	rp := newLogoutRP(t)
	md := confidentialMetadata()
	md["backchannel_logout_uri"] = rp.URL
	md["backchannel_logout_session_required"] = true
	r := regDo(t, "POST", b.URL+"/register", initialToken, md)
	if r.Status != 201 || r.Body["backchannel_logout_uri"] != rp.URL || r.Body["backchannel_logout_session_required"] != true {
		t.Fatalf("register: %d %v", r.Status, r.Body)
	}
	for _, bad := range []string{"http://rp.example.com/bc", "javascript:alert(1)", "https://rp.example.com/#f"} {
		md["backchannel_logout_uri"] = bad
		if r := regDo(t, "POST", b.URL+"/register", initialToken, md); r.Status != 400 || r.str("error") != "invalid_client_metadata" {
			t.Errorf("%s: %d %v", bad, r.Status, r.Body)
		}
	}

	// The registered client logs alice in; revoking its refresh token
	// tells its URI.
	id, secret := r.str("client_id"), r.str("client_secret")
	reg, err := testenv.NewRP(context.Background(), b.URL, id, secret, regRedirect)
	if err != nil {
		t.Fatal(err)
	}
	reg.AllowConsent = true // a registered client is a third party
	tok, idt, err := reg.Login(context.Background(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	if st, body := postForm(t, b.URL+"/revoke", id, secret, map[string][]string{"token": {tok.RefreshToken}}); st != 200 {
		t.Fatalf("revoke: %d %v", st, body)
	}
	raw := rp.next(t, "registered client")
	var c struct {
		Aud string `json:"aud"`
		SID string `json:"sid"`
	}
	lt, err := reg.Provider.Verifier(&oidc.Config{ClientID: id}).Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := lt.Claims(&c); err != nil || c.Aud != id || c.SID != sidOf(t, idt) {
		t.Errorf("logout token for %s: %+v %v", id, c, err)
	}
}
