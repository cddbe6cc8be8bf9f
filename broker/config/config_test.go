package config

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// secret is the client secret of every case; no error may quote it.
const secret = "S3cr3t-Value-Never-Shown"

const head = "issuer: https://id.example.com\nstorage: {dir: /var/lib/portico}\n"

func TestParseExample(t *testing.T) {
	cfg, err := Load("../../examples/portico.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Issuer != "http://127.0.0.1:5556" || cfg.Listen != "127.0.0.1:5556" {
		t.Errorf("issuer/listen = %q/%q", cfg.Issuer, cfg.Listen)
	}
	// `make run` (serve --dev) keeps its demo data in ./portico-data; the
	// example must not pick it up.
	if cfg.Storage.Dir == "./portico-data" {
		t.Errorf("storage.dir = %q, the dev server's directory", cfg.Storage.Dir)
	}
	if len(cfg.Clients) != 2 || !cfg.Clients[1].Public || cfg.Clients[0].Secret != "example-secret" {
		t.Errorf("clients = %+v", cfg.Clients)
	}
	if len(cfg.Users) != 1 || cfg.Users[0].Username != "alice" || !*cfg.Users[0].EmailVerified {
		t.Fatalf("users = %+v", cfg.Users)
	}
	// The comment in the example says the password is alice-password.
	if !argon2idMatches(t, cfg.Users[0].PasswordHash, "alice-password") {
		t.Error("example password_hash does not match alice-password")
	}
}

// argon2idMatches checks a PHC string; enough for the example's hash.
func argon2idMatches(t *testing.T, phc, password string) bool {
	t.Helper()
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
		t.Fatalf("not an argon2id v19 PHC string: %q", phc)
	}
	var m uint32
	var tc uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &tc, &p); err != nil {
		t.Fatal(err)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		t.Fatal(err)
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		t.Fatal(err)
	}
	got := argon2.IDKey([]byte(password), salt, tc, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse([]byte(head + `
clients:
  - {id: app, secret: ` + secret + `, redirect_uris: ["https://app.example.com/cb"]}
users:
  - {username: bob, password_hash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != DefaultListen || cfg.Storage.Type != "badger" || !*cfg.Storage.SyncWrites {
		t.Errorf("listen/storage = %q %+v", cfg.Listen, cfg.Storage)
	}
	tk := cfg.Tokens
	for name, c := range map[string]struct{ got, want time.Duration }{
		"access":          {tk.AccessTokenTTL.Std(), 10 * time.Minute},
		"id":              {tk.IDTokenTTL.Std(), 10 * time.Minute},
		"refresh idle":    {tk.RefreshIdleTTL.Std(), 720 * time.Hour},
		"refresh absolut": {tk.RefreshAbsoluteTTL.Std(), 2160 * time.Hour},
		"auth code":       {tk.AuthCodeTTL.Std(), time.Minute},
		"auth request":    {tk.AuthRequestTTL.Std(), 15 * time.Minute},
		"key rotation":    {tk.KeyRotation.Std(), 720 * time.Hour},
	} {
		if c.got != c.want {
			t.Errorf("%s ttl = %v, want %v", name, c.got, c.want)
		}
	}
	if tk.SigningAlg != "RS256" || cfg.Log.Level != "info" || cfg.Log.Format != "text" {
		t.Errorf("alg/log = %q %+v", tk.SigningAlg, cfg.Log)
	}
	if g := cfg.Clients[0].GrantTypes; strings.Join(g, ",") != "authorization_code,refresh_token" {
		t.Errorf("grant types = %v", g)
	}
	if ev := cfg.Users[0].EmailVerified; ev == nil || !*ev {
		t.Errorf("email_verified = %v", ev)
	}
}

func TestParseValid(t *testing.T) {
	for name, src := range map[string]string{
		"empty lists":       head + "connectors: []\nclients: []\nusers: []\n",
		"null sections":     head + "tokens:\nlog:\n",
		"durations and alg": head + `tokens: {signing_alg: EdDSA, access_token_ttl: 90s, refresh_idle_ttl: 1h, refresh_absolute_ttl: 2h}`,
		"raw connector config": head + `
connectors:
  - id: corp-ldap
    type: ldap
    config: {host: ldap.example.com, anything: [1, {goes: here}]}
`,
		// Imported hashes (issue #19): bcrypt from Dex, PBKDF2 from Keycloak, scrypt.
		"foreign password hashes": head + `
users:
  - {username: dex, password_hash: "$2a$10$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"}
  - {username: kc, password_hash: "$pbkdf2-sha256$27500$MDEyMzQ1Njc4OWFiY2RlZg$rybsuBlIHCOEKCPpDvTVloYHkPEiKOiJqqYGLCHAfF0"}
  - {username: sc, password_hash: "$scrypt$ln=15,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$RBx5/dxTDbUBkzx0mrgyijW1Qbw/yQ+q/fteujbYlyA"}
`,
		"native app custom scheme": head + `
clients:
  - {id: mobile, public: true, redirect_uris: ["com.example.app:/cb", "http://[::1]:8080/cb", "http://localhost/cb"]}
`,
		"client credentials only": head + `
clients:
  - {id: svc, secret_hash: "sha256:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU", grant_types: [client_credentials], scopes: [read, "write:all"]}
`,
		"anchors and merge keys": head + `
clients:
  - &base {id: a, secret: ` + secret + `, redirect_uris: ["https://a.example.com/cb"]}
  - {<<: *base, id: b}
`,
		"every field": `
issuer: https://id.example.com/portico
listen: "[::1]:8443"
storage: {type: badger, dir: /var/lib/portico, sync_writes: false}
connectors:
  - {id: local, type: local, name: Email, config: {}}
clients:
  - id: web
    name: Web
    secret: ` + secret + `
    public: false
    redirect_uris: ["https://web.example.com/cb"]
    grant_types: [authorization_code, refresh_token, client_credentials]
    scopes: [read]
  - {id: svc, secret_hash: "sha256:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU", grant_types: [client_credentials]}
users:
  - username: carol
    email: carol@example.com
    name: Carol
    email_verified: false
    groups: [a, b]
    password_hash: "$argon2id$x"
tokens:
  signing_alg: ES256
  access_token_ttl: 5m
  id_token_ttl: 5m
  refresh_idle_ttl: 24h
  refresh_absolute_ttl: 48h
  auth_code_ttl: 30s
  auth_request_ttl: 10m
  key_rotation: 168h
log: {level: debug, format: json}
`,
		"http issuer on localhost": "issuer: http://localhost:5556\nstorage: {dir: d}\nlisten: :5556\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(src)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestMergeKey(t *testing.T) {
	cfg, err := Parse([]byte(head + `
clients:
  - &base {id: a, secret: ` + secret + `, redirect_uris: ["https://a.example.com/cb"]}
  - {<<: *base, id: b}
`))
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.Clients[1]; b.ID != "b" || b.Secret != secret || len(b.RedirectURIs) != 1 {
		t.Errorf("merged client = %+v", b)
	}
}

func TestParseInvalid(t *testing.T) {
	const client = "clients:\n  - {id: app, secret: " + secret + ", redirect_uris: [\"https://app.example.com/cb\"]}\n"
	tests := []struct {
		name string
		src  string
		want string // the error must contain this
	}{
		{"unknown top-level field", head + "isuer: https://x.example.com\n",
			"config: isuer: unknown field (did you mean issuer?)"},
		{"unknown top-level field without suggestion", head + "frobnicate: 1\n",
			"config: frobnicate: unknown field"},
		{"unknown nested field", head + client + "  - {id: two, public: true, redirect_uri: [\"https://b.example.com/cb\"]}\n",
			"config: clients[1].redirect_uri: unknown field (did you mean redirect_uris?)"},
		{"unknown field in block style", head + "tokens:\n  access_token_tl: 5m\n",
			"config: tokens.access_token_tl: unknown field (did you mean access_token_ttl?)"},
		{"camel case field", head + "storage2: 1\nclients:\n  - {id: x, public: true, redirectURIs: [\"https://b.example.com/cb\"]}\n",
			"config: clients[0].redirectURIs: unknown field (did you mean redirect_uris?)"},
		{"string where a list is expected", head + "connectors: local\n",
			"config: connectors: expected a list, got a string"},
		{"string where a list is expected, nested", head + "clients:\n  - {id: x, public: true, redirect_uris: https://b.example.com/cb}\n",
			"config: clients[0].redirect_uris: expected a list, got a string"},
		{"list where a string is expected", head + "clients:\n  - {id: x, secret: [" + secret + "]}\n",
			"config: clients[0].secret: expected a string, got a list"},
		{"number where a string is expected", head + "clients:\n  - {id: 0123, public: true, redirect_uris: [\"https://b.example.com/cb\"]}\n",
			"config: clients[0].id: expected a string, got a number (quote it)"},
		{"string where a boolean is expected", head + "clients:\n  - {id: x, public: yes}\n",
			"config: clients[0].public: expected true or false, got a string"},
		{"mapping expected", head + "tokens: [1]\n",
			"config: tokens: expected a mapping, got a list"},
		{"bad duration", head + "tokens: {access_token_ttl: 10 minutes}\n",
			`config: tokens.access_token_ttl: invalid duration "10 minutes"`},
		{"duration without unit", head + "tokens: {auth_code_ttl: 60}\n",
			`config: tokens.auth_code_ttl: invalid duration "60"`},
		{"negative duration", head + "tokens: {id_token_ttl: -5m}\n",
			"config: tokens.id_token_ttl: must be positive"},
		{"zero duration", head + "tokens: {auth_request_ttl: 0s}\n",
			`config: tokens.auth_request_ttl: must be positive, got "0s"`},
		{"refresh idle above absolute", head + "tokens: {refresh_idle_ttl: 100h, refresh_absolute_ttl: 10h}\n",
			"config: tokens.refresh_idle_ttl: must not exceed refresh_absolute_ttl"},
		{"unknown signing alg", head + "tokens: {signing_alg: HS256}\n",
			`config: tokens.signing_alg: unsupported signing algorithm "HS256"`},
		{"duplicate field", head + "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n",
			"config: listen: duplicate field"},
		{"duplicate key in raw connector config", head + "connectors:\n  - {id: x, type: y, config: {a: 1, a: 2}}\n",
			"config: connectors[0].config.a: duplicate field"},
		{"yaml syntax error", head + "clients:\n  - {id: x, secret: \"" + secret + "\n",
			"config: line "},
		{"top level not a mapping", "- a\n- b\n",
			"config: expected a mapping, got a list"},
		{"two documents", head + "---\n" + head,
			"config: the file holds more than one YAML document"},

		{"missing issuer", "storage: {dir: d}\n", "config: issuer: required"},
		{"issuer http non-loopback", "issuer: http://id.example.com\nstorage: {dir: d}\n",
			"config: issuer: http is allowed only for loopback hosts"},
		{"issuer with a space", "issuer: \"https://id.example.com/ p\"\nstorage: {dir: d}\n",
			"config: issuer: must not contain spaces, control or non-ASCII characters"},
		{"issuer port 0", "issuer: https://id.example.com:0\nstorage: {dir: d}\n",
			"config: issuer: the port must be a number from 1 to 65535"},
		{"issuer port 99999", "issuer: https://id.example.com:99999\nstorage: {dir: d}\n",
			"config: issuer: the port must be a number from 1 to 65535"},
		{"issuer dot segments", "issuer: https://id.example.com/%2e%2e/x\nstorage: {dir: d}\n",
			"config: issuer: the path must be plain"},
		{"issuer dot segment", "issuer: https://id.example.com/a/../b\nstorage: {dir: d}\n",
			"config: issuer: the path must be plain"},
		{"issuer trailing slash", "issuer: https://id.example.com/\nstorage: {dir: d}\n",
			"config: issuer: must not end with a slash"},
		{"issuer query", "issuer: https://id.example.com/?x=1\nstorage: {dir: d}\n",
			"config: issuer: must not have a query"},
		{"issuer fragment", "issuer: https://id.example.com#x\nstorage: {dir: d}\n",
			"config: issuer: must not have a fragment"},
		{"issuer relative", "issuer: id.example.com\nstorage: {dir: d}\n",
			"config: issuer: must be an absolute http or https URL"},
		{"bad listen", head + "listen: 5556\n", "config: listen: expected a string, got a number (quote it)"},
		{"bad listen port", head + "listen: \"localhost:http-alt\"\n", `config: listen: invalid port "http-alt"`},
		{"storage type", "issuer: https://id.example.com\nstorage: {type: mysql, dir: d}\n",
			`config: storage.type: unsupported storage type "mysql" (supported: badger, postgres)`},
		{"storage dir", "issuer: https://id.example.com\n", "config: storage.dir: required"},
		{"log level", head + "log: {level: verbose}\n", `config: log.level: unsupported level "verbose"`},
		{"log format", head + "log: {format: xml}\n", `config: log.format: unsupported format "xml"`},

		{"connector id missing", head + "connectors:\n  - {type: local}\n", "config: connectors[0].id: required"},
		{"connector type missing", head + "connectors:\n  - {id: local}\n", "config: connectors[0].type: required"},
		{"connector id uppercase", head + "connectors:\n  - {id: Local, type: local}\n", `config: connectors[0].id: "Local" must be`},
		{"connector id duplicate", head + "connectors:\n  - {id: a, type: local}\n  - {id: a, type: ldap}\n",
			`config: connectors[1].id: duplicate connector id "a"`},

		{"client id missing", head + "clients:\n  - {public: true, redirect_uris: [\"https://b.example.com/cb\"]}\n",
			"config: clients[0].id: required"},
		{"client id with a slash", head + "clients:\n  - {id: a/b, public: true, redirect_uris: [\"https://b.example.com/cb\"]}\n",
			`config: clients[0].id: "a/b" must be 1-128 characters`},
		{"client id with a space", head + "clients:\n  - {id: \"my app\", public: true, redirect_uris: [\"https://b.example.com/cb\"]}\n",
			`config: clients[0].id: "my app" must be`},
		{"client id a dot segment", head + "clients:\n  - {id: \"..\", public: true, redirect_uris: [\"https://b.example.com/cb\"]}\n",
			`config: clients[0].id: ".." must be`},
		{"client id too long", head + "clients:\n  - {id: " + strings.Repeat("a", 129) + ", public: true, redirect_uris: [\"https://b.example.com/cb\"]}\n",
			"config: clients[0].id: "},
		{"duplicate client id", head + client + "  - {id: app, public: true, redirect_uris: [\"https://b.example.com/cb\"]}\n",
			`config: clients[1].id: duplicate client id "app"`},
		{"public client with secret", head + "clients:\n  - {id: spa, public: true, secret: " + secret + ", redirect_uris: [\"https://b.example.com/cb\"]}\n",
			"config: clients[0].secret: a public client must not have a secret"},
		{"public client with secret hash", head + "clients:\n  - {id: spa, public: true, secret_hash: " + secret + ", redirect_uris: [\"https://b.example.com/cb\"]}\n",
			"config: clients[0].secret_hash: a public client must not have a secret hash"},
		{"confidential without secret", head + "clients:\n  - {id: app, redirect_uris: [\"https://b.example.com/cb\"]}\n",
			"config: clients[0].secret: required for a confidential client"},
		{"secret and secret hash", head + "clients:\n  - {id: app, secret: " + secret + ", secret_hash: " + secret + ", redirect_uris: [\"https://b.example.com/cb\"]}\n",
			"config: clients[0].secret: set only one of secret and secret_hash"},
		{"secret with trailing space", head + "clients:\n  - {id: app, secret: \"" + secret + " \", redirect_uris: [\"https://b.example.com/cb\"]}\n",
			"config: clients[0].secret: must not contain control characters or leading or trailing spaces"},
		{"unsupported grant type", head + "clients:\n  - {id: app, secret: " + secret + ", grant_types: [authorization_code, password], redirect_uris: [\"https://b.example.com/cb\"]}\n",
			`config: clients[0].grant_types[1]: unsupported grant type "password"`},
		{"duplicate grant type", head + "clients:\n  - {id: app, secret: " + secret + ", grant_types: [client_credentials, client_credentials]}\n",
			`config: clients[0].grant_types[1]: duplicate grant type "client_credentials"`},
		{"public client credentials", head + "clients:\n  - {id: spa, public: true, grant_types: [client_credentials]}\n",
			"config: clients[0].grant_types[0]: a public client cannot use client_credentials"},
		{"refresh without code", head + "clients:\n  - {id: app, secret: " + secret + ", grant_types: [refresh_token]}\n",
			"config: clients[0].grant_types: refresh_token requires authorization_code"},
		{"device poll interval not whole seconds", head + "tokens: {device_poll_interval: 1500ms}\n",
			"config: tokens.device_poll_interval: must be whole seconds and shorter than device_code_ttl"},
		{"device poll interval past the code's life", head + "tokens: {device_code_ttl: 1m, device_poll_interval: 1m}\n",
			"config: tokens.device_poll_interval: must be whole seconds and shorter than device_code_ttl"},
		{"code without redirect", head + "clients:\n  - {id: app, secret: " + secret + "}\n",
			"config: clients[0].redirect_uris: at least one is required for the authorization_code grant"},
		{"http redirect to non-loopback host", head + "clients:\n  - {id: app, secret: " + secret + ", redirect_uris: [\"https://ok.example.com/cb\", \"http://app.example.com/cb\"]}\n",
			"config: clients[0].redirect_uris[1]: http is allowed only for loopback hosts"},
		{"fragment in redirect", head + "clients:\n  - {id: app, secret: " + secret + ", redirect_uris: [\"https://app.example.com/cb#frag\"]}\n",
			"config: clients[0].redirect_uris[0]: must not contain a fragment"},
		{"empty fragment in redirect", head + "clients:\n  - {id: app, secret: " + secret + ", redirect_uris: [\"https://app.example.com/cb#\"]}\n",
			"config: clients[0].redirect_uris[0]: must not contain a fragment"},
		{"user info in redirect", head + "clients:\n  - {id: app, secret: " + secret + ", redirect_uris: [\"https://app.example.com@evil.example/cb\"]}\n",
			"config: clients[0].redirect_uris[0]: must not contain user info"},
		{"wildcard redirect", head + "clients:\n  - {id: app, secret: " + secret + ", redirect_uris: [\"https://*.example.com/cb\"]}\n",
			"config: clients[0].redirect_uris[0]: must not contain a wildcard"},
		{"port 0 in post-logout redirect", head + "clients:\n  - {id: app, secret: " + secret + ", redirect_uris: [\"https://app.example.com/cb\"], post_logout_redirect_uris: [\"https://app.example.com:0/bye\"]}\n",
			"config: clients[0].post_logout_redirect_uris[0]: the port must be a number from 1 to 65535"},
		{"relative redirect", head + "clients:\n  - {id: app, secret: " + secret + ", redirect_uris: [/cb]}\n",
			"config: clients[0].redirect_uris[0]: must be an absolute URL"},
		{"custom scheme for confidential client", head + "clients:\n  - {id: app, secret: " + secret + ", redirect_uris: [\"com.example.app:/cb\"]}\n",
			"config: clients[0].redirect_uris[0]: a custom scheme is allowed only for public clients"},
		{"javascript redirect", head + "clients:\n  - {id: spa, public: true, redirect_uris: [\"javascript:alert(1)\"]}\n",
			`config: clients[0].redirect_uris[0]: scheme "javascript" is not allowed`},
		{"view-source redirect", head + "clients:\n  - {id: spa, public: true, redirect_uris: [\"view-source:https://a.example.com/cb\"]}\n",
			`config: clients[0].redirect_uris[0]: scheme "view-source" is not allowed`},
		{"duplicate redirect", head + "clients:\n  - {id: spa, public: true, redirect_uris: [\"https://a.example.com/cb\", \"https://a.example.com/cb\"]}\n",
			"config: clients[0].redirect_uris[1]: duplicate redirect URI"},
		{"bad scope", head + "clients:\n  - {id: svc, secret: " + secret + ", grant_types: [client_credentials], scopes: [\"a b\"]}\n",
			`config: clients[0].scopes[0]: invalid scope "a b"`},

		{"user without username", head + "users:\n  - {password_hash: \"$argon2id$x\"}\n", "config: users[0].username: required"},
		{"user without hash", head + "users:\n  - {username: bob}\n", "config: users[0].password_hash: required"},
		{"username with a NUL", head + "users:\n  - {username: \"a\\0b\", password_hash: \"$argon2id$x\"}\n", "config: users[0].username: must not contain control characters"},
		{"user with truncated bcrypt hash", head + "users:\n  - {username: bob, password_hash: \"$2a$10$abcdefghijklmnopqrstuv\"}\n",
			"config: users[0].password_hash: malformed or unsupported password hash: bcrypt hash is not"},
		{"user with bcrypt cost 31", head + "users:\n  - {username: bob, password_hash: \"$2a$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW\"}\n",
			"config: users[0].password_hash: malformed or unsupported password hash: bcrypt cost 31 outside [4, 14]"},
		{"user with md5 hash", head + "users:\n  - {username: bob, password_hash: \"$1$salt$hash\"}\n",
			"config: users[0].password_hash: malformed or unsupported password hash: unknown algorithm"},
		{"duplicate username", head + "users:\n  - {username: bob, password_hash: \"$argon2id$x\"}\n  - {username: bob, password_hash: \"$argon2id$y\"}\n",
			`config: users[1].username: duplicate username "bob"`},
		{"duplicate email", head + "users:\n  - {username: a, email: Bob@Example.com, password_hash: \"$argon2id$x\"}\n  - {username: b, email: bob@example.COM, password_hash: \"$argon2id$y\"}\n",
			`config: users[1].email: duplicate email "bob@example.COM"`},
		{"bad email", head + "users:\n  - {username: a, email: \"Bob <bob@example.com>\", password_hash: \"$argon2id$x\"}\n",
			"config: users[0].email: "},
		{"empty group", head + "users:\n  - {username: a, groups: [ok, \" \"], password_hash: \"$argon2id$x\"}\n",
			"config: users[0].groups[1]: must not be empty"},
		{"group with a trailing space", head + "users:\n  - {username: a, groups: [\"ops \"], password_hash: \"$argon2id$x\"}\n",
			`config: users[0].groups[0]: "ops " has leading or trailing spaces`},
		{"group too long", head + "users:\n  - {username: a, groups: [" + strings.Repeat("g", 257) + "], password_hash: \"$argon2id$x\"}\n",
			"config: users[0].groups[0]: longer than 256 bytes"},
		{"duplicate group", head + "users:\n  - {username: a, groups: [ops, ops], password_hash: \"$argon2id$x\"}\n",
			`config: users[0].groups[1]: duplicate "ops"`},
		{"admin role with a space", head + "admin: {role: \" admin\"}\n", `config: admin.role: " admin" has leading or trailing spaces`},
		{"email_verified not a bool", head + "users:\n  - {username: a, email_verified: \"true\", password_hash: \"$argon2id$x\"}\n",
			"config: users[0].email_verified: expected true or false, got a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src))
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error quotes the secret:\n%v", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %v holds no *FieldError", err)
			}
		})
	}
}

func TestSecretNeverInErrors(t *testing.T) {
	// The secret sits on the line of every kind of error a decoder can
	// raise, and in fields whose checks fail.
	for _, src := range []string{
		head + "clients:\n  - {id: x, secret: " + secret + ", secret: other}\n",
		head + "clients:\n  - {id: x, secret: {" + secret + ": 1}}\n",
		head + "clients:\n  - {id: x, secret: \"" + secret + "\t\"}\n",
		head + "clients:\n  - {id: x, secret: \"" + secret + "\", bogus: 1}\n",
		head + "clients:\n  - {id: x, secret: " + secret + "\n",
		head + "clients:\n  - id: x\n    secret: " + secret + ": y\n",
		head + "clients:\n  - {id: x, secret: !!binary " + secret + "}\n",
		head + "clients:\n  - {id: x, secret_hash: " + secret + ", secret: " + secret + "}\n",
	} {
		_, err := Parse([]byte(src))
		if err == nil {
			t.Errorf("no error for\n%s", src)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error quotes the secret:\n%v", err)
		}
	}
}

func TestValidateReportsAll(t *testing.T) {
	_, err := Parse([]byte(`
issuer: http://id.example.com/
storage: {type: mem}
clients:
  - {id: a, public: true, secret: ` + secret + `, redirect_uris: ["http://a.example.com/cb#x"]}
  - {id: a, grant_types: [password]}
tokens: {signing_alg: none}
`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"config: issuer: ",
		"config: storage.type: ",
		"config: clients[0].secret: ",
		"config: clients[0].redirect_uris[0]: ",
		"config: clients[1].id: duplicate",
		"config: clients[1].secret: required",
		"config: clients[1].grant_types[0]: unsupported",
		"config: tokens.signing_alg: ",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n < 8 {
		t.Errorf("%d errors, want at least 8:\n%v", n, err)
	}
}

func TestValidateInCode(t *testing.T) {
	c := &Config{Issuer: "https://id.example.com", Storage: Storage{Dir: "d"}}
	if err := c.Validate(); err == nil {
		t.Error("zero tokens and log accepted before ApplyDefaults")
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("err = %v", err)
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1h30m")); err != nil || d.Std() != 90*time.Minute {
		t.Fatalf("d = %v, err = %v", d, err)
	}
	b, _ := d.MarshalText()
	if string(b) != "1h30m0s" {
		t.Errorf("MarshalText = %s", b)
	}
}

func TestExplicitFalseKept(t *testing.T) {
	cfg, err := Parse([]byte(`
issuer: https://id.example.com
storage: {dir: d, sync_writes: false}
users:
  - {username: a, email_verified: false, password_hash: "$argon2id$x"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.SyncWritesEnabled() || *cfg.Users[0].EmailVerified {
		t.Errorf("explicit false overridden: %+v %+v", cfg.Storage, cfg.Users[0])
	}
}
