// Package memory is a bot.Store kept in memory: for tests and for trying
// dmdoctor without a database. Nothing survives the process. It is the
// reference implementation of the bot.Store contract.
package memory

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/internal/keylock"
)

// Store is an in-memory bot.Store. The zero value is not usable; call New.
type Store struct {
	// mu guards everything below. Turns of one key are serialised by the
	// key's entry lock, taken before mu and held while fn runs, so fn never
	// runs under mu.
	locks keylock.Locks[bot.Key] // serialise turns of one key; fn runs under it, never under mu
	now   func() time.Time

	mu       sync.Mutex
	convs    map[bot.Key]*entry
	handled  map[handledKey]time.Time // when the message was handled
	outbox   map[int64]*outboxEntry
	outcomes []outcome
	tickets  map[int64]*bot.Ticket
	nextID   int64
	nextTkt  int64
	closed   bool
}

type handledKey struct{ channel, id string }

// entry holds one conversation.
type entry struct {
	// conv is nil until the first turn is saved. It is never handed out:
	// callers get copies (copyConv), so they never share memory with the
	// store.
	conv *bot.Conversation
	// lines is the transcript: a ring of at most bot.TranscriptLimit lines,
	// the oldest at head once it is full.
	lines []bot.Line
	head  int
}

// addLines appends to the transcript, dropping the oldest lines beyond
// bot.TranscriptLimit.
func (e *entry) addLines(ls []bot.Line) {
	for _, l := range ls {
		if len(e.lines) < bot.TranscriptLimit {
			if len(e.lines) == cap(e.lines) {
				e.lines = slices.Grow(e.lines, min(max(2*cap(e.lines), 8), bot.TranscriptLimit)-len(e.lines))
			}
			e.lines = append(e.lines, l)
			continue
		}
		e.lines[e.head] = l
		e.head = (e.head + 1) % len(e.lines)
	}
}

// transcript returns a copy of the transcript, oldest line first (nil when
// there is none).
func (e *entry) transcript() []bot.Line {
	if len(e.lines) == 0 {
		return nil
	}
	out := make([]bot.Line, 0, len(e.lines))
	return append(append(out, e.lines[e.head:]...), e.lines[:e.head]...)
}

type outboxEntry struct {
	o     bot.Outgoing
	lease time.Time
}

type outcome struct {
	key bot.Key
	bot.Outcome
}

// Option configures New.
type Option func(*Store)

// WithClock sets the clock that starts outbox leases (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns an empty Store.
func New(opts ...Option) *Store {
	s := &Store{
		now:     time.Now,
		convs:   map[bot.Key]*entry{},
		handled: map[handledKey]time.Time{},
		outbox:  map[int64]*outboxEntry{},
		tickets: map[int64]*bot.Ticket{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

var _ bot.Store = (*Store)(nil)

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("memory store: closed")

func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed {
		return ErrClosed
	}
	return nil
}

// Turn implements bot.Store.
func (s *Store) Turn(ctx context.Context, key bot.Key, msgID string, fn func(*bot.Conversation) (bot.Change, error)) ([]bot.Outgoing, error) {
	unlock, err := s.locks.Lock(ctx, key)
	if err != nil {
		return nil, err
	}
	defer unlock()

	s.mu.Lock()
	if err := s.check(ctx); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	e := s.convs[key]
	if e == nil {
		e = &entry{}
		s.convs[key] = e
	}
	if _, dup := s.handled[handledKey{key.Channel, msgID}]; dup && msgID != "" {
		s.mu.Unlock()
		return nil, bot.ErrDuplicate
	}
	var c bot.Conversation
	if e.conv != nil {
		c = copyConv(e.conv)
	}
	s.mu.Unlock()

	ch, err := fn(&c)
	if err != nil {
		return nil, err
	}
	c.Key = key
	c.Version++

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if ch.Ticket != nil {
		t := *ch.Ticket
		t.Key = key
		t, _ = s.createTicket(t)
		if c.Handoff != nil {
			c.Handoff.Ticket = t.ID
		}
	}
	saved := copyConv(&c)
	if s.convs[key] != e { // forgotten or purged while fn ran: the turn wins
		s.convs[key] = e
	}
	now := s.now()
	if msgID != "" {
		s.handled[handledKey{key.Channel, msgID}] = now
	}
	e.conv = &saved
	e.addLines(ch.Transcript)
	if ch.Outcome != nil {
		s.outcomes = append(s.outcomes, outcome{key: key, Outcome: *ch.Outcome})
	}
	out := make([]bot.Outgoing, len(ch.Outbox))
	lease := now.Add(bot.OutboxLease)
	for i, o := range ch.Outbox {
		s.nextID++
		o.ID = s.nextID
		o.Key = key
		out[i] = o
		s.outbox[o.ID] = &outboxEntry{o: o, lease: lease}
	}
	return out, nil
}

// ClaimOutbox implements bot.Store.
func (s *Store) ClaimOutbox(ctx context.Context, channel string, now time.Time, lease time.Duration, limit int) ([]bot.Outgoing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var out []bot.Outgoing
	for _, e := range s.outbox {
		if e.o.Key.Channel == channel && !e.lease.After(now) {
			out = append(out, e.o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	for _, o := range out {
		s.outbox[o.ID].lease = now.Add(lease)
	}
	return out, nil
}

// Delivered implements bot.Store.
func (s *Store) Delivered(ctx context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	delete(s.outbox, id)
	return nil
}

// Get implements bot.Store.
func (s *Store) Get(ctx context.Context, key bot.Key) (*bot.Conversation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	e := s.convs[key]
	if e == nil || e.conv == nil {
		return nil, bot.ErrNotFound
	}
	c := copyConv(e.conv)
	return &c, nil
}

// Transcript implements bot.Store.
func (s *Store) Transcript(ctx context.Context, key bot.Key) ([]bot.Line, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if e := s.convs[key]; e != nil {
		return e.transcript(), nil
	}
	return nil, nil
}

// Forget implements bot.Store.
func (s *Store) Forget(ctx context.Context, key bot.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	delete(s.convs, key)
	for id, e := range s.outbox {
		if e.o.Key == key {
			delete(s.outbox, id)
		}
	}
	s.outcomes = slices.DeleteFunc(s.outcomes, func(o outcome) bool { return o.key == key })
	for id, t := range s.tickets {
		if t.Key == key {
			delete(s.tickets, id)
		}
	}
	return nil
}

// Purge implements bot.Store.
func (s *Store) Purge(ctx context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	n := 0
	for k, e := range s.convs {
		if e.conv == nil || e.conv.Updated.Before(before) {
			delete(s.convs, k) // a turn running on it puts it back when it saves
			n++
		}
	}
	s.outcomes = slices.DeleteFunc(s.outcomes, func(o outcome) bool { return o.Time.Before(before) })
	for id, t := range s.tickets {
		if !t.State.Open() && t.Created.Before(before) {
			delete(s.tickets, id)
		}
	}
	for k, at := range s.handled {
		if at.Before(before) {
			delete(s.handled, k)
		}
	}
	return n, nil
}

// Stats implements bot.Store.
func (s *Store) Stats(ctx context.Context, since time.Time) (bot.Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return bot.Stats{}, err
	}
	st := bot.Stats{Since: since, Outcomes: map[string]int{}, Handoffs: map[string]int{}}
	for _, e := range s.convs {
		if e.conv != nil && !e.conv.Created.Before(since) {
			st.Conversations++
		}
	}
	causes := map[string]int{}
	for _, o := range s.outcomes {
		if o.Time.Before(since) {
			continue
		}
		st.Outcomes[o.Kind]++
		if o.Cause != "" {
			causes[o.Cause]++
		}
	}
	var claims []time.Duration
	ratings := 0
	for _, t := range s.tickets {
		if t.State.Open() {
			st.OpenTickets++
		}
		if t.Created.Before(since) {
			continue
		}
		st.Handoffs[t.Reason]++
		if !t.Claimed.IsZero() {
			claims = append(claims, t.Claimed.Sub(t.Created))
		}
		if t.Rating > 0 {
			st.Ratings++
			ratings += t.Rating
		}
	}
	bot.FinishStats(&st, causes, claims, ratings)
	return st, nil
}

// CreateTicket implements bot.Store.
func (s *Store) CreateTicket(ctx context.Context, t bot.Ticket) (bot.Ticket, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return bot.Ticket{}, false, err
	}
	t, created := s.createTicket(t)
	return t, created, nil
}

// createTicket stores a new pending ticket unless the user has an open
// one, which it returns instead. The caller holds s.mu.
func (s *Store) createTicket(t bot.Ticket) (bot.Ticket, bool) {
	for _, old := range s.tickets {
		if old.Key == t.Key && old.State.Open() {
			return copyTicket(old), false
		}
	}
	s.nextTkt++
	t.ID = s.nextTkt
	t.State = bot.TicketPending
	t.History = []bot.TicketEvent{{State: bot.TicketPending, Time: t.Created}}
	c := copyTicket(&t)
	s.tickets[t.ID] = &c
	return copyTicket(&c), true
}

// ticket returns the stored ticket with that ID. The caller holds s.mu.
func (s *Store) ticket(ctx context.Context, id int64) (*bot.Ticket, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	t := s.tickets[id]
	if t == nil {
		return nil, bot.ErrNotFound
	}
	return t, nil
}

// GetTicket implements bot.Store.
func (s *Store) GetTicket(ctx context.Context, id int64) (bot.Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.ticket(ctx, id)
	if err != nil {
		return bot.Ticket{}, err
	}
	return copyTicket(t), nil
}

// OpenTicket implements bot.Store.
func (s *Store) OpenTicket(ctx context.Context, key bot.Key) (bot.Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return bot.Ticket{}, err
	}
	for _, t := range s.tickets {
		if t.Key == key && t.State.Open() {
			return copyTicket(t), nil
		}
	}
	return bot.Ticket{}, bot.ErrNotFound
}

// TicketByRef implements bot.Store.
func (s *Store) TicketByRef(ctx context.Context, place, ref string) (bot.Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return bot.Ticket{}, err
	}
	var found *bot.Ticket
	for _, t := range s.tickets {
		if t.Refs[place] == ref && (found == nil || t.ID > found.ID) {
			found = t
		}
	}
	if found == nil {
		return bot.Ticket{}, bot.ErrNotFound
	}
	return copyTicket(found), nil
}

// ListTickets implements bot.Store.
func (s *Store) ListTickets(ctx context.Context, states ...bot.TicketState) ([]bot.Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var out []bot.Ticket
	for _, t := range s.tickets {
		if len(states) == 0 || slices.Contains(states, t.State) {
			out = append(out, copyTicket(t))
		}
	}
	slices.SortFunc(out, func(a, b bot.Ticket) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// ClaimTicket implements bot.Store.
func (s *Store) ClaimTicket(ctx context.Context, id int64, moderator, name string, now time.Time) (bot.Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.ticket(ctx, id)
	switch {
	case err != nil:
		return bot.Ticket{}, err
	case t.State == bot.TicketClaimed:
		return copyTicket(t), bot.ErrClaimed
	case t.State != bot.TicketPending:
		return copyTicket(t), bot.ErrTicketClosed
	}
	t.State = bot.TicketClaimed
	t.Moderator, t.ModeratorName, t.Claimed = moderator, name, now
	t.History = append(t.History, bot.TicketEvent{State: bot.TicketClaimed, By: moderator, Time: now})
	return copyTicket(t), nil
}

// MoveTicket implements bot.Store.
func (s *Store) MoveTicket(ctx context.Context, id int64, from []bot.TicketState, to bot.TicketState, by string, now time.Time) (bot.Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.ticket(ctx, id)
	if err != nil {
		return bot.Ticket{}, err
	}
	if !slices.Contains(from, t.State) {
		return copyTicket(t), bot.ErrTicketState
	}
	t.State = to
	if !to.Open() {
		t.Closed = now
	}
	t.History = append(t.History, bot.TicketEvent{State: to, By: by, Time: now})
	return copyTicket(t), nil
}

// SetTicketRef implements bot.Store.
func (s *Store) SetTicketRef(ctx context.Context, id int64, place, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.ticket(ctx, id)
	if err != nil {
		return err
	}
	if t.Refs == nil {
		t.Refs = map[string]string{}
	}
	t.Refs[place] = ref
	return nil
}

// AddNote implements bot.Store.
func (s *Store) AddNote(ctx context.Context, id int64, n bot.Note) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.ticket(ctx, id)
	if err != nil {
		return err
	}
	t.Notes = append(t.Notes, n)
	return nil
}

// RateTicket implements bot.Store.
func (s *Store) RateTicket(ctx context.Context, id int64, rating int, comment string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.ticket(ctx, id)
	if err != nil {
		return err
	}
	if rating < 1 || rating > 5 {
		return bot.ErrBadRating
	}
	t.Rating, t.Comment = rating, comment
	return nil
}

// Close implements bot.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// copyConv returns a deep copy of c, the same as a JSON round trip of it
// would give (the store kept conversations as JSON before): nothing shared
// with c, empty lists and maps nil, times without their monotonic clock
// reading. TestCopyConvIsJSONRoundTrip keeps it in step with the fields
// of bot.Conversation and flows.State.
func copyConv(c *bot.Conversation) bot.Conversation {
	d := *c
	d.Created, d.Updated = c.Created.Round(0), c.Updated.Round(0)
	if c.Handoff != nil {
		h := *c.Handoff
		d.Handoff = &h
	}
	s := &d.State
	if len(s.Belief) > 0 {
		s.Belief = maps.Clone(s.Belief)
	} else {
		s.Belief = nil
	}
	s.Asked = cloneList(s.Asked)
	s.Detected = cloneList(s.Detected)
	s.Tried = cloneList(s.Tried)
	s.RuledOut = cloneList(s.RuledOut)
	s.Answers = cloneList(s.Answers)
	s.Suggest = cloneList(s.Suggest)
	s.Last = cloneList(s.Last)
	return d
}

// cloneList copies a list of values that hold no pointers but strings;
// empty lists come back nil.
func cloneList[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// copyTicket returns a deep copy, so callers never share memory with the
// store.
func copyTicket(t *bot.Ticket) bot.Ticket {
	c := *t
	c.Notes = slices.Clone(t.Notes)
	c.History = slices.Clone(t.History)
	c.Summary.Detected = slices.Clone(t.Summary.Detected)
	c.Summary.RuledOut = slices.Clone(t.Summary.RuledOut)
	c.Summary.Tried = slices.Clone(t.Summary.Tried)
	c.Summary.Answers = slices.Clone(t.Summary.Answers)
	c.Summary.Last = slices.Clone(t.Summary.Last)
	c.Refs = maps.Clone(t.Refs)
	return c
}
