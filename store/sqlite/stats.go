package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
)

// Stats implements bot.Store, reading one snapshot of the database.
// Conversations counts those created since; Outcomes, Deflection and
// TopCauses count outcomes recorded since; Handoffs, MedianClaim and the
// ratings are over tickets created since; OpenTickets counts all open
// tickets. bot.FinishStats derives the figures.
func (s *Store) Stats(ctx context.Context, since time.Time) (bot.Stats, error) {
	st := bot.Stats{Since: since, Outcomes: map[string]int{}, Handoffs: map[string]int{}}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return st, fmt.Errorf("sqlite: stats: %w", err)
	}
	defer tx.Rollback()
	if err := stats(ctx, tx, ts(since), &st); err != nil {
		return st, fmt.Errorf("sqlite: stats: %w", err)
	}
	return st, nil
}

func stats(ctx context.Context, tx *sql.Tx, since int64, st *bot.Stats) error {
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM conversations WHERE created >= ?`, since).Scan(&st.Conversations); err != nil {
		return err
	}
	if err := counts(ctx, tx, st.Outcomes, `SELECT kind, count(*) FROM outcomes WHERE time >= ? GROUP BY kind`, since); err != nil {
		return err
	}
	causes := map[string]int{}
	if err := counts(ctx, tx, causes, `SELECT cause, count(*) FROM outcomes WHERE time >= ? AND cause <> '' GROUP BY cause`, since); err != nil {
		return err
	}
	if err := counts(ctx, tx, st.Handoffs, `SELECT reason, count(*) FROM tickets WHERE created >= ? GROUP BY reason`, since); err != nil {
		return err
	}
	var claims []time.Duration
	rows, err := tx.QueryContext(ctx, `SELECT claimed - created FROM tickets WHERE created >= ? AND claimed <> 0`, since)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d); err != nil {
			return err
		}
		claims = append(claims, time.Duration(d))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var ratingSum int
	if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(rating), 0) FROM tickets WHERE rating > 0 AND created >= ?`, since).
		Scan(&st.Ratings, &ratingSum); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tickets WHERE state IN ('pending', 'claimed')`).Scan(&st.OpenTickets); err != nil {
		return err
	}
	bot.FinishStats(st, causes, claims, ratingSum)
	return nil
}

// counts fills m from a query of (name, count) rows.
func counts(ctx context.Context, tx *sql.Tx, m map[string]int, q string, args ...any) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		m[k] = n
	}
	return rows.Err()
}
