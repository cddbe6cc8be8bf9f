package ldap_test

import (
	"context"
	"net"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portico-idp/portico/testenv"
)

// BenchmarkLogin is one password login through the connector's pool:
// search, bind as the user, bind back as the service account, group search.
func BenchmarkLogin(b *testing.B) {
	s := testenv.StartSlapd(b, testenv.SlapdOptions{})
	c, _ := newConnector(b, baseConfig(s))
	ctx := context.Background()
	u := testenv.LDAPAlice
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Login(ctx, withGroups, u.UID, u.Password); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawBind is the floor: one go-ldap simple bind on a fresh
// connection (connect, bind, close), with no search.
func BenchmarkRawBind(b *testing.B) {
	s := testenv.StartSlapd(b, testenv.SlapdOptions{})
	u := testenv.LDAPAlice
	dialer := goldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second})
	b.ReportAllocs()
	for b.Loop() {
		c, err := goldap.DialURL(s.URL(), dialer)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Bind(u.DN(), u.Password); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
