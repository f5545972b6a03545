// Package store holds the implementations of bot.Store: memory (tests and
// trials), sqlite (the default, one file) and postgres (several
// instances), and storetest, the conformance suite every one must pass.
package store
