package bot_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
)

// place is a fake moderators' place that records what it showed.
type place struct {
	name      string
	failPosts int // Posts that fail before one succeeds
	mu        sync.Mutex
	posts     []bot.Ticket
	views     map[string]bot.TicketView // ref → latest view
	notes     []string
}

func (p *place) Name() string { return p.name }

func (p *place) Post(ctx context.Context, t bot.Ticket, v bot.TicketView) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failPosts > 0 {
		p.failPosts--
		return "", errors.New("place down")
	}
	p.posts = append(p.posts, t)
	ref := fmt.Sprintf("msg-%d", t.ID)
	if p.views == nil {
		p.views = map[string]bot.TicketView{}
	}
	p.views[ref] = v
	return ref, nil
}

func (p *place) Update(ctx context.Context, t bot.Ticket, ref string, v bot.TicketView) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.views[ref] = v
	p.notes = append(p.notes, "update:"+string(t.State))
	return nil
}

func (p *place) Notify(ctx context.Context, t bot.Ticket, ref, text string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notes = append(p.notes, text)
	return nil
}

func (p *place) last() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.notes) == 0 {
		return ""
	}
	return p.notes[len(p.notes)-1]
}

func (p *place) view(ref string) bot.TicketView {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.views[ref]
}

func (f *fixture) mod(a bot.ModAction) bot.ModReply {
	f.t.Helper()
	a.Place = "mods"
	if a.Moderator == "" {
		a.Moderator, a.Name = "mods:m1", "Mia"
	}
	r, err := f.e.Moderate(context.Background(), a)
	if err != nil {
		f.t.Fatalf("Moderate(%+v): %v", a, err)
	}
	return r
}

func TestHandoffClaimRelayResolveRate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.say("ann", "cant dm")
	tu := f.say("ann", "human please")
	if tu.Handoff == nil || tu.Handoff.Reason != flows.ReasonAsked {
		t.Fatalf("no hand-off: %+v", tu)
	}
	if got := f.send.texts("addr-ann"); !strings.Contains(got, "<handoff>") || !strings.Contains(got, "<handoff_queue 1>") {
		t.Fatalf("user not told about the queue: %q", got)
	}
	if len(f.place.posts) != 1 {
		t.Fatalf("ticket posted %d times", len(f.place.posts))
	}
	tk := f.place.posts[0]
	if tk.Reason != flows.ReasonAsked || tk.Summary.Last[0] != "cant dm" {
		t.Fatalf("ticket %+v", tk)
	}
	v := f.place.view("msg-1")
	if !strings.Contains(v.Text, "human please") || len(v.Buttons) != 3 || v.Buttons[0].ID != "t.claim.1" {
		t.Fatalf("ticket view %+v", v)
	}
	// Asking again does not open a second ticket.
	f.msg("ann", bot.Message{Command: flows.CmdHuman})
	if ts, _ := f.store.ListTickets(ctx); len(ts) != 1 {
		t.Fatalf("%d tickets after asking twice", len(ts))
	}
	// While pending the assistant only says someone is coming; the
	// moderators see what the user writes.
	tu = f.say("ann", "still waiting")
	if !strings.Contains(replyText(tu), "<handoff_waiting>") || !strings.Contains(f.place.last(), "still waiting") {
		t.Fatalf("pending turn %q / place %q", replyText(tu), f.place.last())
	}

	// A non-moderator is refused.
	if r := f.mod(bot.ModAction{Op: bot.ModClaim, Ticket: 1, Moderator: "mods:x", Name: "X", IsModerator: false}); !r.Refused {
		t.Fatalf("non-moderator claimed: %+v", r)
	}
	// Two moderators claim at once: exactly one wins.
	var wg sync.WaitGroup
	replies := make([]bot.ModReply, 2)
	for i, who := range []string{"mods:m1", "mods:m2"} {
		wg.Add(1)
		go func(i int, who string) {
			defer wg.Done()
			replies[i] = f.mod(bot.ModAction{Op: bot.ModClaim, Ticket: 1, Moderator: who, Name: who, IsModerator: true})
		}(i, who)
	}
	wg.Wait()
	if replies[0].Refused == replies[1].Refused {
		t.Fatalf("both or neither claimed: %+v", replies)
	}
	winner := "mods:m1"
	if replies[0].Refused {
		winner = "mods:m2"
	}
	loser := replies[0]
	if !loser.Refused {
		loser = replies[1]
	}
	if !strings.Contains(loser.Text, "<mod_already_claimed 1 "+winner) {
		t.Fatalf("loser told %q", loser.Text)
	}
	if !strings.Contains(f.send.texts("addr-ann"), "<handoff_claimed ") {
		t.Fatal("user not told of the claim")
	}

	// Relay both ways.
	f.send.reset()
	tu = f.say("ann", "hello?")
	if len(tu.Replies) != 0 || !strings.Contains(f.place.last(), "hello?") {
		t.Fatalf("user message not relayed (replies %q, place %q)", replyText(tu), f.place.last())
	}
	r := f.mod(bot.ModAction{Op: bot.ModRelay, Ref: "msg-1", Text: "Hi Ann, try this", Moderator: winner, Name: "Mod", IsModerator: true, MsgID: "r1"})
	if r.Refused || !strings.Contains(f.send.texts("addr-ann"), "<relay Mod Hi Ann, try this>") {
		t.Fatalf("moderator reply not relayed: %+v / %q", r, f.send.texts("addr-ann"))
	}
	// Redelivered moderator message: relayed once.
	f.send.reset()
	f.mod(bot.ModAction{Op: bot.ModRelay, Ref: "msg-1", Text: "Hi Ann, try this", Moderator: winner, Name: "Mod", IsModerator: true, MsgID: "r1"})
	if f.send.texts("addr-ann") != "" {
		t.Fatal("a redelivered moderator message was relayed twice")
	}
	// The other moderator can't reply on a ticket that isn't theirs.
	other := "mods:m1"
	if winner == other {
		other = "mods:m2"
	}
	if r := f.mod(bot.ModAction{Op: bot.ModRelay, Ticket: 1, Text: "me too", Moderator: other, Name: "O", IsModerator: true, MsgID: "r2"}); !r.Refused {
		t.Fatal("a second moderator replied on a claimed ticket")
	}

	// Resolve, then the user rates.
	if r := f.mod(bot.ModAction{Op: bot.ModResolve, Ticket: 1, Moderator: winner, IsModerator: true}); r.Refused {
		t.Fatalf("resolve refused: %q", r.Text)
	}
	f.send.reset()
	f.msg("ann", bot.Message{Button: "rate.4"})
	if !strings.Contains(f.send.texts("addr-ann"), "<ask_comment>") {
		t.Fatalf("no comment question: %q", f.send.texts("addr-ann"))
	}
	f.say("ann", "quick and kind")
	got, _ := f.store.GetTicket(ctx, 1)
	if got.State != bot.TicketResolved || got.Rating != 4 || got.Comment != "quick and kind" {
		t.Fatalf("ticket after rating %+v", got)
	}
	// And the assistant is back.
	tu = f.say("ann", "cant dm")
	if tu.Phase != flows.Triage {
		t.Fatalf("assistant did not resume: %+v", tu)
	}
}

func TestHandoffExpiresAndUserLeavesMessage(t *testing.T) {
	f := newFixture(t)
	f.say("bob", "human please")
	if err := f.e.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tk, _ := f.store.GetTicket(context.Background(), 1); tk.State != bot.TicketPending {
		t.Fatalf("expired too early: %s", tk.State)
	}
	f.clock.Add(bot.DefaultClaimTimeout + time.Second)
	if err := f.e.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tk, _ := f.store.GetTicket(context.Background(), 1); tk.State != bot.TicketExpired {
		t.Fatalf("not expired: %s", tk.State)
	}
	if !strings.Contains(f.send.texts("addr-bob"), "<handoff_expired>") {
		t.Fatalf("user not told: %q", f.send.texts("addr-bob"))
	}
	f.msg("bob", bot.Message{Button: "ho.leave"})
	tu := f.say("bob", "please check my account @mods")
	if !strings.Contains(replyText(tu), "<message_left>") {
		t.Fatalf("reply %q", replyText(tu))
	}
	tk, _ := f.store.GetTicket(context.Background(), 1)
	if len(tk.Notes) != 1 || tk.Notes[0].Text != "please check my account @mods" {
		t.Fatalf("message not kept: %+v", tk.Notes)
	}
	// A claim after expiry is refused.
	if r := f.mod(bot.ModAction{Op: bot.ModClaim, Ticket: 1, IsModerator: true}); !r.Refused {
		t.Fatal("claimed an expired ticket")
	}
}

func TestHandoffReturnedToAssistant(t *testing.T) {
	f := newFixture(t)
	f.say("cy", "cant dm")
	f.say("cy", "human please")
	f.mod(bot.ModAction{Op: bot.ModClaim, Ticket: 1, IsModerator: true})
	f.mod(bot.ModAction{Op: bot.ModNote, Ticket: 1, Text: "checked account", IsModerator: true})
	if r := f.mod(bot.ModAction{Op: bot.ModReturn, Ticket: 1, IsModerator: true}); r.Refused {
		t.Fatalf("return refused: %q", r.Text)
	}
	if !strings.Contains(f.send.texts("addr-cy"), "<handoff_returned>") {
		t.Fatal("user not told")
	}
	tu := f.say("cy", "banned")
	if tu.Cause == "" || tu.Phase == flows.Handoff {
		t.Fatalf("assistant did not take over again: %+v", tu)
	}
	tk, _ := f.store.GetTicket(context.Background(), 1)
	if tk.State != bot.TicketReturned || len(tk.Notes) != 1 || len(tk.History) != 3 {
		t.Fatalf("ticket %+v", tk)
	}
	if r := f.mod(bot.ModAction{Op: bot.ModList, IsModerator: true}); !strings.Contains(r.Text, "<mod_no_tickets>") {
		t.Fatalf("list %q", r.Text)
	}
}

func TestParseModCommand(t *testing.T) {
	tests := []struct {
		in   string
		want bot.ModAction
		ok   bool
	}{
		{"tickets", bot.ModAction{Op: bot.ModList}, true},
		{"/claim@dmdoctor_bot 12", bot.ModAction{Op: bot.ModClaim, Ticket: 12}, true},
		{"reply #3 hello  there", bot.ModAction{Op: bot.ModRelay, Ticket: 3, Text: "hello  there"}, true},
		{"note 3", bot.ModAction{Op: bot.ModNote, Ticket: 3}, true},
		{"reply hi there", bot.ModAction{Op: bot.ModRelay, Text: "hi there"}, true},
		{"hello", bot.ModAction{}, false},
		{"", bot.ModAction{}, false},
	}
	for _, tt := range tests {
		got, ok := bot.ParseModCommand(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseModCommand(%q) = %+v %v, want %+v %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if op, id, ok := bot.ParseModButton("t.resolve.7"); !ok || op != bot.ModResolve || id != 7 {
		t.Errorf("ParseModButton = %q %d %v", op, id, ok)
	}
	for _, bad := range []string{"t.claim.x", "t.fly.1", "claim.1", "t.claim.-1"} {
		if _, _, ok := bot.ParseModButton(bad); ok {
			t.Errorf("ParseModButton(%q) accepted", bad)
		}
	}
}

func TestOldButtonDuringHandoffIsStaleAndPrivate(t *testing.T) {
	f := newFixture(t)
	first := f.say("dee", "cant dm")
	old := first.Replies[len(first.Replies)-1].Buttons[0].ID
	f.say("dee", "human please")
	tu := f.msg("dee", bot.Message{Button: old})
	if !tu.Stale || len(tu.Replies) == 0 || !tu.Replies[0].Private {
		t.Fatalf("old press during a hand-off: %+v", tu)
	}
}

// TestHostileTextIsCleanedEverywhere sends a payload with terminal escapes,
// bidi overrides and zero-width characters as a user's name and words and
// as a moderator's name and reply, and checks every place it reaches:
// the ticket view, the lines shown next to it, the relay to the user, the
// stored transcript and the log.
func TestHostileTextIsCleanedEverywhere(t *testing.T) {
	const payload = "evil\x1b[2J\u202Egnp.exe\u200B\u2066@everyone\r"
	var logs strings.Builder
	var logMu sync.Mutex
	f := newFixture(t, func(c *bot.Config) {
		c.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	f.msg("eve", bot.Message{Text: "human please " + payload, UserName: payload})
	f.msg("eve", bot.Message{Command: flows.CmdHuman, UserName: payload})
	f.say("eve", "still there "+payload)
	f.mod(bot.ModAction{Op: bot.ModClaim, Ticket: 1, IsModerator: true, Moderator: "mods:m1", Name: payload})
	f.mod(bot.ModAction{Op: bot.ModRelay, Ticket: 1, IsModerator: true, Moderator: "mods:m1", Name: payload, Text: "hi " + payload, MsgID: "x"})

	lines, _ := f.store.Transcript(context.Background(), bot.Key{Channel: "test", User: "eve"})
	var shown []string
	shown = append(shown, f.place.view("msg-1").Text, f.send.texts("addr-eve"))
	f.place.mu.Lock()
	shown = append(shown, f.place.notes...)
	f.place.mu.Unlock()
	for _, l := range lines {
		shown = append(shown, l.Text)
	}
	for _, s := range shown {
		if strings.ContainsAny(s, "\x1b\r\u202E\u200B\u2066") {
			t.Errorf("hostile characters survive in %q", s)
		}
	}
	if !strings.Contains(f.send.texts("addr-eve"), "evil[2Jgnp.exe@everyone") {
		t.Errorf("relay lost the visible text: %q", f.send.texts("addr-eve"))
	}
	logMu.Lock()
	defer logMu.Unlock()
	if strings.ContainsAny(logs.String(), "\x1b\u202E") || strings.Contains(logs.String(), "still there") {
		t.Errorf("the log holds user text or raw escapes:\n%s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestTicketShownLaterWhenThePlaceWasDown: the hand-off is stored with its
// ticket even when the moderators' place fails; what the user writes
// meanwhile is kept on the ticket; the timer shows the ticket once the
// place works, with those lines.
func TestTicketShownLaterWhenThePlaceWasDown(t *testing.T) {
	f := newFixture(t)
	f.place.failPosts = 2 // the hand-off's post, and the retry when the user writes
	f.say("fay", "human please")
	if len(f.place.posts) != 0 {
		t.Fatal("posted although the place was down")
	}
	tk, err := f.store.OpenTicket(context.Background(), bot.Key{Channel: "test", User: "fay"})
	if err != nil {
		t.Fatalf("no ticket stored with the hand-off: %v", err)
	}
	f.say("fay", "are you there")
	f.clock.Add(time.Minute)
	if err := f.e.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.place.posts) != 1 || f.place.posts[0].ID != tk.ID {
		t.Fatalf("ticket not shown after the place came back: %+v", f.place.posts)
	}
	if v := f.place.view("msg-1"); !strings.Contains(v.Text, "are you there") {
		t.Fatalf("the user's line while the place was down is missing:\n%s", v.Text)
	}
	f.e.Tick(context.Background())
	if len(f.place.posts) != 1 {
		t.Fatal("shown twice")
	}
}
