package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/portico-idp/portico/broker"
	"github.com/portico-idp/portico/broker/config"
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
			if err := checkAccount(args[0], email, groups); err != nil {
				return err
			}
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			hash, err := local.Hash(pw, local.DefaultParams)
			if err != nil {
				return err
			}
			st, _, err := sf.open(cmd, false)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := context.Background()
			if err := accountTaken(ctx, st, args[0], email); err != nil {
				return err
			}
			acc := store.LocalAccount{ID: server.NewAccountID(), Username: args[0], Email: email, EmailVerified: email != "",
				Name: name, Groups: groups, PasswordHash: hash, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
			if err := st.CreateLocalAccount(ctx, acc); err != nil {
				if errors.Is(err, store.ErrAlreadyExists) {
					return fmt.Errorf("an account with username %q or email %q already exists", args[0], email)
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
			st, _, err := lf.open(cmd, true)
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
			st, _, err := df.open(cmd, true)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := context.Background()
			acc, err := st.GetLocalAccountByLogin(ctx, args[0])
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no account %q", args[0])
			} else if err != nil {
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
			st, _, err := pf.open(cmd, true)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := context.Background()
			acc, err := st.GetLocalAccountByLogin(ctx, args[0])
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no account %q", args[0])
			} else if err != nil {
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
			// As the server seeds a public client from the config file.
			c := store.Client{ID: args[0], Name: name, Public: public, RedirectURIs: redirects, GrantTypes: grants, Scopes: scopes,
				NoIntrospection: public}
			var secret string
			if !public {
				secret = broker.NewClientSecret()
				c.SecretHash = broker.HashClientSecret(secret)
			}
			if err := checkClient(c); err != nil {
				return err
			}
			st, _, err := sf.open(cmd, false)
			if err != nil {
				return err
			}
			defer st.Close()
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
			st, _, err := lf.open(cmd, true)
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
			st, _, err := df.open(cmd, true)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.DeleteClient(context.Background(), args[0]); errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no client %q", args[0])
			} else if err != nil {
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
			st, cfg, err := sf.open(cmd, true)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := context.Background()
			tc, err := tokenConfig(ctx, st, cfg, sf.config != "")
			if err != nil {
				return err
			}
			svc, err := tokensvc.New(ctx, st, tc)
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
	rotate.Long = "Make the published next signing keys active now and publish new next keys. The old\n" +
		"active keys stay published until tokens they signed expire. Give the server's --config so\n" +
		"that its signing algorithms, rotation period and token lifetimes apply; with --data-dir\n" +
		"alone the algorithms of the stored keys are kept, retired keys are left for the server to\n" +
		"drop, and the default rotation period dates the new next keys."
	cmd.AddCommand(rotate)
	return cmd
}

// checkAccount checks what users add is given, as the configuration file's
// users section is checked.
func checkAccount(username, email string, groups []string) error {
	if username == "" || strings.TrimSpace(username) != username {
		return fmt.Errorf("invalid username %q: empty or with leading or trailing spaces", username)
	}
	if email != "" {
		if a, err := mail.ParseAddress(email); err != nil || a.Address != email || a.Name != "" {
			return fmt.Errorf("--email %q is not a plain email address", email)
		}
	}
	for _, g := range groups {
		if strings.TrimSpace(g) == "" {
			return errors.New("--groups: a group name must not be empty")
		}
	}
	return nil
}

// accountTaken says which of username and email another account has.
func accountTaken(ctx context.Context, st store.Store, username, email string) error {
	if a, err := st.GetLocalAccountByLogin(ctx, username); err == nil && a.Username == username {
		return fmt.Errorf("an account with username %q already exists", username)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if email == "" {
		return nil
	}
	if a, err := st.GetLocalAccountByLogin(ctx, email); err == nil && strings.EqualFold(a.Email, email) {
		return fmt.Errorf("email %q already belongs to account %q", email, a.Username)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

var clientFieldRE = regexp.MustCompile(`^clients\[0\]\.([a-z_]+)(?:\[(\d+)\])?$`)

// checkClient applies the configuration file's rules for clients to c, so
// that a client added here is one the file would have accepted: no plain
// http redirect URI off loopback, no unknown grant type, no
// client_credentials for a public client. Problems are reported by flag.
func checkClient(c store.Client) error {
	if len(c.GrantTypes) == 0 {
		return errors.New("--grant-type: give at least one grant type")
	}
	cfg := config.Config{
		Issuer: "http://127.0.0.1", Listen: "127.0.0.1:1", Storage: config.Storage{Type: "badger", Dir: "unused"},
		Clients: []config.Client{{ID: c.ID, Name: c.Name, Public: c.Public, SecretHash: c.SecretHash,
			RedirectURIs: c.RedirectURIs, GrantTypes: c.GrantTypes, Scopes: c.Scopes}},
	}
	cfg.ApplyDefaults()
	err := cfg.Validate()
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	flags := map[string]string{"id": "client id", "redirect_uris": "--redirect-uri", "grant_types": "--grant-type", "scopes": "--scope"}
	var msgs []string
	for _, e := range errs {
		var fe *config.FieldError
		if !errors.As(e, &fe) {
			msgs = append(msgs, e.Error())
			continue
		}
		m := clientFieldRE.FindStringSubmatch(fe.Path)
		if m == nil || flags[m[1]] == "" {
			msgs = append(msgs, fe.Error())
			continue
		}
		where := flags[m[1]]
		if m[1] == "redirect_uris" && m[2] != "" {
			if i, err := strconv.Atoi(m[2]); err == nil && i < len(c.RedirectURIs) {
				where = fmt.Sprintf("%s %q", where, c.RedirectURIs[i])
			}
		}
		msgs = append(msgs, where+": "+fe.Message)
	}
	return fmt.Errorf("invalid client %q: %s", c.ID, strings.Join(msgs, "; "))
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
