// Package postgres is the bot.Store for several dmdoctor instances sharing
// one PostgreSQL database, through pgx (github.com/jackc/pgx/v5). Like
// every store it sits under package bot, which calls it; cmd/dmdoctor
// opens it.
//
// A turn is one transaction of two round trips. The first takes a
// transaction-level advisory lock on the conversation's key
// (pg_advisory_xact_lock), so turns of one conversation take turns across
// instances; records the message as handled, a row keyed (channel,
// msg_id), so that a message fed to two instances at once is handled
// once and a duplicate is known before fn is called; and reads the
// conversation. The second saves, fenced by the Version read (UPDATE …
// WHERE version = $read; no row changed fails the transaction), so that a
// writer bypassing the lock can never overwrite a newer state: the turn
// then starts over, up to a bound, and finally fails with
// bot.ErrConflict. It ends with COMMIT.
//
// Outbox entries carry a lease (lease_until); ClaimOutbox takes expired
// ones with FOR UPDATE SKIP LOCKED, so that pollers never get the same
// entry. ClaimTicket is one conditional UPDATE, so that of moderators
// claiming at once on any instances exactly one wins.
//
// The schema is versioned (the schema_version table) and migrated at Open
// in one transaction under a session advisory lock, so that instances
// starting together migrate once; a database written by a newer dmdoctor
// is refused. Tables go to the first schema of the connection's
// search_path (search_path=name in the DSN keeps several apart).
//
// Tests and benchmarks use the database of DMDOCTOR_TEST_POSTGRES, each
// in a schema of its own, and are skipped without it; .ci/postgres.sh
// starts a throwaway server and prints the variable.
package postgres
