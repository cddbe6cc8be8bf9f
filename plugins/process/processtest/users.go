// Package processtest holds what tests of connector plugins share: a small
// connector with misbehaving users, a builder for plugin binaries, and a
// look at a process's children. It is for tests only.
package processtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/peer"

	"github.com/portico-idp/portico/sdk"
)

// Users is a password, refresh and metadata connector over a map of
// usernames to passwords. Some usernames misbehave, whatever the
// password, to test the plugin host:
//
//	hang     blocks forever in Login, ignoring its context
//	panic    panics in Login (which ends a plugin process)
//	exit     exits the process with status 3
//	garbage  writes binary junk and broken log lines to stdout and stderr, then logs in
//	procs    logs in with the process's GOMAXPROCS as the name
//	transport logs in with the name "grpc" or "socket": how the call came
//	wait     logs "login waiting" (and its transport), waits for its context to end, logs
//	         "login cancelled" and fails
type Users struct {
	Passwords map[string]string `json:"users"`
	Groups    []string          `json:"groups,omitempty"`
	log       *slog.Logger
}

// NewUsers is a plugin factory for Users; config is
// {"users": {"name": "password"}, "groups": [...]}.
func NewUsers(_ context.Context, config json.RawMessage, log *slog.Logger) (any, error) {
	u := &Users{log: log}
	if err := json.Unmarshal(config, u); err != nil {
		return nil, fmt.Errorf("processtest: config: %w", err)
	}
	if len(u.Passwords) == 0 {
		return nil, errors.New("processtest: config.users: at least one user is required")
	}
	log.Info("users connector configured", "users", len(u.Passwords))
	return u, nil
}

// Login implements sdk.PasswordConnector.
func (u *Users) Login(ctx context.Context, s sdk.Scopes, name, password string) (sdk.Identity, error) {
	switch name {
	case "hang":
		select {}
	case "panic":
		panic("processtest: panic in Login")
	case "exit":
		os.Exit(3)
	case "transport":
		id := u.identity(name, s)
		id.Name = "socket"
		if _, ok := peer.FromContext(ctx); ok {
			id.Name = "grpc"
		}
		return id, nil
	case "wait":
		how := "socket"
		if _, ok := peer.FromContext(ctx); ok {
			how = "grpc"
		}
		u.log.Info("login waiting", "transport", how)
		<-ctx.Done()
		u.log.Info("login cancelled", "err", ctx.Err().Error())
		return sdk.Identity{}, ctx.Err()
	case "procs":
		id := u.identity(name, s)
		id.Name = strconv.Itoa(runtime.GOMAXPROCS(0))
		return id, nil
	case "huge": // an answer of 8 MiB
		id := u.identity(name, s)
		id.Name = strings.Repeat("n", 8<<20)
		return id, nil
	case "garbage":
		os.Stdout.Write([]byte("\x00\xff\xfe garbage on stdout \x1b[31m no newline"))
		os.Stdout.Write(make([]byte, 100<<10))
		os.Stdout.Write([]byte("\n{\"@message\":1}\n"))
		os.Stderr.Write([]byte("{\"@message\":1,\"@level\":[]}\n{\"@level\":\"info\",\"@message\":\"forged\\nline\",\"connector\":\"other\"}\n\xff\xfe\n"))
		return u.identity(name, s), nil
	}
	if p, ok := u.Passwords[name]; !ok || p != password {
		u.log.Debug("login refused", "user", name)
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	return u.identity(name, s), nil
}

func (u *Users) identity(name string, s sdk.Scopes) sdk.Identity {
	id := sdk.Identity{Subject: "u-" + name, Username: name, PreferredUsername: name,
		Email: name + "@plugin.example", EmailVerified: true, Name: "Plugin user " + name,
		Attributes: map[string][]string{"pid": {strconv.Itoa(os.Getpid())}}}
	if s.Groups {
		id.Groups = u.Groups
	}
	return id
}

// Refresh implements sdk.RefreshConnector: the user must still exist.
func (u *Users) Refresh(_ context.Context, s sdk.Scopes, id sdk.Identity) (sdk.Identity, error) {
	if _, ok := u.Passwords[id.Username]; !ok {
		return sdk.Identity{}, sdk.ErrUserGone
	}
	return u.identity(id.Username, s), nil
}

// Metadata implements sdk.MetadataConnector.
func (u *Users) Metadata(context.Context) (sdk.Document, error) {
	return sdk.Document{ContentType: "text/plain; charset=utf-8",
		Body: []byte(fmt.Sprintf("processtest users connector, %d users, %s\n", len(u.Passwords), time.Now().Format(time.DateOnly)))}, nil
}
