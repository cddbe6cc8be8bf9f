package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
				if err := writeFragment(out, frag, force); err != nil {
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

// writeFragment writes data to path with mode 0600 (the fragment holds
// client secrets and password hashes): to a temporary file in path's
// directory, created 0600, then moved into place. A symlink at path is
// never followed: --force replaces the link itself; without --force an
// existing path (a link too, even a dangling one) is refused.
func writeFragment(path string, data []byte, force bool) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once moved into place
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	exists := fmt.Errorf("%s exists: give --out another file, or --force to replace it", path)
	if force {
		return os.Rename(tmp, path)
	}
	// A hard link creates path only if nothing (not even a link) is there.
	err = os.Link(tmp, path)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrExist):
		return exists
	}
	// No hard links on this file system: check, then move.
	if _, err := os.Lstat(path); err == nil {
		return exists
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.Rename(tmp, path)
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
