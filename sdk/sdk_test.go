package sdk_test

import (
	"testing"

	"github.com/portico-idp/portico/sdk"
)

func TestParseScopes(t *testing.T) {
	tests := []struct {
		name   string
		scopes []string
		want   sdk.Scopes
	}{
		{"nil", nil, sdk.Scopes{}},
		{"empty", []string{}, sdk.Scopes{}},
		{"openid only", []string{"openid"}, sdk.Scopes{}},
		{"profile and email", []string{"openid", "profile", "email"}, sdk.Scopes{}},
		{"offline_access", []string{"openid", "offline_access"}, sdk.Scopes{OfflineAccess: true}},
		{"groups", []string{"openid", "groups"}, sdk.Scopes{Groups: true}},
		{"both, any order", []string{"groups", "email", "offline_access", "openid"}, sdk.Scopes{OfflineAccess: true, Groups: true}},
		{"duplicates", []string{"groups", "groups"}, sdk.Scopes{Groups: true}},
		// Scope values are case-sensitive (RFC 6749 section 3.3).
		{"other case", []string{"Groups", "OFFLINE_ACCESS"}, sdk.Scopes{}},
		// ParseScopes takes the list already split: an unsplit scope
		// parameter is one unknown scope.
		{"unsplit string", []string{"openid groups offline_access"}, sdk.Scopes{}},
		{"surrounding space", []string{" groups", "offline_access "}, sdk.Scopes{}},
		{"prefix is not a match", []string{"groups:admin", "offline"}, sdk.Scopes{}},
		{"empty scope", []string{""}, sdk.Scopes{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sdk.ParseScopes(tt.scopes); got != tt.want {
				t.Errorf("ParseScopes(%q) = %+v, want %+v", tt.scopes, got, tt.want)
			}
		})
	}
}
