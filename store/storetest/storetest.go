package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
)

// Run runs the conformance suite as subtests of t. open is called once
// per subtest and must return a new, empty store; Run closes it when the
// subtest ends (open need not register a Close of its own, but may clean
// up files or schemas with t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) bot.Store) {
	t.Helper()
	s := &suite{open: open}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"TurnCreatesLoadsSaves", s.turnCreatesLoadsSaves},
		{"TurnDuplicate", s.turnDuplicate},
		{"TurnDuplicateConcurrent", s.turnDuplicateConcurrent},
		{"TurnFnError", s.turnFnError},
		{"TurnTranscript", s.turnTranscript},
		{"TurnTranscriptLimit", s.turnTranscriptLimit},
		{"TurnSerialisedOneKey", s.turnSerialisedOneKey},
		{"TurnConcurrentKeys", s.turnConcurrentKeys},
		{"TurnWaitHonoursContext", s.turnWaitHonoursContext},
		{"TurnOpensTicket", s.turnOpensTicket},
		{"OutboxIDs", s.outboxIDs},
		{"OutboxLease", s.outboxLease},
		{"OutboxClaimConcurrent", s.outboxClaimConcurrent},
		{"GetNotFound", s.getNotFound},
		{"Forget", s.forget},
		{"Purge", s.purge},
		{"Stats", s.stats},
		{"TicketCreate", s.ticketCreate},
		{"TicketRefs", s.ticketRefs},
		{"TicketList", s.ticketList},
		{"TicketClaim", s.ticketClaim},
		{"TicketClaimConcurrent", s.ticketClaimConcurrent},
		{"TicketMove", s.ticketMove},
		{"TicketNotesRating", s.ticketNotesRating},
		{"TicketNotFound", s.ticketNotFound},
		{"ContextCancelled", s.contextCancelled},
		{"Close", s.close},
	} {
		t.Run(tc.name, tc.fn)
	}
}

// base is the fake time the suite's stored times are built from.
var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

type suite struct {
	open func(t *testing.T) bot.Store
}

// store opens a fresh store that is closed when t ends.
func (s *suite) store(t *testing.T) bot.Store {
	t.Helper()
	st := s.open(t)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// at returns the fake base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// key returns a conversation key on the console channel.
func key(user string) bot.Key { return bot.Key{Channel: "console", User: user} }

// step is a Turn function: it stamps the conversation as the engine does
// (Created on the first turn, Updated, Address), counts the turn in
// State.Turns and saves ch.
func step(now time.Time, ch bot.Change) func(*bot.Conversation) (bot.Change, error) {
	return func(c *bot.Conversation) (bot.Change, error) {
		if c.Version == 0 {
			c.Created = now
		}
		c.Updated = now
		c.Address = bot.Address("addr-" + c.Key.User)
		c.State.Turns++
		return ch, nil
	}
}

// turn runs one Turn that must succeed.
func turn(t *testing.T, st bot.Store, k bot.Key, msgID string, fn func(*bot.Conversation) (bot.Change, error)) []bot.Outgoing {
	t.Helper()
	out, err := st.Turn(context.Background(), k, msgID, fn)
	if err != nil {
		t.Fatalf("Turn(%s, %q): %v", k, msgID, err)
	}
	return out
}

// reply builds an outbox entry for k.
func reply(k bot.Key, text string, created time.Time) bot.Outgoing {
	return bot.Outgoing{
		Key:     k,
		Address: bot.Address("addr-" + k.User),
		Replies: []flows.Reply{{Text: text, Buttons: []flows.Button{{ID: "yes", Label: "Yes"}}}},
		Created: created,
	}
}

// lines builds n transcript lines numbered from first.
func lines(first, n int, t0 time.Time) []bot.Line {
	out := make([]bot.Line, n)
	for i := range out {
		out[i] = bot.Line{Time: t0.Add(time.Duration(first+i) * time.Second), From: bot.FromUser, Text: fmt.Sprintf("line %d", first+i)}
	}
	return out
}

func get(t *testing.T, st bot.Store, k bot.Key) *bot.Conversation {
	t.Helper()
	c, err := st.Get(context.Background(), k)
	if err != nil {
		t.Fatalf("Get(%s): %v", k, err)
	}
	return c
}

func getTicket(t *testing.T, st bot.Store, id int64) bot.Ticket {
	t.Helper()
	tk, err := st.GetTicket(context.Background(), id)
	if err != nil {
		t.Fatalf("GetTicket(%d): %v", id, err)
	}
	return tk
}

func stats(t *testing.T, st bot.Store, since time.Time) bot.Stats {
	t.Helper()
	s, err := st.Stats(context.Background(), since)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return s
}

// claim claims the outbox of the console channel at now.
func claim(t *testing.T, st bot.Store, now time.Time, limit int) []bot.Outgoing {
	t.Helper()
	out, err := st.ClaimOutbox(context.Background(), "console", now, bot.OutboxLease, limit)
	if err != nil {
		t.Fatalf("ClaimOutbox: %v", err)
	}
	return out
}

func ids(out []bot.Outgoing) []int64 {
	r := make([]int64, len(out))
	for i, o := range out {
		r[i] = o.ID
	}
	return r
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// sameTime fails unless got and want are the same instant.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
