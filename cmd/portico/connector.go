package main

import (
	"github.com/spf13/cobra"

	"github.com/portico-idp/portico/broker/server"
)

// newConnector is `portico connector`: init for connector authors, and
// the hidden serve TYPE, the child a broker starts for a connector with
// isolation: process. serve speaks the plugin protocol on stdout and
// stderr, so it is not for people to run.
func newConnector() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connector",
		Short: "Write connectors: start a connector module",
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
	})
	return cmd
}
