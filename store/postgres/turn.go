package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dmdoctor/dmdoctor/bot"
)

const (
	// qLockHandled takes the conversation's lock and records the message
	// as handled unless it was (when there is a message ID); it returns
	// how many records it made.
	qLockHandled = `WITH h AS (INSERT INTO handled (channel, msg_id, at) SELECT $2, $3, $4 WHERE $3 <> ''
			ON CONFLICT DO NOTHING RETURNING 1)
		SELECT (SELECT count(*) FROM h) FROM pg_advisory_xact_lock($1)`
	qLoad = `SELECT data, version, lines FROM conversations WHERE channel = $1 AND user_id = $2`
	// The fenced saves fail the transaction (serialization_failure)
	// unless they changed the conversation.
	qInsertConv = `WITH n AS (INSERT INTO conversations (channel, user_id, data, created, updated, version, lines)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING 1)
		SELECT dmdoctor_fence(count(*)) FROM n`
	qUpdateConv = `WITH u AS (UPDATE conversations SET data = $3, created = $4, updated = $5, version = $6, lines = $7
			WHERE channel = $1 AND user_id = $2 AND version = $8 RETURNING 1)
		SELECT dmdoctor_fence(count(*)) FROM u`
	qInsertLines = `INSERT INTO transcript (channel, user_id, seq, time, sender, text)
		SELECT $1, $2, $3 + n, t, f, x FROM unnest($4::timestamptz[], $5::text[], $6::text[]) WITH ORDINALITY AS u (t, f, x, n)`
	qTrimLines     = `DELETE FROM transcript WHERE channel = $1 AND user_id = $2 AND seq <= $3`
	qInsertOutcome = `INSERT INTO outcomes (channel, user_id, kind, cause, reason, time) VALUES ($1, $2, $3, $4, $5, $6)`
	qInsertOutbox  = `INSERT INTO outbox (channel, user_id, address, replies, created, lease_until)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`
)

// serializationFailure is the SQLSTATE dmdoctor_fence raises.
const serializationFailure = "40001"

// errFenced reports a conversation changed since it was read.
var errFenced = fmt.Errorf("version changed: %w", bot.ErrConflict)

// Turn implements bot.Store: one transaction that takes the
// conversation's advisory lock, reads it, calls fn and saves, fenced by
// the Version read. fn runs while the transaction is open: it should be
// quick. When the fence trips (a writer bypassed the lock, or Purge), the
// turn starts over and fn is called again with the new conversation.
// fn must not call Turn or Forget for the same key: they wait for it.
func (s *Store) Turn(ctx context.Context, key bot.Key, msgID string, fn func(*bot.Conversation) (bot.Change, error)) ([]bot.Outgoing, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres: turn %s: %w", key, err)
	}
	// Turns of one key in this process wait here rather than each holding
	// a connection while waiting for the advisory lock.
	unlock, err := s.locks.Lock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("postgres: turn %s: %w", key, err)
	}
	defer unlock()
	for attempt := 1; ; attempt++ {
		out, err := s.turn(ctx, key, msgID, fn)
		if errors.Is(err, errFenced) && attempt < maxAttempts {
			continue
		}
		return out, err
	}
}

// fnError carries fn's error out of the transaction untouched.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// turn runs one attempt of a turn in two round trips: BEGIN, the lock,
// the message record and the read; then the writes and COMMIT. A
// duplicate or a failure rolls back.
func (s *Store) turn(ctx context.Context, key bot.Key, msgID string, fn func(*bot.Conversation) (bot.Change, error)) ([]bot.Outgoing, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: turn %s: %w", key, wrapCtx(ctx, err))
	}
	// A connection released inside a transaction is closed by the pool.
	defer conn.Release()
	out, err := s.turnOn(ctx, conn.Conn(), key, msgID, fn)
	if err != nil {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			conn.Exec(rctx, "ROLLBACK")
			cancel()
		}
		var fe fnError
		if errors.As(err, &fe) {
			return nil, fe.err
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == serializationFailure {
			err = errFenced
		}
		return nil, fmt.Errorf("postgres: turn %s: %w", key, wrapCtx(ctx, err))
	}
	for i := range out {
		out[i].Created = out[i].Created.UTC()
	}
	return out, nil
}

// turnOn does a turn's work on conn, committing at the end.
func (s *Store) turnOn(ctx context.Context, conn *pgx.Conn, key bot.Key, msgID string, fn func(*bot.Conversation) (bot.Change, error)) ([]bot.Outgoing, error) {
	var (
		dup     bool
		data    []byte
		version int64
		total   int64 // transcript lines so far
	)
	now := s.now()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	// The message is recorded first, so that a duplicate is known before
	// fn is called (the record needs no lock: its primary key serialises).
	b.Queue(qLockHandled, lockKey(key.Channel, key.User), key.Channel, msgID, now).QueryRow(func(row pgx.Row) error {
		var n int64
		err := row.Scan(&n)
		dup = msgID != "" && n == 0
		return err
	})
	b.Queue(qLoad, key.Channel, key.User).Query(func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, []any{&data, &version, &total}, func() error { return nil })
		return err
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if dup {
		return nil, fmt.Errorf("message %q: %w", msgID, bot.ErrDuplicate)
	}
	var c bot.Conversation
	if version > 0 {
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, fmt.Errorf("conversation: %w", err)
		}
	}
	read := version
	c.Key, c.Version = key, read

	ch, err := fn(&c)
	if err != nil {
		return nil, fnError{err}
	}
	if ch.Ticket != nil {
		// The hand-off and its ticket commit together.
		tkt := *ch.Ticket
		tkt.Key = key
		t, _, err := createTicket(ctx, conn, tkt)
		if err != nil {
			return nil, fmt.Errorf("ticket: %w", err)
		}
		if c.Handoff != nil {
			c.Handoff.Ticket = t.ID
		}
	}
	c.Key, c.Version = key, read+1
	if data, err = json.Marshal(c); err != nil {
		return nil, fmt.Errorf("conversation: %w", err)
	}
	lines := ch.Transcript
	if len(lines) > bot.TranscriptLimit {
		lines = lines[len(lines)-bot.TranscriptLimit:]
	}
	first := total
	total += int64(len(lines))

	b = &pgx.Batch{}
	if read == 0 {
		b.Queue(qInsertConv, key.Channel, key.User, data, c.Created, c.Updated, c.Version, total)
	} else {
		b.Queue(qUpdateConv, key.Channel, key.User, data, c.Created, c.Updated, c.Version, total, read)
	}
	if len(lines) > 0 {
		times, from, text := make([]time.Time, len(lines)), make([]string, len(lines)), make([]string, len(lines))
		for i, l := range lines {
			times[i], from[i], text[i] = l.Time, l.From, l.Text
		}
		b.Queue(qInsertLines, key.Channel, key.User, first, times, from, text)
		if total > bot.TranscriptLimit {
			b.Queue(qTrimLines, key.Channel, key.User, total-bot.TranscriptLimit)
		}
	}
	if o := ch.Outcome; o != nil {
		b.Queue(qInsertOutcome, key.Channel, key.User, o.Kind, o.Cause, o.Reason, o.Time)
	}
	out := slices.Clone(ch.Outbox)
	lease := now.Add(bot.OutboxLease)
	for i := range out {
		o := &out[i]
		o.Key = key
		if o.Address == "" {
			o.Address = c.Address
		}
		replies, err := json.Marshal(o.Replies)
		if err != nil {
			return nil, fmt.Errorf("outbox replies: %w", err)
		}
		b.Queue(qInsertOutbox, key.Channel, key.User, string(o.Address), replies, o.Created, lease).QueryRow(func(row pgx.Row) error {
			return row.Scan(&o.ID)
		})
	}
	// After an error the server skips the rest, COMMIT included.
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("save: %w", err)
	}
	return out, nil
}

// ClaimOutbox implements bot.Store. Entries locked by another claimer
// are skipped, not waited for. A limit of 0 or less means no limit.
func (s *Store) ClaimOutbox(ctx context.Context, channel string, now time.Time, lease time.Duration, limit int) ([]bot.Outgoing, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres: claim outbox: %w", err)
	}
	var lim *int // NULL: no limit
	if limit > 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(ctx, `WITH due AS (
			SELECT id FROM outbox WHERE channel = $1 AND lease_until <= $2
			ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
		UPDATE outbox o SET lease_until = $4 FROM due WHERE o.id = due.id
		RETURNING o.id, o.user_id, o.address, o.replies, o.created`,
		channel, now, lim, now.Add(lease))
	if err != nil {
		return nil, fmt.Errorf("postgres: claim outbox: %w", wrapCtx(ctx, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (bot.Outgoing, error) {
		var o bot.Outgoing
		var replies []byte
		if err := row.Scan(&o.ID, &o.Key.User, &o.Address, &replies, &o.Created); err != nil {
			return o, err
		}
		o.Key.Channel, o.Created = channel, o.Created.UTC()
		return o, json.Unmarshal(replies, &o.Replies)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim outbox: %w", wrapCtx(ctx, err))
	}
	slices.SortFunc(out, func(a, b bot.Outgoing) int { return int(a.ID - b.ID) })
	return out, nil
}

// Delivered implements bot.Store.
func (s *Store) Delivered(ctx context.Context, id int64) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM outbox WHERE id = $1`, id); err != nil {
		return fmt.Errorf("postgres: delivered %d: %w", id, wrapCtx(ctx, err))
	}
	return nil
}

// Get implements bot.Store.
func (s *Store) Get(ctx context.Context, key bot.Key) (*bot.Conversation, error) {
	var data []byte
	var version int64
	err := s.pool.QueryRow(ctx, `SELECT data, version FROM conversations WHERE channel = $1 AND user_id = $2`,
		key.Channel, key.User).Scan(&data, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: get %s: %w", key, bot.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get %s: %w", key, wrapCtx(ctx, err))
	}
	var c bot.Conversation
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("postgres: get %s: %w", key, err)
	}
	c.Key, c.Version = key, version
	return &c, nil
}

// Transcript implements bot.Store. A conversation never seen has none.
func (s *Store) Transcript(ctx context.Context, key bot.Key) ([]bot.Line, error) {
	rows, err := s.pool.Query(ctx, `SELECT time, sender, text FROM transcript
		WHERE channel = $1 AND user_id = $2 ORDER BY seq`, key.Channel, key.User)
	if err != nil {
		return nil, fmt.Errorf("postgres: transcript %s: %w", key, wrapCtx(ctx, err))
	}
	lines, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (bot.Line, error) {
		var l bot.Line
		err := row.Scan(&l.Time, &l.From, &l.Text)
		l.Time = l.Time.UTC()
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: transcript %s: %w", key, wrapCtx(ctx, err))
	}
	return lines, nil
}

// Forget implements bot.Store. It takes the conversation's lock, so it
// never interleaves with a turn. The IDs of the user's handled messages
// are kept (they name no one): a redelivered message stays a duplicate.
func (s *Store) Forget(ctx context.Context, key bot.Key) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: forget %s: %w", key, err)
	}
	unlock, err := s.locks.Lock(ctx, key)
	if err != nil {
		return fmt.Errorf("postgres: forget %s: %w", key, err)
	}
	defer unlock()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT pg_advisory_xact_lock($1)`, lockKey(key.Channel, key.User))
		// transcript and ticket_refs go by ON DELETE CASCADE.
		for _, table := range []string{"conversations", "outbox", "outcomes", "tickets"} {
			b.Queue(`DELETE FROM `+table+` WHERE channel = $1 AND user_id = $2`, key.Channel, key.User)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: forget %s: %w", key, wrapCtx(ctx, err))
	}
	return nil
}

// Purge implements bot.Store. It also forgets handled message IDs
// recorded before before: redeliveries come within minutes, not days.
func (s *Store) Purge(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM conversations WHERE updated < $1`, before).Exec(func(ct pgconn.CommandTag) error {
			n = ct.RowsAffected()
			return nil
		})
		b.Queue(`DELETE FROM outcomes WHERE time < $1`, before)
		b.Queue(`DELETE FROM tickets WHERE state NOT IN ('pending', 'claimed') AND created < $1`, before)
		b.Queue(`DELETE FROM handled WHERE at < $1`, before)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: purge: %w", wrapCtx(ctx, err))
	}
	return int(n), nil
}
