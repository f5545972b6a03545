package postgres

import (
	"testing"

	"github.com/dmdoctor/dmdoctor/store/postgres/pgtest"

	"github.com/dmdoctor/dmdoctor/store/storetest"
)

// BenchmarkTurn measures durable turns per second with many conversations
// at once: 1,000 keys, 32 goroutines per CPU, each turn saving a ~1 KB
// state, a transcript line and an outbox entry, in the database of
// DMDOCTOR_TEST_POSTGRES.
//
//	eval "$(bash .ci/postgres.sh)"
//	go test ./store/postgres -run '^$' -bench Turn -benchtime 20000x -count 3
func BenchmarkTurn(b *testing.B) {
	s := open(b, pgtest.DSN(b))
	defer s.Close()
	storetest.BenchTurns(b, s)
}
