package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/server"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// readPassword reads a password from the terminal without echo, or the
// first line of stdin when it is not a terminal. Never from argv, where
// other users of the machine and shell history would see it.
func readPassword(cmd *cobra.Command) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", err
		}
		fmt.Fprint(cmd.ErrOrStderr(), "Again: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", err
		}
		if string(p1) != string(p2) {
			return "", errors.New("passwords differ")
		}
		return string(p1), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	p := strings.TrimRight(line, "\r\n")
	if p == "" {
		return "", errors.New("empty password on stdin")
	}
	return p, nil
}

// account is a local account as the API shows it.
type account struct {
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	Groups   []string `json:"groups"`
}

// findAccount finds an account by username or email.
func findAccount(ctx context.Context, a *api, login string) (account, error) {
	var r struct {
		Accounts []account `json:"accounts"`
	}
	if err := a.do(ctx, "GET", "/accounts?login="+url.QueryEscape(login), nil, &r); err != nil {
		return account{}, err
	}
	if len(r.Accounts) == 0 {
		return account{}, fmt.Errorf("no account %q", login)
	}
	return r.Accounts[0], nil
}

// withAPI runs fn with the API the flags name and closes it after.
func withAPI(cmd *cobra.Command, f *adminFlags, mustExist bool, fn func(ctx context.Context, a *api) error) error {
	a, err := f.connect(cmd, mustExist)
	if err != nil {
		return err
	}
	err = fn(context.Background(), a)
	if cerr := a.close(); err == nil {
		err = cerr
	}
	return err
}

func newUsers() *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage local connector accounts"}
	var af adminFlags
	var email, name string
	var groups []string
	add := &cobra.Command{
		Use:   "add USERNAME",
		Short: "Add an account; the password is read from stdin or prompted",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			return withAPI(cmd, &af, false, func(ctx context.Context, a *api) error {
				var acc account
				in := map[string]any{"username": args[0], "email": email, "name": name, "groups": groups, "password": pw}
				if err := a.do(ctx, "POST", "/accounts", in, &acc); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added %s (%s)\n", acc.Username, acc.ID)
				return nil
			})
		},
	}
	add.Flags().StringVar(&email, "email", "", "email address")
	add.Flags().StringVar(&name, "name", "", "display name")
	add.Flags().StringSliceVar(&groups, "groups", nil, "groups (comma-separated)")
	af.register(add)

	var lf adminFlags
	list := &cobra.Command{
		Use: "list", Short: "List accounts", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAPI(cmd, &lf, true, func(ctx context.Context, a *api) error {
				var r struct {
					Accounts []account `json:"accounts"`
				}
				if err := a.do(ctx, "GET", "/accounts", nil, &r); err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "USERNAME\tEMAIL\tNAME\tGROUPS\tID")
				for _, a := range r.Accounts {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Username, a.Email, a.Name, strings.Join(a.Groups, ","), a.ID)
				}
				return tw.Flush()
			})
		},
	}
	lf.register(list)

	var df adminFlags
	del := &cobra.Command{
		Use: "delete USERNAME", Short: "Delete an account", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAPI(cmd, &df, true, func(ctx context.Context, a *api) error {
				acc, err := findAccount(ctx, a, args[0])
				if err != nil {
					return err
				}
				if err := a.do(ctx, "DELETE", "/accounts/"+esc(acc.ID), nil, nil); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", acc.Username)
				return nil
			})
		},
	}
	df.register(del)

	var pf adminFlags
	passwd := &cobra.Command{
		Use: "passwd USERNAME", Short: "Set an account's password (stdin or prompt)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			return withAPI(cmd, &pf, true, func(ctx context.Context, a *api) error {
				acc, err := findAccount(ctx, a, args[0])
				if err != nil {
					return err
				}
				if err := a.do(ctx, "PUT", "/accounts/"+esc(acc.ID)+"/password", map[string]string{"password": pw}, nil); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "password changed for %s\n", acc.Username)
				return nil
			})
		},
	}
	pf.register(passwd)
	cmd.AddCommand(add, list, del, passwd)
	return cmd
}

func newClients() *cobra.Command {
	cmd := &cobra.Command{Use: "clients", Short: "Manage OAuth clients"}
	var af adminFlags
	var name string
	var public bool
	var redirects, grants, scopes []string
	add := &cobra.Command{
		Use: "add ID", Short: "Add a client; a confidential client's secret is printed once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAPI(cmd, &af, false, func(ctx context.Context, a *api) error {
				in := map[string]any{"id": args[0], "name": name, "public": public, "redirect_uris": redirects,
					"grant_types": grants, "scopes": scopes}
				var r struct {
					ID     string `json:"id"`
					Secret string `json:"client_secret"`
				}
				if err := a.do(ctx, "POST", "/clients", in, &r); err != nil {
					return fmt.Errorf("client %q: %w", args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "client_id: %s\n", r.ID)
				if r.Secret != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "client_secret: %s\n(shown once; only its hash is stored)\n", r.Secret)
				}
				return nil
			})
		},
	}
	add.Flags().StringVar(&name, "name", "", "display name")
	add.Flags().BoolVar(&public, "public", false, "a public client (SPA, native app): no secret, PKCE required")
	add.Flags().StringSliceVar(&redirects, "redirect-uri", nil, "registered redirect URI (repeatable)")
	add.Flags().StringSliceVar(&grants, "grant-type", []string{"authorization_code", "refresh_token"}, "allowed grant types")
	add.Flags().StringSliceVar(&scopes, "scope", nil, "scopes allowed with client_credentials")
	af.register(add)

	var lf adminFlags
	list := &cobra.Command{
		Use: "list", Short: "List clients", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAPI(cmd, &lf, true, func(ctx context.Context, a *api) error {
				var r struct {
					Clients []struct {
						ID           string   `json:"id"`
						Public       bool     `json:"public"`
						GrantTypes   []string `json:"grant_types"`
						RedirectURIs []string `json:"redirect_uris"`
					} `json:"clients"`
				}
				if err := a.do(ctx, "GET", "/clients", nil, &r); err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tPUBLIC\tGRANTS\tREDIRECT URIS")
				for _, c := range r.Clients {
					fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", c.ID, c.Public, strings.Join(c.GrantTypes, ","), strings.Join(c.RedirectURIs, " "))
				}
				return tw.Flush()
			})
		},
	}
	lf.register(list)

	var df adminFlags
	del := &cobra.Command{
		Use: "delete ID", Short: "Delete a client", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAPI(cmd, &df, true, func(ctx context.Context, a *api) error {
				if err := a.do(ctx, "DELETE", "/clients/"+esc(args[0]), nil, nil); notFound(err) {
					return fmt.Errorf("no client %q", args[0])
				} else if err != nil {
					return fmt.Errorf("client %q: %w", args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", args[0])
				return nil
			})
		},
	}
	df.register(del)
	cmd.AddCommand(add, list, del)
	return cmd
}

func newKeys() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage signing keys"}
	var af adminFlags
	rotate := &cobra.Command{
		Use: "rotate", Short: "Make the next signing key active now", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAPI(cmd, &af, true, func(ctx context.Context, a *api) error {
				var r struct {
					Keys []struct {
						ID    string `json:"id"`
						Alg   string `json:"alg"`
						State string `json:"state"`
					} `json:"keys"`
				}
				if err := a.do(ctx, "POST", "/keys/rotate", nil, &r); err != nil {
					return err
				}
				// A header, as the list commands print (issue 19).
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KID\tALG\tSTATE")
				for _, k := range r.Keys {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", k.ID, k.Alg, k.State)
				}
				return tw.Flush()
			})
		},
	}
	af.register(rotate)
	rotate.Long = "Make the published next signing keys active now and publish new next keys. The old\n" +
		"active keys stay published until tokens they signed expire. Without --server, give the\n" +
		"server's --config so that its signing algorithms, rotation period and token lifetimes apply;\n" +
		"with --data-dir alone the algorithms of the stored keys are kept, retired keys are left for\n" +
		"the server to drop, and the default rotation period dates the new next keys."
	cmd.AddCommand(rotate)
	return cmd
}

// tokenConfig is the token service configuration a command that touches
// keys must use: the one the server builds from the same file (see
// server.open), since creating a tokensvc.Service brings the stored keys in
// line with it, retiring the keys of every algorithm it is not given.
// Without a config file (fromFile false) it keeps the algorithms that have
// live keys, and keeps retired keys, whose tokens it cannot know the
// lifetime of, for the server to drop.
func tokenConfig(ctx context.Context, st store.Store, cfg *config.Config, fromFile bool) (tokensvc.Config, error) {
	issuer := cfg.Issuer
	if issuer == "" {
		issuer = "http://unused" // keys do not depend on the issuer
	}
	if !fromFile {
		ks, err := st.GetKeys(ctx)
		if err != nil {
			return tokensvc.Config{}, err
		}
		// The server's default algorithm is planned, so stored, first.
		var algs []string
		for _, k := range ks.Keys {
			if k.RetiredAt.IsZero() && !slices.Contains(algs, k.Alg) {
				algs = append(algs, k.Alg)
			}
		}
		if len(algs) > 0 {
			cfg.Tokens.SigningAlg = algs[0]
		}
		cfg.ApplyDefaults()
		t := cfg.Tokens
		return tokensvc.Config{Issuer: issuer, SigningAlg: t.SigningAlg, ExtraAlgs: slices.Clip(algs[min(1, len(algs)):]),
			AccessTokenTTL: t.AccessTokenTTL.Std(), IDTokenTTL: t.IDTokenTTL.Std(), KeyRotation: t.KeyRotation.Std(),
			MaxTokenTTL: keepRetiredKeys}, nil
	}
	cfg.ApplyDefaults()
	tc := server.TokenConfig(cfg)
	tc.Issuer = issuer
	return tc, nil
}

// keepRetiredKeys stands in for the token lifetime when it is unknown: long
// enough that no retired key is dropped.
const keepRetiredKeys = 10 * 365 * 24 * time.Hour
