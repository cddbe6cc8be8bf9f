package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/server"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/store/badger"
	"github.com/portico-idp/portico/broker/store/storecopy"
)

// masterKeyFile is the key file the server keeps in storage.dir
// (broker/server's masterKey): it seals second-factor secrets and
// connectors' upstream tokens, which a copy carries over sealed.
const masterKeyFile = "connector-master.key"

func newStore() *cobra.Command {
	cmd := &cobra.Command{Use: "store", Short: "Move what Portico keeps from one store to another"}
	var (
		from, to string
		merge    bool
	)
	cp := &cobra.Command{
		Use:   "copy --from CONFIG --to CONFIG",
		Short: "Copy users, clients, signing keys, sessions and the audit trail to another store",
		Long: "Copy the store that the --from config names into the one the --to config names, such as\n" +
			"from badger to postgres, and print how many records of each kind it copied. The target\n" +
			"must be empty (run it before the first serve on it) unless --merge. Stop the servers\n" +
			"first: a badger store allows one process, and a copy of a changing store is not one.\n" +
			"Browser sessions, throttle counters, pending logins and opaque access tokens are not\n" +
			"copied (see docs/deployment.md).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := loadStoreConfig("--from", from)
			if err != nil {
				return err
			}
			dst, err := loadStoreConfig("--to", to)
			if err != nil {
				return err
			}
			if sameStore(src.Storage, dst.Storage) {
				return errors.New("--from and --to name the same store")
			}
			// A mistyped source directory would be a new, empty store,
			// and the copy would "succeed" on nothing.
			if src.Storage.Type == config.StorageBadger {
				if fi, err := os.Stat(src.Storage.Dir); err != nil || !fi.IsDir() {
					return fmt.Errorf("--from: data directory %s does not exist", src.Storage.Dir)
				}
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			log := newLogger(cmd.ErrOrStderr(), src.Log)
			source, err := openForCopy("--from", src, log)
			if err != nil {
				return err
			}
			defer source.Close()
			target, err := openForCopy("--to", dst, log)
			if err != nil {
				return err
			}
			defer target.Close() // again after success: Close is idempotent

			counts, err := storecopy.Copy(ctx, source, target, storecopy.Options{Merge: merge})
			if !errors.Is(err, storecopy.ErrNotEmpty) {
				// After a failure too: what made it across, for a --merge
				// run to complete.
				printCounts(cmd.OutOrStdout(), counts)
			}
			switch {
			case errors.Is(err, storecopy.ErrNotEmpty):
				return fmt.Errorf("%w; copy into a new store (a fresh schema or directory, before any serve on it), or give --merge to copy only what it lacks", err)
			case errors.Is(err, store.ErrAlreadyExists) && !merge:
				return fmt.Errorf("%w; give --merge to copy only what the target lacks", err)
			case err != nil:
				return err
			}
			if err := target.Close(); err != nil {
				return fmt.Errorf("--to: close the store: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "copied %s to %s\n", describe(src.Storage), describe(dst.Storage))
			return copyMasterKey(cmd.OutOrStdout(), cmd.ErrOrStderr(), src, dst)
		},
	}
	cp.Flags().StringVar(&from, "from", "", "config file of the store to copy from (required)")
	cp.Flags().StringVar(&to, "to", "", "config file of the store to copy into (required)")
	cp.Flags().BoolVar(&merge, "merge", false, "allow a target that is not empty: copy only what it lacks (resumes a copy that stopped)")
	cp.MarkFlagRequired("from")
	cp.MarkFlagRequired("to")
	cmd.AddCommand(cp)
	return cmd
}

func loadStoreConfig(flag, path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return cfg, nil
}

func openForCopy(flag string, cfg *config.Config, log *slog.Logger) (store.Store, error) {
	st, err := server.OpenStore(cfg, log)
	if errors.Is(err, badger.ErrInUse) {
		return nil, fmt.Errorf("%s: %w: stop the server first", flag, err)
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return st, nil
}

// sameStore reports whether a and b are one store; a copy onto itself
// would find it "not empty", which says less.
func sameStore(a, b config.Storage) bool {
	if a.Type != b.Type {
		return false
	}
	if a.Type == config.StorageBadger {
		da, err1 := filepath.Abs(a.Dir)
		db, err2 := filepath.Abs(b.Dir)
		return err1 == nil && err2 == nil && da == db
	}
	return a.DSN == b.DSN && a.Schema == b.Schema
}

// describe names a store without its DSN, which may hold a password.
func describe(s config.Storage) string {
	if s.Type == config.StoragePostgres {
		if s.Schema == "" {
			return "postgres (the DSN's search_path)"
		}
		return "postgres (schema " + s.Schema + ")"
	}
	return s.Type + " (" + s.Dir + ")"
}

func printCounts(w io.Writer, c storecopy.Counts) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tCOPIED\tEXISTING\tSKIPPED")
	for _, r := range c.Rows() {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", r.Kind, r.Copied, r.Existing, r.Skipped)
	}
	tw.Flush()
}

// copyMasterKey carries the source's key file over to the target's
// storage.dir, where the server looks for it: without the same key, second
// factors enrolled and connectors' upstream tokens kept before the move
// cannot be unsealed after it. It never replaces a key the target has.
func copyMasterKey(out, errOut io.Writer, src, dst *config.Config) error {
	if src.Storage.Dir == "" {
		return nil
	}
	key, err := os.ReadFile(filepath.Join(src.Storage.Dir, masterKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // the source never made one
	} else if err != nil {
		return fmt.Errorf("--from: read the key file: %w", err)
	}
	if dst.Storage.Dir == "" {
		fmt.Fprintf(errOut, "warning: the --to config has no storage.dir for %s, the key that seals second factors and\n"+
			"connectors' upstream tokens: a server on it makes a new key at each start, and second factors\n"+
			"enrolled before the move no longer verify. Set storage.dir to a directory holding a copy of\n"+
			"%s (on every replica), or set login.mfa.key in both configs.\n",
			masterKeyFile, filepath.Join(src.Storage.Dir, masterKeyFile))
		return nil
	}
	path := filepath.Join(dst.Storage.Dir, masterKeyFile)
	if have, err := os.ReadFile(path); err == nil {
		if !bytes.Equal(have, key) {
			fmt.Fprintf(errOut, "warning: %s differs from the source's %s: second factors and connectors' upstream\n"+
				"tokens sealed before the move will not unseal; replace it with the source's if no server used it yet.\n",
				path, masterKeyFile)
		}
		return nil
	}
	if err := os.MkdirAll(dst.Storage.Dir, 0o700); err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("--to: copy the key file: %w", err)
	}
	_, err = f.Write(key)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("--to: write %s: %w", path, err)
	}
	fmt.Fprintf(out, "copied %s to %s\n", masterKeyFile, dst.Storage.Dir)
	return nil
}
