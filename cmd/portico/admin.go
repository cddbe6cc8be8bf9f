package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/portico-idp/portico/broker"
	"github.com/portico-idp/portico/broker/server"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/connectors/local"
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

func newUsers() *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage local connector accounts (stop the server first)"}
	var sf storeFlags
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
			hash, err := local.Hash(pw, local.DefaultParams)
			if err != nil {
				return err
			}
			st, _, err := sf.open()
			if err != nil {
				return err
			}
			defer st.Close()
			acc := store.LocalAccount{ID: server.NewAccountID(), Username: args[0], Email: email, EmailVerified: email != "",
				Name: name, Groups: groups, PasswordHash: hash, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
			if err := st.CreateLocalAccount(context.Background(), acc); err != nil {
				if errors.Is(err, store.ErrAlreadyExists) {
					return fmt.Errorf("an account with username %q or email %q exists", args[0], email)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %s (%s)\n", acc.Username, acc.ID)
			return nil
		},
	}
	add.Flags().StringVar(&email, "email", "", "email address")
	add.Flags().StringVar(&name, "name", "", "display name")
	add.Flags().StringSliceVar(&groups, "groups", nil, "groups (comma-separated)")
	sf.register(add)

	var lf storeFlags
	list := &cobra.Command{
		Use: "list", Short: "List accounts", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, _, err := lf.open()
			if err != nil {
				return err
			}
			defer st.Close()
			accs, err := st.ListLocalAccounts(context.Background())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tEMAIL\tNAME\tGROUPS\tID")
			for _, a := range accs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Username, a.Email, a.Name, strings.Join(a.Groups, ","), a.ID)
			}
			return tw.Flush()
		},
	}
	lf.register(list)

	var df storeFlags
	del := &cobra.Command{
		Use: "delete USERNAME", Short: "Delete an account", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, _, err := df.open()
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := context.Background()
			acc, err := st.GetLocalAccountByLogin(ctx, args[0])
			if err != nil {
				return fmt.Errorf("account %q: %w", args[0], err)
			}
			if err := st.DeleteLocalAccount(ctx, acc.ID); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", acc.Username)
			return nil
		},
	}
	df.register(del)

	var pf storeFlags
	passwd := &cobra.Command{
		Use: "passwd USERNAME", Short: "Set an account's password (stdin or prompt)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			hash, err := local.Hash(pw, local.DefaultParams)
			if err != nil {
				return err
			}
			st, _, err := pf.open()
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := context.Background()
			acc, err := st.GetLocalAccountByLogin(ctx, args[0])
			if err != nil {
				return fmt.Errorf("account %q: %w", args[0], err)
			}
			acc.PasswordHash = hash
			if err := st.UpdateLocalAccount(ctx, acc); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password changed for %s\n", acc.Username)
			return nil
		},
	}
	pf.register(passwd)
	cmd.AddCommand(add, list, del, passwd)
	return cmd
}

func newClients() *cobra.Command {
	cmd := &cobra.Command{Use: "clients", Short: "Manage OAuth clients (stop the server first)"}
	var sf storeFlags
	var name string
	var public bool
	var redirects, grants, scopes []string
	add := &cobra.Command{
		Use: "add ID", Short: "Add a client; a confidential client's secret is printed once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, _, err := sf.open()
			if err != nil {
				return err
			}
			defer st.Close()
			c := store.Client{ID: args[0], Name: name, Public: public, RedirectURIs: redirects, GrantTypes: grants, Scopes: scopes}
			var secret string
			if !public {
				secret = broker.NewClientSecret()
				c.SecretHash = broker.HashClientSecret(secret)
			}
			if err := st.CreateClient(context.Background(), c); err != nil {
				if errors.Is(err, store.ErrAlreadyExists) {
					return fmt.Errorf("client %q exists", args[0])
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "client_id: %s\n", c.ID)
			if secret != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "client_secret: %s\n(shown once; only its hash is stored)\n", secret)
			}
			return nil
		},
	}
	add.Flags().StringVar(&name, "name", "", "display name")
	add.Flags().BoolVar(&public, "public", false, "a public client (SPA, native app): no secret, PKCE required")
	add.Flags().StringSliceVar(&redirects, "redirect-uri", nil, "registered redirect URI (repeatable)")
	add.Flags().StringSliceVar(&grants, "grant-type", []string{"authorization_code", "refresh_token"}, "allowed grant types")
	add.Flags().StringSliceVar(&scopes, "scope", nil, "scopes allowed with client_credentials")
	sf.register(add)

	var lf storeFlags
	list := &cobra.Command{
		Use: "list", Short: "List clients", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, _, err := lf.open()
			if err != nil {
				return err
			}
			defer st.Close()
			cs, err := st.ListClients(context.Background())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPUBLIC\tGRANTS\tREDIRECT URIS")
			for _, c := range cs {
				fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", c.ID, c.Public, strings.Join(c.GrantTypes, ","), strings.Join(c.RedirectURIs, " "))
			}
			return tw.Flush()
		},
	}
	lf.register(list)

	var df storeFlags
	del := &cobra.Command{
		Use: "delete ID", Short: "Delete a client", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, _, err := df.open()
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.DeleteClient(context.Background(), args[0]); err != nil {
				return fmt.Errorf("client %q: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", args[0])
			return nil
		},
	}
	df.register(del)
	cmd.AddCommand(add, list, del)
	return cmd
}

func newKeys() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage signing keys (stop the server first)"}
	var sf storeFlags
	rotate := &cobra.Command{
		Use: "rotate", Short: "Make the next signing key active now", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, cfg, err := sf.open()
			if err != nil {
				return err
			}
			defer st.Close()
			issuer := cfg.Issuer
			if issuer == "" {
				issuer = "http://unused" // keys do not depend on the issuer
			}
			cfg.ApplyDefaults()
			ctx := context.Background()
			svc, err := tokensvc.New(ctx, st, tokensvc.Config{Issuer: issuer, SigningAlg: cfg.Tokens.SigningAlg,
				AccessTokenTTL: cfg.Tokens.AccessTokenTTL.Std(), IDTokenTTL: cfg.Tokens.IDTokenTTL.Std(), KeyRotation: cfg.Tokens.KeyRotation.Std()})
			if err != nil {
				return err
			}
			if err := svc.RotateKeys(ctx); err != nil {
				return err
			}
			ks, err := st.GetKeys(ctx)
			if err != nil {
				return err
			}
			for _, k := range ks.Keys {
				state := "next"
				switch {
				case !k.RetiredAt.IsZero():
					state = "retired"
				case !k.ActiveFrom.After(time.Now()):
					state = "active"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%s\n", k.ID, k.Alg, state)
			}
			return nil
		},
	}
	sf.register(rotate)
	cmd.AddCommand(rotate)
	return cmd
}
