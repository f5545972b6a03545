package postgres_test

import (
	"context"
	"log"

	"github.com/dmdoctor/dmdoctor/store/postgres"
)

// Open takes a postgres:// URL or key=value DSN; pool_max_conns and
// search_path may be set in it.
func ExampleOpen() {
	ctx := context.Background()
	s, err := postgres.Open(ctx, "postgres://dmdoctor@db.internal:5432/dmdoctor?sslmode=verify-full&pool_max_conns=32")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
}
