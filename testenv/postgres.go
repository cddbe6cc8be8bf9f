package testenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresDSN is the PostgreSQL server tests use: PORTICO_TEST_POSTGRES_DSN,
// or the local one with trust authentication these machines run.
func PostgresDSN() string {
	if dsn := os.Getenv("PORTICO_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// PostgresSchema returns a fresh schema name on PostgresDSN that is dropped
// when the test ends. Without a reachable server it skips the test loudly,
// or fails it under CI=true.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, PostgresDSN())
	if err == nil {
		err = conn.Ping(ctx)
	}
	if err != nil {
		msg := fmt.Sprintf("no PostgreSQL (%v); set PORTICO_TEST_POSTGRES_DSN", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPING: " + msg)
	}
	conn.Close(ctx)
	name := "portico_t_" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, PostgresDSN())
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}
