package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dmdoctor/dmdoctor/bot"
)

// Stats implements bot.Store, reading one snapshot of the database (a
// repeatable-read transaction). Conversations counts those created
// since; Outcomes, Deflection and TopCauses count outcomes recorded since;
// Handoffs, MedianClaim and the ratings are over tickets created since;
// OpenTickets counts all open tickets. bot.FinishStats derives the
// figures.
func (s *Store) Stats(ctx context.Context, since time.Time) (bot.Stats, error) {
	st := bot.Stats{Since: since, Outcomes: map[string]int{}, Handoffs: map[string]int{}}
	causes := map[string]int{}
	var claims []time.Duration
	var ratingSum int
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT count(*) FROM conversations WHERE created >= $1`, since).QueryRow(func(r pgx.Row) error {
			return r.Scan(&st.Conversations)
		})
		b.Queue(`SELECT kind, count(*) FROM outcomes WHERE time >= $1 GROUP BY kind`, since).Query(counts(st.Outcomes))
		b.Queue(`SELECT cause, count(*) FROM outcomes WHERE time >= $1 AND cause <> '' GROUP BY cause`, since).Query(counts(causes))
		b.Queue(`SELECT reason, count(*) FROM tickets WHERE created >= $1 GROUP BY reason`, since).Query(counts(st.Handoffs))
		b.Queue(`SELECT claimed - created FROM tickets WHERE created >= $1 AND claimed IS NOT NULL`, since).Query(func(rows pgx.Rows) error {
			var d time.Duration
			_, err := pgx.ForEachRow(rows, []any{&d}, func() error {
				claims = append(claims, d)
				return nil
			})
			return err
		})
		b.Queue(`SELECT count(*), coalesce(sum(rating), 0) FROM tickets WHERE rating > 0 AND created >= $1`, since).QueryRow(func(r pgx.Row) error {
			return r.Scan(&st.Ratings, &ratingSum)
		})
		b.Queue(`SELECT count(*) FROM tickets WHERE state IN ('pending', 'claimed')`).QueryRow(func(r pgx.Row) error {
			return r.Scan(&st.OpenTickets)
		})
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return st, fmt.Errorf("postgres: stats: %w", wrapCtx(ctx, err))
	}
	bot.FinishStats(&st, causes, claims, ratingSum)
	return st, nil
}

// counts returns a batch callback filling m from (name, count) rows.
func counts(m map[string]int) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		var k string
		var n int
		_, err := pgx.ForEachRow(rows, []any{&k, &n}, func() error {
			m[k] = n
			return nil
		})
		return err
	}
}
