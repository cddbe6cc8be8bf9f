package badger

import (
	"errors"

	bdg "github.com/dgraph-io/badger/v4"

	"github.com/portico-idp/portico/broker/store"
)

// readAhead fills ra, in txn (GetRefreshTokenFamily's), with f's user, its
// identities and the local accounts their subjects name
// (store.ReadAhead). Nothing is filled if the user is gone or a read
// fails: the later reads ask the store and say why themselves.
func readAhead(txn *bdg.Txn, f store.RefreshFamily, ra *store.ReadAhead) {
	u, err := get[store.User](txn, userKey(f.UserID))
	if err != nil {
		return
	}
	ids, err := listIndexed(txn, under("ident-by-user", f.UserID),
		func(i *store.Identity) bool { return i.UserID == f.UserID })
	if err != nil {
		return
	}
	var accounts []store.LocalAccount
	for _, i := range ids {
		a, err := get[store.LocalAccount](txn, localKey(i.Subject))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return
		default:
			accounts = append(accounts, a)
		}
	}
	ra.SetUser(u, ids)
	for _, a := range accounts {
		ra.AddAccount(a)
	}
}
