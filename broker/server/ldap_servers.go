package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/portico-idp/portico/broker/metrics"
	"github.com/portico-idp/portico/connectors/ldap"
)

// ldapServers is an LDAP connector with several servers (issue 18).
type ldapServers interface{ Servers() []ldap.ServerState }

// ldapServersCheck reports, in /readyz, the LDAP connectors none of whose
// servers is up. It is advisory: such a connector's logins fail (503), but
// local accounts, other connectors and token refreshes work, so the
// server stays ready.
func (s *Server) ldapServersCheck() metrics.Check {
	return metrics.Check{Name: "ldap_servers", Advisory: true, Fn: func(context.Context) error {
		var down []string
		for _, cn := range s.Broker.Connectors() {
			p, ok := cn.Impl.(ldapServers)
			if !ok {
				continue
			}
			up := false
			for _, st := range p.Servers() {
				up = up || st.Up
			}
			if !up {
				down = append(down, cn.ID)
			}
		}
		if len(down) > 0 {
			return fmt.Errorf("no directory server up for connector %s", strings.Join(down, ", "))
		}
		return nil
	}}
}
