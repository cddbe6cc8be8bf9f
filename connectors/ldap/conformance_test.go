package ldap_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portico-idp/portico/connectors/ldap"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/connectortest"
	"github.com/portico-idp/portico/testenv"
)

// kitUser is the kit's ordinary account, seeded beside the fixture so
// that removing and re-adding it touches nothing else.
var kitUser = connectortest.Account{Username: "kit-alice", Password: "correct horse", Want: sdk.Identity{
	Username: "kit-alice", PreferredUsername: "kit-alice", Email: "kit-alice@example.org", Name: "Kit Alice", Groups: []string{"kit-staff"},
}}

// seed adds a as a person and each of its groups as a groupOfNames with
// it as the only member.
func seed(t testing.TB, s *testenv.Slapd, a connectortest.Account, groups bool) {
	t.Helper()
	conn := s.RootConn(t)
	dn := "uid=" + goldap.EscapeDN(a.Username) + "," + testenv.LDAPPeopleDN
	add := goldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	add.Attribute("uid", []string{a.Username})
	add.Attribute("cn", []string{a.Want.Name})
	add.Attribute("sn", []string{a.Want.Name})
	add.Attribute("displayName", []string{a.Want.Name})
	if a.Want.Email != "" {
		add.Attribute("mail", []string{a.Want.Email})
	}
	add.Attribute("userPassword", []string{a.Password})
	if err := conn.Add(add); err != nil {
		t.Fatalf("add %s: %v", dn, err)
	}
	for _, g := range a.Want.Groups {
		if !groups {
			break
		}
		gadd := goldap.NewAddRequest("cn="+goldap.EscapeDN(g)+","+testenv.LDAPGroupsDN, nil)
		gadd.Attribute("objectClass", []string{"groupOfNames"})
		gadd.Attribute("cn", []string{g})
		gadd.Attribute("member", []string{dn})
		if err := conn.Add(gadd); err != nil {
			t.Fatalf("add group %q: %v", g, err)
		}
	}
}

// TestConformance runs the SDK's conformance kit against the LDAP
// connector on a real slapd, in process: an outage stops slapd, a removed
// account is deleted from the directory.
func TestConformance(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	seed(t, s, kitUser, true)
	seed(t, s, connectortest.UnicodeAccount, true)
	config, err := json.Marshal(baseConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	connectortest.Run(t, connectortest.Suite{
		Factory: func(ctx context.Context, raw json.RawMessage, log *slog.Logger) (any, error) {
			cfg, err := ldap.ParseConfig(raw)
			if err != nil {
				return nil, err
			}
			c, err := ldap.New(ctx, cfg, log)
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { c.Close() })
			return c, nil
		},
		Config:  config,
		User:    kitUser,
		Unicode: connectortest.UnicodeAccount,
		Outage: func(testing.TB) func() {
			s.Stop()
			return s.Start
		},
		Remove: func(t testing.TB, a connectortest.Account) func() {
			dn := "uid=" + goldap.EscapeDN(a.Username) + "," + testenv.LDAPPeopleDN
			if err := s.RootConn(t).Del(goldap.NewDelRequest(dn, nil)); err != nil {
				t.Fatalf("delete %s: %v", dn, err)
			}
			return func() { seed(t, s, a, false) } // its groups still name it
		},
	})
}
