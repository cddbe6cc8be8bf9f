package ldap

import (
	"context"

	goldap "github.com/go-ldap/ldap/v3"
)

// Hooks for the tests in package ldap_test, which run against slapd.

// SetTestHookBind has f called with the DN before every user bind.
func SetTestHookBind(c *Connector, f func(dn string)) { c.testHookBind = f }

// PooledWhoAmI asks the directory who a pooled connection is bound as
// ("dn:..." or "" for anonymous), and whether it runs over TLS.
func PooledWhoAmI(ctx context.Context, c *Connector) (authzID string, tls bool, err error) {
	err = c.withConn(ctx, func(lc *goldap.Conn) error {
		_, tls = lc.TLSConnectionState()
		return c.d.op(ctx, lc, "whoami", func() error {
			res, err := lc.WhoAmI(nil)
			if err == nil {
				authzID = res.AuthzID
			}
			return err
		})
	})
	return authzID, tls, err
}

// CountDials has f called after every new connection is made.
func CountDials(c *Connector, f func()) {
	for _, s := range c.servers.list {
		s.d.afterDial = f
	}
}

// DialAttempts is how many dials each server has had (failed ones too).
func DialAttempts(c *Connector) []int64 {
	out := make([]int64, len(c.servers.list))
	for i, s := range c.servers.list {
		out[i] = s.attempts.Load()
	}
	return out
}

// CheckServers runs one health check now, as the background one does
// every health_check_interval.
func CheckServers(ctx context.Context, c *Connector) { c.servers.check(ctx) }

// DropIdle closes the pooled idle connections, so that the next login
// dials.
func DropIdle(c *Connector) { c.pool.drain() }
