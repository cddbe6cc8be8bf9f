package config

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// specExample is the example configuration in the product spec, verbatim.
const specExample = `issuer: http://127.0.0.1:5556
listen: 127.0.0.1:5556
storage: {type: badger, dir: ./portico-data}
connectors:
  - {id: local, type: local, name: Email}
clients:
  - id: example-app
    secret: example-secret        # or secret_hash
    redirect_uris: [http://127.0.0.1:5555/callback]
    grant_types: [authorization_code, refresh_token, client_credentials]
  - {id: example-spa, public: true, redirect_uris: [http://127.0.0.1:5555/callback]}
users:                           # optional seed for the local connector
  - {email: alice@example.com, username: alice, password_hash: "$argon2id$v=19$m=65536,t=3,p=4$VmMwR2UwM29XSjhXTzVTZA$MqhY7ojHTn07+5xUevJi+2MlyNQkWiuvXWsaUSvp3iw"}
`

const aliceHash = "$argon2id$v=19$m=65536,t=3,p=4$VmMwR2UwM29XSjhXTzVTZA$MqhY7ojHTn07+5xUevJi+2MlyNQkWiuvXWsaUSvp3iw"

func TestSpecExample(t *testing.T) {
	cfg, err := Parse([]byte(specExample))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Issuer != "http://127.0.0.1:5556" || cfg.Listen != "127.0.0.1:5556" ||
		cfg.Storage.Type != "badger" || cfg.Storage.Dir != "./portico-data" {
		t.Errorf("issuer/listen/storage = %q %q %+v", cfg.Issuer, cfg.Listen, cfg.Storage)
	}
	if cn := cfg.Connectors; len(cn) != 1 || cn[0].ID != "local" || cn[0].Type != "local" || cn[0].Name != "Email" || cn[0].Config != nil {
		t.Errorf("connectors = %+v", cfg.Connectors)
	}
	if len(cfg.Clients) != 2 {
		t.Fatalf("clients = %+v", cfg.Clients)
	}
	app, spa := cfg.Clients[0], cfg.Clients[1]
	if app.ID != "example-app" || app.Secret != "example-secret" || app.Public ||
		strings.Join(app.RedirectURIs, " ") != "http://127.0.0.1:5555/callback" ||
		strings.Join(app.GrantTypes, " ") != "authorization_code refresh_token client_credentials" {
		t.Errorf("example-app = %+v", app)
	}
	if spa.ID != "example-spa" || !spa.Public || spa.Secret != "" ||
		strings.Join(spa.RedirectURIs, " ") != "http://127.0.0.1:5555/callback" {
		t.Errorf("example-spa = %+v", spa)
	}
	if len(cfg.Users) != 1 || cfg.Users[0].Email != "alice@example.com" ||
		cfg.Users[0].Username != "alice" || cfg.Users[0].PasswordHash != aliceHash {
		t.Errorf("users = %+v", cfg.Users)
	}
}

// The flow sequence of URLs inside a flow mapping is what the earlier
// decoder (goccy/go-yaml) misread: it took "http:" for a key.
func TestFlowURLs(t *testing.T) {
	for name, uris := range map[string]string{
		"spec line": `[http://127.0.0.1:5555/callback]`,
		"quoted":    `[ "http://127.0.0.1:5555/callback" ]`,
		"unquoted":  `[ http://127.0.0.1:5555/callback ]`,
		"two":       `[http://127.0.0.1:5555/callback, "http://localhost:80/cb?x=1"]`,
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := Parse([]byte(head + "clients:\n  - {id: example-spa, public: true, redirect_uris: " + uris + "}\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Clients[0].RedirectURIs[0]; got != "http://127.0.0.1:5555/callback" {
				t.Errorf("redirect_uris[0] = %q", got)
			}
		})
	}
}

func TestNewClientFields(t *testing.T) {
	cfg, err := Parse([]byte(head + `
clients:
  - id: web
    secret: ` + secret + `
    redirect_uris: [https://web.example.com/cb]
    post_logout_redirect_uris: [https://web.example.com/bye]
    token_format: opaque
    access_token_ttl: 2m
    id_token_ttl: 3m
    refresh_idle_ttl: 1h
    refresh_absolute_ttl: 2h
    refresh_reuse_grace: 10s
    id_token_signed_response_alg: EdDSA
    introspection: none
`))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Clients[0]
	if c.PostLogoutRedirectURIs[0] != "https://web.example.com/bye" || c.TokenFormat != "opaque" ||
		c.AccessTokenTTL.Std() != 2*time.Minute || c.IDTokenTTL.Std() != 3*time.Minute ||
		c.RefreshIdleTTL.Std() != time.Hour || c.RefreshAbsoluteTTL.Std() != 2*time.Hour ||
		c.RefreshReuseGrace.Std() != 10*time.Second || c.IDTokenSignedResponseAlg != "EdDSA" ||
		c.Introspection != IntrospectNone {
		t.Errorf("client = %+v", c)
	}
}

// A connector gets its config as JSON, so every mapping in it must decode
// as map[string]any, whatever its keys are written as.
func TestConnectorConfigJSON(t *testing.T) {
	cfg, err := Parse([]byte(head + `
connectors:
  - id: corp
    type: ldap
    config:
      host: &h ldap.example.com
      port: 636
      tls: {insecure: false, roots: [/etc/ssl/a.pem]}
      search:
        - {base: "ou=people,dc=example,dc=com", attrs: {mail: email, 1: one, true: yes}}
      defaults: &d {timeout: 5s, retries: 2}
      override: {<<: *d, retries: 3}
      aliases: {*h : by alias}
      tagged: !!binary aGk=
      custom: !vault secret/ldap
      nested: {a: {b: {c: [true, ~, 1.5]}}}
      2024-01-01: dated
`))
	if err != nil {
		t.Fatal(err)
	}
	raw := cfg.Connectors[0].Config
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range v {
				walk(path+"[]", e)
			}
		case map[any]any:
			t.Errorf("%s is a %T", path, v)
		}
	}
	walk("config", raw)
	got, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"2024-01-01":"dated","aliases":{"ldap.example.com":"by alias"},"custom":"secret/ldap",` +
		`"defaults":{"retries":2,"timeout":"5s"},"host":"ldap.example.com","nested":{"a":{"b":{"c":[true,null,1.5]}}},` +
		`"override":{"retries":3,"timeout":"5s"},"port":636,` +
		`"search":[{"attrs":{"1":"one","mail":"email","true":"yes"},"base":"ou=people,dc=example,dc=com"}],` +
		`"tagged":"hi","tls":{"insecure":false,"roots":["/etc/ssl/a.pem"]}}`
	if string(got) != want {
		t.Errorf("config as JSON:\n%s\nwant:\n%s", got, want)
	}
}

func TestMergeKeyList(t *testing.T) {
	cfg, err := Parse([]byte(head + `
clients:
  - &a {id: a, secret: ` + secret + `, scopes: [read, write], redirect_uris: ["https://a.example.com/cb"]}
  - &b {id: b, secret: other-secret, redirect_uris: ["https://b.example.com/cb"]}
  - {<<: [*b, *a], id: c}
`))
	if err != nil {
		t.Fatal(err)
	}
	// In a merge list the first mapping wins; keys written here beat both.
	c := cfg.Clients[2]
	if c.ID != "c" || c.Secret != "other-secret" || c.RedirectURIs[0] != "https://b.example.com/cb" || len(c.Scopes) != 2 {
		t.Errorf("merged client = %+v", c)
	}
}

// Cases the port to yaml.v3 added: each is an error with a path where one
// exists, and none quotes the secret.
func TestParseInvalidYAML(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"whole file null", "~\n", "config: expected a mapping, got null"},
		{"alias where another type is expected", head + "listen: &l 127.0.0.1:1\ntokens: {access_token_ttl: *l}\n",
			`config: tokens.access_token_ttl: invalid duration "127.0.0.1:1"`},
		{"alias to a mapping with an unknown field", head + "clients:\n  - &c {id: a, secret: " + secret + ", redirect_uris: [\"https://a.example.com/cb\"]}\nlog: *c\n",
			"config: log.id: unknown field"},
		{"alias to its own container", head + "clients: &a [*a]\n",
			"config: clients[0]: an alias must not refer to a value that contains it"},
		{"merge of its own container", head + "log: &l {<<: *l}\n",
			"config: log: an alias must not refer to a value that contains it"},
		{"merge of a scalar", head + "log: {<<: " + secret + "}\n",
			"config: log.<<: a merge key takes a mapping, an alias of one, or a list of those"},
		{"two merge keys", head + "log: {<<: {level: info}, <<: {format: json}}\n",
			"config: log.<<: more than one merge key"},
		{"unknown field in merged list", head + "log: {<<: [{level: info}, {colour: true}]}\n",
			"config: log.colour: unknown field"},
		{"unknown alias", head + "clients:\n  - {id: a, secret: *" + secret + "}\n",
			"config: an alias (*name) refers to an unknown anchor"},
		{"number in exponent form", head + "clients:\n  - {id: 1e3, public: true}\n",
			"config: clients[0].id: expected a string, got a number (quote it)"},
		{"list key in connector config", head + "connectors:\n  - {id: a, type: b, config: {? [x]: 1}}\n",
			"config: connectors[0].config: keys must be strings, got a list"},
		{"bad tagged value in connector config", head + "connectors:\n  - {id: a, type: b, config: {port: !!int " + secret + "}}\n",
			"config: connectors[0].config.port: not a valid !!int value"},
		{"duplicate key through an alias in connector config", head + "connectors:\n  - {id: &k a, type: b, config: {a: 1, *k : 2}}\n",
			"config: connectors[0].config.a: duplicate field"},
		{"null list item", head + "clients:\n  - {id: a, public: true, redirect_uris: [~]}\n",
			"config: clients[0].redirect_uris[0]: must not be empty"},
		{"syntax error has a line and a column", head + "clients:\n  - {id: a, secret: \"" + secret + "\n",
			"config: line 4, column 21: "},
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
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), secret[:7]) {
				t.Errorf("error quotes the secret:\n%v", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %v holds no *FieldError", err)
			}
		})
	}
}

// A "billion laughs" file: the shape check visits each anchor once, and
// the decoder's own limit stops the expansion.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString(head + "connectors:\n  - id: a\n    type: b\n    config:\n      l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("      l" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*l" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	start := time.Now()
	_, err := Parse([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "config: the file expands too many aliases") {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// decodeError is the backstop for a decode error the shape check missed:
// yaml.v3 quotes up to seven characters of the value.
func TestDecodeErrorQuotesNothing(t *testing.T) {
	err := decodeError(&yaml.TypeError{Errors: []string{
		"line 7: cannot unmarshal !!str `" + secret[:7] + "...` into int",
		"mapping key \"" + secret + "\" already defined",
	}})
	if got := err.Error(); strings.Contains(got, secret[:7]) || !strings.Contains(got, "config: line 7: ") {
		t.Errorf("decodeError = %q", got)
	}
	err = decodeError(errors.New("yaml: invalid duration \"" + secret + "\""))
	if strings.Contains(err.Error(), secret) {
		t.Errorf("decodeError = %q", err)
	}
}
