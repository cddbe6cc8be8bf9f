package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/portico-idp/portico/broker/store"
)

func userVersion(u *store.User) *int64          { return &u.Version }
func identVersion(i *store.Identity) *int64     { return &i.Version }
func localVersion(a *store.LocalAccount) *int64 { return &a.Version }

// Users and identities.

func (s *Store) CreateUser(ctx context.Context, u store.User, ids ...store.Identity) error {
	for i := range ids {
		if ids[i].UserID != u.ID {
			return wrap(fmt.Errorf("identity %s %s links to user %q, not to the new one",
				ids[i].ConnectorID, ids[i].Subject, ids[i].UserID), "create user %s", u.ID)
		}
	}
	data, err := encode(u)
	if err != nil {
		return wrap(err, "create user %s", u.ID)
	}
	return wrap(s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO users (id, version, data) VALUES ($1, $2, $3)`,
			u.ID, u.Version, data); err != nil {
			return translate(err)
		}
		for i := range ids {
			if err := createIdentity(ctx, tx, ids[i]); err != nil {
				return err
			}
		}
		return nil
	}), "create user %s", u.ID)
}

// createIdentity inserts id; the foreign key makes a missing user
// store.ErrNotFound, the primary key a linked identity
// store.ErrAlreadyExists.
func createIdentity(ctx context.Context, q querier, id store.Identity) error {
	data, err := encode(id)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO identities (connector_id, subject, user_id, verified_email_key, version, data)
VALUES ($1, $2, $3, $4, $5, $6)`,
		id.ConnectorID, id.Subject, id.UserID, nullString(strings.ToLower(id.VerifiedEmail)), id.Version, data)
	if err != nil {
		return fmt.Errorf("identity %s %s: %w", id.ConnectorID, id.Subject, translate(err))
	}
	return nil
}

func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	u, err := getRecord(ctx, s.pool, userVersion, `SELECT data, version FROM users WHERE id = $1`, id)
	return u, wrap(err, "get user %s", id)
}

func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	us, err := listRecords(ctx, s.pool, userVersion, `SELECT data, version FROM users`)
	return us, wrap(err, "list users")
}

var updateUserSQL = casSQL("users", "id = $2", "data = $3")

func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	next := u
	next.Version++
	data, err := encode(next)
	if err == nil {
		err = cas(ctx, s.pool, updateUserSQL, u.Version, u.ID, data)
	}
	return wrap(err, "update user %s", u.ID)
}

// DeleteUser deletes the user's identities with it, by the foreign key's
// ON DELETE CASCADE: one statement, one transaction.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return wrap(exec(ctx, s.pool, `DELETE FROM users WHERE id = $1`, id), "delete user %s", id)
}

func (s *Store) GetIdentity(ctx context.Context, connectorID, subject string) (store.Identity, error) {
	i, err := getRecord(ctx, s.pool, identVersion,
		`SELECT data, version FROM identities WHERE connector_id = $1 AND subject = $2`, connectorID, subject)
	return i, wrap(err, "get identity %s %s", connectorID, subject)
}

func (s *Store) CreateIdentity(ctx context.Context, id store.Identity) error {
	return wrap(createIdentity(ctx, s.pool, id), "create identity %s %s", id.ConnectorID, id.Subject)
}

var updateIdentitySQL = casSQL("identities", "connector_id = $2 AND subject = $3",
	"user_id = $4, verified_email_key = $5, data = $6")

// UpdateIdentity may relink the identity to another user; the foreign key
// makes a missing one store.ErrNotFound.
func (s *Store) UpdateIdentity(ctx context.Context, id store.Identity) error {
	next := id
	next.Version++
	data, err := encode(next)
	if err == nil {
		err = cas(ctx, s.pool, updateIdentitySQL, id.Version, id.ConnectorID, id.Subject,
			id.UserID, nullString(strings.ToLower(id.VerifiedEmail)), data)
	}
	return wrap(err, "update identity %s %s", id.ConnectorID, id.Subject)
}

func (s *Store) DeleteIdentity(ctx context.Context, connectorID, subject string) error {
	return wrap(exec(ctx, s.pool, `DELETE FROM identities WHERE connector_id = $1 AND subject = $2`,
		connectorID, subject), "delete identity %s %s", connectorID, subject)
}

func (s *Store) ListIdentities(ctx context.Context, userID string) ([]store.Identity, error) {
	ids, err := listRecords(ctx, s.pool, identVersion,
		`SELECT data, version FROM identities WHERE user_id = $1`, userID)
	return ids, wrap(err, "list identities of user %s", userID)
}

// GetUserIdentities is one statement: one round trip, one snapshot. The
// user's row comes first (kind 0), then its identities.
func (s *Store) GetUserIdentities(ctx context.Context, id string) (store.User, []store.Identity, error) {
	if u, ids, ok := store.ReadAheadFrom(ctx).TakeUser(id); ok {
		return u, ids, nil
	}
	if unstorable([]any{id}) {
		return store.User{}, nil, wrap(store.ErrNotFound, "get user %s and identities", id)
	}
	rows, err := s.pool.Query(ctx, `SELECT 0, data, version FROM users WHERE id = $1
UNION ALL SELECT 1, data, version FROM identities WHERE user_id = $1 ORDER BY 1`, id)
	if err != nil {
		return store.User{}, nil, wrap(translate(err), "get user %s and identities", id)
	}
	defer rows.Close()
	var (
		u     store.User
		found bool
		ids   []store.Identity
	)
	for rows.Next() {
		var (
			kind    int
			data    []byte
			version int64
		)
		if err := rows.Scan(&kind, &data, &version); err != nil {
			return store.User{}, nil, wrap(translate(err), "get user %s and identities", id)
		}
		if kind == 0 {
			if err := json.Unmarshal(data, &u); err != nil {
				return store.User{}, nil, wrap(err, "get user %s: decode", id)
			}
			u.Version, found = version, true
			continue
		}
		var i store.Identity
		if err := json.Unmarshal(data, &i); err != nil {
			return store.User{}, nil, wrap(err, "get identities of user %s: decode", id)
		}
		i.Version = version
		ids = append(ids, i)
	}
	if err := rows.Err(); err != nil {
		return store.User{}, nil, wrap(translate(err), "get user %s and identities", id)
	}
	if !found {
		return store.User{}, nil, wrap(store.ErrNotFound, "get user %s", id)
	}
	return u, ids, nil
}

func (s *Store) ListIdentitiesByVerifiedEmail(ctx context.Context, email string) ([]store.Identity, error) {
	if email == "" {
		return nil, nil
	}
	ids, err := listRecords(ctx, s.pool, identVersion,
		`SELECT data, version FROM identities WHERE verified_email_key = $1`, strings.ToLower(email))
	return ids, wrap(err, "list identities by verified email")
}

// Local accounts. The unique constraints on username and email_key make a
// taken name store.ErrAlreadyExists, on create and on rename alike.

func (s *Store) CreateLocalAccount(ctx context.Context, a store.LocalAccount) error {
	data, err := encode(a)
	if err == nil {
		_, err = s.pool.Exec(ctx, `INSERT INTO local_accounts (id, username, email_key, version, data)
VALUES ($1, $2, $3, $4, $5)`, a.ID, nullString(a.Username), nullString(strings.ToLower(a.Email)), a.Version, data)
		err = translate(err)
	}
	return wrap(err, "create local account %s", a.ID)
}

func (s *Store) GetLocalAccount(ctx context.Context, id string) (store.LocalAccount, error) {
	if a, ok := store.ReadAheadFrom(ctx).TakeAccount(id); ok {
		return a, nil
	}
	a, err := getRecord(ctx, s.pool, localVersion, `SELECT data, version FROM local_accounts WHERE id = $1`, id)
	return a, wrap(err, "get local account %s", id)
}

// GetLocalAccountByLogin prefers the account whose username is login to
// the one whose email is.
func (s *Store) GetLocalAccountByLogin(ctx context.Context, login string) (store.LocalAccount, error) {
	if login == "" {
		return store.LocalAccount{}, wrap(store.ErrNotFound, "get local account by login %q", login)
	}
	a, err := getRecord(ctx, s.pool, localVersion, `SELECT data, version FROM local_accounts
WHERE username = $1 OR email_key = $2
ORDER BY (username = $1) IS TRUE DESC LIMIT 1`, login, strings.ToLower(login))
	return a, wrap(err, "get local account by login %q", login)
}

func (s *Store) ListLocalAccounts(ctx context.Context) ([]store.LocalAccount, error) {
	as, err := listRecords(ctx, s.pool, localVersion, `SELECT data, version FROM local_accounts`)
	return as, wrap(err, "list local accounts")
}

var updateLocalSQL = casSQL("local_accounts", "id = $2", "username = $3, email_key = $4, data = $5")

func (s *Store) UpdateLocalAccount(ctx context.Context, a store.LocalAccount) error {
	next := a
	next.Version++
	data, err := encode(next)
	if err == nil {
		err = cas(ctx, s.pool, updateLocalSQL, a.Version, a.ID,
			nullString(a.Username), nullString(strings.ToLower(a.Email)), data)
	}
	return wrap(err, "update local account %s", a.ID)
}

func (s *Store) DeleteLocalAccount(ctx context.Context, id string) error {
	return wrap(exec(ctx, s.pool, `DELETE FROM local_accounts WHERE id = $1`, id), "delete local account %s", id)
}
