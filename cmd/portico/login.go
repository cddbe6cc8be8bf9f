package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// `portico login` gets a person's token for the admin commands through
// the device authorization grant (RFC 8628): it prints a URL and a code,
// the person opens the URL in any browser, logs in and approves, and the
// command, polling meanwhile, saves the token for the admin commands'
// --server calls.

const (
	defaultCLIClient = "portico-cli"
	envTokenFile     = "PORTICO_TOKEN_FILE"
	deviceGrantType  = "urn:ietf:params:oauth:grant-type:device_code"
	// maxAnswerBytes bounds what the command reads of a server's answer.
	maxAnswerBytes = 1 << 20
)

// savedToken is the token file: the token and the server it is for.
type savedToken struct {
	Server       string    `json:"server"`
	ClientID     string    `json:"client_id"`
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Scope        string    `json:"scope,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

// loginWait waits d or until ctx ends; tests replace it to move a
// broker's clock instead of sleeping.
var loginWait = func(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// tokenFile is where the token is kept: --token-file, $PORTICO_TOKEN_FILE,
// or portico/token.json in the user's configuration directory
// ($XDG_CONFIG_HOME, else ~/.config, on Linux).
func tokenFile(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p := os.Getenv(envTokenFile); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no place for the token file (give --token-file): %w", err)
	}
	return filepath.Join(dir, "portico", "token.json"), nil
}

func newLogin() *cobra.Command {
	var server, clientID, scope, file string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to a running server for the admin commands (device authorization)",
		Long: "Log in to a running server: open the URL shown in any browser, log in there, check the code and approve.\n" +
			"The token is saved (mode 0600) for the admin commands given --server, which use it when neither\n" +
			"$" + envAdminToken + " nor an admin client's credentials are set.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server == "" {
				return fmt.Errorf("--server is required ($%s)", envServer)
			}
			path, err := tokenFile(file)
			if err != nil {
				return err
			}
			tok, err := deviceLogin(cmd.Context(), cmd.ErrOrStderr(), server, clientID, scope)
			if err != nil {
				return err
			}
			if err := saveToken(path, tok); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "logged in to %s; token saved in %s\n", tok.Server, path)
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", os.Getenv(envServer), "issuer URL of the server ($"+envServer+")")
	cmd.Flags().StringVar(&clientID, "client-id", defaultCLIClient, "public client allowed the device grant")
	cmd.Flags().StringVar(&scope, "scope", "openid admin", "scopes to ask for")
	cmd.Flags().StringVar(&file, "token-file", "", "where to save the token ($"+envTokenFile+"; default portico/token.json in the user's config directory)")
	return cmd
}

// oauthError is an RFC 6749 §5.2 error answer.
type oauthError struct {
	Code string `json:"error"`
	Desc string `json:"error_description"`
}

func (e *oauthError) Error() string {
	if e.Desc != "" {
		return e.Code + ": " + e.Desc
	}
	return e.Code
}

// postForm posts form to u and decodes a 200 answer into out; any other
// answer is an *oauthError (or a plain error when it is not one).
func postForm(ctx context.Context, u string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		e := &oauthError{}
		if json.Unmarshal(raw, e) != nil || e.Code == "" {
			return fmt.Errorf("%s answered HTTP %d", u, resp.StatusCode)
		}
		return e
	}
	return json.Unmarshal(raw, out)
}

// deviceLogin runs the device grant against server and returns the token.
func deviceLogin(ctx context.Context, msgs io.Writer, server, clientID, scope string) (savedToken, error) {
	base, err := url.Parse(strings.TrimSuffix(server, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return savedToken{}, fmt.Errorf("--server %q is not an http(s) URL", server)
	}
	var disc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
		DeviceAuth    string `json:"device_authorization_endpoint"`
	}
	if err := fetchJSON(ctx, http.DefaultClient, base.String()+"/.well-known/openid-configuration", &disc); err != nil {
		return savedToken{}, fmt.Errorf("discovery at %s: %w", base, err)
	}
	if disc.DeviceAuth == "" || disc.TokenEndpoint == "" {
		return savedToken{}, fmt.Errorf("%s does not offer the device authorization grant", base)
	}
	var da struct {
		DeviceCode  string `json:"device_code"`
		UserCode    string `json:"user_code"`
		URI         string `json:"verification_uri"`
		URIComplete string `json:"verification_uri_complete"`
		ExpiresIn   int    `json:"expires_in"`
		Interval    int    `json:"interval"`
	}
	if err := postForm(ctx, disc.DeviceAuth, url.Values{"client_id": {clientID}, "scope": {scope}}, &da); err != nil {
		return savedToken{}, fmt.Errorf("device authorization: %w", err)
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.URI == "" {
		return savedToken{}, errors.New("device authorization: the answer lacks a code or the verification URI")
	}
	fmt.Fprintf(msgs, "To log in, open %s in a browser and enter the code\n\n    %s\n\n", da.URI, da.UserCode)
	if da.URIComplete != "" {
		fmt.Fprintf(msgs, "or open %s\n", da.URIComplete)
	}
	fmt.Fprintln(msgs, "Waiting for you to approve…")
	// RFC 8628 §3.2: 5 seconds when the server names no interval.
	interval := time.Duration(max(da.Interval, 1)) * time.Second
	if da.Interval == 0 {
		interval = 5 * time.Second
	}
	expires := time.Duration(max(da.ExpiresIn, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, expires)
	defer cancel()
	form := url.Values{"grant_type": {deviceGrantType}, "device_code": {da.DeviceCode}, "client_id": {clientID}}
	for {
		if err := loginWait(ctx, interval); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return savedToken{}, errors.New("the code expired before it was approved; run portico login again")
			}
			return savedToken{}, err
		}
		var t struct {
			AccessToken  string `json:"access_token"`
			TokenType    string `json:"token_type"`
			RefreshToken string `json:"refresh_token"`
			ExpiresIn    int    `json:"expires_in"`
			Scope        string `json:"scope"`
		}
		err := postForm(ctx, disc.TokenEndpoint, form, &t)
		var oe *oauthError
		switch {
		case err == nil:
			if t.AccessToken == "" {
				return savedToken{}, errors.New("the token endpoint answered without an access token")
			}
			s := savedToken{Server: base.String(), ClientID: clientID, AccessToken: t.AccessToken, TokenType: t.TokenType,
				RefreshToken: t.RefreshToken, Scope: t.Scope}
			if t.ExpiresIn > 0 {
				s.Expiry = time.Now().Add(time.Duration(t.ExpiresIn) * time.Second).UTC()
			}
			return s, nil
		case errors.As(err, &oe) && oe.Code == "authorization_pending":
		case errors.As(err, &oe) && oe.Code == "slow_down":
			interval += 5 * time.Second // RFC 8628 §3.5, for this and every later poll
		case errors.As(err, &oe) && oe.Code == "access_denied":
			return savedToken{}, errors.New("the request was denied in the browser")
		case errors.As(err, &oe) && oe.Code == "expired_token":
			return savedToken{}, errors.New("the code expired before it was approved; run portico login again")
		default:
			return savedToken{}, fmt.Errorf("token: %w", err)
		}
	}
}

// saveToken writes tok to path, readable by its owner only, replacing the
// file whole so that a reader never sees half of it.
func saveToken(path string, tok savedToken) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(tok, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".token-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(raw, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// loadToken reads the token saved for server, or says why there is none
// to use.
func loadToken(server string) (savedToken, error) {
	path, err := tokenFile("")
	if err != nil {
		return savedToken{}, err
	}
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return savedToken{}, os.ErrNotExist
	} else if err != nil {
		return savedToken{}, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return savedToken{}, fmt.Errorf("token file %s is readable by others (mode %v): remove it and log in again", path, fi.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return savedToken{}, err
	}
	var tok savedToken
	if err := json.Unmarshal(raw, &tok); err != nil || tok.AccessToken == "" {
		return savedToken{}, fmt.Errorf("token file %s is not one portico login wrote", path)
	}
	if strings.TrimSuffix(tok.Server, "/") != strings.TrimSuffix(server, "/") {
		return savedToken{}, fmt.Errorf("the saved token is for %s, not %s: run portico login --server %s", tok.Server, server, server)
	}
	if !tok.Expiry.IsZero() && time.Now().After(tok.Expiry) {
		return savedToken{}, fmt.Errorf("the saved token expired at %s: run portico login --server %s", tok.Expiry.Format(time.RFC3339), server)
	}
	return tok, nil
}
