package broker_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/audit"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/testenv"
)

// TestRegisteredURIsGuarded: a dynamically registered client's jwks_uri
// and backchannel_logout_uri cannot make Portico connect to loopback,
// private or link-local addresses: an address literal is refused at
// registration, a name that resolves to one (localhost) when connecting,
// before any request is sent. registration.allow_private_uris lifts it
// (TestRegisterJWTClients, TestBackchannelRegistration).
func TestRegisteredURIsGuarded(t *testing.T) {
	b := testenv.Start(t, regConfig(t))
	// Retries come at once: what is tested is that none gets through.
	b.Server.Broker.SetBackchannelWait(func(context.Context, int) error { return nil })
	k := newClientKey(t, "EC", "guard")
	js := newJWKSServer(t, jwks(t, k))
	rp := newLogoutRP(t)
	port := js.URL[strings.LastIndex(js.URL, ":")+1:]

	for _, c := range []struct{ field, uri string }{
		{"jwks_uri", js.URL + "/jwks"},
		{"jwks_uri", "http://[::1]:" + port + "/jwks"},
		{"jwks_uri", "https://169.254.169.254/latest/meta-data"},
		{"backchannel_logout_uri", rp.URL},
		{"backchannel_logout_uri", "https://10.0.0.1/bc"},
	} {
		md := map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
			"jwks": map[string]any{"keys": []any{}}}
		if c.field == "jwks_uri" {
			delete(md, "jwks")
			md["jwks_uri"] = c.uri
		} else {
			md = confidentialMetadata()
			md[c.field] = c.uri
		}
		if r := regDo(t, http.MethodPost, b.URL+"/register", initialToken, md); r.Status != 400 || r.str("error") != "invalid_client_metadata" {
			t.Errorf("%s %s: %d %v", c.field, c.uri, r.Status, r.Body)
		}
	}

	// A name resolving to loopback registers, but nothing connects to it.
	viaName := func(u string) string { return strings.Replace(u, "127.0.0.1", "localhost", 1) }
	r := regDo(t, http.MethodPost, b.URL+"/register", initialToken, map[string]any{"grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": viaName(js.URL) + "/jwks"})
	if r.Status != 201 {
		t.Fatalf("register with a name: %d %v", r.Status, r.Body)
	}
	if st, code := postAssertion(t, b.URL+"/token", libAssertion(t, r.str("client_id"), b.URL, time.Minute, k), nil); st != 401 || code != "invalid_client" {
		t.Errorf("assertion with keys behind the guard: %d %s", st, code)
	}
	if n := js.count.Load(); n != 0 {
		t.Errorf("the JWKS server got %d requests", n)
	}

	md := confidentialMetadata()
	md["backchannel_logout_uri"] = viaName(rp.URL)
	r = regDo(t, http.MethodPost, b.URL+"/register", initialToken, md)
	if r.Status != 201 {
		t.Fatalf("register a logout URI with a name: %d %v", r.Status, r.Body)
	}
	id, secret := r.str("client_id"), r.str("client_secret")
	reg, err := testenv.NewRP(t.Context(), b.URL, id, secret, regRedirect)
	if err != nil {
		t.Fatal(err)
	}
	reg.AllowConsent = true
	tok, _, err := reg.Login(t.Context(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	if st, body := postForm(t, b.URL+"/revoke", id, secret, url.Values{"token": {tok.RefreshToken}}); st != 200 {
		t.Fatalf("revoke: %d %v", st, body)
	}
	waitAudit(t, b.Server.Store, "delivery refused", func(e store.AuditEvent) bool {
		return e.Type == audit.BackchannelFailed && e.ClientID == id && e.Details["reason"] == "unreachable"
	})
	select {
	case got := <-rp.got:
		t.Errorf("the RP behind the guard got a logout token: %.40s", got)
	default:
	}
}
