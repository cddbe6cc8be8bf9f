package local_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/sdk"
)

// accounts is a tiny local.Accounts over a map. The broker's store plays
// this part in Portico.
type accounts struct {
	mu   sync.Mutex
	byID map[string]local.Account
}

func (s *accounts) AccountByLogin(_ context.Context, login string) (local.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.byID {
		if a.Username == login || strings.EqualFold(a.Email, login) {
			return a, nil
		}
	}
	return local.Account{}, local.ErrNoAccount
}

func (s *accounts) AccountByID(_ context.Context, id string) (local.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.byID[id]; ok {
		return a, nil
	}
	return local.Account{}, local.ErrNoAccount
}

func (s *accounts) SetPasswordHash(_ context.Context, id, oldHash, newHash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.byID[id]
	if !ok || a.PasswordHash != oldHash {
		return errors.New("account changed meanwhile")
	}
	a.PasswordHash = newHash
	s.byID[id] = a
	return nil
}

func Example() {
	// Cheap parameters keep the example fast; leave Config.Params zero to
	// get local.DefaultParams in production.
	params := local.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

	hash, err := local.Hash("correct horse battery staple", params)
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$"))

	store := &accounts{byID: map[string]local.Account{
		"u-1": {ID: "u-1", Username: "alice", Email: "alice@example.org", EmailVerified: true,
			Name: "Alice", Groups: []string{"admins"}, PasswordHash: hash},
	}}
	c := local.New(store, local.Config{Params: params, MaxConcurrent: 2})
	ctx := context.Background()

	id, err := c.Login(ctx, sdk.Scopes{Groups: true}, "ALICE@example.org", "correct horse battery staple")
	fmt.Println(id.Subject, id.PreferredUsername, id.Email, id.Groups, err)

	_, err = c.Login(ctx, sdk.Scopes{}, "alice", "wrong")
	fmt.Println(errors.Is(err, sdk.ErrInvalidCredentials), err)
	_, err = c.Login(ctx, sdk.Scopes{}, "nobody", "wrong")
	fmt.Println(errors.Is(err, sdk.ErrInvalidCredentials), err)

	// Output:
	// true
	// u-1 alice alice@example.org [admins] <nil>
	// true invalid credentials
	// true invalid credentials
}

// A hash from another argon2id implementation verifies as it is; here one
// printed by the reference CLI:
//
//	echo -n password | argon2 somesalt -id -t 2 -m 16 -p 1 -e
func ExampleVerify() {
	const phc = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	fmt.Println(local.Verify("password", phc))
	fmt.Println(local.Verify("Password", phc))
	fmt.Println(local.NeedsRehash(phc, local.DefaultParams))

	_, err := local.Verify("password", "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	fmt.Println(err)
	// Output:
	// true <nil>
	// false <nil>
	// true
	// local: malformed or unsupported password hash: algorithm argon2i is not supported, want argon2id
}
