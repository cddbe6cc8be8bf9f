package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store"
)

// A cheap argon2id PHC string (m=8 KiB, t=1): these tests never log in.
const cheapHash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$KR3zeL9OZ8Z2nN8QnqZ2u5P1R6mCzyJd5s1qU8cD+7E"

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// declarativeConfig is a file with an admin client, an application, two
// users and two connectors; drop leaves out the app, bob and gh.
func declarativeConfig(t *testing.T, dir string, declarative, drop bool) *config.Config {
	t.Helper()
	cfg := &config.Config{
		Issuer:      "http://127.0.0.1:5556",
		Storage:     config.Storage{Type: config.StorageBadger, Dir: dir},
		Declarative: declarative,
		Connectors: []config.Connector{{ID: "local", Type: "local"},
			{ID: "gh", Type: "github", Config: map[string]any{"client_id": "id", "client_secret": "github-secret"}}},
		Clients: []config.Client{
			{ID: "adm", Secret: "adm-secret-value-1234", GrantTypes: []string{"client_credentials"}, Scopes: []string{"admin"}, Admin: true},
			{ID: "app", Secret: "app-secret-value-1234", RedirectURIs: []string{"http://127.0.0.1:5555/cb"}},
		},
		Users: []config.User{{Username: "alice", Email: "alice@example.com", PasswordHash: cheapHash},
			{Username: "bob", Email: "bob@example.com", PasswordHash: cheapHash}},
	}
	if drop {
		cfg.Connectors, cfg.Clients, cfg.Users = cfg.Connectors[:1], cfg.Clients[:1], cfg.Users[:1]
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func openFor(t *testing.T, cfg *config.Config, log *logBuf) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, cfg, slog.New(slog.NewTextHandler(log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// call sends one request to the broker, with the admin token if given.
func call(t *testing.T, s *Server, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	s.Broker.ServeHTTP(w, req)
	var out map[string]any
	json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, out
}

func adminToken(t *testing.T, s *Server) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}
	req := httptest.NewRequest("POST", "/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("adm", "adm-secret-value-1234")
	w := httptest.NewRecorder()
	s.Broker.ServeHTTP(w, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(w.Body.Bytes(), &tok); tok.AccessToken == "" {
		t.Fatalf("admin token: %d %s", w.Code, w.Body)
	}
	return tok.AccessToken
}

func TestDeclarative(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var log logBuf
	s := openFor(t, declarativeConfig(t, dir, true, false), &log)
	tok := adminToken(t, s)
	bob, err := s.Store.GetLocalAccountByLogin(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	// The file's entries are marked and read-only.
	if code, v := call(t, s, "GET", "/admin/v1/clients/app", tok, ""); code != 200 || v["managed_by"] != "file" {
		t.Errorf("GET client: %d %v, want managed_by file", code, v)
	}
	if code, v := call(t, s, "GET", "/admin/v1/accounts/"+bob.ID, tok, ""); code != 200 || v["managed_by"] != "file" {
		t.Errorf("GET account: %d %v, want managed_by file", code, v)
	}
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/admin/v1/clients/app", `{"redirect_uris":["http://127.0.0.1:5555/x"]}`},
		{"DELETE", "/admin/v1/clients/app", ""},
		{"POST", "/admin/v1/clients/app/secret", ""},
		{"PUT", "/admin/v1/accounts/" + bob.ID + "/password", `{"password":"another-password"}`},
		{"DELETE", "/admin/v1/accounts/" + bob.ID, ""},
		{"PUT", "/admin/v1/connectors/gh", `{"type":"github","config":{"client_id":"x","client_secret":"y"}}`},
		{"DELETE", "/admin/v1/connectors/gh", ""},
	} {
		if code, v := call(t, s, c.method, c.path, tok, c.body); code != http.StatusConflict || v["error"] != "managed_by_file" {
			t.Errorf("%s %s: %d %v, want 409 managed_by_file", c.method, c.path, code, v)
		}
	}
	// What the API makes is the API's: neither marked nor removed.
	if code, v := call(t, s, "POST", "/admin/v1/clients", tok, `{"id":"made","redirect_uris":["http://127.0.0.1:5555/cb"]}`); code != 201 || v["managed_by"] != nil {
		t.Fatalf("POST client: %d %v", code, v)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The file drops app, bob and gh: the next start removes them.
	s = openFor(t, declarativeConfig(t, dir, true, true), &log)
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Store.GetClient(ctx, "app"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("client app: %v, want removed", err)
	}
	if _, err := s.Store.GetClient(ctx, "made"); err != nil {
		t.Errorf("the API's client: %v, want kept", err)
	}
	if _, err := s.Store.GetLocalAccountByLogin(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user bob: %v, want removed", err)
	}
	if _, err := s.Store.GetLocalAccountByLogin(ctx, "alice"); err != nil {
		t.Errorf("user alice: %v", err)
	}
	for _, cn := range s.Broker.Connectors() {
		if cn.ID == "gh" {
			t.Error("connector gh still serves")
		}
	}
	for _, want := range []string{"removed a client the configuration file no longer has", "client_id=app",
		"removed a user the configuration file no longer has", "removed a connector the configuration file no longer has"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	events, err := s.Store.ListAuditEvents(ctx, time.Time{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	audited := map[string]bool{}
	for _, e := range events {
		if e.Actor == "config" {
			audited[e.Type] = true
		}
	}
	for _, typ := range []string{"admin.client_delete", "admin.account_delete", "admin.connector_delete"} {
		if !audited[typ] {
			t.Errorf("no %s event by config (got %v)", typ, audited)
		}
	}
}

// Without declarative: true the file merges, as before: what it drops
// stays, and the API may change its entries.
func TestMergeKeepsDropped(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var log logBuf
	s := openFor(t, declarativeConfig(t, dir, false, false), &log)
	tok := adminToken(t, s)
	if code, v := call(t, s, "GET", "/admin/v1/clients/app", tok, ""); code != 200 || v["managed_by"] != nil {
		t.Errorf("GET client: %d %v, want no managed_by", code, v)
	}
	s.Close()
	s = openFor(t, declarativeConfig(t, dir, false, true), &log)
	ctx := context.Background()
	if _, err := s.Store.GetClient(ctx, "app"); err != nil {
		t.Errorf("merge removed client app: %v", err)
	}
	s.Close()
	// Turning declarative on removes what earlier files had.
	s = openFor(t, declarativeConfig(t, dir, true, true), &log)
	defer s.Close()
	if _, err := s.Store.GetClient(ctx, "app"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("client app after turning declarative on: %v, want removed", err)
	}
}
