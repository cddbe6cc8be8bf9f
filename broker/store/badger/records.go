package badger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	bdg "github.com/dgraph-io/badger/v4"

	"github.com/portico-idp/portico/broker/store"
)

// Keys. Index entries ("...-by-..." and the local login names) hold the key
// of the record they point at, or the local account's id.
func userKey(id string) []byte         { return key("user", id) }
func identKey(conn, sub string) []byte { return key("ident", conn, sub) }
func identByUserKey(i *store.Identity) []byte {
	return key("ident-by-user", i.UserID, i.ConnectorID, i.Subject)
}

// identByEmailKey is nil for an identity without a verified email.
func identByEmailKey(i *store.Identity) []byte {
	if i.VerifiedEmail == "" {
		return nil
	}
	return key("ident-by-email", strings.ToLower(i.VerifiedEmail), i.ConnectorID, i.Subject)
}
func localKey(id string) []byte                  { return key("local", id) }
func clientKey(id string) []byte                 { return key("client", id) }
func authReqKey(id string) []byte                { return key("authreq", id) }
func codeKey(id string) []byte                   { return key("code", id) }
func famKey(id string) []byte                    { return key("rfam", id) }
func famByUserKey(f *store.RefreshFamily) []byte { return key("rfam-by-user", f.UserID, f.ID) }
func tokKey(hash string) []byte                  { return key("rtok", hash) }
func denyKey(jti string) []byte                  { return key("deny", jti) }
func opaqueKey(hash string) []byte               { return key("atok", hash) }

var keysKey = []byte("keys")

// localNameKey and localEmailKey are nil for an empty name: an account
// without an email claims none.
func localNameKey(username string) []byte {
	if username == "" {
		return nil
	}
	return key("local-name", username)
}

func localEmailKey(email string) []byte {
	if email == "" {
		return nil
	}
	return key("local-email", strings.ToLower(email))
}

// wrap adds what failed to err, keeping it testable with errors.Is.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("badger: "+format+": %w", append(args, err)...)
}

// getOne reads one record in a read-only transaction.
func getOne[R any](s *Store, ctx context.Context, k []byte) (R, error) {
	var r R
	err := s.view(ctx, func(txn *bdg.Txn) (err error) {
		r, err = get[R](txn, k)
		return err
	})
	return r, err
}

// compareAndSwap stores next at k if the stored record's version is
// next's, with next's Version advanced by one.
func compareAndSwap[R any](txn *bdg.Txn, k []byte, next R, version func(*R) *int64) (cur R, err error) {
	cur, err = get[R](txn, k)
	if err != nil {
		return cur, err
	}
	if *version(&cur) != *version(&next) {
		return cur, store.ErrConflict
	}
	*version(&next)++
	return cur, set(txn, k, &next)
}

func userVersion(u *store.User) *int64           { return &u.Version }
func identVersion(i *store.Identity) *int64      { return &i.Version }
func localVersion(a *store.LocalAccount) *int64  { return &a.Version }
func clientVersion(c *store.Client) *int64       { return &c.Version }
func codeVersion(c *store.AuthCode) *int64       { return &c.Version }
func authReqVersion(r *store.AuthRequest) *int64 { return &r.Version }
func famVersion(f *store.RefreshFamily) *int64   { return &f.Version }

// Users and identities.

func (s *Store) CreateUser(ctx context.Context, u store.User, ids ...store.Identity) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		if err := absent[store.User](txn, userKey(u.ID)); err != nil {
			return err
		}
		if err := set(txn, userKey(u.ID), &u); err != nil {
			return err
		}
		for i := range ids {
			if ids[i].UserID != u.ID {
				return fmt.Errorf("identity %s %s links to user %q, not to the new one", ids[i].ConnectorID, ids[i].Subject, ids[i].UserID)
			}
			if err := createIdentity(txn, &ids[i]); err != nil {
				return err
			}
		}
		return nil
	}), "create user %s", u.ID)
}

func createIdentity(txn *bdg.Txn, id *store.Identity) error {
	k := identKey(id.ConnectorID, id.Subject)
	if err := absent[store.Identity](txn, k); err != nil {
		return fmt.Errorf("identity %s %s: %w", id.ConnectorID, id.Subject, err)
	}
	if err := set(txn, k, id); err != nil {
		return err
	}
	if ek := identByEmailKey(id); ek != nil {
		if err := setIndex(txn, ek, k, time.Time{}); err != nil {
			return err
		}
	}
	return setIndex(txn, identByUserKey(id), k, time.Time{})
}

func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	u, err := getOne[store.User](s, ctx, userKey(id))
	return u, wrap(err, "get user %s", id)
}

func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	var us []store.User
	err := s.view(ctx, func(txn *bdg.Txn) (err error) {
		us, err = list[store.User](txn, under("user"))
		return err
	})
	return us, wrap(err, "list users")
}

func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		_, err := compareAndSwap(txn, userKey(u.ID), u, userVersion)
		return err
	}), "update user %s", u.ID)
}

func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		if _, err := get[store.User](txn, userKey(id)); err != nil {
			return err
		}
		indexKeys, identKeys, err := scan(txn, under("ident-by-user", id))
		if err != nil {
			return err
		}
		for _, k := range identKeys {
			i, err := get[store.Identity](txn, k)
			if errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if ek := identByEmailKey(&i); ek != nil && i.UserID == id {
				indexKeys = append(indexKeys, ek)
			}
		}
		for _, k := range append(indexKeys, identKeys...) {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return txn.Delete(userKey(id))
	}), "delete user %s", id)
}

func (s *Store) GetIdentity(ctx context.Context, connectorID, subject string) (store.Identity, error) {
	i, err := getOne[store.Identity](s, ctx, identKey(connectorID, subject))
	return i, wrap(err, "get identity %s %s", connectorID, subject)
}

func (s *Store) CreateIdentity(ctx context.Context, id store.Identity) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		if _, err := get[store.User](txn, userKey(id.UserID)); err != nil {
			return fmt.Errorf("user %s: %w", id.UserID, err)
		}
		return createIdentity(txn, &id)
	}), "create identity %s %s", id.ConnectorID, id.Subject)
}

func (s *Store) UpdateIdentity(ctx context.Context, id store.Identity) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		k := identKey(id.ConnectorID, id.Subject)
		cur, err := compareAndSwap(txn, k, id, identVersion)
		if err != nil {
			return err
		}
		// The email index entry is rewritten every time, so that identities
		// stored before the index existed join it at their next update.
		if ek := identByEmailKey(&cur); ek != nil {
			if err := txn.Delete(ek); err != nil {
				return err
			}
		}
		if ek := identByEmailKey(&id); ek != nil {
			if err := setIndex(txn, ek, k, time.Time{}); err != nil {
				return err
			}
		}
		if cur.UserID == id.UserID {
			return nil
		}
		// Relinked to another user: move the index entry.
		if _, err := get[store.User](txn, userKey(id.UserID)); err != nil {
			return fmt.Errorf("user %s: %w", id.UserID, err)
		}
		if err := txn.Delete(identByUserKey(&cur)); err != nil {
			return err
		}
		return setIndex(txn, identByUserKey(&id), k, time.Time{})
	}), "update identity %s %s", id.ConnectorID, id.Subject)
}

func (s *Store) DeleteIdentity(ctx context.Context, connectorID, subject string) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		k := identKey(connectorID, subject)
		cur, err := get[store.Identity](txn, k)
		if err != nil {
			return err
		}
		for _, ik := range [][]byte{identByEmailKey(&cur), identByUserKey(&cur), k} {
			if ik == nil {
				continue
			}
			if err := txn.Delete(ik); err != nil {
				return err
			}
		}
		return nil
	}), "delete identity %s %s", connectorID, subject)
}

func (s *Store) ListIdentities(ctx context.Context, userID string) ([]store.Identity, error) {
	var ids []store.Identity
	err := s.view(ctx, func(txn *bdg.Txn) (err error) {
		ids, err = listIndexed(txn, under("ident-by-user", userID),
			func(i *store.Identity) bool { return i.UserID == userID })
		return err
	})
	return ids, wrap(err, "list identities of user %s", userID)
}

func (s *Store) GetUserIdentities(ctx context.Context, id string) (store.User, []store.Identity, error) {
	if u, ids, ok := store.ReadAheadFrom(ctx).TakeUser(id); ok {
		return u, ids, nil
	}
	var u store.User
	var ids []store.Identity
	err := s.view(ctx, func(txn *bdg.Txn) (err error) {
		if u, err = get[store.User](txn, userKey(id)); err != nil {
			return err
		}
		ids, err = listIndexed(txn, under("ident-by-user", id),
			func(i *store.Identity) bool { return i.UserID == id })
		return err
	})
	if err != nil {
		return store.User{}, nil, wrap(err, "get user %s and identities", id)
	}
	return u, ids, nil
}

func (s *Store) ListIdentitiesByVerifiedEmail(ctx context.Context, email string) ([]store.Identity, error) {
	var ids []store.Identity
	err := s.view(ctx, func(txn *bdg.Txn) (err error) {
		if email == "" {
			return nil
		}
		want := strings.ToLower(email)
		ids, err = listIndexed(txn, under("ident-by-email", want),
			func(i *store.Identity) bool { return strings.ToLower(i.VerifiedEmail) == want })
		return err
	})
	return ids, wrap(err, "list identities by verified email")
}

// Local accounts.

func (s *Store) CreateLocalAccount(ctx context.Context, a store.LocalAccount) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		k := localKey(a.ID)
		if err := absent[store.LocalAccount](txn, k); err != nil {
			return err
		}
		if err := claim(txn, nil, localNameKey(a.Username), []byte(a.ID)); err != nil {
			return fmt.Errorf("username %q: %w", a.Username, err)
		}
		if err := claim(txn, nil, localEmailKey(a.Email), []byte(a.ID)); err != nil {
			return fmt.Errorf("email %q: %w", a.Email, err)
		}
		return set(txn, k, &a)
	}), "create local account %s", a.ID)
}

func (s *Store) GetLocalAccount(ctx context.Context, id string) (store.LocalAccount, error) {
	if a, ok := store.ReadAheadFrom(ctx).TakeAccount(id); ok {
		return a, nil
	}
	a, err := getOne[store.LocalAccount](s, ctx, localKey(id))
	return a, wrap(err, "get local account %s", id)
}

func (s *Store) GetLocalAccountByLogin(ctx context.Context, login string) (store.LocalAccount, error) {
	var a store.LocalAccount
	err := s.view(ctx, func(txn *bdg.Txn) error {
		if login == "" {
			return store.ErrNotFound
		}
		id, err := getRaw(txn, localNameKey(login))
		if errors.Is(err, store.ErrNotFound) {
			id, err = getRaw(txn, localEmailKey(login))
		}
		if err != nil {
			return err
		}
		a, err = get[store.LocalAccount](txn, localKey(string(id)))
		return err
	})
	return a, wrap(err, "get local account by login %q", login)
}

func (s *Store) ListLocalAccounts(ctx context.Context) ([]store.LocalAccount, error) {
	var as []store.LocalAccount
	err := s.view(ctx, func(txn *bdg.Txn) (err error) {
		as, err = list[store.LocalAccount](txn, under("local"))
		return err
	})
	return as, wrap(err, "list local accounts")
}

func (s *Store) UpdateLocalAccount(ctx context.Context, a store.LocalAccount) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		cur, err := compareAndSwap(txn, localKey(a.ID), a, localVersion)
		if err != nil {
			return err
		}
		if err := claim(txn, localNameKey(cur.Username), localNameKey(a.Username), []byte(a.ID)); err != nil {
			return fmt.Errorf("username %q: %w", a.Username, err)
		}
		if err := claim(txn, localEmailKey(cur.Email), localEmailKey(a.Email), []byte(a.ID)); err != nil {
			return fmt.Errorf("email %q: %w", a.Email, err)
		}
		return nil
	}), "update local account %s", a.ID)
}

func (s *Store) DeleteLocalAccount(ctx context.Context, id string) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		cur, err := get[store.LocalAccount](txn, localKey(id))
		if err != nil {
			return err
		}
		for _, k := range [][]byte{localNameKey(cur.Username), localEmailKey(cur.Email), localKey(id)} {
			if k == nil {
				continue
			}
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}), "delete local account %s", id)
}

// Clients.

func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		if err := absent[store.Client](txn, clientKey(c.ID)); err != nil {
			return err
		}
		return set(txn, clientKey(c.ID), &c)
	}), "create client %s", c.ID)
}

func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	c, err := getOne[store.Client](s, ctx, clientKey(id))
	return c, wrap(err, "get client %s", id)
}

func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	var cs []store.Client
	err := s.view(ctx, func(txn *bdg.Txn) (err error) {
		cs, err = list[store.Client](txn, under("client"))
		return err
	})
	return cs, wrap(err, "list clients")
}

func (s *Store) UpdateClient(ctx context.Context, c store.Client) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		_, err := compareAndSwap(txn, clientKey(c.ID), c, clientVersion)
		return err
	}), "update client %s", c.ID)
}

func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		if _, err := get[store.Client](txn, clientKey(id)); err != nil {
			return err
		}
		return txn.Delete(clientKey(id))
	}), "delete client %s", id)
}

// Authorization requests and codes.

func (s *Store) CreateAuthRequest(ctx context.Context, r store.AuthRequest) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		if err := absent[store.AuthRequest](txn, authReqKey(r.ID)); err != nil {
			return err
		}
		return set(txn, authReqKey(r.ID), &r)
	}), "create auth request %s", r.ID)
}

func (s *Store) GetAuthRequest(ctx context.Context, id string) (store.AuthRequest, error) {
	r, err := getOne[store.AuthRequest](s, ctx, authReqKey(id))
	return r, wrap(err, "get auth request %s", id)
}

func (s *Store) UpdateAuthRequest(ctx context.Context, r store.AuthRequest) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		_, err := compareAndSwap(txn, authReqKey(r.ID), r, authReqVersion)
		return err
	}), "update auth request %s", r.ID)
}

func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		if _, err := get[store.AuthRequest](txn, authReqKey(id)); err != nil {
			return err
		}
		return txn.Delete(authReqKey(id))
	}), "delete auth request %s", id)
}

func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		if err := absent[store.AuthCode](txn, codeKey(c.ID)); err != nil {
			return err
		}
		return set(txn, codeKey(c.ID), &c)
	}), "create auth code %s", c.ID)
}

func (s *Store) GetAuthCode(ctx context.Context, id string) (store.AuthCode, error) {
	c, err := getOne[store.AuthCode](s, ctx, codeKey(id))
	return c, wrap(err, "get auth code %s", id)
}

func (s *Store) UpdateAuthCode(ctx context.Context, c store.AuthCode) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		_, err := compareAndSwap(txn, codeKey(c.ID), c, codeVersion)
		return err
	}), "update auth code %s", c.ID)
}

// Refresh families and tokens.

func (s *Store) CreateRefreshFamily(ctx context.Context, f store.RefreshFamily, t store.RefreshToken) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		if err := absent[store.RefreshFamily](txn, famKey(f.ID)); err != nil {
			return err
		}
		if err := set(txn, famKey(f.ID), &f); err != nil {
			return err
		}
		if err := setIndex(txn, famByUserKey(&f), famKey(f.ID), f.Expiry); err != nil {
			return err
		}
		return createToken(txn, &t)
	}), "create refresh family %s", f.ID)
}

func createToken(txn *bdg.Txn, t *store.RefreshToken) error {
	if t.Hash == "" { // a session without a refresh token
		return nil
	}
	if err := absent[store.RefreshToken](txn, tokKey(t.Hash)); err != nil {
		return fmt.Errorf("refresh token: %w", err)
	}
	return set(txn, tokKey(t.Hash), t)
}

// updateFamily is the compare-and-swap of RotateRefresh and
// UpdateRefreshFamily; it rewrites the index entry, whose TTL follows the
// family's Expiry.
func updateFamily(txn *bdg.Txn, f store.RefreshFamily) error {
	cur, err := compareAndSwap(txn, famKey(f.ID), f, famVersion)
	if err != nil {
		return err
	}
	if cur.UserID != f.UserID {
		if err := txn.Delete(famByUserKey(&cur)); err != nil {
			return err
		}
	}
	return setIndex(txn, famByUserKey(&f), famKey(f.ID), f.Expiry)
}

func (s *Store) GetRefreshFamily(ctx context.Context, id string) (store.RefreshFamily, error) {
	f, err := getOne[store.RefreshFamily](s, ctx, famKey(id))
	return f, wrap(err, "get refresh family %s", id)
}

func (s *Store) GetRefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	t, err := getOne[store.RefreshToken](s, ctx, tokKey(hash))
	// The hash is a credential's digest: keep it out of error messages.
	return t, wrap(err, "get refresh token")
}

func (s *Store) GetRefreshTokenFamily(ctx context.Context, hash string) (t store.RefreshToken, f store.RefreshFamily, err error) {
	err = s.view(ctx, func(txn *bdg.Txn) error {
		if t, err = get[store.RefreshToken](txn, tokKey(hash)); err != nil {
			return err
		}
		if f, err = get[store.RefreshFamily](txn, famKey(t.FamilyID)); err != nil {
			return err
		}
		if ra := store.ReadAheadFrom(ctx); ra != nil {
			readAhead(txn, f, ra)
		}
		return nil
	})
	// The hash is a credential's digest: keep it out of error messages.
	return t, f, wrap(err, "get refresh token and family")
}

func (s *Store) RotateRefresh(ctx context.Context, f store.RefreshFamily, t store.RefreshToken) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		if err := updateFamily(txn, f); err != nil {
			return err
		}
		return createToken(txn, &t)
	}), "rotate refresh family %s", f.ID)
}

func (s *Store) UpdateRefreshFamily(ctx context.Context, f store.RefreshFamily) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		return updateFamily(txn, f)
	}), "update refresh family %s", f.ID)
}

func (s *Store) ListRefreshFamilies(ctx context.Context, userID string) ([]store.RefreshFamily, error) {
	var fs []store.RefreshFamily
	err := s.view(ctx, func(txn *bdg.Txn) (err error) {
		fs, err = listIndexed(txn, under("rfam-by-user", userID),
			func(f *store.RefreshFamily) bool { return f.UserID == userID })
		return err
	})
	return fs, wrap(err, "list refresh families of user %s", userID)
}

// Denied access tokens.

func (s *Store) DenyAccessToken(ctx context.Context, jti string, expiry time.Time) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		d := denial{Expiry: expiry}
		// Denying again never shortens a denial.
		if cur, err := get[denial](txn, denyKey(jti)); err == nil && cur.Expiry.After(d.Expiry) {
			return nil
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return set(txn, denyKey(jti), &d)
	}), "deny access token %s", jti)
}

func (s *Store) AccessTokenDenied(ctx context.Context, jti string) (bool, error) {
	_, err := getOne[denial](s, ctx, denyKey(jti))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, wrap(err, "access token denied %s", jti)
}

// Opaque access tokens. Hashes are credentials' digests: keep them out of
// error messages.

func (s *Store) CreateOpaqueToken(ctx context.Context, t store.OpaqueToken) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		if err := absent[store.OpaqueToken](txn, opaqueKey(t.Hash)); err != nil {
			return err
		}
		return set(txn, opaqueKey(t.Hash), &t)
	}), "create opaque token")
}

func (s *Store) GetOpaqueToken(ctx context.Context, hash string) (store.OpaqueToken, error) {
	t, err := getOne[store.OpaqueToken](s, ctx, opaqueKey(hash))
	return t, wrap(err, "get opaque token")
}

func (s *Store) DeleteOpaqueToken(ctx context.Context, hash string) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		if _, err := get[store.OpaqueToken](txn, opaqueKey(hash)); err != nil {
			return err
		}
		return txn.Delete(opaqueKey(hash))
	}), "delete opaque token")
}

// Signing keys.

func (s *Store) GetKeys(ctx context.Context) (store.KeySet, error) {
	ks, err := getOne[store.KeySet](s, ctx, keysKey)
	if errors.Is(err, store.ErrNotFound) {
		return store.KeySet{}, nil
	}
	return ks, wrap(err, "get keys")
}

func (s *Store) UpdateKeys(ctx context.Context, k store.KeySet) error {
	return wrap(s.update(ctx, func(txn *bdg.Txn) error {
		cur, err := get[store.KeySet](txn, keysKey)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		// None stored is Version 0, so Version 0 creates.
		if cur.Version != k.Version {
			return store.ErrConflict
		}
		next := k
		next.Version++
		return set(txn, keysKey, &next)
	}), "update keys")
}
