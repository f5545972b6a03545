package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
)

func (s *suite) turnCreatesLoadsSaves(t *testing.T) {
	st := s.store(t)
	k := key("u1")
	state := flows.State{
		Phase:    flows.Confirm,
		Seq:      3,
		Question: "q1",
		Cause:    "rate_limit",
		Belief:   map[string]float64{"rate_limit": 0.75, "ban": 0.25},
		Detected: []string{"rate_limit", "ban"},
		Answers:  []flows.Answer{{Question: "q0", Option: "yes", Text: "Yes"}},
		Last:     []string{"i can't send messages"},
		Turns:    1,
	}
	var seen bot.Conversation
	var want bot.Conversation
	out := turn(t, st, k, "m1", func(c *bot.Conversation) (bot.Change, error) {
		seen = *c
		c.Created, c.Updated = at(0), at(0)
		c.Address = "chat-1"
		c.State = state
		c.Handoff = &bot.HandoffState{Ticket: 7, Mode: bot.ModeClaimed, Moderator: "Ann", Rating: 4}
		want = *c
		return bot.Change{}, nil
	})
	if len(out) != 0 {
		t.Errorf("Turn returned %d outbox entries, want 0", len(out))
	}
	if seen.Version != 0 || !seen.Created.IsZero() || seen.Address != "" || !reflect.DeepEqual(seen.State, flows.State{}) {
		t.Errorf("first turn got %+v, want a new conversation with Version 0", seen)
	}

	c := get(t, st, k)
	if c.Key != k || c.Version != 1 || c.Address != "chat-1" {
		t.Errorf("Get = key %v version %d address %q, want %v 1 chat-1", c.Key, c.Version, c.Address, k)
	}
	sameTime(t, "Created", c.Created, at(0))
	sameTime(t, "Updated", c.Updated, at(0))
	if !reflect.DeepEqual(c.State, state) {
		t.Errorf("State = %+v, want %+v", c.State, state)
	}
	// Every field fn set is kept.
	want.Key, want.Version = k, 1
	if g, w := jsonOf(t, c), jsonOf(t, want); g != w {
		t.Errorf("Get = %s, want %s", g, w)
	}

	turn(t, st, k, "m2", func(c *bot.Conversation) (bot.Change, error) {
		seen = *c
		c.Updated = at(time.Minute)
		c.State.Turns++
		return bot.Change{}, nil
	})
	if seen.Version != 1 || !reflect.DeepEqual(seen.State, state) || seen.Address != "chat-1" {
		t.Errorf("second turn got version %d state %+v, want the saved conversation", seen.Version, seen.State)
	}
	sameTime(t, "loaded Created", seen.Created, at(0))
	c = get(t, st, k)
	if c.Version != 2 || c.State.Turns != 2 {
		t.Errorf("after two turns Version %d Turns %d, want 2 2", c.Version, c.State.Turns)
	}
	sameTime(t, "Created after second turn", c.Created, at(0))
	sameTime(t, "Updated after second turn", c.Updated, at(time.Minute))

	// An empty message ID is never a duplicate.
	turn(t, st, k, "", step(at(2*time.Minute), bot.Change{}))
	turn(t, st, k, "", step(at(3*time.Minute), bot.Change{}))
	if c := get(t, st, k); c.Version != 4 {
		t.Errorf("after two turns without message ID Version = %d, want 4", c.Version)
	}
}

func (s *suite) turnDuplicate(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	k := key("u1")
	turn(t, st, k, "m1", step(at(0), bot.Change{Transcript: lines(0, 1, at(0))}))

	called := false
	_, err := st.Turn(ctx, k, "m1", func(c *bot.Conversation) (bot.Change, error) {
		called = true
		return bot.Change{}, nil
	})
	wantErr(t, "Turn with a handled message ID", err, bot.ErrDuplicate)
	if called {
		t.Error("Turn called fn for a duplicate message")
	}
	// Message IDs are unique per channel: another user on the channel
	// cannot reuse one either.
	_, err = st.Turn(ctx, key("u2"), "m1", step(at(0), bot.Change{}))
	wantErr(t, "Turn with a message ID handled for another user of the channel", err, bot.ErrDuplicate)
	if _, err := st.Get(ctx, key("u2")); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("duplicate turn created a conversation: Get error %v", err)
	}

	// The same ID on another channel is another message.
	other := bot.Key{Channel: "telegram", User: "u1"}
	turn(t, st, other, "m1", step(at(0), bot.Change{}))

	if c := get(t, st, k); c.Version != 1 {
		t.Errorf("Version = %d after a duplicate, want 1", c.Version)
	}
	if tr, err := st.Transcript(ctx, k); err != nil || len(tr) != 1 {
		t.Errorf("Transcript = %d lines, %v; want 1", len(tr), err)
	}
}

func (s *suite) turnDuplicateConcurrent(t *testing.T) {
	st := s.store(t)
	const n = 10
	var calls, wins, dups atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := st.Turn(context.Background(), key("u1"), "same", func(c *bot.Conversation) (bot.Change, error) {
				calls.Add(1)
				return step(at(time.Duration(i)), bot.Change{})(c)
			})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, bot.ErrDuplicate):
				dups.Add(1)
			default:
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Turn: %v", err)
	}
	if wins.Load() != 1 || dups.Load() != n-1 || calls.Load() != 1 {
		t.Errorf("%d turns with one message ID: %d saved, %d duplicates, fn called %d times; want 1, %d, 1",
			n, wins.Load(), dups.Load(), calls.Load(), n-1)
	}
	if c := get(t, st, key("u1")); c.Version != 1 {
		t.Errorf("Version = %d, want 1", c.Version)
	}
}

func (s *suite) turnFnError(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	boom := errors.New("boom")
	k := key("u1")
	failing := func(c *bot.Conversation) (bot.Change, error) {
		step(at(time.Hour), bot.Change{})(c)
		c.State.Phase = flows.Handoff
		return bot.Change{
			Outbox:     []bot.Outgoing{reply(k, "lost", at(time.Hour))},
			Transcript: lines(100, 2, at(time.Hour)),
			Outcome:    &bot.Outcome{Kind: flows.OutcomeResolved, Cause: "x", Time: at(time.Hour)},
		}, boom
	}

	// On a new conversation nothing is created.
	_, err := st.Turn(ctx, k, "m1", failing)
	wantErr(t, "Turn whose fn fails", err, boom)
	if _, err := st.Get(ctx, k); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("Get after a failed first turn: error %v, want ErrNotFound", err)
	}

	// On an existing one nothing changes.
	turn(t, st, k, "m0", step(at(0), bot.Change{Transcript: lines(0, 1, at(0))}))
	_, err = st.Turn(ctx, k, "m1", failing)
	wantErr(t, "Turn whose fn fails", err, boom)
	c := get(t, st, k)
	if c.Version != 1 || c.State.Phase == flows.Handoff || c.State.Turns != 1 {
		t.Errorf("failed turn changed the conversation: %+v", c)
	}
	sameTime(t, "Updated after a failed turn", c.Updated, at(0))
	if tr, _ := st.Transcript(ctx, k); len(tr) != 1 {
		t.Errorf("failed turn saved transcript lines: %d, want 1", len(tr))
	}
	if out := claim(t, st, time.Now().Add(24*time.Hour), 100); len(out) != 0 {
		t.Errorf("failed turn saved %d outbox entries", len(out))
	}
	if got := stats(t, st, time.Time{}); got.Outcomes[flows.OutcomeResolved] != 0 {
		t.Errorf("failed turn saved an outcome: %v", got.Outcomes)
	}

	// The message was not handled: it may be retried.
	turn(t, st, k, "m1", step(at(2*time.Hour), bot.Change{}))
	if c := get(t, st, k); c.Version != 2 {
		t.Errorf("Version after retrying the failed message = %d, want 2", c.Version)
	}
}

func (s *suite) turnTranscript(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	k := key("u1")
	want := []bot.Line{
		{Time: at(0), From: bot.FromUser, Text: "tiktok won't let me send messages"},
		{Time: at(time.Second), From: bot.FromBot, Text: "Did you see an error?"},
	}
	turn(t, st, k, "m1", step(at(0), bot.Change{Transcript: want}))
	more := []bot.Line{{Time: at(time.Minute), From: bot.FromModerator, Text: "Hi, I'm here — ünïcödé ✓"}}
	turn(t, st, k, "m2", step(at(time.Minute), bot.Change{Transcript: more}))
	turn(t, st, key("u2"), "m3", step(at(0), bot.Change{Transcript: lines(0, 3, at(0))}))

	got, err := st.Transcript(ctx, k)
	if err != nil {
		t.Fatalf("Transcript: %v", err)
	}
	want = append(want, more...)
	if len(got) != len(want) {
		t.Fatalf("Transcript = %d lines, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].From != want[i].From || got[i].Text != want[i].Text || !got[i].Time.Equal(want[i].Time) {
			t.Errorf("line %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func (s *suite) turnTranscriptLimit(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	k := key("u1")
	// 3 turns of 45 lines, then one turn of more than the limit alone.
	for i := range 3 {
		turn(t, st, k, fmt.Sprint("m", i), step(at(time.Duration(i)*time.Minute), bot.Change{Transcript: lines(i*45, 45, at(0))}))
	}
	check := func(last int) {
		t.Helper()
		got, err := st.Transcript(ctx, k)
		if err != nil {
			t.Fatalf("Transcript: %v", err)
		}
		if len(got) != bot.TranscriptLimit {
			t.Fatalf("Transcript kept %d lines, want %d", len(got), bot.TranscriptLimit)
		}
		first := last - bot.TranscriptLimit + 1
		for i, l := range got {
			if want := fmt.Sprintf("line %d", first+i); l.Text != want {
				t.Fatalf("line %d = %q, want %q (the last %d lines, oldest first)", i, l.Text, want, bot.TranscriptLimit)
			}
		}
	}
	check(3*45 - 1)
	turn(t, st, k, "big", step(at(time.Hour), bot.Change{Transcript: lines(1000, bot.TranscriptLimit+30, at(0))}))
	check(1000 + bot.TranscriptLimit + 29)
}

// turnSerialisedOneKey runs many turns of one key at once; each
// increments a counter, so a lost update shows as a smaller count.
func (s *suite) turnSerialisedOneKey(t *testing.T) {
	st := s.store(t)
	const n = 20
	k := key("u1")
	var wg sync.WaitGroup
	var mu sync.Mutex
	versions := map[int64]int{}
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := st.Turn(context.Background(), k, fmt.Sprint("m", i), func(c *bot.Conversation) (bot.Change, error) {
				mu.Lock()
				versions[c.Version]++
				mu.Unlock()
				return step(at(time.Duration(i)*time.Second), bot.Change{
					Transcript: lines(i, 1, at(0)),
					Outbox:     []bot.Outgoing{reply(k, fmt.Sprint("r", i), at(0))},
				})(c)
			})
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Turn: %v", err)
	}
	c := get(t, st, k)
	if c.State.Turns != n || c.Version != n {
		t.Errorf("after %d concurrent turns of one key: counter %d, Version %d; want %d %d", n, c.State.Turns, c.Version, n, n)
	}
	for v := range int64(n) {
		if versions[v] != 1 {
			t.Errorf("fn saw Version %d %d times, want once", v, versions[v])
		}
	}
	if tr, _ := st.Transcript(context.Background(), k); len(tr) != n {
		t.Errorf("Transcript = %d lines, want %d", len(tr), n)
	}
}

func (s *suite) turnConcurrentKeys(t *testing.T) {
	st := s.store(t)
	const keys, turns = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, keys*turns)
	for u := range keys {
		for i := range turns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := key(fmt.Sprint("u", u))
				_, err := st.Turn(context.Background(), k, fmt.Sprintf("m%d-%d", u, i), step(at(0), bot.Change{
					Outbox: []bot.Outgoing{reply(k, "hi", at(0))},
				}))
				if err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Turn: %v", err)
	}
	for u := range keys {
		if c := get(t, st, key(fmt.Sprint("u", u))); c.Version != turns || c.State.Turns != turns {
			t.Errorf("u%d: Version %d counter %d, want %d", u, c.Version, c.State.Turns, turns)
		}
	}
}

// turnWaitHonoursContext checks that a turn waiting for another turn of
// the same key gives up when its context ends.
func (s *suite) turnWaitHonoursContext(t *testing.T) {
	st := s.store(t)
	k := key("u1")
	turn(t, st, k, "m0", step(at(0), bot.Change{}))

	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := st.Turn(context.Background(), k, "m1", func(c *bot.Conversation) (bot.Change, error) {
			close(entered)
			select {
			case <-release:
			case <-time.After(3 * time.Second): // a store that ignores ctx fails, not hangs
			}
			return step(at(time.Minute), bot.Change{})(c)
		})
		done <- err
	}()
	select {
	case <-entered:
	case err := <-done:
		t.Fatalf("first Turn: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	called := false
	_, err := st.Turn(ctx, k, "m2", func(c *bot.Conversation) (bot.Change, error) {
		called = true
		return bot.Change{}, nil
	})
	waited := time.Since(start)
	close(release)
	if err := <-done; err != nil {
		t.Errorf("first Turn: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Turn waiting for a busy key past its deadline: error %v, want context.DeadlineExceeded", err)
	}
	if called {
		t.Error("Turn called fn after its context ended (waiting for another turn of the key)")
	}
	if waited > 5*time.Second {
		t.Errorf("Turn gave up %v after its deadline", waited)
	}
	if c := get(t, st, k); c.Version != 2 {
		t.Errorf("Version = %d, want 2", c.Version)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// turnOpensTicket: a Change with a Ticket stores the ticket with the turn
// and the conversation's Handoff points at it; a second hand-off while it
// is open keeps the same ticket.
func (s *suite) turnOpensTicket(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	k := key("handoff")
	handoff := func(msg string) {
		turn(t, st, k, msg, func(c *bot.Conversation) (bot.Change, error) {
			if c.Version == 0 {
				c.Created = at(0)
			}
			c.Updated = at(time.Minute)
			c.Handoff = &bot.HandoffState{Mode: bot.ModePending}
			return bot.Change{Ticket: &bot.Ticket{Key: k, Reason: flows.ReasonAsked, Created: at(time.Minute),
				Summary: flows.Summary{Reason: flows.ReasonAsked, Last: []string{"help"}}}}, nil
		})
	}
	handoff("m1")
	tk, err := st.OpenTicket(ctx, k)
	if err != nil {
		t.Fatalf("no open ticket after a hand-off turn: %v", err)
	}
	if tk.State != bot.TicketPending || tk.Reason != flows.ReasonAsked || len(tk.Summary.Last) != 1 {
		t.Fatalf("ticket %+v", tk)
	}
	c, err := st.Get(ctx, k)
	if err != nil || c.Handoff == nil || c.Handoff.Ticket != tk.ID {
		t.Fatalf("conversation hand-off %+v (ticket %d), err %v", c.Handoff, tk.ID, err)
	}
	handoff("m2")
	all, _ := st.ListTickets(ctx)
	if len(all) != 1 {
		t.Fatalf("%d tickets after two hand-offs of one user", len(all))
	}
	c, _ = st.Get(ctx, k)
	if c.Handoff.Ticket != tk.ID {
		t.Fatalf("second hand-off points at %d, want %d", c.Handoff.Ticket, tk.ID)
	}
	// A failing turn opens no ticket.
	other := key("failing")
	_, err = st.Turn(ctx, other, "m1", func(c *bot.Conversation) (bot.Change, error) {
		return bot.Change{Ticket: &bot.Ticket{Key: other, Reason: flows.ReasonAsked, Created: at(0)}}, errors.New("boom")
	})
	if err == nil {
		t.Fatal("fn's error not returned")
	}
	if _, err := st.OpenTicket(ctx, other); !errors.Is(err, bot.ErrNotFound) {
		t.Fatalf("a failed turn left a ticket: %v", err)
	}
}
