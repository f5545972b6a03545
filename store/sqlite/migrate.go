package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"github.com/dmdoctor/dmdoctor/store/internal/migrations"
)

// migrations are the schema's versions: migrations/NNN_name.sql takes the
// schema from version NNN-1 to NNN. Never edit a released one; add the
// next.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrate brings the schema of db up to the newest version this binary
// knows, in one transaction (BEGIN IMMEDIATE: two processes starting at
// once take turns). A newer schema is refused.
func migrate(ctx context.Context, db *sql.DB) error {
	scripts, err := migrations.Load(migrationFS)
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
		return migrations.Newer(version, len(scripts))
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
