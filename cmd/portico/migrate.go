package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store/postgres"
)

func newMigrate() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "migrate --config FILE",
		Short: "Apply the storage's schema migrations (PostgreSQL)",
		Long: "Apply the PostgreSQL schema migrations that the configured schema lacks, and print them.\n" +
			"portico serve applies them at start too; run this as a step before a deployment to keep\n" +
			"schema changes apart from starting replicas. Any number may run at once: they take turns.\n" +
			"A badger store has no schema: there is nothing to migrate.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if cfg.Storage.Type != config.StoragePostgres {
				fmt.Fprintf(out, "storage.type is %s: nothing to migrate (only postgres has a schema)\n", cfg.Storage.Type)
				return nil
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			applied, err := postgres.Migrate(ctx, postgres.Options{
				DSN: cfg.Storage.DSN, Schema: cfg.Storage.Schema, Logger: newLogger(cmd.ErrOrStderr(), cfg.Log),
			})
			if err != nil {
				return err
			}
			where := "the DSN's search_path"
			if cfg.Storage.Schema != "" {
				where = "schema " + cfg.Storage.Schema
			}
			if len(applied) == 0 {
				fmt.Fprintf(out, "%s is up to date\n", where)
				return nil
			}
			for _, name := range applied {
				fmt.Fprintf(out, "applied %s\n", name)
			}
			fmt.Fprintf(out, "%s is up to date\n", where)
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file whose storage section to migrate (required)")
	cmd.MarkFlagRequired("config")
	return cmd
}
