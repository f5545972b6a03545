package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// migrations are the schema's versions: migrations/NNN_name.sql takes the
// schema from version NNN-1 to NNN. Never edit a released one; add the
// next.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// loadMigrations returns the migration scripts in order, checking that
// their numbers run 1, 2, 3… without gaps.
func loadMigrations(fsys fs.FS) ([]string, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	scripts := make([]string, len(names))
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 1 || n > len(names) || scripts[n-1] != "" {
			return nil, fmt.Errorf("migration %s: want names 001_name.sql, 002_name.sql… without gaps", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		scripts[n-1] = string(b)
	}
	return scripts, nil
}

// migrate brings the schema of db up to the newest version this binary
// knows, in one transaction (BEGIN IMMEDIATE: two processes starting at
// once take turns). A newer schema is refused.
func migrate(ctx context.Context, db *sql.DB) error {
	scripts, err := loadMigrations(migrationFS)
	if err != nil {
		return err
	}
	return migrateWith(ctx, db, scripts)
}

func migrateWith(ctx context.Context, db *sql.DB, scripts []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var version int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	case err != nil:
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if version > len(scripts) {
		return fmt.Errorf("database schema version %d is newer than this dmdoctor (knows up to %d): upgrade dmdoctor", version, len(scripts))
	}
	if version == len(scripts) {
		return nil
	}
	for v := version + 1; v <= len(scripts); v++ {
		if _, err := tx.ExecContext(ctx, scripts[v-1]); err != nil {
			return fmt.Errorf("migrate to schema version %d: %w", v, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, len(scripts)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}
