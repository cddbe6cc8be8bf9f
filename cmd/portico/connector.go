package main

import (
	"github.com/spf13/cobra"

	"github.com/portico-idp/portico/broker/server"
)

// newConnector is `portico connector`: for connector authors, init (a
// new connector module), keygen and sign (sign.go); and the hidden `serve
// TYPE`, the child a broker starts for a connector with isolation:
// process, which speaks the plugin protocol on stdout and stderr, so it is
// not for people to run.
func newConnector() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connector",
		Short: "Write, sign and serve connectors: start a module, sign plugins and modules",
	}
	cmd.AddCommand(newConnectorInit())
	cmd.AddCommand(&cobra.Command{
		Use:    "serve TYPE",
		Short:  "Serve one built-in connector type over the plugin protocol (internal)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return server.ServeConnector(args[0])
		},
	}, newConnectorKeygen(), newConnectorSign())
	return cmd
}
