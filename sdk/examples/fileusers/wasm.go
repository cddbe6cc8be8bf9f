//go:build wasip1

// The WASM build of the example. A module has no file system, so instead
// of a file it reads the same users document ({"users": [...]}) from a
// REST user store, config.users_url, on every login and refresh (edits
// take effect at once, as the file's do), through the broker's
// http_request host function: the connector's allow_hosts must name the
// store's host. Or, for a fixed set, the document can be inline in
// config.users. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o fileusers.wasm ./examples/fileusers # in sdk/
//
// The module needs memory for the argon2id parameters of its hashes
// (m=65536 is 64 MiB): set the connector's memory_limit above that.

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
	"time"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
	"github.com/portico-idp/portico/sdk/wasm"
)

func init() { wasm.Handle(newStoreConnector) }

// main is not run: the module is a reactor, started by _initialize.
func main() {}

type storeConfig struct {
	UsersURL string            `json:"users_url,omitempty"`
	Users    json.RawMessage   `json:"users,omitempty"` // the users array, inline
	Timeout  upstream.Duration `json:"timeout,omitempty"`
}

// storeConnector is the connector over a user store that is not a file.
type storeConnector struct {
	url    string
	inline users
	http   *http.Client
	log    *slog.Logger
}

func newStoreConnector(_ context.Context, raw json.RawMessage, log *slog.Logger) (any, error) {
	var cfg storeConfig
	if err := upstream.DecodeStrict("fileusers: config", raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = upstream.Duration(upstream.DefaultTimeout)
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("fileusers: config.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	upstream.CheckTimeout(bad, "timeout", cfg.Timeout)
	c := &storeConnector{url: cfg.UsersURL, http: upstream.NewClient(time.Duration(cfg.Timeout)), log: log}
	switch {
	case (cfg.UsersURL == "") == (len(cfg.Users) == 0):
		bad("users_url", "set users_url (a REST user store) or users (inline), not both (a WASM module has no file system: no file)")
	case cfg.UsersURL != "":
		upstream.CheckURL(bad, "users_url", cfg.UsersURL)
	default:
		u, err := parseUsers(append(append([]byte(`{"users":`), cfg.Users...), '}'))
		if err != nil {
			bad("users", "%v", err)
		}
		c.inline = u
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	log.Info("fileusers: configured", "users_url", cfg.UsersURL, "inline_users", len(c.inline.byName))
	return c, nil
}

// current returns the users: the inline ones, or the store's now.
func (c *storeConnector) current(ctx context.Context) (users, error) {
	if c.url == "" {
		return c.inline, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return users{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return users{}, fmt.Errorf("%w: fileusers: user store: %w", sdk.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return users{}, fmt.Errorf("%w: fileusers: user store answered %d %v", sdk.ErrUnavailable, resp.StatusCode, err)
	}
	u, err := parseUsers(bytes.TrimSpace(body))
	if err != nil {
		return users{}, fmt.Errorf("%w: fileusers: user store: %w", sdk.ErrUnavailable, err)
	}
	return u, nil
}

// Login implements sdk.PasswordConnector, as the file connector does.
func (c *storeConnector) Login(ctx context.Context, s sdk.Scopes, username, password string) (sdk.Identity, error) {
	if username == "" || password == "" {
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	us, err := c.current(ctx)
	if err != nil {
		return sdk.Identity{}, err
	}
	// A login nobody waits for any more is not worth a hash.
	if err := ctx.Err(); err != nil {
		return sdk.Identity{}, fmt.Errorf("%w: %w", sdk.ErrUnavailable, err)
	}
	u, ok := us.byName[username]
	if !ok {
		if us.dummy != "" { // unknown names take as long as known ones
			verifyArgon2id(password, us.dummy)
		}
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	if ok, err := verifyArgon2id(password, u.PasswordHash); err != nil || !ok {
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	c.log.Debug("fileusers: login", "user", u.ID)
	return u.identity(s), nil
}

// Refresh implements sdk.RefreshConnector: the user must still be in the
// store.
func (c *storeConnector) Refresh(ctx context.Context, s sdk.Scopes, id sdk.Identity) (sdk.Identity, error) {
	us, err := c.current(ctx)
	if err != nil {
		return sdk.Identity{}, err
	}
	u, ok := us.byID[id.Subject]
	if !ok {
		return sdk.Identity{}, fmt.Errorf("fileusers: %q: %w", id.Subject, sdk.ErrUserGone)
	}
	return u.identity(s), nil
}
