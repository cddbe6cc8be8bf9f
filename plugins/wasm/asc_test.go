package wasm_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	brokerconfig "github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/plugins/wasm"
	"github.com/portico-idp/portico/plugins/wasm/wasmtest"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/testenv"
)

// The AssemblyScript example (sdk/examples/asc-users) is a connector
// written from docs/wasm-abi.md alone, in a language with no Portico SDK.
// These tests build it with asc from npm and drive it as the broker does.

func sum(password string) string {
	h := sha256.Sum256([]byte(password))
	return hex.EncodeToString(h[:])
}

// ascUsers is the example's config block: ada, and a user whose name,
// password and groups are outside ASCII and need JSON escapes (Go writes
// <, & and U+2028 as \u escapes).
var ascUsers = map[string]any{"users": []any{
	map[string]any{"username": "ada", "subject": "u-ada", "password_sha256": sum("ada-password"),
		"email": "ada@example.org", "name": "Ada Lovelace", "groups": []any{"staff", "asc"}},
	map[string]any{"username": "zoë", "subject": "u-zoë", "password_sha256": sum("pässwörd 🔑 <&> \u2028"),
		"name": "Zoë \"Q\" Ñ\\", "groups": []any{"équipe\n"}},
}}

func TestAssemblyScriptModule(t *testing.T) {
	mod := wasmtest.AssemblyScript(t)
	var logs logBuf
	m := load(t, mod, config(t, ascUsers, nil), logs.logger())
	if info := m.Info(); !info.Password || info.Callback || info.Refresh || info.Metadata {
		t.Fatalf("info %+v, want a password connector only", info)
	}
	if !strings.Contains(logs.String(), `"msg":"configured"`) || !strings.Contains(logs.String(), `"module":{"users":2}`) {
		t.Errorf("the module's log record did not reach the log:\n%s", logs.String())
	}
	pc := password(t, m)
	ctx := context.Background()
	for _, tt := range []struct {
		name, user, password string
		want                 *sdk.Identity // nil: refused
	}{
		{"right password", "ada", "ada-password", &sdk.Identity{Subject: "u-ada", Username: "ada", PreferredUsername: "ada",
			Email: "ada@example.org", EmailVerified: true, Name: "Ada Lovelace", Groups: []string{"staff", "asc"}}},
		{"outside ASCII", "zoë", "pässwörd 🔑 <&> \u2028", &sdk.Identity{Subject: "u-zoë", Username: "zoë", PreferredUsername: "zoë",
			Name: "Zoë \"Q\" Ñ\\", Groups: []string{"équipe\n"}}},
		{"wrong password", "ada", "ada-passwore", nil},
		{"another's password", "ada", "pässwörd 🔑 <&> \u2028", nil},
		{"unknown user", "bob", "ada-password", nil},
		{"empty", "", "", nil},
		{"escapes in input", "ada\"", "\\u0000\"}", nil},
		{"control characters", "ada\x00", "ada-password\x01\u2028", nil},
		{"invalid UTF-8", "ada", "ada-password\xff", nil},
		{"large input", strings.Repeat("a", 100_000), strings.Repeat("é", 100_000), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, err := pc.Login(ctx, sdk.Scopes{Groups: true}, tt.user, tt.password)
			if tt.want == nil {
				if !errors.Is(err, sdk.ErrInvalidCredentials) || errors.Is(err, sdk.ErrUnavailable) {
					t.Fatalf("got %+v, %v; want invalid credentials", id, err)
				}
				if err.Error() != "invalid credentials" {
					t.Errorf("message %q tells refusals apart", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(id.Groups, "|"), strings.Join(tt.want.Groups, "|"); got != want {
				t.Errorf("groups %q, want %q", got, want)
			}
			id.Groups, tt.want.Groups = nil, nil
			if id.Attributes != nil || id.ConnectorData != nil || id.Subject != tt.want.Subject || id.Name != tt.want.Name ||
				id.Username != tt.want.Username || id.PreferredUsername != tt.want.PreferredUsername ||
				id.Email != tt.want.Email || id.EmailVerified != tt.want.EmailVerified {
				t.Errorf("identity %+v, want %+v", id, *tt.want)
			}
		})
	}
}

// TestAssemblyScriptConfig: a config block the module cannot read is
// rejected by the module, with its reason, as a Go connector's factory
// error is.
func TestAssemblyScriptConfig(t *testing.T) {
	mod := wasmtest.AssemblyScript(t)
	for _, tt := range []struct {
		name  string
		block any
		want  string
	}{
		{"none", nil, "config: users: a list is required"},
		{"not a list", map[string]any{"users": "ada"}, "config: users: a list is required"},
		{"no digest", map[string]any{"users": []any{map[string]any{"username": "ada", "subject": "u"}}},
			"config: users[0]: password_sha256"},
		{"no subject", map[string]any{"users": []any{map[string]any{"username": "ada", "password_sha256": sum("x")}}},
			"config: users[0]: username and subject are required"},
		{"digest not hex", map[string]any{"users": []any{map[string]any{"username": "ada", "subject": "u", "password_sha256": strings.Repeat("g", 64)}}},
			"config: users[0]: password_sha256"},
		{"twice", map[string]any{"users": []any{
			map[string]any{"username": "ada", "subject": "u1", "password_sha256": sum("x")},
			map[string]any{"username": "ada", "subject": "u2", "password_sha256": sum("y")}}},
			`config: users[1]: username "ada" is listed twice`},
		{"group not a string", map[string]any{"users": []any{
			map[string]any{"username": "ada", "subject": "u1", "password_sha256": sum("x"), "groups": []any{1}}}},
			"config: users[0]: groups: a list of strings is required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := wasm.New(context.Background(), mod, config(t, tt.block, nil), wasm.Env{Log: (&logBuf{}).logger(), Cache: sharedCache()})
			if !errors.Is(err, wasm.ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v; want the module's rejection %q", err, tt.want)
			}
		})
	}
}

// TestAssemblyScriptCodeFlow: through a whole broker, a person logs in to
// an application with the AssemblyScript connector (the authorization
// code flow, the id_token verified), and a wrong password is refused.
func TestAssemblyScriptCodeFlow(t *testing.T) {
	mod := wasmtest.AssemblyScript(t)
	ctx := context.Background()
	cfg := testenv.Config(t)
	cfg.Connectors = append(cfg.Connectors, brokerconfig.Connector{ID: "asc", Type: "wasm", Name: "AssemblyScript",
		Config: map[string]any{
			"path":      wasmtest.WriteModule(t, t.TempDir(), "asc-users.wasm", mod, false),
			"sha256":    wasm.SHA256(mod),
			"cache_dir": t.TempDir(),
			"config":    ascUsers,
		}})
	b := testenv.Start(t, cfg)
	rp, err := testenv.NewRP(ctx, b.URL, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	rp.Connector = "asc"

	_, idt, err := rp.Login(ctx, "ada", "ada-password")
	if err != nil {
		t.Fatalf("login through the AssemblyScript module: %v", err)
	}
	var c struct {
		Email             string `json:"email"`
		EmailVerified     bool   `json:"email_verified"`
		Name              string `json:"name"`
		PreferredUsername string `json:"preferred_username"`
	}
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.Email != "ada@example.org" || !c.EmailVerified || c.Name != "Ada Lovelace" || c.PreferredUsername != "ada" {
		t.Errorf("claims %+v", c)
	}

	cb, err := rp.Authorize(ctx, rp.NewFlow().AuthURL, "ada", "wrong-password")
	if err != nil {
		t.Fatal(err)
	}
	if cb.Status != 401 || cb.Query != nil {
		t.Errorf("wrong password: status %d, query %v; want the login page again, 401", cb.Status, cb.Query)
	}
	if logs := b.Logs(); !strings.Contains(logs, `"module":{"users":2}`) {
		t.Errorf("the module's log record is not in the broker's log")
	}
}
