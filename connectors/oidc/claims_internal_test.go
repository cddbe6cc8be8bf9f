package oidc

import (
	"errors"
	"slices"
	"testing"

	"github.com/portico-idp/portico/sdk"
)

func TestMapIdentity(t *testing.T) {
	tests := []struct {
		name    string
		claims  string
		mapping ClaimMapping
		want    sdk.Identity
		wantErr bool
	}{
		{name: "standard", claims: `{"sub":"u1","email":"a@x","email_verified":true,"preferred_username":"a","name":"A","groups":["g1","g2","g1",""]}`,
			want: sdk.Identity{Subject: "u1", Email: "a@x", EmailVerified: true, Username: "a", PreferredUsername: "a", Name: "A", Groups: []string{"g1", "g2"}}},
		{name: "numeric subject keeps its digits", claims: `{"sub":12345678901234567890}`, want: sdk.Identity{Subject: "12345678901234567890"}},
		{name: "one group as a string", claims: `{"sub":"u","groups":"admins"}`, want: sdk.Identity{Subject: "u", Groups: []string{"admins"}}},
		{name: "groups of odd types are ignored", claims: `{"sub":"u","groups":[1,{"a":1},null,"ok"]}`, want: sdk.Identity{Subject: "u", Groups: []string{"ok"}}},
		{name: "nested claim", claims: `{"sub":"u","realm_access":{"roles":["r1"]}}`, mapping: ClaimMapping{Groups: "realm_access.roles"},
			want: sdk.Identity{Subject: "u", Groups: []string{"r1"}}},
		{name: "dotted name wins over the path", claims: `{"sub":"u","https://x.example/roles":["url"],"https://x":{"example/roles":["path"]}}`,
			mapping: ClaimMapping{Groups: "https://x.example/roles"}, want: sdk.Identity{Subject: "u", Groups: []string{"url"}}},
		{name: "other subject claim", claims: `{"sub":"pairwise","oid":"o1"}`, mapping: ClaimMapping{Subject: "oid"}, want: sdk.Identity{Subject: "o1"}},
		{name: "unverified email", claims: `{"sub":"u","email":"a@x","email_verified":"yes"}`, want: sdk.Identity{Subject: "u", Email: "a@x"}},
		{name: "no subject", claims: `{"email":"a@x"}`, wantErr: true},
		{name: "subject of the wrong type", claims: `{"sub":["u"]}`, wantErr: true},
		{name: "subject too long", claims: `{"sub":"` + string(make([]byte, 0)) + longString(256) + `"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{ClaimMapping: tt.mapping}
			cfg.setDefaults()
			cl, err := parseClaims([]byte(tt.claims))
			if err != nil {
				t.Fatal(err)
			}
			got, err := mapIdentity(cl, &cfg)
			if tt.wantErr {
				if !errors.Is(err, sdk.ErrInvalidCredentials) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != tt.want.Subject || got.Email != tt.want.Email || got.EmailVerified != tt.want.EmailVerified ||
				got.Username != tt.want.Username || got.PreferredUsername != tt.want.PreferredUsername || got.Name != tt.want.Name ||
				!slices.Equal(got.Groups, tt.want.Groups) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func longString(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'x'
	}
	return string(b)
}
