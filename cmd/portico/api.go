package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/user"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/portico-idp/portico/broker/server"
)

// The admin commands are clients of the admin API, so that a change made
// from the command line goes through the same checks and lands in the same
// audit trail as one made over HTTP. With --server they call a running
// server; without it they open the store themselves (the server must be
// stopped) and call the same handlers in process.

// Environment variables of the admin commands. The client secret and the
// token are read from the environment only: argv is visible to every user
// of the machine.
const (
	envServer       = "PORTICO_SERVER"
	envClientID     = "PORTICO_CLIENT_ID"
	envClientSecret = "PORTICO_CLIENT_SECRET"
	envAdminToken   = "PORTICO_ADMIN_TOKEN"
)

// adminFlags say how a command reaches the admin API.
type adminFlags struct {
	storeFlags
	server   string
	clientID string
}

func (f *adminFlags) register(cmd *cobra.Command) {
	f.storeFlags.register(cmd)
	cmd.Flags().StringVar(&f.server, "server", os.Getenv(envServer),
		"issuer URL of a running server to call ($"+envServer+"); without it the store is opened directly")
	cmd.Flags().StringVar(&f.clientID, "client-id", os.Getenv(envClientID),
		"admin client for --server ($"+envClientID+"; secret in $"+envClientSecret+"), or give a token in $"+envAdminToken)
}

// api calls the admin API.
type api struct {
	base  string // the API's URL, ending in /admin/v1
	hc    *http.Client
	close func() error
}

// apiError is an error answer of the API.
type apiError struct {
	Status int
	Code   string `json:"error"`
	Desc   string `json:"error_description"`
}

func (e *apiError) Error() string {
	if e.Desc != "" {
		return e.Desc
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
}

// notFound reports whether err is the API's 404.
func notFound(err error) bool {
	var e *apiError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// connect opens the way to the API that the flags name. mustExist is
// storeFlags.open's: refuse a data directory that does not exist.
func (f *adminFlags) connect(cmd *cobra.Command, mustExist bool) (*api, error) {
	if f.server != "" {
		if cmd.Flags().Changed("config") || cmd.Flags().Changed("data-dir") {
			return nil, errors.New("give --server or --config/--data-dir, not both")
		}
		return f.remote(cmd.Context())
	}
	st, cfg, err := f.open(cmd, mustExist)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	tc, err := tokenConfig(ctx, st, cfg, f.config != "")
	if err != nil {
		st.Close()
		return nil, err
	}
	b, err := server.OpenAdmin(ctx, cfg, st, tc, slog.New(slog.DiscardHandler))
	if err != nil {
		st.Close()
		return nil, err
	}
	h := b.AdminHandler(cliActor())
	return &api{
		base: "http://portico.invalid/admin/v1",
		hc:   &http.Client{Transport: handlerTransport{h}},
		close: func() error {
			b.Close() // flushes the audit events
			return st.Close()
		},
	}, nil
}

// remote reaches a running server with a bearer token: the one in the
// environment, or a client_credentials token of the admin client.
func (f *adminFlags) remote(ctx context.Context) (*api, error) {
	base, err := url.Parse(strings.TrimSuffix(f.server, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("--server %q is not an http(s) URL", f.server)
	}
	a := &api{base: base.String() + "/admin/v1", close: func() error { return nil }}
	if tok := os.Getenv(envAdminToken); tok != "" {
		a.hc = oauth2.NewClient(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}))
		return a, nil
	}
	secret := os.Getenv(envClientSecret)
	if f.clientID == "" || secret == "" {
		// The person's token from `portico login` (login.go), if any.
		switch tok, err := loadToken(base.String()); {
		case err == nil:
			a.hc = oauth2.NewClient(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok.AccessToken}))
			return a, nil
		case !errors.Is(err, os.ErrNotExist):
			return nil, err
		}
		return nil, fmt.Errorf("--server needs credentials: portico login, $%s, or --client-id with $%s", envAdminToken, envClientSecret)
	}
	var disc struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := fetchJSON(ctx, http.DefaultClient, base.String()+"/.well-known/openid-configuration", &disc); err != nil {
		return nil, fmt.Errorf("discovery at %s: %w", base, err)
	}
	cc := clientcredentials.Config{ClientID: f.clientID, ClientSecret: secret, TokenURL: disc.TokenEndpoint,
		Scopes: []string{"admin"}, AuthStyle: oauth2.AuthStyleInHeader}
	a.hc = cc.Client(ctx)
	return a, nil
}

func fetchJSON(ctx context.Context, hc *http.Client, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// do calls method path with in as the JSON body (when not nil) and decodes
// the answer into out (when not nil). An error answer is an *apiError.
func (a *api) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		e := &apiError{Status: resp.StatusCode}
		json.Unmarshal(raw, e) // a body that is not the API's error leaves the status
		return e
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// handlerTransport serves requests with an in-process handler.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// cliActor names who made a change from the command line, for the audit
// trail: the operating system user on this host.
func cliActor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return "cli:" + name + "@" + host
}

// esc escapes one path segment.
func esc(s string) string { return url.PathEscape(s) }
