package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/store/internal/sqlstore"
)

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

const ticketCols = `id, channel, user_id, user_name, address, reason, summary, state, moderator, moderator_name,
	created, claimed, closed, notes, history, rating, comment`

// tickets returns the tickets matching where (a condition on the tickets
// table), oldest first, with their refs.
func tickets(ctx context.Context, q querier, where string, args ...any) ([]bot.Ticket, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+ticketCols+` FROM tickets WHERE `+where+` ORDER BY created, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []bot.Ticket
	for rows.Next() {
		var (
			t                        bot.Ticket
			summary, notes, history  []byte
			created, claimed, closed int64
		)
		if err := rows.Scan(&t.ID, &t.Key.Channel, &t.Key.User, &t.UserName, &t.Address, &t.Reason, &summary, &t.State,
			&t.Moderator, &t.ModeratorName, &created, &claimed, &closed, &notes, &history, &t.Rating, &t.Comment); err != nil {
			return nil, err
		}
		t.Created, t.Claimed, t.Closed = fromTS(created), fromTS(claimed), fromTS(closed)
		if err := sqlstore.DecodeTicket(&t, summary, notes, history); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(out) == 0 {
		return out, nil
	}
	// Refs, for all the tickets at once.
	idx := make(map[int64]int, len(out))
	ids := make([]any, len(out))
	for i, t := range out {
		idx[t.ID] = i
		ids[i] = t.ID
	}
	ph := strings.Repeat("?,", len(out))
	rows, err = q.QueryContext(ctx, `SELECT ticket_id, place, ref FROM ticket_refs WHERE ticket_id IN (`+ph[:len(ph)-1]+`)`, ids...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var place, ref string
		if err := rows.Scan(&id, &place, &ref); err != nil {
			return nil, err
		}
		t := &out[idx[id]]
		if t.Refs == nil {
			t.Refs = map[string]string{}
		}
		t.Refs[place] = ref
	}
	return out, rows.Err()
}

// ticket returns the one ticket matching where, or bot.ErrNotFound.
func ticket(ctx context.Context, q querier, where string, args ...any) (bot.Ticket, error) {
	l, err := tickets(ctx, q, where, args...)
	if err != nil {
		return bot.Ticket{}, err
	}
	if len(l) == 0 {
		return bot.Ticket{}, bot.ErrNotFound
	}
	return l[0], nil
}

// saveTicket writes a ticket's changeable fields (not its refs).
func saveTicket(ctx context.Context, tx *sql.Tx, t bot.Ticket) error {
	notes, err := sqlstore.JSONList(t.Notes)
	if err != nil {
		return err
	}
	history, err := sqlstore.JSONList(t.History)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE tickets SET state = ?, moderator = ?, moderator_name = ?, claimed = ?, closed = ?,
		notes = ?, history = ? WHERE id = ?`,
		t.State, t.Moderator, t.ModeratorName, ts(t.Claimed), ts(t.Closed), notes, history, t.ID)
	return err
}

// CreateTicket implements bot.Store. The new ticket's History starts with
// its pending state at Created.
func (s *Store) CreateTicket(ctx context.Context, t bot.Ticket) (bot.Ticket, bool, error) {
	var created bool
	var got bot.Ticket
	err := s.exec(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		got, created, err = createTicket(ctx, tx, t)
		return err
	})
	if err != nil {
		return bot.Ticket{}, false, fmt.Errorf("sqlite: create ticket for %s: %w", t.Key, err)
	}
	return got, created, nil
}

// createTicket stores a new pending ticket in tx unless the user has an
// open one, which it returns instead.
func createTicket(ctx context.Context, tx *sql.Tx, t bot.Ticket) (bot.Ticket, bool, error) {
	open, err := ticket(ctx, tx, `channel = ? AND user_id = ? AND state IN ('pending', 'claimed')`, t.Key.Channel, t.Key.User)
	if err == nil {
		return open, false, nil
	}
	if !errors.Is(err, bot.ErrNotFound) {
		return bot.Ticket{}, false, err
	}
	n := sqlstore.NewTicket(t)
	summary, notes, history, err := sqlstore.EncodeTicket(n)
	if err != nil {
		return bot.Ticket{}, false, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO tickets (channel, user_id, user_name, address, reason, summary, state,
		moderator, moderator_name, created, claimed, closed, notes, history, rating, comment, rated)
		VALUES (?, ?, ?, ?, ?, ?, ?, '', '', ?, 0, 0, ?, ?, 0, '', 0)`,
		n.Key.Channel, n.Key.User, n.UserName, string(n.Address), n.Reason, summary, n.State, ts(n.Created), notes, history)
	if err != nil {
		return bot.Ticket{}, false, err
	}
	if n.ID, err = res.LastInsertId(); err != nil {
		return bot.Ticket{}, false, err
	}
	return n, true, nil
}

// GetTicket implements bot.Store.
func (s *Store) GetTicket(ctx context.Context, id int64) (bot.Ticket, error) {
	t, err := ticket(ctx, s.rdb, `id = ?`, id)
	if err != nil {
		return bot.Ticket{}, fmt.Errorf("sqlite: ticket %d: %w", id, err)
	}
	return t, nil
}

// OpenTicket implements bot.Store.
func (s *Store) OpenTicket(ctx context.Context, key bot.Key) (bot.Ticket, error) {
	t, err := ticket(ctx, s.rdb, `channel = ? AND user_id = ? AND state IN ('pending', 'claimed')`, key.Channel, key.User)
	if err != nil {
		return bot.Ticket{}, fmt.Errorf("sqlite: open ticket of %s: %w", key, err)
	}
	return t, nil
}

// TicketByRef implements bot.Store.
func (s *Store) TicketByRef(ctx context.Context, place, ref string) (bot.Ticket, error) {
	t, err := ticket(ctx, s.rdb, `id IN (SELECT ticket_id FROM ticket_refs WHERE place = ? AND ref = ?)`, place, ref)
	if err != nil {
		return bot.Ticket{}, fmt.Errorf("sqlite: ticket by ref %s %s: %w", place, ref, err)
	}
	return t, nil
}

// ListTickets implements bot.Store: the tickets in any of states, oldest
// first; all tickets when no state is given.
func (s *Store) ListTickets(ctx context.Context, states ...bot.TicketState) ([]bot.Ticket, error) {
	where, args := "1", []any(nil)
	if len(states) > 0 {
		ph := strings.Repeat("?,", len(states))
		where = `state IN (` + ph[:len(ph)-1] + `)`
		for _, st := range states {
			args = append(args, string(st))
		}
	}
	l, err := tickets(ctx, s.rdb, where, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tickets: %w", err)
	}
	return l, nil
}

// update runs change on ticket id inside the writer: change returns the
// error to report (wrapped by fail when nothing must be written) and the
// ticket is saved when it returns nil.
func (s *Store) update(ctx context.Context, id int64, change func(t *bot.Ticket) error) (bot.Ticket, error) {
	var got bot.Ticket
	err := s.exec(ctx, func(ctx context.Context, tx *sql.Tx) error {
		t, err := ticket(ctx, tx, `id = ?`, id)
		if errors.Is(err, bot.ErrNotFound) {
			return fail(err)
		}
		if err != nil {
			return err
		}
		got = t
		if err := change(&got); err != nil {
			return err
		}
		return saveTicket(ctx, tx, got)
	})
	return got, err
}

// ClaimTicket implements bot.Store.
func (s *Store) ClaimTicket(ctx context.Context, id int64, moderator, name string, now time.Time) (bot.Ticket, error) {
	t, err := s.update(ctx, id, func(t *bot.Ticket) error {
		switch t.State {
		case bot.TicketPending:
		case bot.TicketClaimed:
			return fail(bot.ErrClaimed)
		default:
			return fail(bot.ErrTicketClosed)
		}
		t.State, t.Moderator, t.ModeratorName, t.Claimed = bot.TicketClaimed, moderator, name, now
		t.History = append(t.History, bot.TicketEvent{State: bot.TicketClaimed, By: moderator, Time: now})
		return nil
	})
	if err != nil {
		return t, fmt.Errorf("sqlite: claim ticket %d: %w", id, err)
	}
	return t, nil
}

// MoveTicket implements bot.Store. Moving to a state that is not open
// sets Closed.
func (s *Store) MoveTicket(ctx context.Context, id int64, from []bot.TicketState, to bot.TicketState, by string, now time.Time) (bot.Ticket, error) {
	t, err := s.update(ctx, id, func(t *bot.Ticket) error {
		if err := sqlstore.MoveTicket(t, from, to, by, now); err != nil {
			return fail(err)
		}
		return nil
	})
	if err != nil {
		return t, fmt.Errorf("sqlite: move ticket %d: %w", id, err)
	}
	return t, nil
}

// SetTicketRef implements bot.Store.
func (s *Store) SetTicketRef(ctx context.Context, id int64, place, ref string) error {
	err := s.exec(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO ticket_refs (ticket_id, place, ref) SELECT id, ?, ? FROM tickets WHERE id = ?
			ON CONFLICT (ticket_id, place) DO UPDATE SET ref = excluded.ref`, place, ref, id)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tickets WHERE id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fail(bot.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: set ref of ticket %d: %w", id, err)
	}
	return nil
}

// AddNote implements bot.Store.
func (s *Store) AddNote(ctx context.Context, id int64, n bot.Note) error {
	_, err := s.update(ctx, id, func(t *bot.Ticket) error {
		t.Notes = append(t.Notes, n)
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: add note to ticket %d: %w", id, err)
	}
	return nil
}

// RateTicket implements bot.Store.
func (s *Store) RateTicket(ctx context.Context, id int64, rating int, comment string, now time.Time) error {
	if rating < 1 || rating > 5 {
		// Nothing to write, but an unknown ticket is told first.
		var n int
		err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM tickets WHERE id = ?`, id).Scan(&n)
		if err == nil {
			err = bot.ErrNotFound
			if n > 0 {
				err = fmt.Errorf("%d: %w", rating, bot.ErrBadRating)
			}
		}
		return fmt.Errorf("sqlite: rate ticket %d: %w", id, err)
	}
	err := s.exec(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tickets SET rating = ?, comment = ?, rated = ? WHERE id = ?`, rating, comment, ts(now), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fail(bot.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: rate ticket %d: %w", id, err)
	}
	return nil
}
