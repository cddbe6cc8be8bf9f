package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/portico-idp/portico/broker/store"
)

// Rows that expire are live while expiry > now, now being this replica's
// clock, passed as a parameter. A create replaces an expired row with the
// same key in the same statement (ON CONFLICT ... WHERE expired), so that a
// key is free again the moment its record expires, cleanup or not.

func clientVersion(c *store.Client) *int64       { return &c.Version }
func authReqVersion(r *store.AuthRequest) *int64 { return &r.Version }
func codeVersion(c *store.AuthCode) *int64       { return &c.Version }
func famVersion(f *store.RefreshFamily) *int64   { return &f.Version }

// Clients.

func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	data, err := encode(c)
	if err == nil {
		_, err = s.pool.Exec(ctx, `INSERT INTO clients (id, version, data) VALUES ($1, $2, $3)`, c.ID, c.Version, data)
		err = translate(err)
	}
	return wrap(err, "create client %s", c.ID)
}

func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	c, err := getRecord(ctx, s.pool, clientVersion, `SELECT data, version FROM clients WHERE id = $1`, id)
	return c, wrap(err, "get client %s", id)
}

func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	cs, err := listRecords(ctx, s.pool, clientVersion, `SELECT data, version FROM clients`)
	return cs, wrap(err, "list clients")
}

var updateClientSQL = casSQL("clients", "id = $2", "data = $3")

func (s *Store) UpdateClient(ctx context.Context, c store.Client) error {
	next := c
	next.Version++
	data, err := encode(next)
	if err == nil {
		err = cas(ctx, s.pool, updateClientSQL, c.Version, c.ID, data)
	}
	return wrap(err, "update client %s", c.ID)
}

func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return wrap(exec(ctx, s.pool, `DELETE FROM clients WHERE id = $1`, id), "delete client %s", id)
}

// Authorization requests and codes.

// createExpiringSQL inserts a row of (id, expiry, version, data) into
// table, replacing an expired one; $5 is now.
func createExpiringSQL(table string) string {
	return `INSERT INTO ` + table + ` (id, expiry, version, data) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET expiry = EXCLUDED.expiry, version = EXCLUDED.version, data = EXCLUDED.data
WHERE ` + table + `.expiry <= $5 RETURNING 1`
}

var (
	createAuthReqSQL = createExpiringSQL("auth_requests")
	updateAuthReqSQL = casSQL("auth_requests", "id = $2 AND expiry > $3", "expiry = $4, data = $5")
	createCodeSQL    = createExpiringSQL("auth_codes")
	updateCodeSQL    = casSQL("auth_codes", "id = $2 AND expiry > $3", "expiry = $4, data = $5")
)

func (s *Store) CreateAuthRequest(ctx context.Context, r store.AuthRequest) error {
	data, err := encode(r)
	if err == nil {
		err = insert(ctx, s.pool, createAuthReqSQL, r.ID, r.Expiry, r.Version, data, time.Now())
	}
	return wrap(err, "create auth request %s", r.ID)
}

func (s *Store) GetAuthRequest(ctx context.Context, id string) (store.AuthRequest, error) {
	r, err := getRecord(ctx, s.pool, authReqVersion,
		`SELECT data, version FROM auth_requests WHERE id = $1 AND expiry > $2`, id, time.Now())
	return r, wrap(err, "get auth request %s", id)
}

func (s *Store) UpdateAuthRequest(ctx context.Context, r store.AuthRequest) error {
	next := r
	next.Version++
	data, err := encode(next)
	if err == nil {
		err = cas(ctx, s.pool, updateAuthReqSQL, r.Version, r.ID, time.Now(), r.Expiry, data)
	}
	return wrap(err, "update auth request %s", r.ID)
}

func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	return wrap(exec(ctx, s.pool, `DELETE FROM auth_requests WHERE id = $1 AND expiry > $2`, id, time.Now()),
		"delete auth request %s", id)
}

func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	data, err := encode(c)
	if err == nil {
		err = insert(ctx, s.pool, createCodeSQL, c.ID, c.Expiry, c.Version, data, time.Now())
	}
	return wrap(err, "create auth code %s", c.ID)
}

func (s *Store) GetAuthCode(ctx context.Context, id string) (store.AuthCode, error) {
	c, err := getRecord(ctx, s.pool, codeVersion,
		`SELECT data, version FROM auth_codes WHERE id = $1 AND expiry > $2`, id, time.Now())
	return c, wrap(err, "get auth code %s", id)
}

func (s *Store) UpdateAuthCode(ctx context.Context, c store.AuthCode) error {
	next := c
	next.Version++
	data, err := encode(next)
	if err == nil {
		err = cas(ctx, s.pool, updateCodeSQL, c.Version, c.ID, time.Now(), c.Expiry, data)
	}
	return wrap(err, "update auth code %s", c.ID)
}

// Refresh families and tokens. Token hashes are credentials' digests: keep
// them out of error messages.

var (
	createFamilySQL = `INSERT INTO refresh_families (id, user_id, expiry, version, data) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id, expiry = EXCLUDED.expiry,
	version = EXCLUDED.version, data = EXCLUDED.data
WHERE refresh_families.expiry <= $6 RETURNING 1`
	updateFamilySQL = casSQL("refresh_families", "id = $2 AND expiry > $3", "user_id = $4, expiry = $5, data = $6")
	createTokenSQL  = `INSERT INTO refresh_tokens (hash, family_id, expiry) VALUES ($1, $2, $3)
ON CONFLICT (hash) DO UPDATE SET family_id = EXCLUDED.family_id, expiry = EXCLUDED.expiry
WHERE refresh_tokens.expiry <= $4 RETURNING 1`
)

func (s *Store) CreateRefreshFamily(ctx context.Context, f store.RefreshFamily, t store.RefreshToken) error {
	data, err := encode(f)
	if err != nil {
		return wrap(err, "create refresh family %s", f.ID)
	}
	return wrap(s.inTx(ctx, func(tx pgx.Tx) error {
		now := time.Now()
		if err := insert(ctx, tx, createFamilySQL, f.ID, f.UserID, f.Expiry, f.Version, data, now); err != nil {
			return err
		}
		return createToken(ctx, tx, t, now)
	}), "create refresh family %s", f.ID)
}

// createToken stores t unless its hash is empty (a session without a
// refresh token).
func createToken(ctx context.Context, q querier, t store.RefreshToken, now time.Time) error {
	if t.Hash == "" {
		return nil
	}
	if err := insert(ctx, q, createTokenSQL, t.Hash, t.FamilyID, t.Expiry, now); err != nil {
		return fmt.Errorf("refresh token: %w", err)
	}
	return nil
}

// updateFamily is the compare-and-swap of RotateRefresh and
// UpdateRefreshFamily.
func updateFamily(ctx context.Context, q querier, f store.RefreshFamily, now time.Time) error {
	next := f
	next.Version++
	data, err := encode(next)
	if err != nil {
		return err
	}
	return cas(ctx, q, updateFamilySQL, f.Version, f.ID, now, f.UserID, f.Expiry, data)
}

func (s *Store) GetRefreshFamily(ctx context.Context, id string) (store.RefreshFamily, error) {
	f, err := getRecord(ctx, s.pool, famVersion,
		`SELECT data, version FROM refresh_families WHERE id = $1 AND expiry > $2`, id, time.Now())
	return f, wrap(err, "get refresh family %s", id)
}

// GetRefreshTokenFamily is one statement: one round trip, one snapshot.
func (s *Store) GetRefreshTokenFamily(ctx context.Context, hash string) (store.RefreshToken, store.RefreshFamily, error) {
	t := store.RefreshToken{Hash: hash}
	if unstorable([]any{hash}) {
		return store.RefreshToken{}, store.RefreshFamily{}, store.ErrNotFound
	}
	if ra := store.ReadAheadFrom(ctx); ra != nil {
		return s.getRefreshReadAhead(ctx, hash, ra)
	}
	var data []byte
	var version *int64
	now := time.Now()
	err := s.pool.QueryRow(ctx, `SELECT t.family_id, t.expiry, f.data, f.version FROM refresh_tokens t
LEFT JOIN refresh_families f ON f.id = t.family_id AND f.expiry > $2
WHERE t.hash = $1 AND t.expiry > $2`, hash, now).Scan(&t.FamilyID, &t.Expiry, &data, &version)
	if err != nil {
		return store.RefreshToken{}, store.RefreshFamily{}, wrap(translate(err), "get refresh token and family")
	}
	if version == nil {
		return t, store.RefreshFamily{}, wrap(store.ErrNotFound, "get refresh family %s", t.FamilyID)
	}
	var f store.RefreshFamily
	if err := json.Unmarshal(data, &f); err != nil {
		return t, store.RefreshFamily{}, wrap(err, "get refresh family %s", t.FamilyID)
	}
	f.Version = *version
	return t, f, nil
}

func (s *Store) GetRefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	t := store.RefreshToken{Hash: hash}
	if unstorable([]any{hash}) {
		return store.RefreshToken{}, store.ErrNotFound
	}
	err := s.pool.QueryRow(ctx, `SELECT family_id, expiry FROM refresh_tokens WHERE hash = $1 AND expiry > $2`,
		hash, time.Now()).Scan(&t.FamilyID, &t.Expiry)
	if err != nil {
		return store.RefreshToken{}, wrap(translate(err), "get refresh token")
	}
	return t, nil
}

// RotateRefresh holds the family's row lock from its compare-and-swap to
// the commit: a racing rotation waits, then finds the new version.
// rotateSQL is RotateRefresh in one statement, so one round trip and an
// implicit transaction (issue 24; it was BEGIN, the compare-and-swap, the
// insert and COMMIT): the family's compare-and-swap (fam), the new token
// only if it won (tok; a hash held by an expired token is taken over, as
// createTokenSQL does), and whether the family was there at all. A hash
// held by a live token makes the statement fail on purpose, dividing by
// the zero rows tok inserted, so that the family's update is undone with
// it: errTokenTaken.
const rotateSQL = `WITH fam AS (
	UPDATE refresh_families SET user_id = $4, expiry = $5, data = $6, version = version + 1
	WHERE id = $2 AND expiry > $3 AND version = $1 RETURNING 1),
tok AS (
	INSERT INTO refresh_tokens (hash, family_id, expiry) SELECT $7, $2, $8 WHERE EXISTS (SELECT FROM fam)
	ON CONFLICT (hash) DO UPDATE SET family_id = EXCLUDED.family_id, expiry = EXCLUDED.expiry
	WHERE refresh_tokens.expiry <= $3 RETURNING 1)
SELECT EXISTS (SELECT FROM fam), EXISTS (SELECT FROM refresh_families WHERE id = $2 AND expiry > $3),
	CASE WHEN EXISTS (SELECT FROM fam) THEN (SELECT 1 / count(*) FROM tok) END`

// errTokenTaken is SQLSTATE 22012 (division_by_zero) from rotateSQL.
const errTokenTaken = "22012"

func (s *Store) RotateRefresh(ctx context.Context, f store.RefreshFamily, t store.RefreshToken) error {
	next := f
	next.Version++
	data, err := encode(next)
	if err != nil {
		return wrap(err, "rotate refresh family %s", f.ID)
	}
	if t.Hash == "" || t.FamilyID != f.ID || unstorable([]any{t.Hash}) {
		// Not what Rotate sends; the general path says what is wrong.
		return wrap(s.inTx(ctx, func(tx pgx.Tx) error {
			now := time.Now()
			if err := updateFamily(ctx, tx, f, now); err != nil {
				return err
			}
			return createToken(ctx, tx, t, now)
		}), "rotate refresh family %s", f.ID)
	}
	var updated, existed bool
	var inserted *int
	err = s.pool.QueryRow(ctx, rotateSQL, f.Version, f.ID, time.Now(), f.UserID, f.Expiry, data, t.Hash, t.Expiry).
		Scan(&updated, &existed, &inserted)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == errTokenTaken:
		err = fmt.Errorf("refresh token: %s: %w", constraints["refresh_tokens_pkey"], store.ErrAlreadyExists)
	case err != nil:
		err = translate(err)
	case updated:
	case existed:
		err = store.ErrConflict
	default:
		err = store.ErrNotFound
	}
	return wrap(err, "rotate refresh family %s", f.ID)
}

func (s *Store) UpdateRefreshFamily(ctx context.Context, f store.RefreshFamily) error {
	return wrap(updateFamily(ctx, s.pool, f, time.Now()), "update refresh family %s", f.ID)
}

func (s *Store) ListRefreshFamilies(ctx context.Context, userID string) ([]store.RefreshFamily, error) {
	fs, err := listRecords(ctx, s.pool, famVersion,
		`SELECT data, version FROM refresh_families WHERE user_id = $1 AND expiry > $2`, userID, time.Now())
	return fs, wrap(err, "list refresh families of user %s", userID)
}

// Denied access tokens.

// DenyAccessToken never shortens a denial: denying again keeps the later
// expiry.
func (s *Store) DenyAccessToken(ctx context.Context, jti string, expiry time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO denied_access_tokens (jti, expiry) VALUES ($1, $2)
ON CONFLICT (jti) DO UPDATE SET expiry = greatest(denied_access_tokens.expiry, EXCLUDED.expiry)`, jti, expiry)
	return wrap(translate(err), "deny access token %s", jti)
}

func (s *Store) AccessTokenDenied(ctx context.Context, jti string) (bool, error) {
	var denied bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM denied_access_tokens WHERE jti = $1 AND expiry > $2)`,
		jti, time.Now()).Scan(&denied)
	return denied, wrap(err, "access token denied %s", jti)
}

// Opaque access tokens, by hash: keep it out of error messages.

func (s *Store) CreateOpaqueToken(ctx context.Context, t store.OpaqueToken) error {
	data, err := encode(t)
	if err == nil {
		err = insert(ctx, s.pool, `INSERT INTO opaque_tokens (hash, expiry, data) VALUES ($1, $2, $3)
ON CONFLICT (hash) DO UPDATE SET expiry = EXCLUDED.expiry, data = EXCLUDED.data
WHERE opaque_tokens.expiry <= $4 RETURNING 1`, t.Hash, t.Expiry, data, time.Now())
	}
	return wrap(err, "create opaque token")
}

func (s *Store) GetOpaqueToken(ctx context.Context, hash string) (store.OpaqueToken, error) {
	t, err := getRecord[store.OpaqueToken](ctx, s.pool, nil,
		`SELECT data FROM opaque_tokens WHERE hash = $1 AND expiry > $2`, hash, time.Now())
	return t, wrap(err, "get opaque token")
}

func (s *Store) DeleteOpaqueToken(ctx context.Context, hash string) error {
	return wrap(exec(ctx, s.pool, `DELETE FROM opaque_tokens WHERE hash = $1 AND expiry > $2`, hash, time.Now()),
		"delete opaque token")
}

// Signing keys: one row, id 1.

func (s *Store) GetKeys(ctx context.Context) (store.KeySet, error) {
	ks, err := getRecord(ctx, s.pool, func(k *store.KeySet) *int64 { return &k.Version },
		`SELECT data, version FROM signing_keys WHERE id = 1`)
	if errors.Is(err, store.ErrNotFound) {
		return store.KeySet{}, nil
	}
	return ks, wrap(err, "get keys")
}

// UpdateKeys at Version 0 creates the row, and loses (store.ErrConflict) to
// a racing create; at another Version it is a compare-and-swap, which finds
// no row at that version (store.ErrConflict) when none is stored, as none
// stored is Version 0.
func (s *Store) UpdateKeys(ctx context.Context, k store.KeySet) error {
	next := k
	next.Version++
	data, err := encode(next)
	if err != nil {
		return wrap(err, "update keys")
	}
	var tag pgconn.CommandTag
	if k.Version == 0 {
		tag, err = s.pool.Exec(ctx, `INSERT INTO signing_keys (id, version, data) VALUES (1, 1, $1)
ON CONFLICT (id) DO NOTHING`, data)
	} else {
		tag, err = s.pool.Exec(ctx, `UPDATE signing_keys SET version = version + 1, data = $2
WHERE id = 1 AND version = $1`, k.Version, data)
	}
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrConflict
	}
	return wrap(translate(err), "update keys")
}
