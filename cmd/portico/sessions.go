package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// findUser finds a canonical user by id, username or email.
func findUser(ctx context.Context, st store.Store, who string) (store.User, error) {
	if u, err := st.GetUser(ctx, who); err == nil {
		return u, nil
	}
	users, err := st.ListUsers(ctx)
	if err != nil {
		return store.User{}, err
	}
	var found []store.User
	for _, u := range users {
		if u.Username == who || (u.Email != "" && strings.EqualFold(u.Email, who)) {
			found = append(found, u)
		}
	}
	switch len(found) {
	case 0:
		return store.User{}, fmt.Errorf("no user %q (users appear after their first login)", who)
	case 1:
		return found[0], nil
	default:
		return store.User{}, fmt.Errorf("%d users match %q; give the user id", len(found), who)
	}
}

func newSessions() *cobra.Command {
	cmd := &cobra.Command{Use: "sessions", Short: "List and end users' sessions (stop the server first)"}
	var lf storeFlags
	var user string
	list := &cobra.Command{
		Use: "list --user USER", Short: "List a user's sessions", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, _, err := lf.open(cmd, true)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := context.Background()
			u, err := findUser(ctx, st, user)
			if err != nil {
				return err
			}
			fams, err := st.ListRefreshFamilies(ctx, u.ID)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SESSION\tCLIENT\tSTARTED\tLAST USED\tEXPIRES\tREFRESH\tSTATE")
			for _, f := range fams {
				state := "active"
				if f.Revoked {
					state = "revoked"
				}
				refresh := "no"
				if f.Current != "" {
					refresh = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, f.ClientID, f.CreatedAt.Format(time.RFC3339),
					f.RotatedAt.Format(time.RFC3339), f.Expiry.Format(time.RFC3339), refresh, state)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&user, "user", "", "user id, username or email")
	list.MarkFlagRequired("user")
	lf.register(list)

	var rf storeFlags
	var ruser, session string
	revoke := &cobra.Command{
		Use: "revoke --user USER [--session ID]", Short: "End a user's sessions, or one of them", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, cfg, err := rf.open(cmd, true)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := context.Background()
			u, err := findUser(ctx, st, ruser)
			if err != nil {
				return err
			}
			fams, err := st.ListRefreshFamilies(ctx, u.ID)
			if err != nil {
				return err
			}
			// The same key plan as the server's, so opening the token
			// service here retires no key the server still uses.
			tc, err := tokenConfig(ctx, st, cfg, rf.config != "")
			if err != nil {
				return err
			}
			svc, err := tokensvc.New(ctx, st, tc)
			if err != nil {
				return err
			}
			n := 0
			for _, f := range fams {
				if session != "" && f.ID != session || f.Revoked {
					continue
				}
				if err := svc.RevokeFamily(ctx, f.ID); err != nil {
					return err
				}
				n++
			}
			if session != "" && n == 0 {
				return fmt.Errorf("no live session %q for %s", session, ruser)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ended %d session(s) of %s\n", n, u.ID)
			return nil
		},
	}
	revoke.Flags().StringVar(&ruser, "user", "", "user id, username or email")
	revoke.Flags().StringVar(&session, "session", "", "end only this session")
	revoke.MarkFlagRequired("user")
	rf.register(revoke)
	cmd.AddCommand(list, revoke)
	return cmd
}
