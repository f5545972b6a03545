package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"time"

	"github.com/dmdoctor/dmdoctor/bot"
)

// Statements of the hot path, prepared once on the writing connection.
const (
	qInsertConv = `INSERT INTO conversations (channel, user_id, data, created, updated, version, lines)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`
	qUpdateConv = `UPDATE conversations SET data = ?, created = ?, updated = ?, version = ?, lines = ?
		WHERE channel = ? AND user_id = ? AND version = ?`
	qInsertHandled = `INSERT INTO handled (channel, msg_id, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`
	qUnhandle      = `DELETE FROM handled WHERE channel = ? AND msg_id = ?`
	qInsertLine    = `INSERT INTO transcript (channel, user_id, seq, time, sender, text) VALUES (?, ?, ?, ?, ?, ?)`
	qTrimLines     = `DELETE FROM transcript WHERE channel = ? AND user_id = ? AND seq <= ?`
	qInsertOutcome = `INSERT INTO outcomes (channel, user_id, kind, cause, reason, time) VALUES (?, ?, ?, ?, ?, ?)`
	qInsertOutbox  = `INSERT INTO outbox (channel, user_id, address, replies, created, lease_until) VALUES (?, ?, ?, ?, ?, ?)`
	qDelivered     = `DELETE FROM outbox WHERE id = ?`
	qClaimOutbox   = `UPDATE outbox SET lease_until = ?
		WHERE id IN (SELECT id FROM outbox WHERE channel = ? AND lease_until <= ? ORDER BY id LIMIT ?)
		RETURNING id, user_id, address, replies, created`

	// qLoad reads, in one go, whether msg_id was handled on the channel
	// and the conversation if there is one.
	qLoad = `SELECT EXISTS (SELECT 1 FROM handled WHERE channel = ?1 AND msg_id = ?3),
			c.data, c.version, c.lines
		FROM (SELECT 1) LEFT JOIN conversations c ON c.channel = ?1 AND c.user_id = ?2`
)

var prepared = []string{
	qInsertConv, qUnhandle, qUpdateConv, qInsertHandled, qInsertLine, qTrimLines,
	qInsertOutcome, qInsertOutbox, qDelivered, qClaimOutbox,
}

// loaded is a conversation as read before a turn.
type loaded struct {
	handled bool
	conv    bot.Conversation // Version 0 when new
	lines   int64            // transcript lines appended so far
}

func (s *Store) load(ctx context.Context, key bot.Key, msgID string) (loaded, error) {
	var (
		l                  loaded
		data               []byte
		version, lineCount sql.NullInt64
	)
	err := s.load1.QueryRowContext(ctx, key.Channel, key.User, msgID).Scan(&l.handled, &data, &version, &lineCount)
	if err != nil {
		return l, err
	}
	if version.Valid {
		if err := json.Unmarshal(data, &l.conv); err != nil {
			return l, fmt.Errorf("conversation: %w", err)
		}
		l.conv.Version, l.lines = version.Int64, lineCount.Int64
	}
	l.conv.Key = key
	return l, nil
}

// Turn implements bot.Store. fn is called outside the database's write
// lock, under a lock of the conversation in this process; the save is
// fenced by the Version fn saw. When the conversation changed meanwhile
// (another process on the file, or Purge), the turn starts over and fn
// is called again with the new conversation.
// fn must not call Turn or Forget for the same key: they wait for it.
func (s *Store) Turn(ctx context.Context, key bot.Key, msgID string, fn func(*bot.Conversation) (bot.Change, error)) ([]bot.Outgoing, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: turn %s: %w", key, err)
	}
	unlock, err := s.locks.Lock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("sqlite: turn %s: %w", key, err)
	}
	defer unlock()
	for attempt := 1; ; attempt++ {
		l, err := s.load(ctx, key, msgID)
		if err != nil {
			return nil, fmt.Errorf("sqlite: turn %s: load: %w", key, err)
		}
		if l.handled {
			return nil, fmt.Errorf("sqlite: turn %s: message %q: %w", key, msgID, bot.ErrDuplicate)
		}
		c := l.conv
		ch, err := fn(&c)
		if err != nil {
			return nil, err
		}
		out, err := s.save(ctx, key, msgID, l, c, ch)
		if errors.Is(err, bot.ErrConflict) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: turn %s: %w", key, err)
		}
		return out, nil
	}
}

// save writes what one turn produced, fenced by the loaded Version.
func (s *Store) save(ctx context.Context, key bot.Key, msgID string, l loaded, c bot.Conversation, ch bot.Change) ([]bot.Outgoing, error) {
	version := l.conv.Version + 1
	c.Key, c.Version = key, version
	data, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("conversation: %w", err)
	}
	var tkt bot.Ticket
	if ch.Ticket != nil {
		tkt = *ch.Ticket
		tkt.Key = key
	}
	lines := ch.Transcript
	if len(lines) > bot.TranscriptLimit {
		lines = lines[len(lines)-bot.TranscriptLimit:]
	}
	total := l.lines + int64(len(lines))
	out := slices.Clone(ch.Outbox)
	replies := make([][]byte, len(out))
	for i := range out {
		out[i].Key = key
		if out[i].Address == "" {
			out[i].Address = c.Address
		}
		if replies[i], err = json.Marshal(out[i].Replies); err != nil {
			return nil, fmt.Errorf("outbox replies: %w", err)
		}
	}
	now := s.now()
	lease := ts(now.Add(bot.OutboxLease))

	err = s.exec(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// The message first: a duplicate has then written nothing.
		if msgID != "" {
			res, err := s.stmt(ctx, tx, qInsertHandled).ExecContext(ctx, key.Channel, msgID, ts(now))
			if err != nil {
				return fmt.Errorf("record message: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return fail(fmt.Errorf("message %q: %w", msgID, bot.ErrDuplicate))
			}
		}
		var res sql.Result
		var err error
		if ch.Ticket != nil {
			// The hand-off and its ticket commit together.
			t, _, err := createTicket(ctx, tx, tkt)
			if err != nil {
				return fmt.Errorf("ticket: %w", err)
			}
			if c.Handoff != nil && c.Handoff.Ticket != t.ID {
				c.Handoff.Ticket = t.ID
				if data, err = json.Marshal(c); err != nil {
					return fmt.Errorf("conversation: %w", err)
				}
			}
		}
		if l.conv.Version == 0 {
			res, err = s.stmt(ctx, tx, qInsertConv).ExecContext(ctx, key.Channel, key.User, data,
				ts(c.Created), ts(c.Updated), version, total)
		} else {
			res, err = s.stmt(ctx, tx, qUpdateConv).ExecContext(ctx, data,
				ts(c.Created), ts(c.Updated), version, total, key.Channel, key.User, l.conv.Version)
		}
		if err != nil {
			return fmt.Errorf("save conversation: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			// Fenced off: undo the message record.
			if msgID != "" {
				if _, err := s.stmt(ctx, tx, qUnhandle).ExecContext(ctx, key.Channel, msgID); err != nil {
					return err
				}
			}
			return fail(bot.ErrConflict)
		}
		for i, ln := range lines {
			if _, err := s.stmt(ctx, tx, qInsertLine).ExecContext(ctx, key.Channel, key.User, l.lines+int64(i)+1,
				ts(ln.Time), ln.From, ln.Text); err != nil {
				return fmt.Errorf("transcript: %w", err)
			}
		}
		if total > bot.TranscriptLimit && len(lines) > 0 {
			if _, err := s.stmt(ctx, tx, qTrimLines).ExecContext(ctx, key.Channel, key.User, total-bot.TranscriptLimit); err != nil {
				return fmt.Errorf("transcript: %w", err)
			}
		}
		if o := ch.Outcome; o != nil {
			if _, err := s.stmt(ctx, tx, qInsertOutcome).ExecContext(ctx, key.Channel, key.User, o.Kind, o.Cause, o.Reason, ts(o.Time)); err != nil {
				return fmt.Errorf("outcome: %w", err)
			}
		}
		for i := range out {
			res, err := s.stmt(ctx, tx, qInsertOutbox).ExecContext(ctx, key.Channel, key.User, string(out[i].Address),
				replies[i], ts(out[i].Created), lease)
			if err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
			if out[i].ID, err = res.LastInsertId(); err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ClaimOutbox implements bot.Store. A limit of 0 or less means no limit.
func (s *Store) ClaimOutbox(ctx context.Context, channel string, now time.Time, lease time.Duration, limit int) ([]bot.Outgoing, error) {
	if limit <= 0 {
		limit = -1 // no limit
	}
	var out []bot.Outgoing
	err := s.exec(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out = out[:0]
		rows, err := s.stmt(ctx, tx, qClaimOutbox).QueryContext(ctx, ts(now.Add(lease)), channel, ts(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				o       bot.Outgoing
				replies []byte
				created int64
			)
			if err := rows.Scan(&o.ID, &o.Key.User, &o.Address, &replies, &created); err != nil {
				return err
			}
			o.Key.Channel, o.Created = channel, fromTS(created)
			if err := json.Unmarshal(replies, &o.Replies); err != nil {
				return fmt.Errorf("outbox %d: %w", o.ID, err)
			}
			out = append(out, o)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim outbox: %w", err)
	}
	slices.SortFunc(out, func(a, b bot.Outgoing) int { return int(a.ID - b.ID) })
	return out, nil
}

// Delivered implements bot.Store.
func (s *Store) Delivered(ctx context.Context, id int64) error {
	err := s.exec(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := s.stmt(ctx, tx, qDelivered).ExecContext(ctx, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delivered %d: %w", id, err)
	}
	return nil
}

// Get implements bot.Store.
func (s *Store) Get(ctx context.Context, key bot.Key) (*bot.Conversation, error) {
	l, err := s.load(ctx, key, "")
	if err != nil {
		return nil, fmt.Errorf("sqlite: get %s: %w", key, err)
	}
	if l.conv.Version == 0 {
		return nil, fmt.Errorf("sqlite: get %s: %w", key, bot.ErrNotFound)
	}
	return &l.conv, nil
}

// Transcript implements bot.Store. A conversation never seen has none.
func (s *Store) Transcript(ctx context.Context, key bot.Key) ([]bot.Line, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT time, sender, text FROM transcript
		WHERE channel = ? AND user_id = ? ORDER BY seq`, key.Channel, key.User)
	if err != nil {
		return nil, fmt.Errorf("sqlite: transcript %s: %w", key, err)
	}
	defer rows.Close()
	var lines []bot.Line
	for rows.Next() {
		var ln bot.Line
		var t int64
		if err := rows.Scan(&t, &ln.From, &ln.Text); err != nil {
			return nil, fmt.Errorf("sqlite: transcript %s: %w", key, err)
		}
		ln.Time = fromTS(t)
		lines = append(lines, ln)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: transcript %s: %w", key, err)
	}
	return lines, nil
}

// Forget implements bot.Store. The IDs of the user's handled messages are
// kept (they name no one): a redelivered message stays a duplicate.
func (s *Store) Forget(ctx context.Context, key bot.Key) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: forget %s: %w", key, err)
	}
	unlock, err := s.locks.Lock(ctx, key)
	if err != nil {
		return fmt.Errorf("sqlite: forget %s: %w", key, err)
	}
	defer unlock()
	err = s.exec(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, table := range []string{"conversations", "outbox", "outcomes", "tickets"} {
			// transcript and ticket_refs go by ON DELETE CASCADE.
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE channel = ? AND user_id = ?`, key.Channel, key.User); err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: forget %s: %w", key, err)
	}
	return nil
}

// Purge implements bot.Store. It also forgets handled message IDs
// recorded before before: redeliveries come within minutes, not days.
func (s *Store) Purge(ctx context.Context, before time.Time) (int, error) {
	var n int64
	b := ts(before)
	err := s.exec(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM conversations WHERE updated < ?`, b)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM outcomes WHERE time < ?`,
			`DELETE FROM tickets WHERE state NOT IN ('pending', 'claimed') AND created < ?`,
			`DELETE FROM handled WHERE at < ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge: %w", err)
	}
	return int(n), nil
}
