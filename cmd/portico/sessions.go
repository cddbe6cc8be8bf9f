package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// apiUser is a canonical user as the API shows it.
type apiUser struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email"`
}

// findUser finds a canonical user by id, username or email.
func findUser(ctx context.Context, a *api, who string) (apiUser, error) {
	var u apiUser
	err := a.do(ctx, "GET", "/users/"+esc(who), nil, &u)
	if err == nil || !notFound(err) {
		return u, err
	}
	var r struct {
		Users []apiUser `json:"users"`
	}
	if err := a.do(ctx, "GET", "/users?limit=1000&q="+url.QueryEscape(who), nil, &r); err != nil {
		return apiUser{}, err
	}
	var found []apiUser
	for _, u := range r.Users {
		if u.Username == who || (u.Email != "" && strings.EqualFold(u.Email, who)) {
			found = append(found, u)
		}
	}
	switch len(found) {
	case 0:
		return apiUser{}, fmt.Errorf("no user %q (users appear after their first login)", who)
	case 1:
		return found[0], nil
	default:
		return apiUser{}, fmt.Errorf("%d users match %q; give the user id", len(found), who)
	}
}

func newSessions() *cobra.Command {
	cmd := &cobra.Command{Use: "sessions", Short: "List and end users' sessions"}
	var lf adminFlags
	var who string
	list := &cobra.Command{
		Use: "list --user USER", Short: "List a user's sessions", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAPI(cmd, &lf, true, func(ctx context.Context, a *api) error {
				u, err := findUser(ctx, a, who)
				if err != nil {
					return err
				}
				var r struct {
					Sessions []struct {
						ID        string    `json:"id"`
						ClientID  string    `json:"client_id"`
						CreatedAt time.Time `json:"created_at"`
						RotatedAt time.Time `json:"rotated_at"`
						Expiry    time.Time `json:"expiry"`
						Refresh   bool      `json:"refresh"`
						Revoked   bool      `json:"revoked"`
					} `json:"sessions"`
				}
				if err := a.do(ctx, "GET", "/users/"+esc(u.ID)+"/sessions", nil, &r); err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SESSION\tCLIENT\tSTARTED\tLAST USED\tEXPIRES\tREFRESH\tSTATE")
				for _, f := range r.Sessions {
					state := "active"
					if f.Revoked {
						state = "revoked"
					}
					refresh := "no"
					if f.Refresh {
						refresh = "yes"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, f.ClientID, f.CreatedAt.Format(time.RFC3339),
						f.RotatedAt.Format(time.RFC3339), f.Expiry.Format(time.RFC3339), refresh, state)
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&who, "user", "", "user id, username or email")
	list.MarkFlagRequired("user")
	lf.register(list)

	var rf adminFlags
	var rwho, session string
	revoke := &cobra.Command{
		Use: "revoke --user USER [--session ID]", Short: "End a user's sessions, or one of them", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAPI(cmd, &rf, true, func(ctx context.Context, a *api) error {
				u, err := findUser(ctx, a, rwho)
				if err != nil {
					return err
				}
				n := 1
				if session != "" {
					err := a.do(ctx, "DELETE", "/users/"+esc(u.ID)+"/sessions/"+esc(session), nil, nil)
					if notFound(err) {
						return fmt.Errorf("no live session %q for %s", session, rwho)
					} else if err != nil {
						return err
					}
				} else {
					var r struct {
						Revoked int `json:"revoked"`
					}
					if err := a.do(ctx, "DELETE", "/users/"+esc(u.ID)+"/sessions", nil, &r); err != nil {
						return err
					}
					n = r.Revoked
				}
				fmt.Fprintf(cmd.OutOrStdout(), "ended %d session(s) of %s\n", n, u.ID)
				return nil
			})
		},
	}
	revoke.Flags().StringVar(&rwho, "user", "", "user id, username or email")
	revoke.Flags().StringVar(&session, "session", "", "end only this session")
	revoke.MarkFlagRequired("user")
	rf.register(revoke)
	cmd.AddCommand(list, revoke)
	return cmd
}
