package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/server"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/store/badger"
	"github.com/portico-idp/portico/internal/version"
)

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "portico",
		Short:         "Portico: an OpenID Connect identity broker",
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version prints what `portico version` prints.
		Version: version.Get().String(),
	}
	root.SetVersionTemplate("portico {{.Version}}\n")
	root.AddCommand(newServe(), newUsers(), newClients(), newKeys(), newSessions(), newVersion(), newConnector(), newMigrate(), newStore(), newLogin())
	root.AddCommand(newHashPassword(), newImport()) // issue #19: bring your users
	root.AddCommand(newConfigCmd())                 // issue 19: config check
	return root
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date and Go version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "portico", version.Get())
		},
	}
}

// storeFlags are the flags of commands that open the store directly.
type storeFlags struct {
	config  string
	dataDir string
}

func (f *storeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.config, "config", "", "config file whose storage section to use")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "./portico-data", "badger data directory, when no --config is given")
}

// open opens the store named by the flags. Badger allows one process per
// data directory: stop a running server first. With mustExist, a data
// directory that does not exist is an error rather than a new, empty store:
// listing, changing or rotating in a mistyped directory would otherwise
// "succeed" on nothing.
func (f *storeFlags) open(cmd *cobra.Command, mustExist bool) (store.Store, *config.Config, error) {
	var cfg *config.Config
	if f.config != "" {
		if cmd.Flags().Changed("data-dir") {
			return nil, nil, fmt.Errorf("give --config or --data-dir, not both (with --config the data directory is storage.dir)")
		}
		c, err := config.Load(f.config)
		if err != nil {
			return nil, nil, err
		}
		cfg = c
	} else {
		cfg = &config.Config{Storage: config.Storage{Type: "badger", Dir: f.dataDir}}
	}
	if mustExist && (cfg.Storage.Type == "" || cfg.Storage.Type == "badger") {
		if fi, err := os.Stat(cfg.Storage.Dir); err != nil || !fi.IsDir() {
			return nil, nil, fmt.Errorf("data directory %s does not exist (give --data-dir or --config)", cfg.Storage.Dir)
		}
	}
	st, err := server.OpenStore(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		if errors.Is(err, badger.ErrInUse) {
			return nil, nil, fmt.Errorf("%w: stop the server first, or give --server to go through its admin API", err)
		}
		return nil, nil, err
	}
	return st, cfg, nil
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.Level)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// signalContext is cancelled with parent (tests pass a context through
// ExecuteContext) or by SIGINT or SIGTERM. Once it is cancelled the signals
// get their default behaviour back, so a second Ctrl-C during a slow
// graceful shutdown ends the process.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	return ctx, stop
}
