package ldap_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/testenv"
)

func TestRefresh(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	cfg := baseConfig(s)
	cfg.GroupSearch.Nested = true
	c, _ := newConnector(t, cfg)
	root := s.RootConn(t)
	ctx := context.Background()
	alice := testenv.LDAPAlice
	id := login(t, c, alice)

	refresh := func(t *testing.T) (sdk.Identity, error) {
		t.Helper()
		return c.Refresh(ctx, withGroups, id)
	}

	t.Run("unchanged", func(t *testing.T) {
		got, err := refresh(t)
		if err != nil || !equalIdentity(got, id) {
			t.Errorf("Refresh = %+v, %v; want %+v", got, err, id)
		}
	})

	t.Run("groups changed", func(t *testing.T) {
		mod := goldap.NewModifyRequest("cn=admins,"+testenv.LDAPGroupsDN, nil)
		mod.Delete("member", []string{alice.DN()})
		mod.Add("member", []string{testenv.LDAPBob.DN()}) // groupOfNames needs a member
		if err := root.Modify(mod); err != nil {
			t.Fatal(err)
		}
		add := goldap.NewAddRequest("cn=auditors,"+testenv.LDAPGroupsDN, nil)
		add.Attribute("objectClass", []string{"groupOfNames"})
		add.Attribute("cn", []string{"auditors"})
		add.Attribute("member", []string{alice.DN()})
		if err := root.Add(add); err != nil {
			t.Fatal(err)
		}
		got, err := refresh(t)
		if want := []string{"auditors", "developers", "everyone", "staff"}; err != nil || !slices.Equal(got.Groups, want) {
			t.Errorf("groups after the change: %q, %v; want %q", got.Groups, err, want)
		}
	})

	t.Run("renamed", func(t *testing.T) {
		// A rename changes the DN, not the subject: refresh follows it.
		if err := root.ModifyDN(goldap.NewModifyDNRequest(alice.DN(), "uid=alice.liddell", true, "")); err != nil {
			t.Fatal(err)
		}
		got, err := refresh(t)
		if err != nil || got.Subject != id.Subject || got.Attributes["dn"][0] != "uid=alice.liddell,"+testenv.LDAPPeopleDN {
			t.Errorf("after a rename: %+v, %v", got, err)
		}
		// Her groups followed the rename (memberof-refint), so she keeps them.
		if !slices.Contains(got.Groups, "developers") {
			t.Errorf("groups after a rename: %q", got.Groups)
		}
	})
	dn := "uid=alice.liddell," + testenv.LDAPPeopleDN

	t.Run("disabled", func(t *testing.T) {
		mod := goldap.NewModifyRequest(dn, nil)
		mod.Add("employeeType", []string{"disabled"})
		if err := root.Modify(mod); err != nil {
			t.Fatal(err)
		}
		if _, err := refresh(t); !errors.Is(err, sdk.ErrUserGone) {
			t.Errorf("Refresh of a disabled user: %v, want ErrUserGone", err)
		}
		mod = goldap.NewModifyRequest(dn, nil)
		mod.Delete("employeeType", nil)
		if err := root.Modify(mod); err != nil {
			t.Fatal(err)
		}
		if _, err := refresh(t); err != nil {
			t.Errorf("Refresh after enabling again: %v", err)
		}
	})

	t.Run("deleted", func(t *testing.T) {
		if err := root.Del(goldap.NewDelRequest(dn, nil)); err != nil {
			t.Fatal(err)
		}
		if _, err := refresh(t); !errors.Is(err, sdk.ErrUserGone) {
			t.Errorf("Refresh of a deleted user: %v, want ErrUserGone", err)
		}
	})

	t.Run("bad subjects", func(t *testing.T) {
		for _, sub := range []string{"", "*", "00000000-0000-0000-0000-000000000000", ")(uid=*"} {
			if _, err := c.Refresh(ctx, withGroups, sdk.Identity{Subject: sub}); !errors.Is(err, sdk.ErrUserGone) {
				t.Errorf("Refresh(subject %q): %v, want ErrUserGone", sub, err)
			}
		}
	})
}

// Disabled users cannot log in either, though their password is right;
// and a user that the disabled check refuses is refused at refresh.
func TestDisabledAtLoginAndRefresh(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	c, _ := newConnector(t, baseConfig(s))
	dave := testenv.LDAPDave
	if _, err := c.Login(context.Background(), withGroups, dave.UID, dave.Password); err != sdk.ErrInvalidCredentials {
		t.Errorf("disabled user's login: %v", err)
	}
	sub := entryUUID(t, s, dave.DN())
	if _, err := c.Refresh(context.Background(), withGroups, sdk.Identity{Subject: sub}); !errors.Is(err, sdk.ErrUserGone) {
		t.Errorf("disabled user's refresh: %v", err)
	}
}
