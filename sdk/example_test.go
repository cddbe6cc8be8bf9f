package sdk_test

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"

	"github.com/portico-idp/portico/sdk"
)

// mapConnector is a tiny PasswordConnector over a map of usernames to
// passwords. A real one would keep password hashes (see connectors/local)
// and spend the same time on unknown users as on known ones.
type mapConnector map[string]string

// Compile-time check that the connector has the capability it means to have:
// a misspelt method would otherwise go unnoticed, since the broker finds
// capabilities by type assertion.
var _ sdk.PasswordConnector = mapConnector(nil)

func (m mapConnector) Login(ctx context.Context, s sdk.Scopes, username, password string) (sdk.Identity, error) {
	if err := ctx.Err(); err != nil {
		return sdk.Identity{}, fmt.Errorf("%w: %w", sdk.ErrUnavailable, err)
	}
	want, ok := m[username]
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		// Unknown user and wrong password: one error, so the two cannot be
		// told apart.
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	id := sdk.Identity{
		Subject:           "map:" + username, // stable: usernames never change here
		Username:          username,
		PreferredUsername: username,
	}
	if s.Groups { // only look groups up when the tokens will carry them
		id.Groups = []string{"users"}
	}
	return id, nil
}

// ExamplePasswordConnector shows the errors a PasswordConnector returns and
// how a caller tells them apart with errors.Is.
func ExamplePasswordConnector() {
	var c sdk.PasswordConnector = mapConnector{"alice": "s3cret"}
	ctx := context.Background()

	id, err := c.Login(ctx, sdk.ParseScopes([]string{"openid", "groups"}), "alice", "s3cret")
	fmt.Println(id.Subject, id.Groups, err)

	for _, try := range [][2]string{{"alice", "wrong"}, {"bob", "s3cret"}} {
		_, err := c.Login(ctx, sdk.Scopes{}, try[0], try[1])
		fmt.Println(errors.Is(err, sdk.ErrInvalidCredentials), err)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.Login(canceled, sdk.Scopes{}, "alice", "s3cret")
	fmt.Println(errors.Is(err, sdk.ErrUnavailable), errors.Is(err, sdk.ErrInvalidCredentials))
	// Output:
	// map:alice [users] <nil>
	// true invalid credentials
	// true invalid credentials
	// true false
}

func ExampleParseScopes() {
	// The broker splits the OAuth scope parameter on spaces first; scope
	// values are case-sensitive.
	fmt.Printf("%+v\n", sdk.ParseScopes([]string{"openid", "email", "groups"}))
	fmt.Printf("%+v\n", sdk.ParseScopes([]string{"openid", "offline_access"}))
	fmt.Printf("%+v\n", sdk.ParseScopes([]string{"openid groups"})) // not split: one unknown scope
	// Output:
	// {OfflineAccess:false Groups:true}
	// {OfflineAccess:true Groups:false}
	// {OfflineAccess:false Groups:false}
}

// redirectConnector is a CallbackConnector and a RefreshConnector, the shape
// of a social login.
type redirectConnector struct{}

var (
	_ sdk.CallbackConnector = redirectConnector{}
	_ sdk.RefreshConnector  = redirectConnector{}
)

func (redirectConnector) LoginURL(_ context.Context, _ sdk.Scopes, callbackURL, state string) (sdk.Redirect, error) {
	q := url.Values{"redirect_uri": {callbackURL}, "state": {state}}
	return sdk.Redirect{URL: "https://upstream.example/authorize?" + q.Encode()}, nil
}

func (redirectConnector) HandleCallback(_ context.Context, _ sdk.Scopes, req sdk.CallbackRequest) (sdk.Identity, error) {
	code := req.Query["code"]
	if len(code) != 1 {
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	return sdk.Identity{Subject: "upstream:" + code[0]}, nil
}

func (redirectConnector) Refresh(_ context.Context, _ sdk.Scopes, id sdk.Identity) (sdk.Identity, error) {
	return id, nil
}

// Example_capabilities shows how a caller (the broker) finds out what a
// connector can do: each capability is its own interface, found with a type
// assertion.
func Example_capabilities() {
	connectors := []struct {
		name string
		c    any
	}{
		{"users", mapConnector{"alice": "s3cret"}},
		{"upstream", redirectConnector{}},
	}
	for _, e := range connectors {
		fmt.Printf("%s:", e.name)
		if _, ok := e.c.(sdk.PasswordConnector); ok {
			fmt.Print(" login form")
		}
		if _, ok := e.c.(sdk.CallbackConnector); ok {
			fmt.Print(" redirect")
		}
		if _, ok := e.c.(sdk.RefreshConnector); ok {
			fmt.Print(" refresh")
		} else {
			fmt.Print(" (no refresh)")
		}
		fmt.Println()
	}

	// Using a capability once it is found:
	var c any = mapConnector{"alice": "s3cret"}
	if pc, ok := c.(sdk.PasswordConnector); ok {
		id, err := pc.Login(context.Background(), sdk.Scopes{}, "alice", "s3cret")
		fmt.Println(id.Subject, err)
	}
	// Output:
	// users: login form (no refresh)
	// upstream: redirect refresh
	// map:alice <nil>
}
