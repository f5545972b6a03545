// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema of the server named by DMDOCTOR_TEST_POSTGRES, dropped when the
// test ends. Tests that use it skip, saying why, when the variable is not
// set (.ci/postgres.sh starts a throwaway server and sets it).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Env is the variable that holds the test server's DSN.
const Env = "DMDOCTOR_TEST_POSTGRES"

// DSN returns a DSN for a fresh schema of the test database, dropped when
// t ends; it skips t when DMDOCTOR_TEST_POSTGRES is not set.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		t.Skip("DMDOCTOR_TEST_POSTGRES not set: skipping PostgreSQL tests (CI sets it; start a server with: eval \"$(bash .ci/postgres.sh)\")")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "dmdoctor_test_" + hex.EncodeToString(b)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dsn) // accepts the pool_* settings too
	if err != nil {
		t.Fatalf("%s: cannot parse", Env)
	}
	exec := func(q string) error {
		conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, q)
		return err
	}
	if err := exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("connect to %s: %v", Env, err)
	}
	t.Cleanup(func() {
		if err := exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return WithSearchPath(t, dsn, schema)
}

// WithSearchPath returns dsn with its search path set to schema.
func WithSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if !strings.Contains(dsn, "://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s: not a URL", Env)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
