// Package storetest is the conformance suite of bot.Store: one set of
// tests that every store (memory, SQLite, PostgreSQL) must pass, in the
// manner of testing/slogtest. A store's own tests call Run with a function
// that opens an empty store.
//
// Stored times come from a fixed fake base, never the wall clock, except
// in the outbox lease tests: Turn leases a turn's entries until
// now+bot.OutboxLease, so those turns happen at time.Now (their
// conversation's Updated is the wall clock too) and ClaimOutbox is called
// at times relative to time.Now.
package storetest
