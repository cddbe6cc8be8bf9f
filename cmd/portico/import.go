package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/portico-idp/portico/internal/importer"
	"github.com/portico-idp/portico/internal/importer/dex"
	"github.com/portico-idp/portico/internal/importer/keycloak"
)

// newImport is `portico import dex|keycloak FILE`: a dry run by default
// that prints what would be imported and what would not (no secrets, no
// hashes); with --apply it writes a configuration fragment for the
// operator to review and merge (docs/migration.md).
func newImport() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import clients, users and connectors from Dex or Keycloak (dry run unless --apply)",
	}
	for _, src := range []struct {
		name, use, short string
		parse            func([]byte) (*importer.Result, error)
	}{
		{"dex", "dex CONFIG.yaml", "Import Dex's static clients, static passwords and connectors", dex.Parse},
		{"keycloak", "keycloak REALM.json", "Import a Keycloak realm export: users, groups, roles, clients, identity providers, LDAP", keycloak.Parse},
	} {
		var apply, force bool
		var out string
		sub := &cobra.Command{
			Use: src.use, Short: src.short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				data, err := readBounded(args[0])
				if err != nil {
					return err
				}
				res, err := src.parse(data)
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				res.WriteReport(w)
				if !apply {
					fmt.Fprintf(w, "dry run: nothing written; run again with --apply to write %s\n", out)
					return nil
				}
				frag, err := res.Fragment()
				if err != nil {
					return err
				}
				flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
				if force {
					flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
				}
				// 0600: the fragment holds client secrets and password hashes.
				f, err := os.OpenFile(out, flags, 0o600)
				if errors.Is(err, os.ErrExist) {
					return fmt.Errorf("%s exists: give --out another file, or --force to replace it", out)
				} else if err != nil {
					return err
				}
				if _, err := f.Write(frag); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				fmt.Fprintf(w, "wrote %s: review it, merge its sections into your configuration, then delete it\n", out)
				return nil
			},
		}
		sub.Flags().BoolVar(&apply, "apply", false, "write the configuration fragment (without it, only report)")
		sub.Flags().StringVar(&out, "out", "portico-import-"+src.name+".yaml", "where --apply writes the fragment")
		sub.Flags().BoolVar(&force, "force", false, "replace --out if it exists")
		cmd.AddCommand(sub)
	}
	return cmd
}

// readBounded reads at most importer.MaxInput bytes of path.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, importer.MaxInput+1))
	if err != nil {
		return nil, err
	}
	if len(data) > importer.MaxInput {
		return nil, fmt.Errorf("%s is over %d bytes", path, importer.MaxInput)
	}
	return data, nil
}
