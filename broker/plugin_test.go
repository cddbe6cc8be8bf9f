package broker_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/server"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/plugins/process/processtest"
	"github.com/portico-idp/portico/testenv"
)

// Plugin tests build real binaries (the example plugins, the test plugins
// of plugins/process, and portico itself for isolation: process) once per
// test binary; TestMain removes them.
func TestMain(m *testing.M) {
	code := m.Run()
	processtest.Cleanup()
	os.Exit(code)
}

const (
	fileusersPkg  = "github.com/portico-idp/portico/sdk/examples/fileusers"
	oauth2Pkg     = "github.com/portico-idp/portico/sdk/examples/oauth2"
	testPluginPkg = "github.com/portico-idp/portico/plugins/process/testdata/testplugin"
	badPluginPkg  = "github.com/portico-idp/portico/plugins/process/testdata/badplugin"
)

var selfOnce sync.Once

// usePorticoSelf builds cmd/portico and points the broker at it for
// isolation: process: the test binary cannot serve connectors.
func usePorticoSelf(t *testing.T) {
	t.Helper()
	bin := buildPortico(t) // kill_test.go
	selfOnce.Do(func() { os.Setenv(server.EnvSelf, bin) })
}

// pluginConnector is a connector of type plugin for the binary of pkg.
func pluginConnector(t *testing.T, id, pkg string, cfg map[string]any) config.Connector {
	t.Helper()
	bin := processtest.Build(t, pkg)
	return config.Connector{ID: id, Type: "plugin", Name: "Plugin " + id, Config: map[string]any{
		"path": bin, "sha256": processtest.SHA256(t, bin), "timeout": "1s", "config": cfg}}
}

// badPlugin is a plugin connector that fails the handshake as mode says
// (see plugins/process/testdata/badplugin); its id is mode.
func badPlugin(t *testing.T, mode string) config.Connector {
	c := pluginConnector(t, mode, badPluginPkg, map[string]any{"users": map[string]string{"a": "b"}})
	c.Config["args"] = []string{mode}
	return c
}

// usersFile writes a fileusers file with one user.
func usersFile(t *testing.T) string {
	t.Helper()
	hash, err := local.Hash("file-password", testenv.FastParams)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"users": []map[string]any{{"id": "f-1", "username": "fiona",
		"email": "fiona@files.example", "email_verified": true, "name": "Fiona File",
		"groups": []string{"partners"}, "password_hash": hash}}})
	path := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pickRP(t *testing.T, b *testenv.Broker, connector string) *testenv.RP {
	rp := newRP(t, b)
	rp.Connector = connector
	return rp
}

// loginStatus runs a login and returns the last page's status (0 when it
// came back to the application).
func loginStatus(t *testing.T, rp *testenv.RP, user, pass string) int {
	t.Helper()
	cb, err := rp.Authorize(context.Background(), rp.NewFlow().AuthURL, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Query != nil {
		return 0
	}
	return cb.Status
}

// pluginChildren are this process's children running path.
func pluginChildren(path string) []int {
	var pids []int
	for pid, cmd := range processtest.Children(os.Getpid()) {
		if strings.HasPrefix(cmd, path) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestPluginCodeFlow is acceptance 1: the OIDC code flow through each
// example plugin, and through the local and LDAP connectors run with
// isolation: process; the id_token carries what the connector returned.
func TestPluginCodeFlow(t *testing.T) {
	ctx := context.Background()
	usePorticoSelf(t)
	type claims struct {
		Email, Name       string
		PreferredUsername string `json:"preferred_username"`
		Groups            []string
	}
	t.Run("fileusers", func(t *testing.T) {
		cfg := testenv.Config(t)
		cfg.Connectors = append(cfg.Connectors, pluginConnector(t, "files", fileusersPkg, map[string]any{"file": usersFile(t)}))
		b := testenv.Start(t, cfg)
		tok, idt, err := pickRP(t, b, "files").Login(ctx, "fiona", "file-password")
		if err != nil {
			t.Fatal(err)
		}
		if r := refreshAt(t, b.URL, testenv.ClientID, testenv.ClientSecret, tok.RefreshToken); r.Status != 200 {
			t.Errorf("refresh through the plugin: %d %v", r.Status, r.Body)
		}
		var c claims
		idt.Claims(&c)
		if c.Email != "fiona@files.example" || c.Name != "Fiona File" || c.PreferredUsername != "fiona" || !slices.Equal(c.Groups, []string{"partners"}) {
			t.Errorf("claims %+v", c)
		}
		if st := loginStatus(t, pickRP(t, b, "files"), "fiona", "wrong"); st != 401 {
			t.Errorf("wrong password: status %d", st)
		}
		if !strings.Contains(b.Logs(), `"msg":"fileusers: loaded","connector":"files","plugin":{"file":`) {
			t.Error("the plugin's log line is not in the broker's log with its connector id")
		}
	})
	t.Run("oauth2", func(t *testing.T) {
		p := startUpstreamA(t, "", "oauth")
		b := p.startB(t, pluginConnector(t, "oauth", oauth2Pkg, map[string]any{
			"authorization_url": p.A.URL + "/authorize", "token_url": p.A.URL + "/token", "userinfo_url": p.A.URL + "/userinfo",
			"client_id": upClientID, "client_secret": upClientSecret, "scopes": []string{"openid", "profile", "email", "groups"}}))
		_, idt, err := newRP(t, b).Login(ctx, testenv.UserName, testenv.UserPassword)
		if err != nil {
			t.Fatal(err)
		}
		var c claims
		idt.Claims(&c)
		if c.Email != testenv.UserEmail || c.Name != "Alice Example" || c.PreferredUsername != testenv.UserName || !slices.Equal(c.Groups, []string{"admins", "staff"}) {
			t.Errorf("claims %+v", c)
		}
	})
	t.Run("isolated local and ldap", func(t *testing.T) {
		s := testenv.StartSlapd(t, testenv.SlapdOptions{})
		cfg := testenv.Config(t)
		cfg.Connectors[0].Isolation = config.IsolationProcess
		cfg.Connectors = append(cfg.Connectors, isolatedLDAP(s))
		b := testenv.Start(t, cfg)
		if n := len(pluginChildren(os.Getenv(server.EnvSelf))); n != 2 {
			t.Errorf("%d connector children, want 2", n)
		}
		tok, idt, err := pickRP(t, b, "local").Login(ctx, testenv.UserName, testenv.UserPassword)
		if err != nil {
			t.Fatal(err)
		}
		var c claims
		idt.Claims(&c)
		if c.Email != testenv.UserEmail || !slices.Equal(c.Groups, []string{"admins", "staff"}) {
			t.Errorf("local claims %+v", c)
		}
		if st := loginStatus(t, pickRP(t, b, "local"), testenv.UserName, "wrong"); st != 401 {
			t.Errorf("local, wrong password: status %d", st)
		}
		// Refresh crosses to the child too (the account is re-read).
		if r := refreshAt(t, b.URL, testenv.ClientID, testenv.ClientSecret, tok.RefreshToken); r.Status != 200 {
			t.Errorf("refresh through the isolated local connector: %d %v", r.Status, r.Body)
		}
		_, idt, err = pickRP(t, b, "corp").Login(ctx, testenv.LDAPAlice.UID, testenv.LDAPAlice.Password)
		if err != nil {
			t.Fatal(err)
		}
		idt.Claims(&c)
		if c.Email != testenv.LDAPAlice.Mail || c.Name != testenv.LDAPAlice.Name || !slices.Contains(c.Groups, "developers") {
			t.Errorf("ldap claims %+v", c)
		}
	})
}

func isolatedLDAP(s *testenv.Slapd) config.Connector {
	return config.Connector{ID: "corp", Type: "ldap", Name: "Directory", Isolation: config.IsolationProcess, Config: map[string]any{
		"url": s.URL(), "insecure_no_tls": true,
		"bind_dn": testenv.LDAPServiceDN, "bind_password": testenv.LDAPServicePassword,
		"connect_timeout": "1s", "timeout": "1s",
		"user_search": map[string]any{
			"base_dn": testenv.LDAPPeopleDN, "username_attributes": []any{"uid", "mail"},
			"enabled_filter": testenv.LDAPEnabledFilter, "groups_attribute": "memberOf",
		},
		"group_search": map[string]any{
			"base_dn": testenv.LDAPGroupsDN, "filter": "(objectClass=groupOfUniqueNames)",
			"member_attribute": "uniqueMember", "nested": true,
		},
	}}
}

// TestPluginKill9 is acceptance 2: kill -9 of the plugin between two
// logins; the next fails fast as unavailable, other connectors keep
// working, the plugin comes back and a later login succeeds.
func TestPluginKill9(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Connectors = append(cfg.Connectors, pluginConnector(t, "files", fileusersPkg, map[string]any{"file": usersFile(t)}))
	b := testenv.Start(t, cfg)
	rp := pickRP(t, b, "files")
	if st := loginStatus(t, rp, "fiona", "file-password"); st != 0 {
		t.Fatalf("first login: %d", st)
	}
	pids := pluginChildren(processtest.Build(t, fileusersPkg))
	if len(pids) != 1 {
		t.Fatalf("plugin processes %v", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if st := loginStatus(t, rp, "fiona", "file-password"); st != 503 {
		t.Errorf("login right after kill -9: status %d, want 503", st)
	}
	if took := time.Since(t0); took > 2*time.Second {
		t.Errorf("the failing login took %v", took)
	}
	if st := loginStatus(t, pickRP(t, b, "local"), testenv.UserName, testenv.UserPassword); st != 0 {
		t.Errorf("local login while the plugin is down: %d", st)
	}
	deadline := time.Now().Add(time.Minute)
	for loginStatus(t, rp, "fiona", "file-password") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the plugin did not come back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if now := pluginChildren(processtest.Build(t, fileusersPkg)); len(now) != 1 || now[0] == pids[0] {
		t.Errorf("plugin processes after restart: %v (killed %d)", now, pids[0])
	}
	if !strings.Contains(b.Logs(), `"msg":"plugin restarted","connector":"files"`) {
		t.Error("no restart in the log")
	}
	if _, m := getText(t, b.URL+"/metrics"); !strings.Contains(m, `portico_connector_restarts_total{connector="files",kind="process"} 1`) {
		t.Errorf("no restart in /metrics: %s", grepLines(m, "portico_connector_restarts"))
	}
}

// TestPluginMisbehaves is acceptance 3 through the broker: a login that
// hangs fails at the deadline, one that panics is a crash, garbage on
// stdout harms nothing; the broker serves on throughout.
func TestPluginMisbehaves(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Connectors = append(cfg.Connectors, pluginConnector(t, "test", testPluginPkg, map[string]any{"users": map[string]string{"tess": "pw"}}))
	b := testenv.Start(t, cfg)
	// Metadata crosses too.
	resp, err := http.Get(b.URL + "/metadata/test")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "1 users") {
		t.Errorf("metadata: %d %s", resp.StatusCode, body)
	}
	rp := pickRP(t, b, "test")
	for _, tc := range []struct {
		user   string
		status int
		max    time.Duration
	}{
		{"hang", 503, 3 * time.Second}, // the deadline is 1s
		{"panic", 503, 2 * time.Second},
		{"garbage", 0, 5 * time.Second},
	} {
		t0 := time.Now()
		if st := loginStatus(t, rp, tc.user, "x"); st != tc.status {
			t.Errorf("%s: status %d, want %d", tc.user, st, tc.status)
		}
		if took := time.Since(t0); took > tc.max {
			t.Errorf("%s: took %v", tc.user, took)
		}
		if st := loginStatus(t, pickRP(t, b, "local"), testenv.UserName, testenv.UserPassword); st != 0 {
			t.Errorf("local login after %s: %d", tc.user, st)
		}
		deadline := time.Now().Add(time.Minute)
		for loginStatus(t, rp, "tess", "pw") != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the plugin did not recover from %s", tc.user)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if l := b.Logs(); !strings.Contains(l, `"line":"panic: processtest: panic in Login"`) || !strings.Contains(l, `"stream":"stdout"`) {
		t.Error("the panic or the garbage is not in the broker's log")
	}
}

// TestPluginRefused is acceptance 4: a plugin with the wrong checksum,
// magic cookie or protocol version is refused with a clear message; the
// broker starts, registers it as unavailable (503), and serves the rest.
func TestPluginRefused(t *testing.T) {
	cfg := testenv.Config(t)
	sum := pluginConnector(t, "sum", testPluginPkg, map[string]any{"users": map[string]string{"a": "b"}})
	sum.Config["sha256"] = strings.Repeat("0", 64)
	cfg.Connectors = append(cfg.Connectors, sum,
		badPlugin(t, "cookie"), badPlugin(t, "version"))
	b := testenv.Start(t, cfg)
	logs := b.Logs()
	for _, c := range []struct{ id, msg string }{
		{"sum", "does not match its configured sha256"},
		{"cookie", "exited before the handshake: not a Portico connector plugin (another magic cookie)"},
		{"version", "speaks connector protocol version 2, this broker speaks " + strconv.Itoa(1)},
	} {
		if !strings.Contains(logs, c.msg) || !strings.Contains(logs, `"msg":"connector not started: its logins answer 503 until the broker restarts with it fixed","connector":"`+c.id+`"`) {
			t.Errorf("%s: no clear refusal in the log", c.id)
		}
		if st := loginStatus(t, pickRP(t, b, c.id), "a", "b"); st != 503 {
			t.Errorf("%s: login status %d, want 503", c.id, st)
		}
	}
	if st := loginStatus(t, pickRP(t, b, "local"), testenv.UserName, testenv.UserPassword); st != 0 {
		t.Errorf("local login beside refused plugins: %d", st)
	}
	// A plugin that rejects its config stops the start, as a built-in does.
	bad := testenv.Config(t)
	bad.Connectors = append(bad.Connectors, pluginConnector(t, "empty", testPluginPkg, map[string]any{"users": map[string]string{}}))
	bad.Storage.Dir, bad.Listen, bad.Issuer = t.TempDir(), "127.0.0.1:1", "http://127.0.0.1:1"
	if _, err := server.Open(context.Background(), bad, nil); err == nil || !strings.Contains(err.Error(), "at least one user is required") {
		t.Errorf("a rejected plugin config: %v", err)
	}
}

// TestPluginShutdown is acceptance 5: after Stop no plugin process is
// left, isolated built-ins included.
func TestPluginShutdown(t *testing.T) {
	usePorticoSelf(t)
	before := processtest.Children(os.Getpid())
	cfg := testenv.Config(t)
	cfg.Connectors[0].Isolation = config.IsolationProcess
	cfg.Connectors = append(cfg.Connectors,
		pluginConnector(t, "files", fileusersPkg, map[string]any{"file": usersFile(t)}),
		pluginConnector(t, "test", testPluginPkg, map[string]any{"users": map[string]string{"tess": "pw"}}))
	b := testenv.Start(t, cfg)
	if n := len(processtest.Children(os.Getpid())) - len(before); n != 3 {
		t.Fatalf("%d plugin processes, want 3", n)
	}
	rp := pickRP(t, b, "test")
	go rp.Authorize(context.Background(), rp.NewFlow().AuthURL, "hang", "x") // a call in flight at shutdown
	time.Sleep(200 * time.Millisecond)
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if after := processtest.Children(os.Getpid()); len(after) != len(before) {
		t.Errorf("processes left after Stop: %v", after)
	}
}

// TestPluginIsolationConfig: the isolation field's validation.
func TestPluginIsolationConfig(t *testing.T) {
	for _, tc := range []struct{ conn, want string }{
		{`{id: a, type: ldap, isolation: process}`, ""},
		{`{id: a, type: local, isolation: process}`, ""},
		{`{id: a, type: ldap, isolation: sandbox}`, `connectors[0].isolation: unsupported isolation "sandbox"`},
		{`{id: a, type: plugin, isolation: process}`, "connectors[0].isolation: a plugin always runs in a process of its own"},
	} {
		_, err := config.Parse([]byte("issuer: http://127.0.0.1:5556\nstorage: {dir: /tmp/x}\nconnectors: [" + tc.conn + "]\n"))
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.conn, err, tc.want)
		}
	}
}
