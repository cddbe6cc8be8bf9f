package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/portico-idp/portico/broker/store"
)

// readAheadSQL is GetRefreshTokenFamily's statement with the family's
// user, its identities and the local accounts named by their subjects
// (store.ReadAhead): one round trip for a refresh's reads, at one point in
// time. Rows come kind by kind: 0 the token and family (none: no live
// token), 1 the user, 2 its identities, 3 the accounts.
const readAheadSQL = `WITH t AS (
  SELECT t.family_id, t.expiry, f.data, f.version, f.user_id FROM refresh_tokens t
  LEFT JOIN refresh_families f ON f.id = t.family_id AND f.expiry > $2
  WHERE t.hash = $1 AND t.expiry > $2
), i AS (
  SELECT i.subject, i.data, i.version FROM t JOIN identities i ON i.user_id = t.user_id
)
SELECT 0, t.family_id, t.expiry, t.data, t.version FROM t
UNION ALL SELECT 1, NULL, NULL, u.data, u.version FROM t JOIN users u ON u.id = t.user_id
UNION ALL SELECT 2, NULL, NULL, i.data, i.version FROM i
UNION ALL SELECT 3, NULL, NULL, a.data, a.version FROM i JOIN local_accounts a ON a.id = i.subject
ORDER BY 1`

// getRefreshReadAhead is GetRefreshTokenFamily filling ra.
func (s *Store) getRefreshReadAhead(ctx context.Context, hash string, ra *store.ReadAhead) (store.RefreshToken, store.RefreshFamily, error) {
	const what = "get refresh token and family"
	rows, err := s.pool.Query(ctx, readAheadSQL, hash, time.Now())
	if err != nil {
		return store.RefreshToken{}, store.RefreshFamily{}, wrap(translate(err), what)
	}
	defer rows.Close()
	var (
		t         = store.RefreshToken{Hash: hash}
		f         store.RefreshFamily
		found     bool
		fversion  *int64
		u         store.User
		userFound bool
		ids       []store.Identity
		accounts  []store.LocalAccount
	)
	for rows.Next() {
		var (
			kind     int
			familyID *string
			expiry   *time.Time
			data     []byte
			version  *int64
		)
		if err := rows.Scan(&kind, &familyID, &expiry, &data, &version); err != nil {
			return store.RefreshToken{}, store.RefreshFamily{}, wrap(translate(err), what)
		}
		switch kind {
		case 0:
			found, fversion = true, version
			if familyID != nil && expiry != nil {
				t.FamilyID, t.Expiry = *familyID, *expiry
			}
			if version != nil {
				if err := json.Unmarshal(data, &f); err != nil {
					return store.RefreshToken{}, store.RefreshFamily{}, wrap(err, "get refresh family %s", t.FamilyID)
				}
				f.Version = *version
			}
		case 1:
			if err := json.Unmarshal(data, &u); err != nil {
				return store.RefreshToken{}, store.RefreshFamily{}, wrap(err, "read ahead user: decode")
			}
			u.Version, userFound = *version, true
		case 2:
			var i store.Identity
			if err := json.Unmarshal(data, &i); err != nil {
				return store.RefreshToken{}, store.RefreshFamily{}, wrap(err, "read ahead identities: decode")
			}
			i.Version = *version
			ids = append(ids, i)
		case 3:
			var a store.LocalAccount
			if err := json.Unmarshal(data, &a); err != nil {
				return store.RefreshToken{}, store.RefreshFamily{}, wrap(err, "read ahead local account: decode")
			}
			a.Version = *version
			accounts = append(accounts, a)
		}
	}
	if err := rows.Err(); err != nil {
		return store.RefreshToken{}, store.RefreshFamily{}, wrap(translate(err), what)
	}
	switch {
	case !found:
		return store.RefreshToken{}, store.RefreshFamily{}, wrap(store.ErrNotFound, what)
	case fversion == nil:
		return t, store.RefreshFamily{}, wrap(store.ErrNotFound, "get refresh family %s", t.FamilyID)
	}
	// A user that is gone is not read ahead: GetUserIdentities asks the
	// store and says so itself.
	if userFound {
		ra.SetUser(u, ids)
		for _, a := range accounts {
			ra.AddAccount(a)
		}
	}
	return t, f, nil
}
