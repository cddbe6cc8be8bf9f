package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// base is a valid file with one reference point per test.
const envBase = `issuer: ${ISSUER:-http://127.0.0.1:5556}
storage: {type: badger, dir: ./data}
connectors: [{id: local, type: local}]
`

func setEnv(t *testing.T, kv map[string]string) {
	t.Helper()
	old := lookupEnv
	t.Cleanup(func() { lookupEnv = old })
	lookupEnv = func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestEnvExpansion(t *testing.T) {
	setEnv(t, map[string]string{"HOST": "id.example.com", "SECRET": "s3cr3t-value-long-enough", "EMPTY": "", "PORT": "7001", "ON": "false"})
	cfg, err := Parse([]byte(`issuer: https://${HOST}
listen: "127.0.0.1:${PORT}"
storage:
  type: badger
  dir: ./data
  sync_writes: ${ON}
connectors: [{id: local, type: local}]
log: {level: "${LEVEL:-warn}", format: "${EMPTY:-json}"}
registration: {enabled: true, initial_access_tokens: ["$$lit${SECRET}"]}
users:
  - {username: a, password_hash: "$argon2id$v=19$m=65536,t=3,p=4$VmMwR2UwM29XSjhXTzVTZA$MqhY7ojHTn07+5xUevJi+2MlyNQkWiuvXWsaUSvp3iw"}
clients:
  - {id: app, secret: "${SECRET}", redirect_uris: ["https://${HOST}/cb"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"issuer", cfg.Issuer, "https://id.example.com"},
		{"listen", cfg.Listen, "127.0.0.1:7001"},
		{"default for unset", cfg.Log.Level, "warn"},
		{"default for empty", cfg.Log.Format, "json"},
		{"secret", cfg.Clients[0].Secret, "s3cr3t-value-long-enough"},
		{"in a list", cfg.Clients[0].RedirectURIs[0], "https://id.example.com/cb"},
		{"$$ escapes", cfg.Registration.InitialAccessTokens[0], "$lits3cr3t-value-long-enough"},
		// A lone $ stays: hashes need no escaping.
		{"PHC hash", cfg.Users[0].PasswordHash, aliceHash},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	// An unquoted whole reference is read as YAML reads its value.
	if cfg.Storage.SyncWritesEnabled() {
		t.Errorf("sync_writes from ${ON} = %v", cfg.Storage.SyncWrites)
	}
}

func TestEnvExpansionErrors(t *testing.T) {
	setEnv(t, map[string]string{"SECRET": "do-not-print-me", "NL": "a\nb: c"})
	for _, c := range []struct{ name, yaml, want string }{
		{"unset", "clients: [{id: app, secret: '${APP_SECRET}', redirect_uris: [https://a/cb]}]",
			"config: clients[0].secret: environment variable APP_SECRET is not set"},
		{"unterminated", "log: {level: '${LEVEL'}", "config: log.level: unterminated ${"},
		{"bad name", "log: {level: '${1X}'}", "config: log.level: invalid reference"},
		// A value cannot add structure: the newline stays in the string.
		{"no injection", "log: {level: '${NL}'}", "config: log.level: unsupported level"},
		{"keys are not expanded", "${SECRET}: x", "config: ${SECRET}: unknown field"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(envBase + c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "do-not-print-me") {
				t.Errorf("error quotes a variable's value: %v", err)
			}
		})
	}
}

// mfaKey is 32 bytes in base64.
const mfaKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tok := "portico_scim.okta." + strings.Repeat("x", 40)
	write("dsn", "postgres://u:p@db/portico\n")
	write("mfa", mfaKey+"\r\n")
	write("bind", "bind-pw\n")
	write("gh", "gh-secret")
	write("client", "client-secret\n")
	write("hash", aliceHash+"\n")
	write("iat", "iat-token-0123456789\n")
	write("scim", tok+"\n")
	setEnv(t, map[string]string{"D": dir})
	cfg, err := Parse([]byte(`issuer: http://127.0.0.1:5556
storage: {type: postgres, dsn_file: "${D}/dsn"}
login: {mfa: {key_file: "${D}/mfa"}}
connectors:
  - {id: local, type: local}
  - {id: corp, type: ldap, config: {url: ldaps://ldap, bind_dn: cn=svc, bind_password_file: "${D}/bind"}}
  - {id: gh, type: github, config: {client_id: x, client_secret_file: "${D}/gh"}}
clients: [{id: app, secret_file: "${D}/client", redirect_uris: [https://a/cb]}]
users: [{username: a, password_hash_file: "${D}/hash"}]
registration: {enabled: true, initial_access_token_files: ["${D}/iat"]}
scim: {provisioners: [{id: okta, connector: gh, token_file: "${D}/scim"}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"dsn", cfg.Storage.DSN, "postgres://u:p@db/portico"},
		{"mfa key, CRLF trimmed", cfg.Login.MFA.Key, mfaKey},
		{"client secret", cfg.Clients[0].Secret, "client-secret"},
		{"password hash", cfg.Users[0].PasswordHash, aliceHash},
		{"initial access token", strings.Join(cfg.Registration.InitialAccessTokens, ","), "iat-token-0123456789"},
		{"scim token", cfg.SCIM.Provisioners[0].Token, tok},
		{"ldap bind_password", cfg.Connectors[1].Config["bind_password"].(string), "bind-pw"},
		{"github client_secret", cfg.Connectors[2].Config["client_secret"].(string), "gh-secret"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if _, ok := cfg.Connectors[1].Config["bind_password_file"]; ok {
		t.Error("the connector still gets bind_password_file, which it does not know")
	}
}

func TestSecretFileErrors(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("do-not-print-me\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, MaxSecretFile+1), 0o600)
	setEnv(t, map[string]string{"S": secret, "E": empty, "B": big, "DIR": dir})
	for _, c := range []struct{ name, yaml, want string }{
		{"both", "clients: [{id: app, secret: x, secret_file: '${S}', redirect_uris: [https://a/cb]}]",
			"config: clients[0]: set secret or secret_file, not both"},
		{"missing", "clients: [{id: app, secret_file: '${DIR}/nope', redirect_uris: [https://a/cb]}]",
			"config: clients[0].secret_file: cannot read " + dir + "/nope: no such file or directory"},
		{"empty", "login: {mfa: {key_file: '${E}'}}", "config: login.mfa.key_file: " + empty + " is empty"},
		{"too big", "login: {mfa: {key_file: '${B}'}}", "is larger than 65536 bytes"},
		{"directory", "login: {mfa: {key_file: '${DIR}'}}", "is not a regular file"},
		{"connector both", "connectors: [{id: corp, type: ldap, config: {bind_password: x, bind_password_file: '${S}'}}]",
			"config: connectors[0].config: set bind_password or bind_password_file, not both"},
	} {
		t.Run(c.name, func(t *testing.T) {
			y := c.yaml
			if strings.HasPrefix(y, "connectors:") { // replace the base's connectors
				y = strings.Replace(envBase, "connectors: [{id: local, type: local}]\n", "", 1) + y
			} else {
				y = envBase + y
			}
			_, err := Parse([]byte(y))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "do-not-print-me") {
				t.Errorf("error quotes a secret: %v", err)
			}
		})
	}
}
