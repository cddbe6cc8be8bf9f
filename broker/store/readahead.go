package store

import (
	"context"
	"slices"
	"sync"
)

// A refresh reads the token's family, then the family's user and
// identities, then (for a local account) the account: on PostgreSQL three
// round trips, one after the other, for rows one statement can read (issue
// 24). A request that will read them asks for a ReadAhead; a store that
// supports it fills it from GetRefreshTokenFamily, in the same read, and
// serves the next GetUserIdentities and GetLocalAccount of those records
// from it, once each. Those reads then see the records as of the family's
// read, as if they had run at that moment: the request's later reads and
// its own writes go to the store as before.

// ReadAhead holds records read ahead of being asked, for one request.
// Safe for concurrent use.
type ReadAhead struct {
	mu       sync.Mutex
	user     *User
	idents   []Identity
	accounts []LocalAccount
}

type readAheadKey struct{}

// WithReadAhead returns ctx carrying a new, empty ReadAhead.
func WithReadAhead(ctx context.Context) context.Context {
	return context.WithValue(ctx, readAheadKey{}, new(ReadAhead))
}

// ReadAheadFrom returns ctx's ReadAhead, nil if it has none.
func ReadAheadFrom(ctx context.Context) *ReadAhead {
	r, _ := ctx.Value(readAheadKey{}).(*ReadAhead)
	return r
}

// SetUser records u and its identities, as one read.
func (r *ReadAhead) SetUser(u User, idents []Identity) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.user, r.idents = &u, idents
}

// AddAccount records a local account, once: two identities may name the
// same one, and a second copy would serve a later read stale.
func (r *ReadAhead) AddAccount(a LocalAccount) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.ContainsFunc(r.accounts, func(b LocalAccount) bool { return b.ID == a.ID }) {
		r.accounts = append(r.accounts, a)
	}
}

// TakeUser returns the user id and its identities if they were read
// ahead, and forgets them: a second read goes to the store.
func (r *ReadAhead) TakeUser(id string) (User, []Identity, bool) {
	if r == nil {
		return User{}, nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.user == nil || r.user.ID != id {
		return User{}, nil, false
	}
	u, ids := *r.user, r.idents
	r.user, r.idents = nil, nil
	return u, ids, true
}

// TakeAccount returns the local account id if it was read ahead, and
// forgets it.
func (r *ReadAhead) TakeAccount(id string) (LocalAccount, bool) {
	if r == nil {
		return LocalAccount{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.IndexFunc(r.accounts, func(a LocalAccount) bool { return a.ID == id })
	if i < 0 {
		return LocalAccount{}, false
	}
	a := r.accounts[i]
	r.accounts = slices.Delete(r.accounts, i, i+1)
	return a, true
}
