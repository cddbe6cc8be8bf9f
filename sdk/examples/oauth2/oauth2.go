// Command oauth2 is an example Portico connector plugin: a callback
// connector that federates to a generic OAuth 2.0 server with the
// authorization code flow and PKCE, then asks a userinfo URL who the person
// is. Its config block:
//
//	{"authorization_url": "https://auth.example.com/oauth/authorize",
//	 "token_url": "https://auth.example.com/oauth/token",
//	 "userinfo_url": "https://auth.example.com/api/me",
//	 "client_id": "portico", "client_secret": "...",
//	 "scopes": ["openid", "profile", "email"], "timeout": "10s"}
//
// The userinfo answer is read as OpenID Connect claims: sub (required),
// preferred_username, email, email_verified, name and groups. It keeps no
// upstream token, so it implements no Refresh: Portico's tokens carry
// what the login returned.
//
// Every HTTP request goes through the client of sdk/upstream.NewClient:
// built for GOOS=wasip1 that client reaches the network through the
// broker's host functions, so this logic runs unchanged as a WASM module
// (main.go, the go-plugin main, is for native builds only).
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
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
)

type config struct {
	AuthorizationURL string            `json:"authorization_url"`
	TokenURL         string            `json:"token_url"`
	UserinfoURL      string            `json:"userinfo_url"`
	ClientID         string            `json:"client_id"`
	ClientSecret     string            `json:"client_secret"`
	Scopes           []string          `json:"scopes,omitempty"`
	Timeout          upstream.Duration `json:"timeout,omitempty"`
}

// connector implements sdk.CallbackConnector.
type connector struct {
	oauth    oauth2.Config
	userinfo string
	http     *http.Client
	log      *slog.Logger
}

// newConnector is the plugin factory.
func newConnector(_ context.Context, raw json.RawMessage, log *slog.Logger) (any, error) {
	var cfg config
	if err := upstream.DecodeStrict("oauth2: config", raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = upstream.Duration(upstream.DefaultTimeout)
	}
	var errs []string
	bad := func(field, format string, args ...any) {
		errs = append(errs, "oauth2: config."+field+": "+fmt.Sprintf(format, args...))
	}
	upstream.CheckURL(bad, "authorization_url", cfg.AuthorizationURL)
	upstream.CheckURL(bad, "token_url", cfg.TokenURL)
	upstream.CheckURL(bad, "userinfo_url", cfg.UserinfoURL)
	upstream.CheckTimeout(bad, "timeout", cfg.Timeout)
	if cfg.ClientID == "" {
		bad("client_id", "required")
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return &connector{
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Scopes: cfg.Scopes,
			Endpoint: oauth2.Endpoint{AuthURL: cfg.AuthorizationURL, TokenURL: cfg.TokenURL}},
		userinfo: cfg.UserinfoURL,
		http:     upstream.NewClient(time.Duration(cfg.Timeout)),
		log:      log,
	}, nil
}

// LoginURL sends the browser to the authorization endpoint. The PKCE
// verifier travels in Redirect.Data: the broker keeps it with the pending
// login and hands it back at the callback.
func (c *connector) LoginURL(_ context.Context, _ sdk.Scopes, callbackURL, state string) (sdk.Redirect, error) {
	o := c.oauth
	o.RedirectURL = callbackURL
	verifier := oauth2.GenerateVerifier()
	return sdk.Redirect{URL: o.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), Data: []byte(verifier)}, nil
}

// HandleCallback redeems the code and reads the userinfo.
func (c *connector) HandleCallback(ctx context.Context, _ sdk.Scopes, req sdk.CallbackRequest) (sdk.Identity, error) {
	if e := first(req.Query["error"]); e != "" {
		return sdk.Identity{}, fmt.Errorf("%w: the server answered %s", sdk.ErrInvalidCredentials, upstream.Printable(e, 100))
	}
	code := first(req.Query["code"])
	if code == "" || len(req.Data) == 0 {
		return sdk.Identity{}, fmt.Errorf("%w: no code, or no login pending", sdk.ErrInvalidCredentials)
	}
	o := c.oauth
	o.RedirectURL = req.URL
	tok, err := o.Exchange(upstream.WithClient(ctx, c.http), code, oauth2.VerifierOption(string(req.Data)))
	if err != nil {
		if upstream.Unavailable(err) {
			return sdk.Identity{}, fmt.Errorf("%w: oauth2: token endpoint: %w", sdk.ErrUnavailable, err)
		}
		return sdk.Identity{}, fmt.Errorf("%w: oauth2: the code was refused (%s)", sdk.ErrInvalidCredentials, upstream.OAuthErrorCode(err))
	}
	return c.fetchUser(ctx, tok.AccessToken)
}

// claims are what the userinfo URL answers.
type claims struct {
	Sub               string   `json:"sub"`
	PreferredUsername string   `json:"preferred_username"`
	Email             string   `json:"email"`
	EmailVerified     bool     `json:"email_verified"`
	Name              string   `json:"name"`
	Groups            []string `json:"groups"`
}

func (c *connector) fetchUser(ctx context.Context, accessToken string) (sdk.Identity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.userinfo, nil)
	if err != nil {
		return sdk.Identity{}, err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return sdk.Identity{}, fmt.Errorf("%w: oauth2: userinfo: %w", sdk.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case err != nil:
		return sdk.Identity{}, fmt.Errorf("%w: oauth2: userinfo: %w", sdk.ErrUnavailable, err)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return sdk.Identity{}, fmt.Errorf("%w: oauth2: userinfo answered %d", sdk.ErrUnavailable, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return sdk.Identity{}, fmt.Errorf("%w: oauth2: userinfo answered %d", sdk.ErrInvalidCredentials, resp.StatusCode)
	}
	var cl claims
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&cl); err != nil {
		return sdk.Identity{}, fmt.Errorf("%w: oauth2: userinfo is not JSON claims: %v", sdk.ErrUnavailable, err)
	}
	if cl.Sub == "" {
		return sdk.Identity{}, fmt.Errorf("%w: oauth2: userinfo has no sub", sdk.ErrInvalidCredentials)
	}
	c.log.Debug("oauth2: logged in", "sub", upstream.Printable(cl.Sub, 100))
	return sdk.Identity{Subject: cl.Sub, Username: cl.PreferredUsername, PreferredUsername: cl.PreferredUsername,
		Email: cl.Email, EmailVerified: cl.EmailVerified, Name: cl.Name, Groups: cl.Groups}, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
