package ldap_test

import (
	"context"
	"net"
	"slices"
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
	var lat []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := c.Login(ctx, withGroups, u.UID, u.Password); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	reportLatency(b, lat)
}

// reportLatency adds logins/s and the p99 latency to the benchmark's line.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	var total time.Duration
	for _, d := range lat {
		total += d
	}
	b.ReportMetric(float64(len(lat))/total.Seconds(), "ops/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
}

// BenchmarkRawBind is the floor: one go-ldap simple bind on a fresh
// connection (connect, bind, close), with no search.
func BenchmarkRawBind(b *testing.B) {
	s := testenv.StartSlapd(b, testenv.SlapdOptions{})
	u := testenv.LDAPAlice
	dialer := goldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second})
	b.ReportAllocs()
	var lat []time.Duration
	for b.Loop() {
		t0 := time.Now()
		c, err := goldap.DialURL(s.URL(), dialer)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Bind(u.DN(), u.Password); err != nil {
			b.Fatal(err)
		}
		c.Close()
		lat = append(lat, time.Since(t0))
	}
	reportLatency(b, lat)
}
