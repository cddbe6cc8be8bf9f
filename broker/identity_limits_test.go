package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/portico-idp/portico/broker/journey"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/connectors/oidc/oidctest"
	"github.com/portico-idp/portico/plugins/wasm/wasmtest"
	"github.com/portico-idp/portico/testenv"
)

// Identity limits (docs/identity.md#identity-limits) through each runtime
// a connector can run in: built in (the OIDC connector, against a real
// provider), a process plugin and a WASM module (the fileusers example,
// built both ways, reading hostile accounts). A hostile identity's login
// is refused with a page, nothing is stored for it, the log names the
// connector and the field but not the value; the server serves on; an
// identity just under the default limits passes intact; a refresh that
// returns a hostile identity ends the session.

// maxIDToken is the id_token size docs/identity.md promises with the
// default limits (max_size 128 KiB): at most 4/3 × (128 KiB + 2 KiB)
// plus 1 KiB of header and signature.
const maxIDToken = 180_000

// nearName is 4096 bytes (the default max_claim_length) of a Unicode name.
var nearName = func() string {
	s := strings.Repeat("Zoë Ürümqi 山田 ", 4096/len("Zoë Ürümqi 山田 "))
	return s + strings.Repeat("x", 4096-len(s))
}()

// nearGroups are 1000 groups (the default max_groups) of 118 bytes: with
// nearName, just under the default max_size.
func nearGroups() []string {
	gs := make([]string, 1000)
	for i := range gs {
		p := fmt.Sprintf("équipe-%04d-", i)
		gs[i] = p + strings.Repeat("g", 118-len(p))
	}
	return gs
}

// hostile is one identity that breaks the default limits: how the
// connector gets it, the field the refusal names, and a piece of it that
// must not appear in the log.
type hostile struct {
	name, user, subject, field, leak string
}

// fileUser is an account of the fileusers example.
type fileUser struct {
	ID            string   `json:"id"`
	Username      string   `json:"username"`
	Email         string   `json:"email,omitempty"`
	EmailVerified bool     `json:"email_verified,omitempty"`
	Name          string   `json:"name,omitempty"`
	Groups        []string `json:"groups,omitempty"`
	PasswordHash  string   `json:"password_hash"`
}

const filePassword = "file-password"

var bigName = strings.Repeat("A", 3584<<10) // 3.5 MiB, as in the review

// fileUsers are fiona (ordinary; with fionaName), zoe (just under the
// limits) and, of the hostile accounts of hostileFiles, those logging in
// as one of only (all of them when only is empty).
func fileUsers(t *testing.T, fionaName string, only ...string) []byte {
	t.Helper()
	hash, err := local.Hash(filePassword, testenv.FastParams)
	if err != nil {
		t.Fatal(err)
	}
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprintf("g%d", i)
	}
	users := []fileUser{
		{ID: "u-fiona", Username: "fiona", Email: "fiona@files.example", EmailVerified: true, Name: fionaName, Groups: []string{"partners"}},
		{ID: "u-zoe", Username: "zoe", Email: "zoe@files.example", EmailVerified: true, Name: nearName, Groups: nearGroups()},
	}
	for _, u := range []fileUser{
		{ID: "u-big", Username: "big", Name: bigName},
		{ID: "u-ctl", Username: "mal\x00\x1b[31m"},
		{ID: "u-esc", Username: "esc", Name: "Eve\x1b]0;pwned\x07"},
		{ID: "u-grp", Username: "grp", Groups: many},
	} {
		if len(only) == 0 || slices.Contains(only, u.Username) {
			users = append(users, u)
		}
	}
	for i := range users {
		users[i].PasswordHash = hash
	}
	doc, err := json.Marshal(map[string]any{"users": users})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

var hostileFiles = []hostile{
	{"3.5 MiB name", "big", "u-big", "name", strings.Repeat("A", 64)},
	{"NUL and ESC in the username", "mal\x00\x1b[31m", "u-ctl", "username", `\u001b[31m`},
	{"ESC in the name", "esc", "u-esc", "name", "pwned"},
	{"1001 groups", "grp", "u-grp", "groups", `"g1000"`},
}

// TestIdentityLimitsPlugin: the fileusers example as a process plugin.
func TestIdentityLimitsPlugin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	write := func(doc []byte) {
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(fileUsers(t, "Fiona File"))
	cfg := testenv.Config(t)
	pc := pluginConnector(t, "files", fileusersPkg, map[string]any{"file": path})
	pc.Config["timeout"] = "20s" // a loaded machine moves 3.5 MiB slowly
	cfg.Connectors = append(cfg.Connectors, pc)
	b := testenv.Start(t, cfg)
	limitsCase{
		b: b, logs: b.Logs, connector: "files", hostile: hostileFiles,
		as:    func(user string) string { return user },
		spoil: func() { write(fileUsers(t, "Fiona\x00File")) },
	}.run(t)
}

// TestIdentityLimitsWASM: the same source built as a WASM module, reading
// the same accounts from a REST user store. The module reads the whole
// store at every login, slowly: the store holds a hostile account only
// while it logs in.
func TestIdentityLimitsWASM(t *testing.T) {
	var doc atomic.Pointer[[]byte]
	set := func(fionaName string, only ...string) {
		d := fileUsers(t, fionaName, append(only, "none")...)
		doc.Store(&d)
	}
	set("Fiona File")
	users := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(*doc.Load())
	}))
	t.Cleanup(users.Close)
	cfg := testenv.Config(t)
	cfg.Connectors = append(cfg.Connectors, wasmModule(t, "files", wasmtest.Build(t, wasmtest.FileUsers, ""),
		map[string]any{"users_url": users.URL, "timeout": "20s"},
		map[string]any{"allow_hosts": []any{"127.0.0.1"}, "timeout": "30s", "memory_limit": "256MiB", "max_response_size": "8MiB"}))
	b := testenv.Start(t, cfg)
	limitsCase{
		b: b, logs: b.Logs, connector: "files", hostile: hostileFiles,
		as: func(user string) string {
			set("Fiona File", user)
			return user
		},
		spoil: func() { set("Fiona\x00File") },
	}.run(t)
}

// TestIdentityLimitsUpstream: the built-in OIDC connector, against an
// upstream provider that sends hostile claims. (The connector's OAuth 2
// client reads at most 1 MiB of a token response, so the huge name is
// 600 KiB here.) The upstream approves at once whoever its claims say.
func TestIdentityLimitsUpstream(t *testing.T) {
	many := make([]any, 1001)
	for i := range many {
		many[i] = fmt.Sprint("g", i)
	}
	accounts := map[string]map[string]any{
		"fiona": {"sub": "u-fiona", "email": "fiona@up.example", "email_verified": true,
			"name": "Fiona File", "preferred_username": "fiona", "groups": []any{"partners"}},
		"zoe": {"sub": "u-zoe", "email": "zoe@up.example", "email_verified": true, "name": nearName,
			"preferred_username": "zoe", "groups": nearGroups()},
		"big": {"sub": "u-big", "name": strings.Repeat("A", 600<<10), "preferred_username": "big"},
		"ctl": {"sub": "u-ctl", "name": "Mallory", "preferred_username": "admin\x00\x1b[2J"},
		"grp": {"sub": "u-grp", "preferred_username": "grp", "groups": many},
	}
	iss := oidctest.New(t, upClientID, upClientSecret, accounts["fiona"])
	l := loopbackListener(t)
	cfg := testenv.Config(t)
	cfg.Connectors = []config.Connector{oidcConnector("upstream", iss.URL, map[string]any{"timeout": "20s"})}
	logs := &testenv.LogBuffer{}
	limitsCase{
		b: startOnListener(t, l, cfg, "http://"+l.Addr().String(), logs), logs: logs.String, connector: "upstream",
		hostile: []hostile{
			{"600 KiB name", "big", "u-big", "name", strings.Repeat("A", 64)},
			// The connector's username is the upstream's preferred_username.
			{"NUL and ESC in preferred_username", "ctl", "u-ctl", "username", `\u001b[2J`},
			{"1001 groups", "grp", "u-grp", "groups", `"g1000"`},
		},
		as: func(user string) string {
			iss.Update(func(s *oidctest.Settings) { s.Claims = accounts[user] })
			return ""
		},
		// A refresh at the upstream returns a new id_token, with the
		// claims of now.
		spoil: func() {
			iss.Update(func(s *oidctest.Settings) {
				s.Claims = maps.Clone(accounts["fiona"])
				s.Claims["name"] = "Fiona\x00File"
			})
		},
	}.run(t)
}

// limitsCase is one connector's run of the identity-limit checks.
type limitsCase struct {
	b         *testenv.Broker
	logs      func() string // everything b logged, as JSON lines
	connector string
	hostile   []hostile
	// as prepares a login as user and returns the name to type.
	as func(user string) string
	// spoil makes fiona's account hostile, for her next refresh.
	spoil func()
}

func (lc limitsCase) login(t *testing.T, user string) (*oauth2.Token, *oidc.IDToken) {
	t.Helper()
	rp := newRP(t, lc.b)
	rp.Connector = lc.connector
	tok, idt, err := rp.Login(context.Background(), lc.as(user), filePassword)
	if err != nil {
		t.Fatalf("login of %s: %v", user, err)
	}
	return tok, idt
}

func (lc limitsCase) run(t *testing.T) {
	ctx := context.Background()
	st := lc.b.Server.Store
	fionaTok, fiona := lc.login(t, "fiona")

	t.Run("just under the limits", func(t *testing.T) {
		tok, idt := lc.login(t, "zoe")
		var c struct {
			Name   string   `json:"name"`
			Groups []string `json:"groups"`
		}
		if err := idt.Claims(&c); err != nil {
			t.Fatal(err)
		}
		if c.Name != nearName || !slices.Equal(c.Groups, nearGroups()) {
			t.Errorf("the claims changed on the way: name of %d bytes, %d groups", len(c.Name), len(c.Groups))
		}
		raw, _ := tok.Extra("id_token").(string)
		t.Logf("id_token of %d bytes", len(raw))
		if n := len(raw); n > maxIDToken || n < maxIDToken/2 {
			t.Errorf("id_token of %d bytes; the documented bound is %d (and this identity nears it)", n, maxIDToken)
		}
		// Such a token works at Portico's own endpoints: as a Bearer
		// header, and in the forms of introspection and revocation.
		if st := userinfoStatus(t, lc.b.URL, tok.AccessToken); st != 200 {
			t.Errorf("userinfo with an access token of %d bytes: %d", len(tok.AccessToken), st)
		}
		st, body := postForm(t, lc.b.URL+"/introspect", testenv.ClientID, testenv.ClientSecret, url.Values{"token": {tok.AccessToken}})
		if st != 200 || body["active"] != true {
			t.Errorf("introspection of the large token: %d %v", st, body)
		}
		if st, _ := postForm(t, lc.b.URL+"/revoke", testenv.ClientID, testenv.ClientSecret, url.Values{"token": {tok.AccessToken}}); st != 200 {
			t.Errorf("revocation of the large token: %d", st)
		}
		if st := userinfoStatus(t, lc.b.URL, tok.AccessToken); st != 401 {
			t.Errorf("userinfo after revoking the large token: %d", st)
		}
	})

	for _, h := range lc.hostile {
		t.Run(h.name, func(t *testing.T) {
			before, err := st.ListUsers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			logged := len(lc.logs())
			rp := newRP(t, lc.b)
			rp.Connector = lc.connector
			cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, lc.as(h.user), filePassword)
			if err != nil {
				t.Fatal(err)
			}
			if cb.Query != nil || cb.Status != http.StatusForbidden || !strings.Contains(cb.Page, "cannot be accepted here") ||
				!strings.Contains(cb.Page, "error=access_denied") {
				t.Errorf("status %d, back at the application with %v; want the refusal page: %.300s", cb.Status, cb.Query, cb.Page)
			}
			if _, err := st.GetIdentity(ctx, lc.connector, h.subject); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("an identity was stored: %v", err)
			}
			if after, err := st.ListUsers(ctx); err != nil || len(after) != len(before) {
				t.Errorf("%d users before, %d after (%v)", len(before), len(after), err)
			}
			logs := lc.logs()[logged:]
			if !hasLogLine(logs, "login refused: the connector's identity breaks its limits (docs/identity.md#identity-limits)",
				map[string]string{"connector": lc.connector, "field": h.field}) {
				t.Errorf("no refusal naming connector %s and field %s in the log:\n%.2000s", lc.connector, h.field, logs)
			}
			if !hasLogLine(logs, "audit: login.failure", nil) || !strings.Contains(logs, `"details":{"field":"`+h.field+`","reason":"invalid_identity"}`) {
				t.Error("no login.failure with reason invalid_identity in the audit trail")
			}
			if strings.Contains(logs, h.leak) {
				t.Errorf("the log holds the value (%q)", h.leak)
			}
			lc.login(t, "fiona") // the server and the connector serve on
		})
	}

	t.Run("refresh returns a hostile identity", func(t *testing.T) {
		lc.spoil()
		logged := len(lc.logs())
		r := refreshAt(t, lc.b.URL, testenv.ClientID, testenv.ClientSecret, fionaTok.RefreshToken)
		if r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
			t.Fatalf("refresh: %d %q, want 400 invalid_grant", r.Status, r.str("error"))
		}
		if u, err := st.GetUser(ctx, fiona.Subject); err != nil || u.Name != "Fiona File" {
			t.Errorf("fiona's profile after the refused refresh: %q %v", u.Name, err)
		}
		if !hasLogLine(lc.logs()[logged:], "refresh refused: the connector's identity breaks its limits (docs/identity.md#identity-limits)",
			map[string]string{"connector": lc.connector, "field": "name"}) {
			t.Error("no refresh refusal in the log")
		}
	})
}

// hasLogLine reports whether logs (JSON lines) hold a line with message
// msg and these string attributes.
func hasLogLine(logs, msg string, attrs map[string]string) bool {
	for line := range strings.Lines(logs) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != msg {
			continue
		}
		ok := true
		for k, v := range attrs {
			ok = ok && m[k] == v
		}
		if ok {
			return true
		}
	}
	return false
}

// TestIdentityLimitsSAMLIdPInitiated: an unsolicited SAML response, signed
// by the IdP, whose attributes break the limits, is refused with a page
// (no application is waiting for an answer) and stores nothing; a clean
// one from the same IdP logs in. XML itself cannot carry C0 controls, but
// C1 ones (here CSI, U+009B) it can.
func TestIdentityLimitsSAMLIdPInitiated(t *testing.T) {
	ctx := context.Background()
	b, idp := samlBroker(t, map[string]any{"idp_initiated": map[string]any{
		"enabled": true, "default_client_id": testenv.ClientID, "default_redirect_uri": testenv.RedirectURI,
	}})
	key, cert := idp.SigningKey()
	acs := journey.CallbackURL(b.URL, "corp-saml")
	post := func(t *testing.T, nameID string, attrs map[string][]string) *http.Response {
		t.Helper()
		v, err := testenv.SAMLForge{Issuer: idp.EntityID(), Destination: acs, Audience: journey.MetadataURL(b.URL, "corp-saml"),
			NameID: nameID, Attributes: attrs, SignResponse: true, SignAssertion: true, Key: key, Cert: cert}.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return postSAML(t, testenv.SAMLPost{Action: acs, Fields: url.Values{"SAMLResponse": {v}}})
	}
	// (The SAML connector itself cuts values to 1024 bytes and groups to
	// 1000, so sizes do not reach the broker from it.)
	for _, tc := range []struct {
		name, nameID, field string
		attrs               map[string][]string
	}{
		{"C1 control in the name", "saml-csi", "name", map[string][]string{testenv.SAMLAttrName: {"Eve\u009b31m"}}},
		{"C1 control in a group", "saml-nel", "groups[1]", map[string][]string{testenv.SAMLAttrGroups: {"staff", "adm\u0085ins"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logged := len(b.Logs())
			r := post(t, tc.nameID, tc.attrs)
			page, _ := readAll(r)
			if r.StatusCode != http.StatusForbidden || r.Header.Get("Location") != "" || !strings.Contains(page, "cannot be accepted here") {
				t.Errorf("status %d, Location %q; want the refusal page: %.300s", r.StatusCode, r.Header.Get("Location"), page)
			}
			if _, err := b.Server.Store.GetIdentity(ctx, "corp-saml", tc.nameID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("an identity was stored: %v", err)
			}
			if !hasLogLine(b.Logs()[logged:], "login refused: the connector's identity breaks its limits (docs/identity.md#identity-limits)",
				map[string]string{"connector": "corp-saml", "field": tc.field}) {
				t.Error("no refusal naming the connector and the field in the log")
			}
		})
	}
	r := post(t, "saml-zoe", map[string][]string{testenv.SAMLAttrName: {"Zoë Ürümqi 山田"}, testenv.SAMLAttrEmail: {"zoe@idp.example"}})
	if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, testenv.RedirectURI+"?code=") {
		t.Fatalf("a clean unsolicited login: %d %q", r.StatusCode, loc)
	}
	if id, err := b.Server.Store.GetIdentity(ctx, "corp-saml", "saml-zoe"); err != nil || id.Name != "Zoë Ürümqi 山田" {
		t.Errorf("the clean identity: %q %v", id.Name, err)
	}
}

// TestIdentityLimitsConfigured: a connector's limits in the configuration
// reach the broker, raised (1001 groups pass) and lowered (a 65-byte name
// is refused).
func TestIdentityLimitsConfigured(t *testing.T) {
	many := make([]any, 1001)
	for i := range many {
		many[i] = fmt.Sprint("g", i)
	}
	iss := oidctest.New(t, upClientID, upClientSecret, map[string]any{"sub": "u-many", "name": "Many", "groups": many})
	l := loopbackListener(t)
	cfg := testenv.Config(t)
	up := oidcConnector("upstream", iss.URL, nil)
	up.Limits = config.ConnectorLimits{MaxGroups: 1500, MaxClaimLength: 64}
	cfg.Connectors = []config.Connector{up}
	b := startOnListener(t, l, cfg, "http://"+l.Addr().String(), nil)
	_, idt, err := newRP(t, b).Login(context.Background(), "", "")
	if err != nil {
		t.Fatalf("1001 groups under max_groups 1500: %v", err)
	}
	var c struct{ Groups []string }
	if err := idt.Claims(&c); err != nil || len(c.Groups) != 1001 {
		t.Errorf("%d groups (%v)", len(c.Groups), err)
	}
	iss.Update(func(s *oidctest.Settings) {
		s.Claims = map[string]any{"sub": "u-long", "name": strings.Repeat("n", 65)}
	})
	rp := newRP(t, b)
	cb, err := rp.Authorize(context.Background(), rp.NewFlow().AuthURL, "", "")
	upstreamFailed(t, cb, err, http.StatusForbidden, "access_denied")
}
