package local

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portico-idp/portico/sdk"
)

// TestChangePassword: the current password is required; the new hash
// replaces the old one only if the account's hash is still the one
// checked; a full hashing queue refuses rather than hashing anyway.
func TestChangePassword(t *testing.T) {
	ctx := t.Context()
	const next = "a new password"
	tests := []struct {
		name             string
		id, current, new string
		want             error
	}{
		{"wrong current", "u-alice", "wrong", next, sdk.ErrInvalidCredentials},
		{"empty current", "u-alice", "", next, sdk.ErrInvalidCredentials},
		{"empty new", "u-alice", alicePassword, "", sdk.ErrInvalidCredentials},
		{"unknown account", "u-nobody", alicePassword, next, sdk.ErrInvalidCredentials},
		{"right", "u-alice", alicePassword, next, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemAccounts(alice(t, cheap))
			old := store.hash("u-alice")
			c := New(store, Config{Params: cheap})
			err := c.ChangePassword(ctx, tt.id, tt.current, tt.new)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("ChangePassword = %v, want %v", err, tt.want)
			}
			_, oldErr := c.Login(ctx, sdk.Scopes{}, "alice", alicePassword)
			_, newErr := c.Login(ctx, sdk.Scopes{}, "alice", next)
			if tt.want != nil && (store.hash("u-alice") != old || oldErr != nil || newErr == nil) {
				t.Errorf("a refused change changed the password (old login: %v, new login: %v)", oldErr, newErr)
			}
			if tt.want == nil && (oldErr == nil || newErr != nil) {
				t.Errorf("after the change: old password login %v (want refused), new %v (want accepted)", oldErr, newErr)
			}
		})
	}
}

// TestChangePasswordRace: a change that lost the compare-and-swap to
// another is not stored, and says so as unavailable (try again).
func TestChangePasswordRace(t *testing.T) {
	store := newMemAccounts(alice(t, cheap))
	c := New(store, Config{Params: cheap})
	c.testHookHashing = func() { // another change lands while this one hashes
		a, _ := store.AccountByID(context.Background(), "u-alice")
		a.PasswordHash = mustHash(t, "the other change", cheap)
		store.put(a)
	}
	err := c.ChangePassword(t.Context(), "u-alice", alicePassword, "mine")
	if !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("a change that lost the race: %v, want sdk.ErrUnavailable", err)
	}
	c.testHookHashing = nil
	if _, err := c.Login(t.Context(), sdk.Scopes{}, "alice", "the other change"); err != nil {
		t.Errorf("the winning change was overwritten: %v", err)
	}
}

// TestChangePasswordQueueFull: with every hashing slot taken, a change
// waits no longer than the queue timeout and computes nothing.
func TestChangePasswordQueueFull(t *testing.T) {
	store := newMemAccounts(alice(t, cheap))
	c := New(store, Config{Params: cheap, MaxConcurrent: 1, QueueTimeout: time.Millisecond})
	c.slots <- struct{}{} // a login holds the only slot
	hashed := false
	c.testHookHashing = func() { hashed = true }
	if err := c.ChangePassword(t.Context(), "u-alice", alicePassword, "mine"); !errors.Is(err, sdk.ErrUnavailable) || hashed {
		t.Fatalf("change with a full queue: %v (hashed %v), want sdk.ErrUnavailable without hashing", err, hashed)
	}
	<-c.slots
	if err := c.ChangePassword(t.Context(), "u-alice", alicePassword, "mine"); err != nil {
		t.Fatalf("change with a free slot: %v", err)
	}
}
