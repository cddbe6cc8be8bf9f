package ldap_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portico-idp/portico/connectors/ldap"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/testenv"
)

// The tests run against a real slapd (testenv.StartSlapd), loaded with
// testenv/testdata/ldap/fixture.ldif. Without slapd they skip, or fail
// when CI=true.

var withGroups = sdk.Scopes{Groups: true}

// logBuf collects what a connector logs, for tests to read.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// baseConfig is a connector config for s: plain ldap:// (the TLS tests
// turn TLS on), the service account, uid and mail as usernames, the
// fixture's enabled filter, and groupOfNames groups without nesting.
func baseConfig(s *testenv.Slapd) ldap.Config {
	return ldap.Config{
		URL:            s.URL(),
		InsecureNoTLS:  true,
		BindDN:         testenv.LDAPServiceDN,
		BindPassword:   testenv.LDAPServicePassword,
		ConnectTimeout: ldap.Duration(2 * time.Second),
		Timeout:        ldap.Duration(2 * time.Second),
		UserSearch: ldap.UserSearch{
			BaseDN:             testenv.LDAPPeopleDN,
			UsernameAttributes: []string{"uid", "mail"},
			EnabledFilter:      testenv.LDAPEnabledFilter,
			ExtraAttributes:    []string{"employeeNumber"},
		},
		GroupSearch: ldap.GroupSearch{
			BaseDN:          testenv.LDAPGroupsDN,
			Filter:          "(objectClass=groupOfNames)",
			MemberAttribute: "member",
		},
	}
}

// newConnector returns a connector for cfg, closed at the end of the test,
// and what it logs.
func newConnector(t testing.TB, cfg ldap.Config) (*ldap.Connector, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := ldap.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, logs
}

// entryUUID reads dn's entryUUID as the rootdn.
func entryUUID(t *testing.T, s *testenv.Slapd, dn string) string {
	t.Helper()
	res, err := s.RootConn(t).Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"entryUUID"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("reading entryUUID of %s: %v", dn, err)
	}
	return res.Entries[0].GetAttributeValue("entryUUID")
}

func login(t *testing.T, c *ldap.Connector, u testenv.LDAPUser) sdk.Identity {
	t.Helper()
	id, err := c.Login(context.Background(), withGroups, u.UID, u.Password)
	if err != nil {
		t.Fatalf("Login(%s): %v", u.UID, err)
	}
	return id
}
