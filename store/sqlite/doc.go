// Package sqlite is the default bot.Store: everything dmdoctor remembers,
// in one SQLite file (./dmdoctor.db unless told otherwise), through the
// pure-Go driver modernc.org/sqlite. It suits one dmdoctor instance; for
// several instances sharing state use package store/postgres.
//
// The file is in WAL mode, so readers never wait for the writer. SQLite
// has one writer at a time; the Store funnels every write through one
// connection owned by a goroutine that commits concurrent writes together
// (group commit): each write runs in a savepoint of a shared transaction
// and is acknowledged only once that transaction has committed, so one
// fsync serves many turns. Turn reads the conversation and calls fn
// outside that writer, under a per-conversation lock, and its write is
// fenced by the conversation's Version: a conversation changed meanwhile
// (by another process on the same file, or by Purge) makes the turn start
// over, up to a bound, then fail with bot.ErrConflict.
//
// Durability is PRAGMA synchronous=FULL by default: a turn acknowledged
// survives a power loss. WithSynchronous("NORMAL") trades that for speed:
// still safe against a crash or kill -9 of the process (the WAL is in the
// operating system's hands), but a power loss may undo the last commits.
//
// The schema is versioned (the schema_version table) and migrated at Open
// in one transaction; a file written by a newer dmdoctor is refused.
package sqlite
