package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/internal/keylock"
	"github.com/dmdoctor/dmdoctor/store/internal/migrations"
)

const (
	defaultMaxConns = 16
	maxAttempts     = 5 // tries of a turn whose conversation changed meanwhile
)

// Store is a bot.Store in a PostgreSQL database. Open it with Open; it is
// safe for concurrent use, also by several processes.
type Store struct {
	pool  *pgxpool.Pool
	now   func() time.Time
	locks keylock.Locks[bot.Key]
}

var _ bot.Store = (*Store)(nil)

type options struct {
	now func() time.Time
}

// Option configures Open.
type Option func(*options)

// WithClock sets the clock that outbox leases start from (default
// time.Now). Instances sharing a database should have their clocks in
// sync.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// Open connects to the database of dsn (a postgres:// URL or key=value
// string; pgxpool's pool_* settings apply, the pool holding 16
// connections unless pool_max_conns says otherwise) and brings its schema
// up to date. Errors never show the DSN, which may hold a password.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts passwords on a best-effort basis only: say nothing
		// of the DSN.
		return nil, errors.New("postgres: cannot parse the DSN (not shown: it may hold a password)")
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &Store{pool: pool, now: o.now}, nil
}

// Close closes the connections, waiting for those in use to be released.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// migrations are the schema's versions: migrations/NNN_name.sql takes the
// schema from version NNN-1 to NNN. Never edit a released one; add the
// next.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrateLock is the session advisory lock held while migrating.
var migrateLock = lockKey("dmdoctor", "migrate")

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	scripts, err := migrations.Load(migrationFS)
	if err != nil {
		return err
	}
	return migrateWith(ctx, pool, scripts)
}

// migrateWith brings the schema up to len(scripts) in one transaction,
// holding a session advisory lock meanwhile so that instances starting
// together take turns. A newer schema is refused.
func migrateWith(ctx context.Context, pool *pgxpool.Pool, scripts []string) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLock); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		// A fresh context: the lock must go even when ctx has ended.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, migrateLock); err != nil {
			conn.Conn().Close(uctx) // closing the session releases the lock
		}
	}()
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		var version int
		err := tx.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&version)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
		case err != nil:
			return fmt.Errorf("migrate: read schema version: %w", err)
		}
		if version > len(scripts) {
			return migrations.Newer(version, len(scripts))
		}
		for v := version + 1; v <= len(scripts); v++ {
			// The simple protocol runs a script of several statements.
			if _, err := tx.Exec(ctx, scripts[v-1], pgx.QueryExecModeSimpleProtocol); err != nil {
				return fmt.Errorf("migrate to schema version %d: %w", v, err)
			}
		}
		if version < len(scripts) {
			if _, err := tx.Exec(ctx, `UPDATE schema_version SET version = $1`, len(scripts)); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
		}
		return nil
	})
}

// lockKey is the advisory lock key of a conversation: a 64-bit FNV-1a
// hash of its key (a collision only makes two conversations take turns).
func lockKey(channel, user string) int64 {
	h := fnv.New64a()
	h.Write([]byte(channel))
	h.Write([]byte{0})
	h.Write([]byte(user))
	return int64(h.Sum64())
}

// wrapCtx makes an error caused by ctx's end wrap ctx.Err(): pgx reports
// a query cancelled midway as a server error.
func wrapCtx(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}
