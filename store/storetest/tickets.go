package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
)

// newTicket is a ticket as the engine hands it to CreateTicket.
func newTicket(user string, created time.Time) bot.Ticket {
	return bot.Ticket{
		Key:      key(user),
		UserName: "User " + user,
		Address:  bot.Address("addr-" + user),
		Reason:   flows.ReasonExhausted,
		Summary: flows.Summary{
			Reason:   flows.ReasonExhausted,
			Detected: []string{"rate_limit", "ban"},
			RuledOut: []string{"network"},
			Tried:    []string{"restart"},
			Answers:  []flows.Answer{{Question: "error", Option: "yes", Text: "Yes"}},
			Last:     []string{"still broken", "help"},
		},
		Created: created,
	}
}

func create(t *testing.T, st bot.Store, tk bot.Ticket) bot.Ticket {
	t.Helper()
	got, created, err := st.CreateTicket(context.Background(), tk)
	if err != nil || !created {
		t.Fatalf("CreateTicket(%s): %v, created %v", tk.Key, err, created)
	}
	return got
}

func (s *suite) ticketCreate(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	in := newTicket("u1", at(0))
	in.State = bot.TicketResolved // ignored: a new ticket is pending
	tk := create(t, st, in)
	if tk.ID <= 0 || tk.State != bot.TicketPending || tk.Key != in.Key || tk.UserName != in.UserName ||
		tk.Address != in.Address || tk.Reason != in.Reason || !reflect.DeepEqual(tk.Summary, in.Summary) || !tk.Created.Equal(in.Created) {
		t.Errorf("CreateTicket = %+v, want a pending copy of %+v", tk, in)
	}
	got := getTicket(t, st, tk.ID)
	if got.ID != tk.ID || got.State != bot.TicketPending || got.Key != in.Key || got.UserName != in.UserName ||
		got.Address != in.Address || got.Reason != in.Reason || !reflect.DeepEqual(got.Summary, in.Summary) || !got.Created.Equal(in.Created) {
		t.Errorf("GetTicket = %+v, want %+v", got, tk)
	}
	if got.Moderator != "" || !got.Claimed.IsZero() || !got.Closed.IsZero() || got.Rating != 0 || len(got.Notes) != 0 || len(got.Refs) != 0 {
		t.Errorf("new ticket has moderator, times, rating, notes or refs: %+v", got)
	}

	// One open ticket per user.
	again, created, err := st.CreateTicket(ctx, newTicket("u1", at(time.Minute)))
	if err != nil || created || again.ID != tk.ID {
		t.Errorf("second CreateTicket = ticket %d, created %v, %v; want the open ticket %d and false", again.ID, created, err, tk.ID)
	}
	other := create(t, st, newTicket("u2", at(time.Minute)))
	if other.ID == tk.ID {
		t.Errorf("two users' tickets share ID %d", tk.ID)
	}
	tg := newTicket("u1", at(time.Minute))
	tg.Key.Channel = "telegram"
	create(t, st, tg)

	if open, err := st.OpenTicket(ctx, key("u1")); err != nil || open.ID != tk.ID {
		t.Errorf("OpenTicket = %d, %v; want %d", open.ID, err, tk.ID)
	}
	if _, err := st.ClaimTicket(ctx, tk.ID, "mod", "Mod", at(time.Minute)); err != nil {
		t.Fatalf("ClaimTicket: %v", err)
	}
	// Claimed is still open.
	if again, created, err := st.CreateTicket(ctx, newTicket("u1", at(2*time.Minute))); err != nil || created || again.ID != tk.ID || again.State != bot.TicketClaimed {
		t.Errorf("CreateTicket while claimed = ticket %d %s, created %v, %v; want the claimed ticket", again.ID, again.State, created, err)
	}
	if open, err := st.OpenTicket(ctx, key("u1")); err != nil || open.ID != tk.ID || open.State != bot.TicketClaimed {
		t.Errorf("OpenTicket = %d %s, %v; want %d claimed", open.ID, open.State, err, tk.ID)
	}
	if _, err := st.MoveTicket(ctx, tk.ID, []bot.TicketState{bot.TicketClaimed}, bot.TicketResolved, "mod", at(3*time.Minute)); err != nil {
		t.Fatalf("MoveTicket: %v", err)
	}
	if _, err := st.OpenTicket(ctx, key("u1")); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("OpenTicket after resolve: error %v, want ErrNotFound", err)
	}
	if _, err := st.OpenTicket(ctx, key("u3")); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("OpenTicket of a user without tickets: error %v, want ErrNotFound", err)
	}
	// Once closed, a new one can be created.
	next := create(t, st, newTicket("u1", at(4*time.Minute)))
	if next.ID == tk.ID || next.ID <= other.ID {
		t.Errorf("ticket after resolve has ID %d, want a new, larger one", next.ID)
	}
	if got := getTicket(t, st, tk.ID); got.State != bot.TicketResolved {
		t.Errorf("old ticket state = %s, want resolved", got.State)
	}
}

func (s *suite) ticketRefs(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	a := create(t, st, newTicket("u1", at(0)))
	b := create(t, st, newTicket("u2", at(0)))
	for _, r := range []struct {
		id         int64
		place, ref string
	}{
		{a.ID, "telegram", "-100:1"},
		{a.ID, "discord", "c1:m1:th1"},
		{b.ID, "telegram", "-100:2"},
		{a.ID, "telegram", "-100:3"}, // replaces -100:1
	} {
		if err := st.SetTicketRef(ctx, r.id, r.place, r.ref); err != nil {
			t.Fatalf("SetTicketRef: %v", err)
		}
	}
	got, err := st.TicketByRef(ctx, "discord", "c1:m1:th1")
	if err != nil || got.ID != a.ID {
		t.Fatalf("TicketByRef(discord) = %d, %v; want %d", got.ID, err, a.ID)
	}
	if want := map[string]string{"telegram": "-100:3", "discord": "c1:m1:th1"}; !reflect.DeepEqual(got.Refs, want) {
		t.Errorf("Refs = %v, want %v", got.Refs, want)
	}
	if got, err := st.TicketByRef(ctx, "telegram", "-100:2"); err != nil || got.ID != b.ID {
		t.Errorf("TicketByRef(telegram, -100:2) = %d, %v; want %d", got.ID, err, b.ID)
	}
	for _, r := range [][2]string{{"telegram", "-100:1"}, {"discord", "-100:2"}, {"slack", "x"}} {
		if _, err := st.TicketByRef(ctx, r[0], r[1]); !errors.Is(err, bot.ErrNotFound) {
			t.Errorf("TicketByRef(%s, %s): error %v, want ErrNotFound", r[0], r[1], err)
		}
	}
	if got := getTicket(t, st, b.ID); !reflect.DeepEqual(got.Refs, map[string]string{"telegram": "-100:2"}) {
		t.Errorf("GetTicket.Refs = %v", got.Refs)
	}
}

func (s *suite) ticketList(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	// The list is oldest first.
	a := create(t, st, newTicket("a", at(time.Minute)))
	b := create(t, st, newTicket("b", at(2*time.Minute)))
	c := create(t, st, newTicket("c", at(3*time.Minute)))
	d := create(t, st, newTicket("d", at(4*time.Minute)))
	if _, err := st.ClaimTicket(ctx, b.ID, "mod", "Mod", at(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MoveTicket(ctx, d.ID, []bot.TicketState{bot.TicketPending}, bot.TicketExpired, "", at(6*time.Minute)); err != nil {
		t.Fatal(err)
	}
	list := func(states ...bot.TicketState) []int64 {
		t.Helper()
		l, err := st.ListTickets(ctx, states...)
		if err != nil {
			t.Fatalf("ListTickets: %v", err)
		}
		for _, tk := range l {
			if !slices.Contains(states, tk.State) {
				t.Errorf("ListTickets(%v) returned a %s ticket", states, tk.State)
			}
		}
		return ticketIDs(l)
	}
	for _, tc := range []struct {
		states []bot.TicketState
		want   []int64
	}{
		{[]bot.TicketState{bot.TicketPending}, []int64{a.ID, c.ID}},
		{[]bot.TicketState{bot.TicketPending, bot.TicketClaimed}, []int64{a.ID, b.ID, c.ID}},
		{[]bot.TicketState{bot.TicketClaimed, bot.TicketExpired}, []int64{b.ID, d.ID}},
		{[]bot.TicketState{bot.TicketResolved}, []int64{}},
	} {
		if got := list(tc.states...); !slices.Equal(got, tc.want) {
			t.Errorf("ListTickets(%v) = %v, want %v", tc.states, got, tc.want)
		}
	}
	// No state: all tickets.
	all, err := st.ListTickets(ctx)
	if err != nil {
		t.Fatalf("ListTickets(): %v", err)
	}
	if got, want := ticketIDs(all), []int64{a.ID, b.ID, c.ID, d.ID}; !slices.Equal(got, want) {
		t.Errorf("ListTickets() = %v, want all %v", got, want)
	}
}

func ticketIDs(l []bot.Ticket) []int64 {
	r := make([]int64, len(l))
	for i, t := range l {
		r[i] = t.ID
	}
	return r
}

func (s *suite) ticketClaim(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	tk := create(t, st, newTicket("u1", at(0)))
	got, err := st.ClaimTicket(ctx, tk.ID, "discord:7", "Ann", at(time.Minute))
	if err != nil {
		t.Fatalf("ClaimTicket: %v", err)
	}
	if got.State != bot.TicketClaimed || got.Moderator != "discord:7" || got.ModeratorName != "Ann" || !got.Claimed.Equal(at(time.Minute)) {
		t.Errorf("ClaimTicket = %+v, want claimed by discord:7 Ann at +1m", got)
	}
	if g := getTicket(t, st, tk.ID); g.State != bot.TicketClaimed || g.Moderator != "discord:7" || g.ModeratorName != "Ann" || !g.Claimed.Equal(at(time.Minute)) {
		t.Errorf("GetTicket after claim = %+v", g)
	}

	// Claimed: ErrClaimed with the ticket naming who has it.
	got, err = st.ClaimTicket(ctx, tk.ID, "telegram:9", "Bob", at(2*time.Minute))
	wantErr(t, "ClaimTicket of a claimed ticket", err, bot.ErrClaimed)
	if got.ID != tk.ID || got.Moderator != "discord:7" {
		t.Errorf("ClaimTicket of a claimed ticket returned %+v, want the ticket claimed by discord:7", got)
	}

	// Closed: ErrTicketClosed.
	if _, err := st.MoveTicket(ctx, tk.ID, []bot.TicketState{bot.TicketClaimed}, bot.TicketResolved, "discord:7", at(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, err = st.ClaimTicket(ctx, tk.ID, "telegram:9", "Bob", at(4*time.Minute))
	wantErr(t, "ClaimTicket of a resolved ticket", err, bot.ErrTicketClosed)
	ex := create(t, st, newTicket("u2", at(0)))
	if _, err := st.MoveTicket(ctx, ex.ID, []bot.TicketState{bot.TicketPending}, bot.TicketExpired, "", at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err = st.ClaimTicket(ctx, ex.ID, "telegram:9", "Bob", at(2*time.Hour))
	wantErr(t, "ClaimTicket of an expired ticket", err, bot.ErrTicketClosed)
	if g := getTicket(t, st, ex.ID); g.State != bot.TicketExpired || g.Moderator != "" {
		t.Errorf("failed claim changed the ticket: %+v", g)
	}
}

// ticketClaimConcurrent has ten moderators claim one ticket at once.
func (s *suite) ticketClaimConcurrent(t *testing.T) {
	st := s.store(t)
	tk := create(t, st, newTicket("u1", at(0)))
	const n = 10
	type result struct {
		mod string
		tk  bot.Ticket
		err error
	}
	res := make(chan result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mod := fmt.Sprint("mod", i)
			got, err := st.ClaimTicket(context.Background(), tk.ID, mod, "Moderator "+mod, at(time.Minute))
			res <- result{mod, got, err}
		}()
	}
	wg.Wait()
	close(res)
	var winner string
	var lost []result
	for r := range res {
		switch {
		case r.err == nil:
			if winner != "" {
				t.Errorf("both %s and %s won the claim", winner, r.mod)
			}
			winner = r.mod
			if r.tk.Moderator != r.mod {
				t.Errorf("winner %s got a ticket claimed by %q", r.mod, r.tk.Moderator)
			}
		case errors.Is(r.err, bot.ErrClaimed):
			lost = append(lost, r)
		default:
			t.Errorf("ClaimTicket(%s): %v", r.mod, r.err)
		}
	}
	if winner == "" || len(lost) != n-1 {
		t.Fatalf("%d concurrent claims: winner %q, %d ErrClaimed; want one winner and %d ErrClaimed", n, winner, len(lost), n-1)
	}
	for _, r := range lost {
		if r.tk.Moderator != winner || r.tk.State != bot.TicketClaimed {
			t.Errorf("loser %s was told the ticket is %s by %q, want claimed by %s", r.mod, r.tk.State, r.tk.Moderator, winner)
		}
	}
	if g := getTicket(t, st, tk.ID); g.Moderator != winner {
		t.Errorf("stored moderator %q, want %s", g.Moderator, winner)
	}
}

func (s *suite) ticketMove(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	tk := create(t, st, newTicket("u1", at(0)))
	n0 := len(getTicket(t, st, tk.ID).History)

	// From a state the ticket is not in: ErrTicketState with the ticket.
	got, err := st.MoveTicket(ctx, tk.ID, []bot.TicketState{bot.TicketClaimed}, bot.TicketResolved, "mod", at(time.Minute))
	wantErr(t, "MoveTicket from the wrong state", err, bot.ErrTicketState)
	if got.ID != tk.ID || got.State != bot.TicketPending {
		t.Errorf("MoveTicket from the wrong state returned %+v, want the pending ticket", got)
	}
	if g := getTicket(t, st, tk.ID); g.State != bot.TicketPending || len(g.History) != n0 {
		t.Errorf("failed move changed the ticket: %+v", g)
	}

	got, err = st.MoveTicket(ctx, tk.ID, []bot.TicketState{bot.TicketClaimed, bot.TicketPending}, bot.TicketExpired, "system", at(time.Hour))
	if err != nil {
		t.Fatalf("MoveTicket: %v", err)
	}
	check := func(what string, g bot.Ticket) {
		t.Helper()
		if g.State != bot.TicketExpired || len(g.History) != n0+1 {
			t.Fatalf("%s: state %s, %d history events; want expired, %d", what, g.State, len(g.History), n0+1)
		}
		last := g.History[len(g.History)-1]
		if last.State != bot.TicketExpired || last.By != "system" || !last.Time.Equal(at(time.Hour)) {
			t.Errorf("%s: last history event %+v, want expired by system at +1h", what, last)
		}
		if !g.Closed.Equal(at(time.Hour)) {
			t.Errorf("%s: Closed = %v, want +1h", what, g.Closed)
		}
	}
	check("MoveTicket", got)
	check("GetTicket", getTicket(t, st, tk.ID))

	_, err = st.MoveTicket(ctx, tk.ID, []bot.TicketState{bot.TicketPending}, bot.TicketClaimed, "mod", at(2*time.Hour))
	wantErr(t, "MoveTicket of an expired ticket", err, bot.ErrTicketState)
}

func (s *suite) ticketNotesRating(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	tk := create(t, st, newTicket("u1", at(0)))
	notes := []bot.Note{
		{By: "discord:7", Text: "asked for a screenshot", Time: at(time.Minute)},
		{By: "telegram:9", Text: "looks like a shadow ban — escalate", Time: at(2 * time.Minute)},
	}
	for _, n := range notes {
		if err := st.AddNote(ctx, tk.ID, n); err != nil {
			t.Fatalf("AddNote: %v", err)
		}
	}
	for _, bad := range []int{0, 6, -1} {
		wantErr(t, fmt.Sprintf("RateTicket(%d)", bad), st.RateTicket(ctx, tk.ID, bad, "", at(time.Hour)), bot.ErrBadRating)
	}
	if err := st.RateTicket(ctx, tk.ID, 4, "quick, thanks", at(time.Hour)); err != nil {
		t.Fatalf("RateTicket: %v", err)
	}
	got := getTicket(t, st, tk.ID)
	if len(got.Notes) != len(notes) {
		t.Fatalf("Notes = %+v, want %+v", got.Notes, notes)
	}
	for i, n := range notes {
		g := got.Notes[i]
		if g.By != n.By || g.Text != n.Text || !g.Time.Equal(n.Time) {
			t.Errorf("note %d = %+v, want %+v", i, g, n)
		}
	}
	if got.Rating != 4 || got.Comment != "quick, thanks" {
		t.Errorf("rating %d %q, want 4 %q", got.Rating, got.Comment, "quick, thanks")
	}
	// Lists carry notes and ratings too.
	l, err := st.ListTickets(ctx, bot.TicketPending)
	if err != nil || len(l) != 1 || len(l[0].Notes) != 2 || l[0].Rating != 4 {
		t.Errorf("ListTickets = %+v, %v; want the ticket with its notes and rating", l, err)
	}
}

func (s *suite) ticketNotFound(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	const id = 1 << 40
	_, err := st.GetTicket(ctx, id)
	wantErr(t, "GetTicket(unknown)", err, bot.ErrNotFound)
	_, err = st.ClaimTicket(ctx, id, "m", "M", at(0))
	wantErr(t, "ClaimTicket(unknown)", err, bot.ErrNotFound)
	_, err = st.MoveTicket(ctx, id, []bot.TicketState{bot.TicketPending}, bot.TicketExpired, "", at(0))
	wantErr(t, "MoveTicket(unknown)", err, bot.ErrNotFound)
	wantErr(t, "SetTicketRef(unknown)", st.SetTicketRef(ctx, id, "telegram", "x"), bot.ErrNotFound)
	wantErr(t, "AddNote(unknown)", st.AddNote(ctx, id, bot.Note{By: "m", Text: "x", Time: at(0)}), bot.ErrNotFound)
	wantErr(t, "RateTicket(unknown)", st.RateTicket(ctx, id, 5, "", at(0)), bot.ErrNotFound)
	l, err := st.ListTickets(ctx, bot.TicketPending)
	if err != nil || len(l) != 0 {
		t.Errorf("ListTickets of an empty store = %v, %v", l, err)
	}
}

func (s *suite) contextCancelled(t *testing.T) {
	st := s.store(t)
	tk := create(t, st, newTicket("u1", at(0)))
	turn(t, st, key("u1"), "m1", step(at(0), bot.Change{}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	called := false
	_, err := st.Turn(ctx, key("u1"), "m2", func(c *bot.Conversation) (bot.Change, error) {
		called = true
		return bot.Change{}, nil
	})
	wantErr(t, "Turn with a cancelled context", err, context.Canceled)
	if called {
		t.Error("Turn with a cancelled context called fn")
	}
	_, err = st.Get(ctx, key("u1"))
	wantErr(t, "Get", err, context.Canceled)
	_, err = st.Transcript(ctx, key("u1"))
	wantErr(t, "Transcript", err, context.Canceled)
	_, err = st.ClaimOutbox(ctx, "console", time.Now(), time.Minute, 10)
	wantErr(t, "ClaimOutbox", err, context.Canceled)
	wantErr(t, "Delivered", st.Delivered(ctx, 1), context.Canceled)
	wantErr(t, "Forget", st.Forget(ctx, key("u1")), context.Canceled)
	_, err = st.Purge(ctx, at(time.Hour))
	wantErr(t, "Purge", err, context.Canceled)
	_, err = st.Stats(ctx, base)
	wantErr(t, "Stats", err, context.Canceled)
	_, _, err = st.CreateTicket(ctx, newTicket("u2", at(0)))
	wantErr(t, "CreateTicket", err, context.Canceled)
	_, err = st.GetTicket(ctx, tk.ID)
	wantErr(t, "GetTicket", err, context.Canceled)
	_, err = st.OpenTicket(ctx, tk.Key)
	wantErr(t, "OpenTicket", err, context.Canceled)
	_, err = st.TicketByRef(ctx, "telegram", "x")
	wantErr(t, "TicketByRef", err, context.Canceled)
	_, err = st.ListTickets(ctx, bot.TicketPending)
	wantErr(t, "ListTickets", err, context.Canceled)
	_, err = st.ClaimTicket(ctx, tk.ID, "m", "M", at(0))
	wantErr(t, "ClaimTicket", err, context.Canceled)
	_, err = st.MoveTicket(ctx, tk.ID, []bot.TicketState{bot.TicketPending}, bot.TicketExpired, "", at(0))
	wantErr(t, "MoveTicket", err, context.Canceled)
	wantErr(t, "SetTicketRef", st.SetTicketRef(ctx, tk.ID, "telegram", "x"), context.Canceled)
	wantErr(t, "AddNote", st.AddNote(ctx, tk.ID, bot.Note{}), context.Canceled)
	wantErr(t, "RateTicket", st.RateTicket(ctx, tk.ID, 5, "", at(0)), context.Canceled)

	// Nothing changed.
	if c := get(t, st, key("u1")); c.Version != 1 {
		t.Errorf("Version = %d, want 1", c.Version)
	}
	if g := getTicket(t, st, tk.ID); g.State != bot.TicketPending || g.Rating != 0 || len(g.Refs) != 0 {
		t.Errorf("ticket changed under a cancelled context: %+v", g)
	}
}

func (s *suite) close(t *testing.T) {
	st := s.open(t)
	turn(t, st, key("u1"), "m1", step(at(0), bot.Change{}))
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	called := false
	_, err := st.Turn(context.Background(), key("u1"), "m2", func(c *bot.Conversation) (bot.Change, error) {
		called = true
		return bot.Change{}, nil
	})
	if err == nil || called {
		t.Errorf("Turn after Close: error %v, fn called %v; want an error", err, called)
	}
}
