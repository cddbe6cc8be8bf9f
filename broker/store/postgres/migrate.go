package postgres

import (
	"cmp"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The migrations are NNNN_name.sql, applied in the order of NNNN, each once.
// They are forward-only: a released file is never edited, a change is a new
// file. Each runs inside Migrate's transaction, so it must not use
// statements that refuse one (CREATE INDEX CONCURRENTLY, VACUUM).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version  int
	name     string // the file name without .sql
	sql      string
	checksum string // sha256 of sql, recorded to notice an edited file
}

// migrations returns the embedded migrations in order.
func migrations() ([]migration, error) {
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".sql")
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name does not start with a positive number", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		ms = append(ms, migration{version: v, name: name, sql: string(b), checksum: hex.EncodeToString(sum[:])})
	}
	slices.SortFunc(ms, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same number", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// Migrate applies the migrations that the schema opts names lacks, creating
// the schema if opts.Schema names one that does not exist, and returns the
// names of those it applied (none when the schema is up to date). It is
// what Open does first unless opts.NoMigrate; the CLI's "portico migrate"
// calls it alone. Any number of processes may call it at once: an advisory
// lock makes them take turns, and the later ones find nothing to do.
func Migrate(ctx context.Context, opts Options) ([]string, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	pool, schema, err := connect(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	defer pool.Close()
	applied, err := migrate(ctx, pool, schema, opts.Schema != "", log)
	return applied, wrap(err, "migrate schema %s", schema)
}

// migrate applies the missing migrations to schema in one transaction, which
// holds the schema's migration lock: a failed migration leaves nothing
// behind, and a replica that waited for the lock sees what the holder
// applied.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string, create bool, log *slog.Logger) ([]string, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	var applied []string
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		applied = nil
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, lockSpace, lockKey("migrate", schema)); err != nil {
			return fmt.Errorf("take the migration lock: %w", err)
		}
		if create {
			ident := pgx.Identifier{schema}.Sanitize()
			// Under the lock, so that two replicas do not race to create it
			// (IF NOT EXISTS is not safe against a concurrent create).
			if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+ident+`; SET LOCAL search_path TO `+ident); err != nil {
				return fmt.Errorf("create schema: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	checksum   text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		done, err := appliedMigrations(ctx, tx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if sum, ok := done[m.version]; ok {
				if sum != m.checksum {
					log.Warn("postgres: an applied migration has changed since; it is not applied again",
						"migration", m.name, "schema", schema)
				}
				delete(done, m.version)
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`,
				m.version, m.name, m.checksum); err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
			applied = append(applied, m.name)
		}
		for v := range done {
			// A newer Portico migrated the schema: an old replica of a
			// rolling deployment keeps working, as migrations only add.
			log.Warn("postgres: the schema has a migration this binary does not know; it is newer than this binary",
				"version", v, "schema", schema)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, name := range applied {
		log.Info("postgres: applied migration", "migration", name, "schema", schema)
	}
	return applied, nil
}

// appliedMigrations returns the checksums of the applied migrations by
// version.
func appliedMigrations(ctx context.Context, q querier) (map[int]string, error) {
	rows, err := q.Query(ctx, `SELECT version, checksum FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	done := map[int]string{}
	var (
		v   int
		sum string
	)
	_, err = pgx.ForEachRow(rows, []any{&v, &sum}, func() error {
		done[v] = sum
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return done, nil
}

// ErrNotMigrated is returned by Open with Options.NoMigrate when the schema
// lacks a migration that this binary has.
var ErrNotMigrated = errors.New("the schema lacks migrations: run portico migrate")

// checkMigrated is ErrNotMigrated if a migration is missing.
func checkMigrated(ctx context.Context, q querier) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	done, err := appliedMigrations(ctx, q)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		done, err = map[int]string{}, nil
	}
	if err != nil {
		return err
	}
	var missing []string
	for _, m := range ms {
		if _, ok := done[m.version]; !ok {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w (%s)", ErrNotMigrated, strings.Join(missing, ", "))
	}
	return nil
}
