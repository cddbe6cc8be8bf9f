package server

import (
	"slices"
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/config"
)

// Every connector type that can be built can be checked before start.
func TestSchemasCoverFactories(t *testing.T) {
	for typ := range factories {
		if _, ok := schemas[typ]; !ok {
			t.Errorf("connector type %s has no schema in check.go", typ)
		}
	}
}

func TestCheckConnectors(t *testing.T) {
	for _, c := range []struct {
		name string
		conn config.Connector
		want string // "" for no error
	}{
		{"local", config.Connector{ID: "l", Type: "local"}, ""},
		{"unknown type", config.Connector{ID: "x", Type: "oauth"}, `connectors[0].type: unknown connector type "oauth" (supported: `},
		{"nested unknown field", config.Connector{ID: "g", Type: "github", Config: map[string]any{"client_id": "a", "client_secret": "b", "alowed_orgs": []any{"x"}}},
			"connectors[0].config.alowed_orgs: unknown field (did you mean allowed_orgs?)"},
		{"parser error with path", config.Connector{ID: "o", Type: "oidc", Config: map[string]any{"client_id": "a"}},
			"connectors[0].config.issuer: "},
		// encoding/json matches names regardless of case; so does the check.
		{"case", config.Connector{ID: "g", Type: "github", Config: map[string]any{"Client_ID": "a", "client_secret": "b"}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckConnectors(&config.Config{Connectors: []config.Connector{c.conn}})
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("err = %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), "config: "+c.want)):
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	if !slices.Contains(ConnectorTypes(), "ldap") {
		t.Error("ConnectorTypes lacks ldap")
	}
}
