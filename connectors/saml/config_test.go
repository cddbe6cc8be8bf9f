package saml_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/connectors/saml"
)

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := saml.ParseConfig([]byte(`{"idp_metadata_url":"https://idp.example/metadata"}`))
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(cfg.IDPMetadataRefresh) != saml.DefaultMetadataRefresh || time.Duration(cfg.ClockSkew) != saml.DefaultClockSkew ||
		cfg.RequireSignature != "either" || cfg.NameIDFormat != "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" ||
		cfg.EmailVerified || cfg.SignRequests || cfg.IDPInitiated.Enabled || cfg.AllowSHA1Signatures {
		t.Errorf("defaults: %+v", cfg)
	}
	if !slices.Equal(cfg.EmailAttributes, saml.DefaultEmailAttributes) || !slices.Equal(cfg.GroupsAttributes, saml.DefaultGroupsAttributes) ||
		!slices.Equal(cfg.NameAttributes, saml.DefaultNameAttributes) || !slices.Equal(cfg.UsernameAttributes, saml.DefaultUsernameAttributes) {
		t.Errorf("attribute defaults: %+v", cfg)
	}
	for _, want := range []string{
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", "urn:oid:0.9.2342.19200300.100.1.3", "email", "mail",
	} {
		if !slices.Contains(cfg.EmailAttributes, want) {
			t.Errorf("email defaults lack %q", want)
		}
	}
	for _, want := range []string{"http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", "urn:oid:1.3.6.1.4.1.5923.1.5.1.1", "groups"} {
		if !slices.Contains(cfg.GroupsAttributes, want) {
			t.Errorf("groups defaults lack %q", want)
		}
	}
	if !slices.Contains(cfg.NameAttributes, "urn:oid:2.16.840.1.113730.3.1.241") ||
		!slices.Contains(cfg.UsernameAttributes, "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name") {
		t.Errorf("name/username defaults: %v %v", cfg.NameAttributes, cfg.UsernameAttributes)
	}
	cfg, err = saml.ParseConfig([]byte(`{"idp_metadata_file":"/x","name_id_format":"emailAddress","clock_skew":"2m","idp_metadata_refresh":"10m",
		"idp_initiated":{"enabled":true,"default_client_id":"app","default_redirect_uri":"https://app/cb"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NameIDFormat != "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" || time.Duration(cfg.ClockSkew) != 2*time.Minute ||
		time.Duration(cfg.IDPMetadataRefresh) != 10*time.Minute || !cfg.IDPInitiated.Enabled {
		t.Errorf("%+v", cfg)
	}
}

// Every error names the field at fault, as the operator wrote it.
func TestParseConfigErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	md := `"idp_metadata_url":"https://idp/md"`
	tests := []struct{ name, json, want string }{
		{"empty", `{}`, "config.idp_metadata_url: exactly one of"},
		{"two sources", `{` + md + `,"idp_metadata_file":"/x"}`, "config.idp_metadata_url: exactly one of"},
		{"http", `{"idp_metadata_url":"http://idp/md"}`, "config.idp_metadata_url: http:// lets anyone"},
		{"relative", `{"idp_metadata_url":"/md"}`, "config.idp_metadata_url: \"/md\" is not an absolute https URL"},
		{"sso without entity", `{"idp_sso_url":"https://idp/sso","idp_certificates":["x"]}`, "config.idp_entity_id: required with idp_sso_url"},
		{"sso without certs", `{"idp_sso_url":"https://idp/sso","idp_entity_id":"e"}`, "config.idp_certificates: at least one"},
		{"bad cert", `{"idp_sso_url":"https://idp/sso","idp_entity_id":"e","idp_certificates":["nope"]}`, "config.idp_certificates: [0]: no PEM certificate"},
		{"bad cert file", `{"idp_sso_url":"https://idp/sso","idp_entity_id":"e","idp_certificate_files":["` + notPEM + `"]}`, "no PEM certificate"},
		{"certs with metadata", `{` + md + `,"idp_certificates":["x"]}`, "config.idp_certificates: only with idp_sso_url"},
		{"refresh too fast", `{` + md + `,"idp_metadata_refresh":"10ms"}`, "config.idp_metadata_refresh: 10ms is out of range"},
		{"refresh without metadata", `{"idp_sso_url":"https://idp/sso","idp_entity_id":"e","idp_certificates":["x"],"idp_metadata_refresh":"1h"}`, "config.idp_metadata_refresh: only with"},
		{"refresh not a duration", `{` + md + `,"idp_metadata_refresh":3600}`, "config.idp_metadata_refresh: 3600 is not a duration"},
		{"skew", `{` + md + `,"clock_skew":"5m"}`, "config.clock_skew: 5m0s is out of range (0, 3m0s]"},
		{"require_signature", `{` + md + `,"require_signature":"none"}`, "config.require_signature: \"none\" must be"},
		{"transient subject", `{` + md + `,"name_id_format":"transient"}`, "config.name_id_format: a transient NameID"},
		{"bad format", `{` + md + `,"name_id_format":"persistant"}`, "config.name_id_format: \"persistant\" is not"},
		{"key without cert", `{` + md + `,"key_file":"/k"}`, "config.key_file: key_file and certificate_file go together"},
		{"key file", `{` + md + `,"key_file":"` + notPEM + `","certificate_file":"` + notPEM + `"}`, "config.key_file:"},
		{"attribute", `{` + md + `,"groups_attributes":["ok","bad name"]}`, "config.groups_attributes[1]: \"bad name\" is not an attribute name"},
		{"idp-initiated incomplete", `{` + md + `,"idp_initiated":{"enabled":true}}`, "config.idp_initiated.default_client_id: required"},
		{"idp-initiated redirect", `{` + md + `,"idp_initiated":{"enabled":true,"default_client_id":"a","default_redirect_uri":"/cb"}}`, "config.idp_initiated.default_redirect_uri:"},
		{"idp-initiated disabled", `{` + md + `,"idp_initiated":{"default_client_id":"a"}}`, "config.idp_initiated.enabled: default_client_id and default_redirect_uri are set"},
		{"unknown field", `{` + md + `,"sign_request":true}`, `config: unknown field "sign_request"`},
		{"type", `{` + md + `,"sign_requests":"yes"}`, "config.sign_requests: expected a boolean"},
		{"trailing", `{` + md + `} {}`, "config: unexpected data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := saml.ParseConfig([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "saml: config") {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzParseConfig: ParseConfig never panics, and a config it accepts
// survives a JSON round trip unchanged and valid.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"idp_metadata_url":"https://idp.example/metadata","clock_skew":"1m","idp_initiated":{"enabled":true,"default_client_id":"a","default_redirect_uri":"https://a/cb"}}`))
	f.Add([]byte(`{"idp_sso_url":"http://idp/sso","insecure_allow_http":true,"idp_entity_id":"e","idp_certificates":["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		// Keep the fuzzer off the file system.
		var probe map[string]any
		if json.Unmarshal(raw, &probe) == nil {
			for _, k := range []string{"idp_metadata_file", "idp_certificate_files", "key_file", "certificate_file"} {
				if probe[k] != nil {
					t.Skip()
				}
			}
		}
		cfg, err := saml.ParseConfig(raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "saml: config") {
				t.Fatalf("error without the config prefix: %v", err)
			}
			return
		}
		out, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		again, err := saml.ParseConfig(out)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", out, err)
		}
		if !reflect.DeepEqual(cfg, again) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", cfg, again)
		}
	})
}
