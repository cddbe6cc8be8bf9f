package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/connectortest"
)

var kitAlice = connectortest.Account{Username: "alice", Password: "correct horse", Want: sdk.Identity{
	Subject: "u-1", Username: "alice", PreferredUsername: "alice", Email: "alice@example.org", Name: "Alice", Groups: []string{"staff"},
}}

// kitUsers are the kit's two accounts as this connector's users.
func kitUsers(t *testing.T) []user {
	u := connectortest.UnicodeAccount
	return []user{
		{ID: "u-1", Username: "alice", Email: kitAlice.Want.Email, Name: kitAlice.Want.Name, Groups: kitAlice.Want.Groups, PasswordHash: hash(t, kitAlice.Password)},
		{ID: "u-2", Username: u.Username, Name: u.Want.Name, Groups: u.Want.Groups, PasswordHash: hash(t, u.Password)},
	}
}

// without returns us without the account named username.
func without(us []user, username string) []user {
	var out []user
	for _, u := range us {
		if u.Username != username {
			out = append(out, u)
		}
	}
	return out
}

// TestConformance runs the SDK's conformance kit against the file
// connector in process and as the built plugin: its store is the file,
// which an outage removes.
func TestConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	users := kitUsers(t)
	writeUsers(t, path, users...)
	config, _ := json.Marshal(config{File: path})
	connectortest.Run(t, connectortest.Suite{
		Factory: newConnector,
		Package: ".",
		Forms:   []connectortest.Form{connectortest.InProcess, connectortest.Process},
		Config:  config,
		User:    kitAlice,
		Unicode: connectortest.UnicodeAccount,
		Outage: func(t testing.TB) func() {
			if err := os.Rename(path, path+".away"); err != nil {
				t.Fatal(err)
			}
			return func() { os.Rename(path+".away", path) }
		},
		Remove: func(t testing.TB, a connectortest.Account) func() {
			writeUsers(t, path, without(users, a.Username)...)
			return func() { writeUsers(t, path, users...) }
		},
	})
}

// TestConformanceWASM runs the kit against the module build, which reads
// the same users document from a user store over HTTP (wasm.go).
func TestConformanceWASM(t *testing.T) {
	users := kitUsers(t)
	var (
		mu   sync.Mutex
		doc  = users
		down bool
	)
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"users": doc})
	}))
	t.Cleanup(store.Close)
	set := func(f func()) { mu.Lock(); defer mu.Unlock(); f() }
	connectortest.Run(t, connectortest.Suite{
		Package: ".",
		Forms:   []connectortest.Form{connectortest.WASM},
		Config:  json.RawMessage(`{"users_url": "` + store.URL + `"}`),
		User:    kitAlice,
		Unicode: connectortest.UnicodeAccount,
		Outage: func(testing.TB) func() {
			set(func() { down = true })
			return func() { set(func() { down = false }) }
		},
		Remove: func(_ testing.TB, a connectortest.Account) func() {
			set(func() { doc = without(users, a.Username) })
			return func() { set(func() { doc = users }) }
		},
	})
}
