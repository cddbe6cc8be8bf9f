// Package postgres is the PostgreSQL store.Store backend: the shared store
// that lets several Portico replicas serve one issuer, where the embedded
// badger backend allows a single process.
//
// Each record is a row: the whole record as JSON, beside typed columns for
// what the store looks it up by, orders it by or keeps unique (see
// migrations/0001_init.sql). Uniqueness is the database's: a primary key, a
// unique index on a username or a lower-cased email, a foreign key from an
// identity to its user. The store never reads to check that a name is free
// and then writes, which two replicas could both do at once.
//
// The store's compare-and-swap is a conditional statement,
//
//	UPDATE t SET ..., version = version + 1 WHERE id = $k AND version = $v
//
// which PostgreSQL runs under the row's lock: of two racing updates at the
// same version the second waits for the first, re-reads the row, finds the
// new version and matches nothing. When it matches nothing, the same
// statement reports whether the row was there at all, so that the caller
// gets store.ErrConflict for a lost race and store.ErrNotFound for a missing
// or expired row. Operations that touch several rows (a user and its
// identities, a refresh rotation's family and token, a batch of audit
// events) run in one transaction; none runs caller code inside it.
//
// Short-lived rows carry an expiry column. Reads compare it with the
// replica's clock (time.Now, passed as a parameter, as badger compares its
// own), so a record is gone the instant its Expiry passes, which the
// replica computed with the same clock: keep the replicas' clocks in sync.
// A background job deletes expired rows later, in small batches, under an
// advisory lock that one replica at a time holds. Times keep PostgreSQL's
// precision, microseconds, in the columns, and Go's in the JSON.
//
// The schema is versioned: numbered SQL files embedded in the binary,
// applied in order and recorded in schema_migrations. Open applies the
// missing ones (unless told not to; Migrate does it alone, for a
// "portico migrate" run before a deployment) in one transaction under an
// advisory lock, so that replicas starting together apply each migration
// exactly once.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/portico-idp/portico/broker/store"
)

// Options configures Open and Migrate.
type Options struct {
	// DSN is a PostgreSQL connection string, URL or key=value form, as
	// libpq takes it (postgres://user@host:5432/db?sslmode=verify-full),
	// with pgx's parameters too (pool_max_conns, default_query_exec_mode).
	// The store takes only transaction-scoped advisory locks, so a pooler
	// in transaction mode is fine if it passes the search_path through.
	DSN string
	// Schema holds Portico's tables; it is created if missing and made the
	// connections' search_path. Empty uses the first schema of the DSN's
	// search_path (normally "public").
	Schema string
	// Logger receives migration and cleanup messages; nil means
	// slog.Default().
	Logger *slog.Logger
	// NoMigrate makes Open only check that the schema is up to date, for
	// deployments that run Migrate (portico migrate) as a separate step.
	NoMigrate bool
	// CleanupInterval is how often expired rows are deleted; zero means
	// DefaultCleanupInterval and a negative value disables the job (another
	// replica, or nothing, deletes them; reads hide them anyway).
	CleanupInterval time.Duration
	// CleanupBatch is how many rows one cleanup statement deletes at most;
	// zero means DefaultCleanupBatch.
	CleanupBatch int
	// MaxConns bounds the connection pool; zero means the DSN's
	// pool_max_conns or, without it, DefaultMaxConns.
	MaxConns int32
}

// DefaultMaxConns is the pool's size unless the DSN's pool_max_conns or
// Options.MaxConns says otherwise: twice the CPUs Go uses, at least 8.
// A request holds a connection for a statement's round trip, which is
// mostly waiting (the network, the WAL flush): with pgxpool's default
// (the larger of 4 and the CPUs) 8 concurrent refreshes on 2 cores
// queued for connections, and 8 rotated 18% more (docs/performance.md).
func DefaultMaxConns() int32 { return max(8, 2*int32(runtime.GOMAXPROCS(0))) }

// PoolSize is the size of the pool Open makes for dsn (with
// Options.MaxConns zero).
func PoolSize(dsn string) (int32, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return 0, errors.New("cannot parse the DSN")
	}
	return poolSize(dsn, cfg), nil
}

// poolSize is the DSN's pool_max_conns if it names one, else
// DefaultMaxConns. pgxpool hides whether the DSN set it; a password
// holding the parameter's name only keeps pgxpool's default.
func poolSize(dsn string, cfg *pgxpool.Config) int32 {
	if strings.Contains(dsn, "pool_max_conns") {
		return cfg.MaxConns
	}
	return DefaultMaxConns()
}

// Defaults of Options.CleanupInterval and Options.CleanupBatch.
const (
	DefaultCleanupInterval = 5 * time.Minute
	DefaultCleanupBatch    = 1000
)

// Store is a store.Store kept in PostgreSQL. It is safe for concurrent use,
// by any number of Stores in any number of processes on the same schema.
type Store struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	schema string // the schema in use, which names its advisory locks
	batch  int

	jobCtx    context.Context    // ends at Close: the cleanup job's and watches' context
	stop      context.CancelFunc // cancels jobCtx
	done      chan struct{}      // closed when the cleanup job has stopped
	watchers  sync.WaitGroup     // Watch's goroutines, waited for by Close
	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// Open connects to the database, applies the missing migrations (unless
// opts.NoMigrate) and starts the cleanup job.
func Open(ctx context.Context, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	pool, schema, err := connect(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if opts.NoMigrate {
		err = checkMigrated(ctx, pool)
	} else {
		_, err = migrate(ctx, pool, schema, opts.Schema != "", log)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &Store{pool: pool, log: log, schema: schema, batch: opts.CleanupBatch, done: make(chan struct{})}
	if s.batch <= 0 {
		s.batch = DefaultCleanupBatch
	}
	interval := opts.CleanupInterval
	if interval == 0 {
		interval = DefaultCleanupInterval
	}
	// The job outlives ctx, which only bounds Open: Close stops it.
	jobCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.jobCtx, s.stop = jobCtx, stop
	if interval > 0 {
		go s.cleanup(jobCtx, interval)
	} else {
		close(s.done)
	}
	return s, nil
}

// Close stops the cleanup job and closes the connections. Calling it again
// does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		<-s.done
		s.watchers.Wait()
		s.pool.Close()
	})
	return nil
}

// connect opens a pool on opts.DSN with opts.Schema as its search_path,
// checks that the server answers, and returns the schema in use.
func connect(ctx context.Context, opts Options) (*pgxpool.Pool, string, error) {
	if opts.DSN == "" {
		return nil, "", errors.New("no DSN given")
	}
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		// pgx's message may hold the password; say only what failed.
		return nil, "", errors.New("cannot parse the DSN")
	}
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	// A write refused as read-only may be the session's default
	// (ALTER DATABASE ... SET default_transaction_read_only), fixed when
	// the connection started: the connection goes, so that the pool's
	// next one sees the database as it is now. Otherwise a database made
	// writable again stayed read-only for this replica's old connections.
	onErr := cfg.ConnConfig.OnPgError
	cfg.ConnConfig.OnPgError = func(c *pgconn.PgConn, e *pgconn.PgError) bool {
		return e.Code != "25006" && (onErr == nil || onErr(c, e))
	}
	cfg.MaxConns = poolSize(opts.DSN, cfg)
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, "", err
	}
	schema := opts.Schema
	if schema == "" {
		var cur *string
		err = pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&cur)
		if err == nil && cur == nil {
			err = errors.New("no schema on the search_path exists: set Options.Schema or the DSN's search_path")
		}
		if cur != nil {
			schema = *cur
		}
	} else {
		err = pool.Ping(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, "", err
	}
	return pool, schema, nil
}

// Advisory locks are the two-int4 kind: lockSpace, then a hash of the
// purpose and schema, so that stores on different schemas of one database
// do not wait for each other.
const lockSpace int32 = 0x70727463 // "prtc"

func lockKey(purpose, schema string) int32 {
	h := fnv.New32a()
	h.Write([]byte(purpose + "\x00" + schema))
	return int32(h.Sum32())
}

// querier is a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// maxAttempts bounds the runs of a transaction that PostgreSQL aborted to
// break a deadlock (two creates claiming the same names in another order).
const maxAttempts = 3

// inTx runs fn in a transaction and commits it, re-running it when the
// server aborted it for a deadlock or serialization failure; fn must not
// carry state from one run to the next.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if !retryable(err) {
			return err
		}
		if attempt == maxAttempts {
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		}
	}
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// constraints names what each constraint stands for, for error messages;
// PostgreSQL's own detail holds the key values, which may be token hashes.
var constraints = map[string]string{
	"users_pkey":                  "user exists",
	"clients_pkey":                "client exists",
	"local_accounts_pkey":         "local account exists",
	"local_accounts_username_key": "username taken",
	"local_accounts_email_key":    "email taken",
	"identities_pkey":             "identity already linked",
	"identities_user_id_fkey":     "no such user",
	"refresh_tokens_pkey":         "refresh token taken",
	"audit_events_pkey":           "event already stored",
}

// translate turns the errors that the store's contract names into its
// sentinels: a unique violation is store.ErrAlreadyExists, a missing
// foreign row store.ErrNotFound, no row store.ErrNotFound.
func translate(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return store.ErrNotFound
	case !errors.As(err, &pgErr):
		return err
	}
	what := constraints[pgErr.ConstraintName]
	if what == "" {
		what = "constraint " + pgErr.ConstraintName
	}
	switch pgErr.Code {
	case "23505": // unique_violation
		return fmt.Errorf("%s: %w", what, store.ErrAlreadyExists)
	case "23503": // foreign_key_violation
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return err
}

// wrap adds what failed to err, keeping it testable with errors.Is. An
// error of SQLSTATE class 53, insufficient resources (53100 disk_full,
// 53200 out_of_memory, 53300 too_many_connections), a write refused as
// read-only (25006: a hot standby, a database set read-only) or a server
// shutting down or starting (57P01–57P03) is the server's passing state,
// not a verdict on the request: it becomes store.ErrUnavailable, so that callers answer 503 and the readiness probe
// fails until writes succeed again. PostgreSQL returns these as errors and
// stays up (a full disk under its write-ahead log makes it restart
// instead, which the probe's read sees), so no guard is needed here.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if unavailable(err) {
		return fmt.Errorf("postgres: "+format+": %w: %w", append(args, store.ErrUnavailable, err)...)
	}
	return fmt.Errorf("postgres: "+format+": %w", append(args, err)...)
}

// unavailable reports whether err is PostgreSQL running out of a resource.
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "25006", // read_only_sql_transaction: a hot standby, or a database set read-only
		"57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
		return true
	}
	return strings.HasPrefix(pgErr.Code, "53")
}

// exec runs a statement that must change a row: store.ErrNotFound if it
// changed none.
func exec(ctx context.Context, q querier, sql string, args ...any) error {
	tag, err := q.Exec(ctx, sql, args...)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// insert runs an INSERT ... RETURNING 1 whose ON CONFLICT clause replaces
// only an expired row: store.ErrAlreadyExists if it returned nothing.
func insert(ctx context.Context, q querier, sql string, args ...any) error {
	var one int
	err := q.QueryRow(ctx, sql, args...).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrAlreadyExists
	}
	return translate(err)
}

// casSQL is the compare-and-swap of one row of table. $1 is the version
// read, key the condition selecting the live row (its parameters from $2),
// set the columns written besides version. The statement returns whether it
// updated the row and whether a live row was there: both reads of the row
// see the same snapshot, so "there but not updated" is a lost race.
func casSQL(table, key, set string) string {
	return `WITH updated AS (
	UPDATE ` + table + ` SET ` + set + `, version = version + 1
	WHERE ` + key + ` AND version = $1 RETURNING 1)
SELECT EXISTS (SELECT FROM updated), EXISTS (SELECT FROM ` + table + ` WHERE ` + key + `)`
}

// cas runs a statement of casSQL: store.ErrConflict if the row is at
// another version, store.ErrNotFound if there is no live row.
func cas(ctx context.Context, q querier, sql string, args ...any) error {
	var updated, exists bool
	if err := q.QueryRow(ctx, sql, args...).Scan(&updated, &exists); err != nil {
		return translate(err)
	}
	switch {
	case updated:
		return nil
	case exists:
		return store.ErrConflict
	}
	return store.ErrNotFound
}

// encode is the JSON of a record, for its data column.
func encode(r any) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return b, nil
}

// scanRecord decodes a row of (data) or, with version, (data, version); the
// version column is the authority.
func scanRecord[R any](row pgx.Row, version func(*R) *int64) (R, error) {
	var (
		r    R
		data []byte
		v    int64
		err  error
	)
	if version != nil {
		err = row.Scan(&data, &v)
	} else {
		err = row.Scan(&data)
	}
	if err != nil {
		return r, translate(err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("decode: %w", err)
	}
	if version != nil {
		*version(&r) = v
	}
	return r, nil
}

// getRecord runs a query for one row of scanRecord's form.
func getRecord[R any](ctx context.Context, q querier, version func(*R) *int64, sql string, args ...any) (R, error) {
	if unstorable(args) {
		var zero R
		return zero, store.ErrNotFound
	}
	return scanRecord(q.QueryRow(ctx, sql, args...), version)
}

// unstorable reports whether a string argument cannot be the key of any
// row: PostgreSQL's text holds neither NUL nor bytes that are not UTF-8,
// and would fail the query (a 503 to a caller who sent such a client_id)
// where the answer is plainly "no such record".
func unstorable(args []any) bool {
	for _, a := range args {
		if s, ok := a.(string); ok && (strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s)) {
			return true
		}
	}
	return false
}

// listRecords runs a query for rows of scanRecord's form.
func listRecords[R any](ctx context.Context, q querier, version func(*R) *int64, sql string, args ...any) ([]R, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []R
	for rows.Next() {
		r, err := scanRecord(rows, version)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, translate(rows.Err())
}

// nullString is s, or NULL for "": an empty name claims no unique key.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullTime is t, or NULL for the zero time: a record that never expires.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
