package importer_test

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/internal/importer"
	"github.com/portico-idp/portico/internal/importer/dex"
	"github.com/portico-idp/portico/internal/importer/keycloak"
)

// TestLiteralsSurviveTheLoader: values of a hostile export that look like
// the loader's ${VAR} or $$ are written escaped, so the real config loader
// (with the variables they name set) reads back exactly the source's
// literal; only Dex's own $VAR references become ${VAR}.
func TestLiteralsSurviveTheLoader(t *testing.T) {
	t.Setenv("ADMIN_CLIENT_SECRET", "LEAKED-admin-secret")
	t.Setenv("PORTICO_STORAGE_DSN", "LEAKED-dsn")
	t.Setenv("X", "LEAKED-x")
	t.Setenv("LDAP_BIND_PW", "from-env-bind-pw")
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), 10)
	if err != nil {
		t.Fatal(err)
	}
	const (
		name     = "Partner ${ADMIN_CLIENT_SECRET} $X $$"
		secret   = "pa$$word-${X}-0123456789abcdef$"
		redirect = "https://x.example.com/cb?dsn=${PORTICO_STORAGE_DSN}&a=$$b"
		username = "u$$er${X}"
		email    = "m$$${X}@example.com"
		bindPW   = "pa$$w${X}rd"
	)
	dexConf := `
staticClients:
- id: partner
  name: '` + name + `'
  secret: '` + secret + `'
  redirectURIs: ['` + redirect + `']
enablePasswordDB: true
staticPasswords:
- username: '` + username + `'
  email: '` + email + `'
  hash: '` + string(hash) + `'
connectors:
- type: ldap
  id: ldap
  name: '` + name + `'
  config:
    host: ldap.example.com:636
    bindDN: 'cn=${X},dc=example'
    bindPW: '` + bindPW + `'
    userSearch: {baseDN: 'ou=$$,dc=example', username: uid}
- type: ldap
  id: ldap2
  config:
    host: ldap2.example.com:636
    bindDN: cn=admin
    bindPW: $LDAP_BIND_PW
    userSearch: {baseDN: 'ou=people', username: uid}
`
	realm := `{"realm": "r",
	  "users": [{"username": "` + username + `", "email": "` + email + `", "firstName": "` + name + `", "credentials": [{"type": "password", "secretData": "{\"value\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"salt\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}", "credentialData": "{\"hashIterations\":27500,\"algorithm\":\"pbkdf2-sha256\"}"}]}],
	  "clients": [{"clientId": "partner", "name": "` + name + `", "secret": "` + secret + `", "redirectUris": ["` + redirect + `"]}],
	  "components": {"org.keycloak.storage.UserStorageProvider": [{"name": "corp", "providerId": "ldap", "config": {
	    "connectionUrl": ["ldaps://ldap.example.com:636"], "bindDn": ["cn=${X}"], "bindCredential": ["` + bindPW + `"],
	    "usersDn": ["ou=People"], "usernameLDAPAttribute": ["uid"]}}]}}`
	for _, src := range []struct {
		name  string
		parse func([]byte) (*importer.Result, error)
		in    string
		uname string // the user's display name
	}{{"dex", dex.Parse, dexConf, ""}, {"keycloak", keycloak.Parse, realm, name}} {
		t.Run(src.name, func(t *testing.T) {
			r, err := src.parse([]byte(src.in))
			if err != nil {
				t.Fatal(err)
			}
			frag, err := r.Fragment()
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(append([]byte("issuer: https://id.example.com\nstorage: {dir: /tmp/portico-unused}\n"), frag...))
			if err != nil {
				t.Fatalf("loading the fragment: %v\n%s", err, frag)
			}
			if strings.Contains(string(frag), "LEAKED") {
				t.Fatal("fragment holds an expanded value")
			}
			if len(cfg.Clients) != 1 || len(cfg.Users) != 1 || len(cfg.Connectors) == 0 {
				t.Fatalf("loaded %d clients, %d users, %d connectors\n%s", len(cfg.Clients), len(cfg.Users), len(cfg.Connectors), frag)
			}
			c, u, l := cfg.Clients[0], cfg.Users[0], cfg.Connectors[0].Config
			wantName := name
			if src.name == "dex" {
				if cfg.Connectors[0].Name != name {
					t.Errorf("connector name = %q, want %q", cfg.Connectors[0].Name, name)
				}
				if got := cfg.Connectors[1].Config["bind_password"]; got != "from-env-bind-pw" {
					t.Errorf("Dex's $LDAP_BIND_PW = %q, want the environment's value", got)
				}
				if got := l["user_search"].(map[string]any)["base_dn"]; got != "ou=$$,dc=example" {
					t.Errorf("base_dn = %q", got)
				}
				if got := u.PasswordHash; got != string(hash) {
					t.Errorf("hash = %q, want %q", got, hash)
				}
			}
			for what, p := range map[string][2]any{
				"client name": {c.Name, wantName}, "secret": {c.Secret, secret}, "redirect": {strings.Join(c.RedirectURIs, " "), redirect},
				"username": {u.Username, username}, "email": {u.Email, email}, "user name": {u.Name, src.uname},
				"bind_password": {l["bind_password"], bindPW}, "bind_dn": {strings.TrimSuffix(l["bind_dn"].(string), ",dc=example"), "cn=${X}"},
			} {
				if p[0] != p[1] {
					t.Errorf("%s = %q, want %q", what, p[0], p[1])
				}
			}
		})
	}
}

// TestReportQuotesAndChecks: identifiers cannot forge report lines or send
// terminal escapes; clients the loader would refuse (bad id, redirect
// URI) and duplicate client ids or usernames are reported, not written.
func TestReportQuotesAndChecks(t *testing.T) {
	conf := "staticClients:\n" +
		"- {id: \"app\\nadmin: true\", secret: s3cret-0123456789abcdef, redirectURIs: [\"https://a.example.com/cb\"]}\n" +
		"- {id: \"\\e[31mred\", public: true, redirectURIs: [\"https://a.example.com/cb\"]}\n" +
		"- {id: web, secret: s3cret-0123456789abcdef, redirectURIs: [\"http://web.example.com/cb\", \"https://web.example.com/cb\"]}\n" +
		"- {id: web, secret: other-0123456789abcdef, redirectURIs: [\"https://evil.example.com/cb\"]}\n" +
		"staticPasswords:\n" +
		"- {username: \"bob\\u202e\", email: b@example.com, hash: x}\n" +
		"- {username: alice, email: a@example.com, hash: \"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy\"}\n" +
		"- {username: ALICE, email: a2@example.com, hash: \"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy\"}\n"
	r, err := dex.Parse([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.WriteReport(&b)
	rep := b.String()
	if strings.Contains(rep, "\nadmin: true") || strings.ContainsAny(rep, "\x1b\u202e") {
		t.Fatalf("report forged or escaped:\n%s", rep)
	}
	for _, want := range []string{`"app\nadmin: true"`, `"\x1b[31mred"`, `"bob\u202e"`,
		"http://web.example.com/cb", "duplicate client id web", "(ALICE): duplicate username"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %s:\n%s", want, rep)
		}
	}
	if len(r.Clients) != 1 || r.Clients[0].ID != "web" || strings.Join(r.Clients[0].RedirectURIs, " ") != "https://web.example.com/cb" {
		t.Errorf("clients = %+v", r.Clients)
	}
	if len(r.Users) != 1 {
		t.Errorf("users = %+v", r.Users)
	}
}
