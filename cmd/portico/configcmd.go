package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/server"
)

// newConfigCmd is `portico config`: commands about the configuration file
// (issue 19).
func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check the configuration file"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Check a configuration file and print every problem (exit 1), or ok",
		Long: "Check FILE as serve would read it, connectors' config blocks included: environment\n" +
			"variables are expanded and *_file secrets read, but no store is opened and nothing\n" +
			"is contacted over the network. Prints every problem, one a line, or \"ok\".",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Check(args[0])
			errs := problems(err)
			if cfg != nil {
				errs = append(errs, problems(server.CheckConnectors(cfg))...)
			}
			if len(errs) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "ok")
				return nil
			}
			for _, e := range errs {
				fmt.Fprintln(cmd.OutOrStdout(), e)
			}
			if len(errs) == 1 {
				return fmt.Errorf("%s: 1 problem", args[0])
			}
			return fmt.Errorf("%s: %d problems", args[0], len(errs))
		},
	})
	return cmd
}

// problems flattens joined errors into one line each.
func problems(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, problems(e)...)
		}
		return out
	}
	var fe *config.FieldError
	if errors.As(err, &fe) {
		return []string{fe.Error()}
	}
	return strings.Split(err.Error(), "\n")
}
