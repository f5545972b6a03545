package storetest

import (
	"context"
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
)

func (s *suite) getNotFound(t *testing.T) {
	st := s.store(t)
	turn(t, st, key("u1"), "m1", step(at(0), bot.Change{}))
	for _, k := range []bot.Key{key("u2"), {Channel: "telegram", User: "u1"}} {
		if _, err := st.Get(context.Background(), k); !errors.Is(err, bot.ErrNotFound) {
			t.Errorf("Get(%s) of a key never seen: error %v, want ErrNotFound", k, err)
		}
	}
}

// seed gives k a conversation with a transcript, an outbox entry, an
// outcome, and a claimed, rated ticket with a ref and a note.
func seed(t *testing.T, st bot.Store, k bot.Key, ref string, now time.Time) (bot.Ticket, []bot.Outgoing) {
	t.Helper()
	ctx := context.Background()
	out := turn(t, st, k, "seed-"+k.User, step(now, bot.Change{
		Transcript: lines(0, 3, now),
		Outbox:     []bot.Outgoing{reply(k, "hi", now)},
		Outcome:    &bot.Outcome{Kind: flows.OutcomeHandedOff, Cause: "ban", Reason: flows.ReasonAsked, Time: now},
	}))
	tk, created, err := st.CreateTicket(ctx, bot.Ticket{Key: k, Address: "a", Reason: flows.ReasonAsked, Created: now})
	if err != nil || !created {
		t.Fatalf("CreateTicket: %v, created %v", err, created)
	}
	if err := st.SetTicketRef(ctx, tk.ID, "telegram", ref); err != nil {
		t.Fatalf("SetTicketRef: %v", err)
	}
	if err := st.AddNote(ctx, tk.ID, bot.Note{By: "mod", Text: "note", Time: now}); err != nil {
		t.Fatalf("AddNote: %v", err)
	}
	if _, err := st.ClaimTicket(ctx, tk.ID, "mod", "Mod", now.Add(time.Minute)); err != nil {
		t.Fatalf("ClaimTicket: %v", err)
	}
	if err := st.RateTicket(ctx, tk.ID, 4, "ok", now.Add(2*time.Minute)); err != nil {
		t.Fatalf("RateTicket: %v", err)
	}
	return tk, out
}

func (s *suite) forget(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	gone, keep := key("gone"), key("keep")
	tGone, _ := seed(t, st, gone, "chat:1", at(time.Hour))
	tKeep, outKeep := seed(t, st, keep, "chat:2", at(time.Hour))
	before := stats(t, st, base)

	if err := st.Forget(ctx, gone); err != nil {
		t.Fatalf("Forget: %v", err)
	}
	if err := st.Forget(ctx, key("never-seen")); err != nil {
		t.Errorf("Forget(a key never seen): %v", err)
	}
	if err := st.Forget(ctx, gone); err != nil {
		t.Errorf("Forget twice: %v", err)
	}

	if _, err := st.Get(ctx, gone); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("Get after Forget: error %v, want ErrNotFound", err)
	}
	if tr, err := st.Transcript(ctx, gone); err != nil && !errors.Is(err, bot.ErrNotFound) || len(tr) != 0 {
		t.Errorf("Transcript after Forget = %d lines, %v; want none", len(tr), err)
	}
	if _, err := st.OpenTicket(ctx, gone); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("OpenTicket after Forget: error %v, want ErrNotFound", err)
	}
	if _, err := st.GetTicket(ctx, tGone.ID); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("GetTicket after Forget: error %v, want ErrNotFound", err)
	}
	if _, err := st.TicketByRef(ctx, "telegram", "chat:1"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("TicketByRef after Forget: error %v, want ErrNotFound", err)
	}
	if got := claim(t, st, time.Now().Add(bot.OutboxLease+time.Minute), 10); !slices.Equal(ids(got), ids(outKeep)) {
		t.Errorf("outbox after Forget = %v, want only the other user's %v", ids(got), ids(outKeep))
	}
	after := stats(t, st, base)
	if before.Conversations != 2 || after.Conversations != 1 {
		t.Errorf("Stats.Conversations %d → %d, want 2 → 1", before.Conversations, after.Conversations)
	}
	if before.Outcomes[flows.OutcomeHandedOff] != 2 || after.Outcomes[flows.OutcomeHandedOff] != 1 {
		t.Errorf("Stats.Outcomes %v → %v, want 2 → 1 handed_off", before.Outcomes, after.Outcomes)
	}
	if before.Handoffs[flows.ReasonAsked] != 2 || after.Handoffs[flows.ReasonAsked] != 1 {
		t.Errorf("Stats.Handoffs %v → %v, want 2 → 1", before.Handoffs, after.Handoffs)
	}
	if before.Ratings != 2 || after.Ratings != 1 || before.OpenTickets != 2 || after.OpenTickets != 1 {
		t.Errorf("Stats ratings %d → %d, open tickets %d → %d; want 2 → 1 each", before.Ratings, after.Ratings, before.OpenTickets, after.OpenTickets)
	}
	if len(after.TopCauses) != 1 || after.TopCauses[0] != (bot.CauseCount{Cause: "ban", Count: 1}) {
		t.Errorf("Stats.TopCauses after Forget = %v, want [ban 1]", after.TopCauses)
	}

	// The other user is untouched.
	if c := get(t, st, keep); c.Version != 1 {
		t.Errorf("other user's Version = %d, want 1", c.Version)
	}
	if tr, _ := st.Transcript(ctx, keep); len(tr) != 3 {
		t.Errorf("other user's transcript = %d lines, want 3", len(tr))
	}
	if tk, err := st.TicketByRef(ctx, "telegram", "chat:2"); err != nil || tk.ID != tKeep.ID || tk.Rating != 4 || len(tk.Notes) != 1 {
		t.Errorf("other user's ticket = %+v, %v", tk, err)
	}

	// A forgotten user starts afresh.
	var seen int64 = -1
	turn(t, st, gone, "again", func(c *bot.Conversation) (bot.Change, error) {
		seen = c.Version
		return step(at(2*time.Hour), bot.Change{})(c)
	})
	if seen != 0 {
		t.Errorf("first turn after Forget saw Version %d, want 0", seen)
	}
}

func (s *suite) purge(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	old, recent := key("old"), key("recent")
	turn(t, st, old, "o1", step(at(-72*time.Hour), bot.Change{Transcript: lines(0, 2, at(-72*time.Hour))}))
	turn(t, st, old, "o2", step(at(-48*time.Hour), bot.Change{
		Transcript: lines(2, 1, at(-48*time.Hour)),
		Outcome:    &bot.Outcome{Kind: flows.OutcomeResolved, Cause: "old", Time: at(-48 * time.Hour)},
	}))
	turn(t, st, recent, "r1", step(at(-72*time.Hour), bot.Change{Transcript: lines(0, 2, at(-72*time.Hour))}))
	turn(t, st, recent, "r2", step(at(time.Hour), bot.Change{
		Transcript: lines(2, 1, at(time.Hour)),
		Outcome:    &bot.Outcome{Kind: flows.OutcomeResolved, Cause: "new", Time: at(time.Hour)},
	}))

	mk := func(user string, created time.Time, close bool) bot.Ticket {
		t.Helper()
		tk, _, err := st.CreateTicket(ctx, bot.Ticket{Key: key(user), Reason: flows.ReasonAsked, Created: created})
		if err != nil {
			t.Fatalf("CreateTicket: %v", err)
		}
		if close {
			if tk, err = st.MoveTicket(ctx, tk.ID, []bot.TicketState{bot.TicketPending}, bot.TicketExpired, "", created.Add(time.Hour)); err != nil {
				t.Fatalf("MoveTicket: %v", err)
			}
		}
		return tk
	}
	oldClosed := mk("t1", at(-72*time.Hour), true)
	oldOpen := mk("t2", at(-72*time.Hour), false)
	recentClosed := mk("t3", at(time.Hour), true)

	n, err := st.Purge(ctx, base)
	if err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if n != 1 {
		t.Errorf("Purge deleted %d conversations, want 1", n)
	}
	if _, err := st.Get(ctx, old); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("Get of a purged conversation: error %v, want ErrNotFound", err)
	}
	if tr, _ := st.Transcript(ctx, old); len(tr) != 0 {
		t.Errorf("purged conversation kept %d transcript lines", len(tr))
	}
	if c := get(t, st, recent); c.Version != 2 {
		t.Errorf("recent conversation Version = %d, want 2", c.Version)
	}
	if tr, _ := st.Transcript(ctx, recent); len(tr) != 3 {
		t.Errorf("recent conversation's transcript = %d lines, want 3 (Purge deletes whole conversations)", len(tr))
	}
	if _, err := st.GetTicket(ctx, oldClosed.ID); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("old closed ticket after Purge: error %v, want ErrNotFound", err)
	}
	getTicket(t, st, oldOpen.ID)
	getTicket(t, st, recentClosed.ID)
	got := stats(t, st, time.Time{})
	if !reflect.DeepEqual(got.TopCauses, []bot.CauseCount{{Cause: "new", Count: 1}}) || got.Outcomes[flows.OutcomeResolved] != 1 {
		t.Errorf("outcomes after Purge: %v %v, want only the recent one", got.Outcomes, got.TopCauses)
	}
	if got.Conversations != 1 {
		t.Errorf("Stats.Conversations after Purge = %d, want 1", got.Conversations)
	}
}

func (s *suite) stats(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	since := base

	if got := stats(t, st, since); got.Conversations != 0 || len(got.Outcomes) != 0 || got.Deflection != 0 ||
		len(got.Handoffs) != 0 || got.MedianClaim != 0 || len(got.TopCauses) != 0 || got.Ratings != 0 || got.AvgRating != 0 || got.OpenTickets != 0 {
		t.Errorf("Stats of an empty store = %+v, want zeros", got)
	}

	// Outcomes: resolved ×4 (causes a a a b), handed_off (b), abandoned (c),
	// one resolved before since.
	outcomes := []struct {
		user, kind, cause string
		when              time.Duration
	}{
		{"o1", flows.OutcomeResolved, "a", time.Hour},
		{"o2", flows.OutcomeResolved, "a", time.Hour},
		{"o3", flows.OutcomeResolved, "a", 2 * time.Hour},
		{"o4", flows.OutcomeResolved, "b", 2 * time.Hour},
		{"o5", flows.OutcomeHandedOff, "b", 3 * time.Hour},
		{"o6", bot.OutcomeAbandoned, "c", 3 * time.Hour},
		{"o7", flows.OutcomeResolved, "a", -time.Hour},
		{"o8", flows.OutcomeResolved, "a", -2 * time.Hour},
	}
	for _, o := range outcomes {
		turn(t, st, key(o.user), "m-"+o.user, step(at(o.when), bot.Change{
			Outcome: &bot.Outcome{Kind: o.kind, Cause: o.cause, Time: at(o.when)},
		}))
	}
	// A resolved outcome without a cause counts as an outcome only.
	turn(t, st, key("o1"), "m2", step(at(4*time.Hour), bot.Change{
		Outcome: &bot.Outcome{Kind: flows.OutcomeResolved, Time: at(4 * time.Hour)},
	}))

	// Tickets since: asked ×2, exhausted ×1, claimed after 1, 3 and 10
	// minutes; one asked before since, never claimed, still open.
	tickets := []struct {
		user, reason string
		created      time.Duration
		claimAfter   time.Duration
		then         bot.TicketState
		rating       int
	}{
		{"t1", flows.ReasonAsked, time.Hour, time.Minute, bot.TicketResolved, 5},
		{"t2", flows.ReasonAsked, time.Hour, 3 * time.Minute, "", 0},
		{"t3", flows.ReasonExhausted, 2 * time.Hour, 10 * time.Minute, bot.TicketReturned, 2},
		{"t4", flows.ReasonAsked, -2 * time.Hour, 0, "", 0},
	}
	for _, tc := range tickets {
		tk, _, err := st.CreateTicket(ctx, bot.Ticket{Key: key(tc.user), Reason: tc.reason, Created: at(tc.created)})
		if err != nil {
			t.Fatalf("CreateTicket: %v", err)
		}
		if tc.claimAfter > 0 {
			if _, err := st.ClaimTicket(ctx, tk.ID, "mod", "Mod", at(tc.created+tc.claimAfter)); err != nil {
				t.Fatalf("ClaimTicket: %v", err)
			}
		}
		if tc.then != "" {
			if _, err := st.MoveTicket(ctx, tk.ID, []bot.TicketState{bot.TicketClaimed}, tc.then, "mod", at(tc.created+time.Hour)); err != nil {
				t.Fatalf("MoveTicket: %v", err)
			}
		}
		if tc.rating > 0 {
			if err := st.RateTicket(ctx, tk.ID, tc.rating, "", at(tc.created+2*time.Hour)); err != nil {
				t.Fatalf("RateTicket: %v", err)
			}
		}
	}

	got := stats(t, st, since)
	sameTime(t, "Stats.Since", got.Since, since)
	// Conversations created since: o1–o6 (o7 and o8 before).
	if got.Conversations != 6 {
		t.Errorf("Conversations = %d, want 6", got.Conversations)
	}
	wantOutcomes := map[string]int{flows.OutcomeResolved: 5, flows.OutcomeHandedOff: 1, bot.OutcomeAbandoned: 1}
	if !reflect.DeepEqual(got.Outcomes, wantOutcomes) {
		t.Errorf("Outcomes = %v, want %v", got.Outcomes, wantOutcomes)
	}
	if want := 5.0 / 7.0; math.Abs(got.Deflection-want) > 1e-9 {
		t.Errorf("Deflection = %v, want %v", got.Deflection, want)
	}
	wantHandoffs := map[string]int{flows.ReasonAsked: 2, flows.ReasonExhausted: 1}
	if !reflect.DeepEqual(got.Handoffs, wantHandoffs) {
		t.Errorf("Handoffs = %v, want %v", got.Handoffs, wantHandoffs)
	}
	if got.MedianClaim != 3*time.Minute {
		t.Errorf("MedianClaim = %v, want 3m", got.MedianClaim)
	}
	wantCauses := []bot.CauseCount{{Cause: "a", Count: 3}, {Cause: "b", Count: 2}, {Cause: "c", Count: 1}}
	if !reflect.DeepEqual(got.TopCauses, wantCauses) {
		t.Errorf("TopCauses = %v, want %v", got.TopCauses, wantCauses)
	}
	if got.Ratings != 2 || math.Abs(got.AvgRating-3.5) > 1e-9 {
		t.Errorf("Ratings = %d avg %v, want 2 avg 3.5", got.Ratings, got.AvgRating)
	}
	// t2 (claimed) and t4 (pending, created before since) are open.
	if got.OpenTickets != 2 {
		t.Errorf("OpenTickets = %d, want 2", got.OpenTickets)
	}

	// A later since leaves out what happened before it.
	got = stats(t, st, at(150*time.Minute))
	// Since +2h30: o5 and o6 created, o1's second outcome, o5's and o6's.
	if got.Conversations != 2 || got.Outcomes[flows.OutcomeResolved] != 1 || got.Outcomes[flows.OutcomeHandedOff] != 1 || len(got.Handoffs) != 0 {
		t.Errorf("Stats since +2h30 = %+v, want 2 conversations, 1 resolved, 1 handed off, no hand-offs", got)
	}
}
