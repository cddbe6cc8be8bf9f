package importer_test

import (
	"os"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/importer"
	"github.com/portico-idp/portico/internal/importer/dex"
	"github.com/portico-idp/portico/internal/importer/keycloak"
)

// TestReports: each fixture maps what has a Portico counterpart and
// reports, without secrets or hashes, what does not.
func TestReports(t *testing.T) {
	tests := []struct {
		file    string
		parse   func([]byte) (*importer.Result, error)
		users   []string
		clients []string
		conns   []string
		skipped []string // substrings each expected in the report
	}{
		{"testdata/dex-config.yaml", dex.Parse, []string{"admin", "bob"}, []string{"example-app", "cli", "env-app"},
			[]string{"ldap", "google", "github", "okta"},
			[]string{"bcrypt cost 15", "trustedPeers", "no wildcards", "emailSuffix", "teams", "gitlab"}},
		{"testdata/keycloak-realm.json", keycloak.Parse, []string{"alice.kc", "bob.kc"}, []string{"webapp", "spa", "reports"},
			[]string{"corp-oidc", "github", "adfs", "corp-ldap"},
			[]string{"otp credential", "disabled", "federation", "100000000", "no password credential",
				"direct access grants", "bearer-only", "SAML client", "twitter", "createTimestamp"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			r, err := tt.parse(data)
			if err != nil {
				t.Fatal(err)
			}
			var users, clients, conns []string
			for _, u := range r.Users {
				users = append(users, u.Username)
			}
			for _, c := range r.Clients {
				clients = append(clients, c.ID)
			}
			for _, c := range r.Connectors {
				conns = append(conns, c.ID)
			}
			for what, pair := range map[string][2][]string{"users": {users, tt.users}, "clients": {clients, tt.clients}} {
				if strings.Join(pair[0], ",") != strings.Join(pair[1], ",") {
					t.Errorf("%s = %v, want %v", what, pair[0], pair[1])
				}
			}
			for _, c := range tt.conns {
				if !strings.Contains(","+strings.Join(conns, ",")+",", ","+c+",") {
					t.Errorf("connectors = %v, want %s", conns, c)
				}
			}
			var rep strings.Builder
			r.WriteReport(&rep)
			for _, s := range tt.skipped {
				if !strings.Contains(rep.String(), s) {
					t.Errorf("report lacks %q:\n%s", s, rep.String())
				}
			}
			for _, secret := range []string{"$2a$", "$pbkdf2", "secret-0123", "ZXhhbXBsZS1hcHAtc2VjcmV0", "ldap-admin-secret", "utZmJra"} {
				if strings.Contains(rep.String(), secret) {
					t.Errorf("report shows a secret or hash %q", secret)
				}
			}
		})
	}
}

// TestKeycloakCredentialFormats: the flat credential of Keycloak before
// 11 converts like the secretData/credentialData one, and argon2 from
// Keycloak 24 becomes an argon2id PHC string.
func TestKeycloakCredentialFormats(t *testing.T) {
	realm := `{"realm": "r", "users": [
	  {"username": "old", "credentials": [{"type": "password", "hashedSaltedValue": "utZmJraHEZFecjM3zx1MKlrakzXqc9ycf+ynhYy7DE5Rr4SoChj8jY1COJeEFX0pSv5EPO+brTQCtU2SpXP7Iw==", "salt": "NcrPStKSCSICWsYDKFcVOQ==", "hashIterations": 27500, "algorithm": "pbkdf2-sha256"}]},
	  {"username": "argon", "credentials": [{"type": "password", "secretData": "{\"value\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"salt\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}", "credentialData": "{\"hashIterations\":5,\"algorithm\":\"argon2\",\"additionalParameters\":{\"memory\":[\"7168\"],\"type\":[\"id\"],\"version\":[\"1.3\"],\"parallelism\":[\"1\"],\"hashLength\":[\"32\"]}}"}]},
	  {"username": "masked", "credentials": [{"type": "password", "secretData": "{\"value\":\"**********\"}", "credentialData": "{}"}]},
	  {"username": "md5", "credentials": [{"type": "password", "secretData": "{\"value\":\"AAAA\",\"salt\":\"\"}", "credentialData": "{\"algorithm\":\"md5\"}"}]}
	]}`
	r, err := keycloak.Parse([]byte(realm))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"old":   "$pbkdf2-sha256$27500$NcrPStKSCSICWsYDKFcVOQ$utZmJraHEZFecjM3zx1MKlrakzXqc9ycf.ynhYy7DE5Rr4SoChj8jY1COJeEFX0pSv5EPO.brTQCtU2SpXP7Iw",
		"argon": "$argon2id$v=19$m=7168,t=5,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	}
	if len(r.Users) != 2 {
		t.Fatalf("users = %+v", r.Users)
	}
	for _, u := range r.Users {
		if u.PasswordHash != want[u.Username] {
			t.Errorf("%s: hash %s, want %s", u.Username, u.PasswordHash, want[u.Username])
		}
	}
	var rep strings.Builder
	r.WriteReport(&rep)
	if !strings.Contains(rep.String(), "masks it") || !strings.Contains(rep.String(), `"md5" is not supported`) {
		t.Errorf("report:\n%s", rep.String())
	}
}

// TestMalformedInput: garbage is an error, not a panic or a partial import.
func TestMalformedInput(t *testing.T) {
	for _, in := range []string{"{", "users: [", "\x00\xff"} {
		if _, err := keycloak.Parse([]byte(in)); err == nil && in != "users: [" {
			t.Errorf("keycloak.Parse(%q) accepted", in)
		}
		if _, err := dex.Parse([]byte(in)); err == nil && in != "\x00\xff" {
			t.Errorf("dex.Parse(%q) accepted", in)
		}
	}
}
