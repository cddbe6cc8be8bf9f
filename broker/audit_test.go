package broker_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/journey"

	"github.com/portico-idp/portico/broker/audit"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/scim"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/testenv"
)

// TestAuditEvents is acceptance 5: every login (success and failure), token
// issue, refresh and revocation, administrator's change and security event
// is in the store's audit trail with who, what and when, and in the log as
// structured JSON; no secret is in either.
func TestAuditEvents(t *testing.T) {
	ctx := context.Background()
	b, idp := samlBroker(t, map[string]any{"idp_initiated": map[string]any{
		"enabled": true, "default_client_id": testenv.ClientID, "default_redirect_uri": testenv.RedirectURI,
	}})
	st := b.Server.Store
	started := time.Now()
	secrets := []string{testenv.UserPassword, testenv.ClientSecret, testenv.SAMLAlice.Password}

	// A login, its code's tokens, a refresh and a revocation.
	rp := newRP(t, b)
	rp.Connector = "local"
	tok, idt, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	alice := idt.Subject
	r := refresh(t, b, tok.RefreshToken)
	if r.Status != 200 {
		t.Fatalf("refresh: %d %v", r.Status, r.Body)
	}
	revoke(t, b, r.str("refresh_token"), "")
	secrets = append(secrets, tok.AccessToken, tok.RefreshToken, r.str("access_token"), r.str("refresh_token"))

	// A wrong password.
	cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, testenv.UserName, "wrong-password-"+testenv.UserPassword)
	if err != nil || cb.Status != 401 {
		t.Fatalf("wrong password: %d %v", cb.Status, err)
	}

	// A refresh token replayed.
	tok2, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	if r := refresh(t, b, tok2.RefreshToken); r.Status != 200 {
		t.Fatalf("refresh: %d %v", r.Status, r.Body)
	}
	if r := refresh(t, b, tok2.RefreshToken); r.str("error") != "invalid_grant" {
		t.Fatalf("replay: %d %v", r.Status, r.Body)
	}
	secrets = append(secrets, tok2.RefreshToken)

	// A code replayed.
	code, f := codeFor(t, rp)
	for range 2 {
		postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, exchange(code, f.Verifier))
	}
	secrets = append(secrets, code)

	// client_credentials.
	cc := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}})
	if cc.Status != 200 {
		t.Fatalf("client_credentials: %d %v", cc.Status, cc.Body)
	}
	secrets = append(secrets, cc.str("access_token"))

	// A SAML assertion replayed (IdP-initiated, so no pending login spends it first).
	post, err := idp.Initiate(ctx, journey.MetadataURL(b.URL, "corp-saml"), "", testenv.SAMLAlice.Login, testenv.SAMLAlice.Password)
	if err != nil {
		t.Fatal(err)
	}
	if r := postSAML(t, post); r.StatusCode != 303 {
		t.Fatalf("IdP-initiated login: %d", r.StatusCode)
	}
	if r := postSAML(t, post); r.StatusCode == 303 {
		t.Fatal("the replayed assertion logged in")
	}

	// Logout ends the session.
	raw3 := idTokenOf(t, rp)
	resp, err := noFollow.Get(b.URL + "/logout?id_token_hint=" + url.QueryEscape(raw3.hint))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	peer := func(e store.AuditEvent) bool { return e.IP == "127.0.0.1" }
	for _, w := range []struct {
		what  string
		match func(store.AuditEvent) bool
	}{
		{"the seeded client", func(e store.AuditEvent) bool {
			return e.Type == "admin.client_create" && e.Actor == "config" && e.Details["client_id"] == testenv.ClientID
		}},
		{"the seeded account", func(e store.AuditEvent) bool {
			return e.Type == "admin.account_create" && e.Details["username"] == testenv.UserName
		}},
		{"alice's first login made her user", func(e store.AuditEvent) bool {
			return e.Type == audit.UserCreate && e.UserID == alice && e.ConnectorID == "local"
		}},
		{"login success", func(e store.AuditEvent) bool {
			return e.Type == audit.LoginSuccess && e.UserID == alice && e.Actor == "user:"+alice && e.ClientID == testenv.ClientID &&
				e.ConnectorID == "local" && e.Details["amr"] == "pwd" && peer(e)
		}},
		{"login failure", func(e store.AuditEvent) bool {
			return e.Type == audit.LoginFailure && e.Details["reason"] == "invalid_credentials" && e.ConnectorID == "local" &&
				e.ClientID == testenv.ClientID && e.UserID == "" && e.Actor == "anonymous" && peer(e)
		}},
		{"code exchange", func(e store.AuditEvent) bool {
			return e.Type == audit.TokenIssue && e.Details["grant_type"] == "authorization_code" && e.UserID == alice &&
				e.ClientID == testenv.ClientID && e.Actor == "client:"+testenv.ClientID && e.Details["session"] != "" &&
				strings.Contains(e.Details["scope"], "openid") && peer(e)
		}},
		{"refresh", func(e store.AuditEvent) bool {
			return e.Type == audit.TokenRefresh && e.UserID == alice && e.ClientID == testenv.ClientID && peer(e)
		}},
		{"revocation", func(e store.AuditEvent) bool {
			return e.Type == audit.TokenRevoke && e.UserID == alice && e.ClientID == testenv.ClientID && e.Details["session"] != "" && peer(e)
		}},
		{"client_credentials", func(e store.AuditEvent) bool {
			return e.Type == audit.TokenIssue && e.Details["grant_type"] == "client_credentials" && e.UserID == "" && e.Details["scope"] == "api"
		}},
		{"refresh token replay", func(e store.AuditEvent) bool {
			return e.Type == audit.RefreshReplay && e.UserID == alice && e.ClientID == testenv.ClientID && e.Details["session"] != "" && peer(e)
		}},
		{"code replay", func(e store.AuditEvent) bool {
			return e.Type == audit.CodeReplay && e.UserID == alice && e.ClientID == testenv.ClientID && e.ConnectorID == "local" && peer(e)
		}},
		{"SAML assertion replay", func(e store.AuditEvent) bool {
			return e.Type == audit.AssertionReplay && e.ConnectorID == "corp-saml" && e.ClientID == testenv.ClientID && peer(e)
		}},
		{"SAML replay as a failed login", func(e store.AuditEvent) bool {
			return e.Type == audit.LoginFailure && e.ConnectorID == "corp-saml" && e.Details["reason"] == "replay"
		}},
		{"logout", func(e store.AuditEvent) bool {
			return e.Type == audit.TokenRevoke && e.Details["session"] == raw3.sid
		}},
	} {
		e := waitAudit(t, st, w.what, w.match)
		if e.ID == "" || e.Time.Before(started.Add(-time.Minute)) || e.Time.After(time.Now()) || !e.Expiry.After(e.Time.Add(89*24*time.Hour)) {
			t.Errorf("%s: id %q time %v expiry %v", w.what, e.ID, e.Time, e.Expiry)
		}
	}

	evs, err := st.ListAuditEvents(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := json.Marshal(evs)
	logs := b.Logs()
	if !strings.Contains(logs, `"audit":{"id":`) || !strings.Contains(logs, `"type":"security.code_replay"`) {
		t.Error("the log has no structured audit events")
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(string(stored), s) {
			t.Errorf("the audit trail holds a secret: %.8s...", s)
		}
		if strings.Contains(logs, s) {
			t.Errorf("the log holds a secret: %.8s...", s)
		}
	}
	// since and limit page through the trail.
	page, err := st.ListAuditEvents(ctx, evs[2].Time, 2)
	if err != nil || len(page) != 2 || page[0].Time.Before(evs[2].Time) {
		t.Errorf("a page from the third event: %d events, %v", len(page), err)
	}
}

// idTokenOf logs alice in again through rp and returns the raw id_token
// and its session id, for a logout.
func idTokenOf(t *testing.T, rp *testenv.RP) struct{ hint, sid string } {
	t.Helper()
	tok, _, err := rp.Login(context.Background(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	claims := decodeSegment(t, strings.Split(raw, ".")[1])
	sid, _ := claims["sid"].(string)
	return struct{ hint, sid string }{raw, sid}
}

// TestAuditExclude: excluded types are logged but not stored, and the
// configuration knows exactly the broker's types.
func TestAuditExclude(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.Config(t)
	cfg.Audit.Exclude = []string{audit.TokenIssue, "admin.client_create"}
	b := testenv.Start(t, cfg)
	if r := postToken(t, b.URL, testenv.ClientID, testenv.ClientSecret, url.Values{"grant_type": {"client_credentials"}}); r.Status != 200 {
		t.Fatalf("client_credentials: %d %v", r.Status, r.Body)
	}
	if _, _, err := newRP(t, b).Login(ctx, testenv.UserName, testenv.UserPassword); err != nil {
		t.Fatal(err)
	}
	// The login's event was queued after the token's: once it is stored,
	// so would the token's be.
	waitAudit(t, b.Server.Store, "login.success", func(e store.AuditEvent) bool { return e.Type == audit.LoginSuccess })
	evs, err := b.Server.Store.ListAuditEvents(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == audit.TokenIssue || e.Type == "admin.client_create" {
			t.Errorf("an excluded %s event was stored", e.Type)
		}
	}
	if logs := b.Logs(); !strings.Contains(logs, `"type":"token.issue"`) || !strings.Contains(logs, `"type":"admin.client_create"`) {
		t.Error("excluded events are not in the log")
	}
	// A restart with the same configuration changes no client.
	b.Restart(t)
	evs, err = b.Server.Store.ListAuditEvents(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	admin := 0
	for _, e := range evs {
		if strings.HasPrefix(e.Type, audit.AdminPrefix) {
			admin++
		}
	}
	if admin != 1 { // the first start's admin.account_create
		t.Errorf("%d administrators' changes after a restart, want 1", admin)
	}

	types := []string{audit.LoginSuccess, audit.LoginFailure, audit.UserCreate, audit.IdentityLink,
		audit.LinkSkipped, audit.IdentityLinkRefused, audit.MFAEnrol, audit.RecoveryUsed,
		audit.RecoveryRegenerate, audit.PasskeyRename, audit.PasskeyRemove, audit.PasswordChange, audit.SessionsEnd, audit.ConsentGrant, audit.ConsentRevoke, audit.DeviceApprove, audit.DeviceDeny,
		audit.RegisterRequest, audit.AccountRegister, audit.AccountVerify, audit.ResetRequest, audit.PasswordReset, audit.InvitationAccepted, audit.LinkMailed,
		audit.TokenIssue, audit.TokenRefresh, audit.TokenRevoke, audit.TokenExchange,
		audit.RefreshReplay, audit.CodeReplay, audit.AssertionReplay, audit.PasskeySignCount,
		"admin.client_create", "admin.client_update", "admin.account_create",
		audit.BackchannelDelivered, audit.BackchannelFailed}
	types = append(types, scim.AuditTypes...)
	if !slices.Equal(types, config.AuditTypes) {
		t.Errorf("config.AuditTypes %q, the broker's %q", config.AuditTypes, types)
	}
	cfg = testenv.Config(t)
	cfg.Issuer, cfg.Storage.Dir, cfg.Audit.Exclude = "http://127.0.0.1:1", t.TempDir(), []string{"token.issued"}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `audit.exclude[0]: unknown event type "token.issued"`) {
		t.Errorf("an unknown excluded type: %v", err)
	}
}
