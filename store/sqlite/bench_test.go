package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/dmdoctor/dmdoctor/store/storetest"
)

// BenchmarkTurn measures durable turns per second with many conversations
// at once (see storetest.BenchTurns).
//
//	go test ./store/sqlite -run '^$' -bench Turn -benchtime 20000x -count 3
func BenchmarkTurn(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			s := open(b, filepath.Join(b.TempDir(), "bench.db"), WithSynchronous(sync))
			defer s.Close()
			storetest.BenchTurns(b, s)
		})
	}
}
