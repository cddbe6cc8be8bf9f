package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/server"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/internal/version"
)

// The dev server's demo accounts. They are fixed so the README's tour can
// name them; --dev is for a laptop, never for a deployment.
const (
	devUser     = "demo"
	devEmail    = "demo@example.com"
	devPassword = "demo-password"
	devClient   = "demo-app"
	devSecret   = "demo-secret"
	devSPA      = "demo-spa"
	devRedirect = "http://127.0.0.1:5555/callback"
)

func newServe() *cobra.Command {
	var (
		cfgPath string
		dev     bool
		dataDir string
		listen  string
		issuer  string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the OpenID Connect provider",
		Long: "Run Portico with --config FILE, or with --dev for a local demo: a Badger store under\n" +
			"./portico-data, the local connector, a demo user and demo clients, printed at start.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg *config.Config
			switch {
			case dev && cfgPath != "":
				return fmt.Errorf("use --config or --dev, not both")
			case dev:
				c, err := devConfig(dataDir, listen, issuer)
				if err != nil {
					return err
				}
				cfg = c
			case cfgPath != "":
				// --data-dir and --listen have defaults, so ignoring them
				// silently would serve somewhere the operator did not ask for.
				for _, f := range []string{"data-dir", "listen"} {
					if cmd.Flags().Changed(f) {
						return fmt.Errorf("--%s applies to --dev only; with --config set storage.dir and listen in the file", f)
					}
				}
				c, err := config.LoadWith(cfgPath, func(c *config.Config) {
					if issuer != "" { // --issuer wins over the file's issuer
						c.Issuer = issuer
					}
				})
				if err != nil {
					return err
				}
				cfg = c
			default:
				return fmt.Errorf("give --config FILE, or --dev for a local demo")
			}
			log := newLogger(cmd.ErrOrStderr(), cfg.Log)
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			srv, err := server.Open(ctx, cfg, log)
			if err != nil {
				return err
			}
			l, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				srv.Close()
				return fmt.Errorf("listen %s: %w", cfg.Listen, err)
			}
			if dev {
				printDevBanner(cmd.OutOrStdout(), cfg)
			}
			log.Info("portico serving", "issuer", cfg.Issuer, "listen", l.Addr().String(), "version", version.Get().Version, "commit", version.Get().Commit)
			err = srv.Serve(ctx, l)
			// Closing flushes the store: a failure there may have lost writes.
			if cerr := srv.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				log.Info("portico stopped")
			}
			return err
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "configuration file (YAML, see docs/configuration.md)")
	cmd.Flags().BoolVar(&dev, "dev", false, "run a local demo with a demo user and clients (never in production)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "./portico-data", "with --dev: badger data directory")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:5556", "with --dev: address to listen on")
	cmd.Flags().StringVar(&issuer, "issuer", "", "the issuer URL, as clients reach Portico (https, or http on a loopback host);\n"+
		"overrides the file's issuer; with --dev the default is http:// and --listen (localhost when it listens on all addresses)")
	return cmd
}

func devConfig(dataDir, listen, issuer string) (*config.Config, error) {
	hash, err := local.Hash(devPassword, local.DefaultParams)
	if err != nil {
		return nil, err
	}
	if issuer == "" {
		issuer = devIssuer(listen)
	}
	cfg := &config.Config{
		Issuer:     issuer,
		Listen:     listen,
		Storage:    config.Storage{Type: "badger", Dir: dataDir},
		Connectors: []config.Connector{{ID: "local", Type: "local", Name: "Email"}},
		Clients: []config.Client{
			{ID: devClient, Name: "Demo App", Secret: devSecret, RedirectURIs: []string{devRedirect},
				GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}},
			{ID: devSPA, Name: "Demo SPA", Public: true, RedirectURIs: []string{devRedirect},
				GrantTypes: []string{"authorization_code", "refresh_token"}},
		},
		Users: []config.User{{Username: devUser, Email: devEmail, Name: "Demo User", Groups: []string{"demo"}, PasswordHash: hash}},
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func printDevBanner(w io.Writer, cfg *config.Config) {
	var b [32]byte
	rand.Read(b[:])
	verifier := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {devClient}, "redirect_uri": {devRedirect}, "response_type": {"code"},
		"scope": {"openid profile email groups offline_access"}, "state": {"demo-state"}, "nonce": {"demo-nonce"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	fmt.Fprintf(w, `
Portico dev server — NOT for production
  issuer     %[1]s
  discovery  %[1]s/.well-known/openid-configuration
  user       %[2]s (or %[3]s) / password %[4]s
  client     %[5]s / secret %[6]s   (public client: %[7]s)
  data       %[8]s

Log in: open this URL, then copy the code from the address bar of the redirect:
  %[1]s/authorize?%[9]s

Exchange the code:
  curl -s -u %[5]s:%[6]s %[1]s/token -d grant_type=authorization_code \
    -d redirect_uri=%[10]s -d code_verifier=%[11]s -d code=PASTE_CODE

`, cfg.Issuer, devUser, devEmail, devPassword, devClient, devSecret, devSPA, cfg.Storage.Dir,
		q.Encode(), devRedirect, verifier)
}

// devIssuer is --dev's issuer for an address to listen on: http:// and the
// address, but localhost for all addresses (0.0.0.0:5556, [::]:5556 in a
// container whose port is published), which a browser cannot reach.
func devIssuer(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen // Validate says what is wrong
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
