// Command fileusers is an example Portico connector plugin: a password
// connector over a JSON file of users with argon2id password hashes.
//
//	{"users": [
//	  {"id": "u-1", "username": "alice", "email": "alice@example.org",
//	   "email_verified": true, "name": "Alice", "groups": ["staff"],
//	   "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$..."}
//	]}
//
// Its config block is {"file": "/etc/portico/users.json"}. The file is read
// again when it changes, so accounts can be edited without a restart; a
// change that does not parse is logged and the previous users are kept.
// Make hashes with any argon2id PHC tool, e.g.
// `echo -n PASSWORD | argon2 SALT -id -t 3 -m 16 -p 4 -e`.
//
// The connector logic here builds for GOOS=wasip1 as well; main.go (the
// go-plugin main) is for native builds only.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/portico-idp/portico/sdk"
)

type config struct {
	File string `json:"file"`
}

type user struct {
	ID            string   `json:"id"` // the stable subject
	Username      string   `json:"username"`
	Email         string   `json:"email,omitempty"`
	EmailVerified bool     `json:"email_verified,omitempty"`
	Name          string   `json:"name,omitempty"`
	Groups        []string `json:"groups,omitempty"`
	PasswordHash  string   `json:"password_hash"`
}

// users is one parsed file.
type users struct {
	byName map[string]user
	byID   map[string]user
	dummy  string // some user's hash, checked for unknown names so they take as long
}

// connector implements sdk.PasswordConnector and sdk.RefreshConnector.
type connector struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	users   users
	modTime time.Time
	size    int64
}

// newConnector is the plugin factory.
func newConnector(_ context.Context, raw json.RawMessage, log *slog.Logger) (any, error) {
	var cfg config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("fileusers: config: %w", err)
	}
	if cfg.File == "" {
		return nil, errors.New("fileusers: config.file: required")
	}
	c := &connector{path: cfg.File, log: log}
	if err := c.reload(); err != nil {
		return nil, err
	}
	log.Info("fileusers: loaded", "file", cfg.File, "users", len(c.users.byName))
	return c, nil
}

// parseUsers reads a users file. Every user needs an id, a username and
// an argon2id hash; ids and usernames are unique.
func parseUsers(data []byte) (users, error) {
	var f struct {
		Users []user `json:"users"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return users{}, err
	}
	u := users{byName: map[string]user{}, byID: map[string]user{}}
	for i, x := range f.Users {
		switch {
		case x.ID == "" || x.Username == "":
			return users{}, fmt.Errorf("users[%d]: id and username are required", i)
		case !strings.HasPrefix(x.PasswordHash, "$argon2id$"):
			return users{}, fmt.Errorf("users[%d] (%s): password_hash must be an argon2id PHC string", i, x.Username)
		case u.byID[x.ID].ID != "":
			return users{}, fmt.Errorf("users[%d]: duplicate id %q", i, x.ID)
		case u.byName[x.Username].ID != "":
			return users{}, fmt.Errorf("users[%d]: duplicate username %q", i, x.Username)
		}
		u.byName[x.Username], u.byID[x.ID] = x, x
		if u.dummy == "" {
			u.dummy = x.PasswordHash
		}
	}
	return u, nil
}

// reload reads the file if it changed since the last read.
func (c *connector) reload() error {
	fi, err := os.Stat(c.path)
	if err != nil {
		return fmt.Errorf("fileusers: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users.byName != nil && fi.ModTime().Equal(c.modTime) && fi.Size() == c.size {
		return nil
	}
	data, err := os.ReadFile(c.path)
	if err != nil {
		return fmt.Errorf("fileusers: %w", err)
	}
	u, err := parseUsers(data)
	if err != nil {
		return fmt.Errorf("fileusers: %s: %w", c.path, err)
	}
	c.users, c.modTime, c.size = u, fi.ModTime(), fi.Size()
	return nil
}

// current returns the users, re-read if the file changed. A file that
// became unreadable is "try later" only if nothing was ever loaded.
func (c *connector) current() (users, error) {
	if err := c.reload(); err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return users{}, fmt.Errorf("%w: %w", sdk.ErrUnavailable, err)
		}
		c.log.Error("fileusers: keeping the previous users", "err", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.users, nil
}

func (u user) identity(s sdk.Scopes) sdk.Identity {
	id := sdk.Identity{Subject: u.ID, Username: u.Username, PreferredUsername: u.Username,
		Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name}
	if s.Groups {
		id.Groups = u.Groups
	}
	return id
}

// Login implements sdk.PasswordConnector.
func (c *connector) Login(ctx context.Context, s sdk.Scopes, username, password string) (sdk.Identity, error) {
	if username == "" || password == "" {
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	us, err := c.current()
	if err != nil {
		return sdk.Identity{}, err
	}
	// A login nobody waits for any more is not worth a hash.
	if err := ctx.Err(); err != nil {
		return sdk.Identity{}, fmt.Errorf("%w: %w", sdk.ErrUnavailable, err)
	}
	u, ok := us.byName[username]
	if !ok {
		// Spend the time of a real check, so unknown names do not stand out.
		if us.dummy != "" {
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
// file, and gets its current groups.
func (c *connector) Refresh(_ context.Context, s sdk.Scopes, id sdk.Identity) (sdk.Identity, error) {
	us, err := c.current()
	if err != nil {
		return sdk.Identity{}, err
	}
	u, ok := us.byID[id.Subject]
	if !ok {
		return sdk.Identity{}, fmt.Errorf("fileusers: %q: %w", id.Subject, sdk.ErrUserGone)
	}
	return u.identity(s), nil
}
