package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/store/internal/sqlstore"
)

// querier is what the pool and a transaction share.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ticketCols are a ticket's columns with its refs as one JSON object.
const ticketCols = `t.id, t.channel, t.user_id, t.user_name, t.address, t.reason, t.summary, t.state,
	t.moderator, t.moderator_name, t.created, t.claimed, t.closed, t.notes, t.history, t.rating, t.comment,
	(SELECT jsonb_object_agg(r.place, r.ref) FROM ticket_refs r WHERE r.ticket_id = t.id)`

// tickets returns the tickets matching where (a condition on tickets t),
// oldest first.
func tickets(ctx context.Context, q querier, where, suffix string, args ...any) ([]bot.Ticket, error) {
	rows, err := q.Query(ctx, `SELECT `+ticketCols+` FROM tickets t WHERE `+where+` ORDER BY t.created, t.id `+suffix, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanTicket)
}

func scanTicket(row pgx.CollectableRow) (bot.Ticket, error) {
	var (
		t                             bot.Ticket
		summary, notes, history, refs []byte
		claimed, closed               *time.Time
	)
	if err := row.Scan(&t.ID, &t.Key.Channel, &t.Key.User, &t.UserName, &t.Address, &t.Reason, &summary, &t.State,
		&t.Moderator, &t.ModeratorName, &t.Created, &claimed, &closed, &notes, &history, &t.Rating, &t.Comment, &refs); err != nil {
		return t, err
	}
	t.Created = t.Created.UTC()
	if claimed != nil {
		t.Claimed = claimed.UTC()
	}
	if closed != nil {
		t.Closed = closed.UTC()
	}
	if err := sqlstore.DecodeTicket(&t, summary, notes, history); err != nil {
		return t, err
	}
	if refs != nil { // NULL when the ticket has none
		if err := json.Unmarshal(refs, &t.Refs); err != nil {
			return t, fmt.Errorf("ticket %d: %w", t.ID, err)
		}
	}
	return t, nil
}

// ticket returns the one ticket matching where, or bot.ErrNotFound.
func ticket(ctx context.Context, q querier, where, suffix string, args ...any) (bot.Ticket, error) {
	l, err := tickets(ctx, q, where, suffix, args...)
	if err != nil {
		return bot.Ticket{}, err
	}
	if len(l) == 0 {
		return bot.Ticket{}, bot.ErrNotFound
	}
	return l[0], nil
}

const openWhere = `t.channel = $1 AND t.user_id = $2 AND t.state IN ('pending', 'claimed')`

// CreateTicket implements bot.Store. The new ticket's History starts with
// its pending state at Created.
func (s *Store) CreateTicket(ctx context.Context, t bot.Ticket) (bot.Ticket, bool, error) {
	return createTicket(ctx, s.pool, t)
}

// ticketQuerier is what createTicket needs: a pool or a transaction's
// connection.
type ticketQuerier interface {
	querier
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// createTicket stores a new pending ticket unless the user has an open
// one, which it returns instead. On a connection inside a transaction it
// is part of that transaction.
func createTicket(ctx context.Context, q ticketQuerier, t bot.Ticket) (bot.Ticket, bool, error) {
	n := sqlstore.NewTicket(t)
	summary, notes, history, err := sqlstore.EncodeTicket(n)
	if err != nil {
		return bot.Ticket{}, false, fmt.Errorf("postgres: create ticket: %w", err)
	}
	// The partial unique index keeps one open ticket per user: insert
	// unless there is one, else return it (unless it closed meanwhile:
	// then try again).
	for range maxAttempts {
		err := q.QueryRow(ctx, `INSERT INTO tickets (channel, user_id, user_name, address, reason, summary, state, created, notes, history)
			VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9)
			ON CONFLICT (channel, user_id) WHERE state IN ('pending', 'claimed') DO NOTHING RETURNING id`,
			n.Key.Channel, n.Key.User, n.UserName, string(n.Address), n.Reason, summary, n.Created, notes, history).Scan(&n.ID)
		if err == nil {
			n.Created = n.Created.UTC()
			return n, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return bot.Ticket{}, false, fmt.Errorf("postgres: create ticket for %s: %w", t.Key, wrapCtx(ctx, err))
		}
		open, err := ticket(ctx, q, openWhere, "", t.Key.Channel, t.Key.User)
		if err == nil {
			return open, false, nil
		}
		if !errors.Is(err, bot.ErrNotFound) {
			return bot.Ticket{}, false, fmt.Errorf("postgres: create ticket for %s: %w", t.Key, wrapCtx(ctx, err))
		}
	}
	return bot.Ticket{}, false, fmt.Errorf("postgres: create ticket for %s: open ticket keeps changing: %w", t.Key, bot.ErrConflict)
}

// GetTicket implements bot.Store.
func (s *Store) GetTicket(ctx context.Context, id int64) (bot.Ticket, error) {
	t, err := ticket(ctx, s.pool, `t.id = $1`, "", id)
	if err != nil {
		return bot.Ticket{}, fmt.Errorf("postgres: ticket %d: %w", id, wrapCtx(ctx, err))
	}
	return t, nil
}

// OpenTicket implements bot.Store.
func (s *Store) OpenTicket(ctx context.Context, key bot.Key) (bot.Ticket, error) {
	t, err := ticket(ctx, s.pool, openWhere, "", key.Channel, key.User)
	if err != nil {
		return bot.Ticket{}, fmt.Errorf("postgres: open ticket of %s: %w", key, wrapCtx(ctx, err))
	}
	return t, nil
}

// TicketByRef implements bot.Store.
func (s *Store) TicketByRef(ctx context.Context, place, ref string) (bot.Ticket, error) {
	t, err := ticket(ctx, s.pool, `t.id IN (SELECT ticket_id FROM ticket_refs WHERE place = $1 AND ref = $2)`, "", place, ref)
	if err != nil {
		return bot.Ticket{}, fmt.Errorf("postgres: ticket by ref %s %s: %w", place, ref, wrapCtx(ctx, err))
	}
	return t, nil
}

// ListTickets implements bot.Store: the tickets in any of states, oldest
// first; all tickets when no state is given.
func (s *Store) ListTickets(ctx context.Context, states ...bot.TicketState) ([]bot.Ticket, error) {
	where, args := "true", []any(nil)
	if len(states) > 0 {
		names := make([]string, len(states))
		for i, st := range states {
			names[i] = string(st)
		}
		where, args = `t.state = ANY($1)`, []any{names}
	}
	l, err := tickets(ctx, s.pool, where, "", args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list tickets: %w", wrapCtx(ctx, err))
	}
	return l, nil
}

// update runs change on ticket id in a transaction holding the ticket's
// row lock, saving the ticket when change returns nil. It returns the
// ticket as saved, or as found when change refused.
func (s *Store) update(ctx context.Context, id int64, change func(t *bot.Ticket) error) (bot.Ticket, error) {
	var got bot.Ticket
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t, err := ticket(ctx, tx, `t.id = $1`, "FOR UPDATE OF t", id)
		if err != nil {
			return err
		}
		got = t
		if err := change(&got); err != nil {
			return err
		}
		notes, err := sqlstore.JSONList(got.Notes)
		if err != nil {
			return err
		}
		history, err := sqlstore.JSONList(got.History)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE tickets SET state = $2, moderator = $3, moderator_name = $4, claimed = $5, closed = $6,
			notes = $7, history = $8 WHERE id = $1`,
			id, string(got.State), got.Moderator, got.ModeratorName, nullTime(got.Claimed), nullTime(got.Closed), notes, history)
		return err
	})
	return got, wrapCtx(ctx, err)
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ClaimTicket implements bot.Store: one conditional UPDATE, so of
// moderators claiming at once (on any instance) exactly one wins.
func (s *Store) ClaimTicket(ctx context.Context, id int64, moderator, name string, now time.Time) (bot.Ticket, error) {
	event, err := json.Marshal([]bot.TicketEvent{{State: bot.TicketClaimed, By: moderator, Time: now}})
	if err != nil {
		return bot.Ticket{}, fmt.Errorf("postgres: claim ticket %d: %w", id, err)
	}
	rows, err := s.pool.Query(ctx, `WITH claimed AS (
			UPDATE tickets SET state = 'claimed', moderator = $2, moderator_name = $3, claimed = $4, history = history || $5
			WHERE id = $1 AND state = 'pending' RETURNING *)
		SELECT `+ticketCols+` FROM claimed t`, id, moderator, name, now, event)
	if err != nil {
		return bot.Ticket{}, fmt.Errorf("postgres: claim ticket %d: %w", id, wrapCtx(ctx, err))
	}
	l, err := pgx.CollectRows(rows, scanTicket)
	if err != nil {
		return bot.Ticket{}, fmt.Errorf("postgres: claim ticket %d: %w", id, wrapCtx(ctx, err))
	}
	if len(l) == 1 {
		return l[0], nil
	}
	// Lost, or not claimable: say why, with the ticket as it is.
	t, err := s.GetTicket(ctx, id)
	if err != nil {
		return bot.Ticket{}, fmt.Errorf("postgres: claim ticket %d: %w", id, err)
	}
	if t.State == bot.TicketClaimed {
		return t, fmt.Errorf("postgres: claim ticket %d: %w", id, bot.ErrClaimed)
	}
	return t, fmt.Errorf("postgres: claim ticket %d (%s): %w", id, t.State, bot.ErrTicketClosed)
}

// MoveTicket implements bot.Store. Moving to a state that is not open
// sets Closed.
func (s *Store) MoveTicket(ctx context.Context, id int64, from []bot.TicketState, to bot.TicketState, by string, now time.Time) (bot.Ticket, error) {
	t, err := s.update(ctx, id, func(t *bot.Ticket) error {
		return sqlstore.MoveTicket(t, from, to, by, now)
	})
	if err != nil {
		return t, fmt.Errorf("postgres: move ticket %d: %w", id, err)
	}
	return t, nil
}

// SetTicketRef implements bot.Store.
func (s *Store) SetTicketRef(ctx context.Context, id int64, place, ref string) error {
	ct, err := s.pool.Exec(ctx, `INSERT INTO ticket_refs (ticket_id, place, ref) SELECT id, $2, $3 FROM tickets WHERE id = $1
		ON CONFLICT (ticket_id, place) DO UPDATE SET ref = EXCLUDED.ref`, id, place, ref)
	if err == nil && ct.RowsAffected() == 0 {
		err = bot.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: set ref of ticket %d: %w", id, wrapCtx(ctx, err))
	}
	return nil
}

// AddNote implements bot.Store.
func (s *Store) AddNote(ctx context.Context, id int64, n bot.Note) error {
	note, err := json.Marshal([]bot.Note{n})
	if err != nil {
		return fmt.Errorf("postgres: add note to ticket %d: %w", id, err)
	}
	ct, err := s.pool.Exec(ctx, `UPDATE tickets SET notes = notes || $2 WHERE id = $1`, id, note)
	if err == nil && ct.RowsAffected() == 0 {
		err = bot.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: add note to ticket %d: %w", id, wrapCtx(ctx, err))
	}
	return nil
}

// RateTicket implements bot.Store.
func (s *Store) RateTicket(ctx context.Context, id int64, rating int, comment string, now time.Time) error {
	var err error
	if rating < 1 || rating > 5 {
		// Nothing to write, but an unknown ticket is told first.
		var exists bool
		if err = s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tickets WHERE id = $1)`, id).Scan(&exists); err == nil {
			err = bot.ErrNotFound
			if exists {
				err = fmt.Errorf("%d: %w", rating, bot.ErrBadRating)
			}
		}
	} else {
		var ct pgconn.CommandTag
		ct, err = s.pool.Exec(ctx, `UPDATE tickets SET rating = $2, comment = $3, rated = $4 WHERE id = $1`, id, rating, comment, now)
		if err == nil && ct.RowsAffected() == 0 {
			err = bot.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("postgres: rate ticket %d: %w", id, wrapCtx(ctx, err))
	}
	return nil
}
