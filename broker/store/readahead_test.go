package store

import (
	"context"
	"testing"
)

// TestReadAheadOnce: what is read ahead serves one read each, a second
// copy of an account included.
func TestReadAheadOnce(t *testing.T) {
	ctx := WithReadAhead(context.Background())
	r := ReadAheadFrom(ctx)
	r.SetUser(User{ID: "u"}, []Identity{{Subject: "a"}})
	r.AddAccount(LocalAccount{ID: "a", Name: "first"})
	r.AddAccount(LocalAccount{ID: "a", Name: "second"}) // another identity naming it
	if _, ok := r.TakeAccount("a"); !ok {
		t.Fatal("the account was not read ahead")
	}
	if a, ok := r.TakeAccount("a"); ok {
		t.Errorf("a second read was served from the read-ahead: %+v", a)
	}
	if _, _, ok := r.TakeUser("other"); ok {
		t.Error("another user was served")
	}
	if u, ids, ok := r.TakeUser("u"); !ok || u.ID != "u" || len(ids) != 1 {
		t.Errorf("TakeUser: %+v %v %v", u, ids, ok)
	}
	if _, _, ok := r.TakeUser("u"); ok {
		t.Error("the user was served twice")
	}
	if _, _, ok := ReadAheadFrom(context.Background()).TakeUser("u"); ok {
		t.Error("a context without a read-ahead served a user")
	}
}
