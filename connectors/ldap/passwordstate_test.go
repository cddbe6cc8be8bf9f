package ldap_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/testenv"
)

// Acceptance 3 of issue 18, at the connector: against slapd's ppolicy
// overlay and AD-shaped userAccountControl, each state is reported only
// with the right password; a wrong one is plain invalid credentials, as
// for an unknown user. A lock the directory reports whatever the password
// (ppolicy accountLocked) stays invalid credentials unless reveal_locked.
func TestPasswordStates(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	nobody := testenv.LDAPUser{UID: "nobody", Password: "whatever"}
	tests := []struct {
		name   string
		reveal bool
		user   testenv.LDAPUser
		right  error // with the right password; nil: logged in
	}{
		{"normal", false, testenv.LDAPAlice, nil},
		{"expired", false, testenv.LDAPExpired, sdk.ErrPasswordExpired},
		{"grace login", false, testenv.LDAPGrace, nil},
		{"must change", false, testenv.LDAPReset, sdk.ErrPasswordMustChange},
		{"ppolicy locked", false, testenv.LDAPLocked, sdk.ErrInvalidCredentials},
		{"ppolicy locked, revealed", true, testenv.LDAPLocked, sdk.ErrAccountLocked},
		{"AD normal", false, testenv.LDAPADOK, nil},
		{"AD disabled", false, testenv.LDAPADDisabled, sdk.ErrInvalidCredentials},
		{"AD locked", false, testenv.LDAPADLocked, sdk.ErrAccountLocked},
		{"unknown", false, nobody, sdk.ErrInvalidCredentials},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(s)
			cfg.RevealLocked = tt.reveal
			cfg.UserSearch.AccountControlAttribute = "userAccountControl"
			c, logs := newConnector(t, cfg)
			_, err := c.Login(ctx, withGroups, tt.user.UID, tt.user.Password)
			if !sameState(err, tt.right) {
				t.Errorf("right password: %v, want %v", err, tt.right)
			}
			wrong := sdk.ErrInvalidCredentials
			if tt.reveal {
				wrong = sdk.ErrAccountLocked // the trade-off reveal_locked makes
			}
			if _, err := c.Login(ctx, withGroups, tt.user.UID, "wrong-"+tt.user.Password); !sameState(err, wrong) {
				t.Errorf("wrong password: %v, want %v", err, wrong)
			}
			if strings.Contains(logs.String(), tt.user.Password) {
				t.Error("a password reached the log")
			}
		})
	}
}

// sameState: err is want, and no other state than want.
func sameState(err, want error) bool {
	if want == nil {
		return err == nil
	}
	for _, st := range []error{sdk.ErrPasswordExpired, sdk.ErrPasswordMustChange, sdk.ErrAccountLocked} {
		if errors.Is(err, st) != (st == want) {
			return false
		}
	}
	return errors.Is(err, want)
}
