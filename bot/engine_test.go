package bot_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/intents"
	"github.com/dmdoctor/dmdoctor/kb"
	"github.com/dmdoctor/dmdoctor/kb/kbtest"
	"github.com/dmdoctor/dmdoctor/store/memory"
)

// fakeNLU classifies by exact text: "intent" or "intent conf" lines are
// registered; anything else is out of scope.
type fakeNLU map[string]intents.Result

func (f fakeNLU) Classify(text string) intents.Result {
	if r, ok := f[text]; ok {
		return r
	}
	return intents.Result{Intent: kb.OutOfScope, OutOfScope: true, Confidence: 0.1}
}

var nlu = fakeNLU{
	"cant dm":       {Intent: kb.CantSend, Confidence: 0.9},
	"banned":        {Intent: kb.TemporaryBan, Confidence: 0.95},
	"human please":  {Intent: kb.Human, Confidence: 0.9},
	"hi":            {Intent: kb.Greet, Confidence: 0.9},
	"too fast":      {Intent: kb.SpamFilter, Confidence: 0.95},
	"still waiting": {Intent: kb.CantSend, Confidence: 0.9},
}

// clock is a fake clock tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// sender records what the engine delivered per address.
type sender struct {
	mu   sync.Mutex
	got  map[bot.Address][]flows.Reply
	fail error
}

func (s *sender) Send(ctx context.Context, to bot.Address, rs []flows.Reply) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if s.got == nil {
		s.got = map[bot.Address][]flows.Reply{}
	}
	s.got[to] = append(s.got[to], rs...)
	return nil
}

func (s *sender) texts(to bot.Address) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return joinTexts(s.got[to])
}

func (s *sender) reset() { s.mu.Lock(); s.got = nil; s.mu.Unlock() }

type fixture struct {
	t     *testing.T
	e     *bot.Engine
	store *memory.Store
	clock *clock
	send  *sender
	place *place
	n     int
}

func newFixture(t *testing.T, opts ...func(*bot.Config)) *fixture {
	f := &fixture{t: t, clock: &clock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)},
		send: &sender{}, place: &place{name: "mods"}}
	f.store = memory.New(memory.WithClock(f.clock.Now))
	cfg := bot.Config{KB: kbtest.Load(t), Classifier: nlu, Store: f.store, Clock: f.clock.Now,
		ModPlaces: []bot.ModPlace{f.place}}
	for _, o := range opts {
		o(&cfg)
	}
	e, err := bot.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.Register("test", f.send)
	f.e = e
	return f
}

// msg sends a message from a user and returns the turn.
func (f *fixture) msg(user string, m bot.Message) bot.Turn {
	f.t.Helper()
	f.n++
	m.Channel, m.UserID, m.Address = "test", user, bot.Address("addr-"+user)
	if m.ID == "" {
		m.ID = fmt.Sprintf("m%d", f.n)
	}
	tu, err := f.e.Handle(context.Background(), m)
	if err != nil {
		f.t.Fatalf("Handle(%+v): %v", m, err)
	}
	return tu
}

func (f *fixture) say(user, text string) bot.Turn { return f.msg(user, bot.Message{Text: text}) }

func replyText(t bot.Turn) string { return joinTexts(t.Replies) }

// joinTexts is the replies' texts, each followed by "|".
func joinTexts(rs []flows.Reply) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.Text + "|")
	}
	return b.String()
}

func TestTurnDeliversAndStores(t *testing.T) {
	f := newFixture(t)
	tu := f.say("ann", "cant dm")
	if tu.Phase != flows.Triage || tu.Intent != kb.CantSend || !strings.Contains(replyText(tu), "<triage_intro>") {
		t.Fatalf("turn %+v", tu)
	}
	if got := f.send.texts("addr-ann"); got != replyText(tu) {
		t.Fatalf("delivered %q, turn said %q", got, replyText(tu))
	}
	c, err := f.store.Get(context.Background(), bot.Key{Channel: "test", User: "ann"})
	if err != nil || c.State.Phase != flows.Triage || c.Version != 1 || c.Address != "addr-ann" {
		t.Fatalf("stored %+v, %v", c, err)
	}
	lines, _ := f.store.Transcript(context.Background(), c.Key)
	if len(lines) < 2 || lines[0].From != bot.FromUser || lines[0].Text != "cant dm" || lines[1].From != bot.FromBot {
		t.Fatalf("transcript %+v", lines)
	}
	out, _ := f.store.ClaimOutbox(context.Background(), "test", f.clock.Now().Add(time.Hour), time.Minute, 10)
	if len(out) != 0 {
		t.Fatalf("delivered replies still in the outbox: %+v", out)
	}
}

func TestDuplicateMessageYieldsOneReply(t *testing.T) {
	f := newFixture(t)
	f.msg("ann", bot.Message{ID: "u1", Text: "cant dm"})
	f.send.reset()
	tu := f.msg("ann", bot.Message{ID: "u1", Text: "cant dm"})
	if !tu.Duplicate || len(tu.Replies) != 0 || f.send.texts("addr-ann") != "" {
		t.Fatalf("duplicate answered again: %+v / %q", tu, f.send.texts("addr-ann"))
	}
}

func TestUsersHaveTheirOwnConversations(t *testing.T) {
	f := newFixture(t)
	f.say("ann", "cant dm")
	tu := f.say("bob", "hi")
	if tu.Phase != flows.Idle {
		t.Fatalf("bob inherited ann's conversation: %s", tu.Phase)
	}
}

func TestConcurrentTurnsOfOneConversationAreSerialised(t *testing.T) {
	f := newFixture(t, func(c *bot.Config) { c.RateMessages = -1; c.MaxConcurrent = 4 })
	const n = 50
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := f.e.Handle(context.Background(), bot.Message{ID: fmt.Sprint(i), Channel: "test", UserID: "ann", Text: "hi"})
			if err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	c, _ := f.store.Get(context.Background(), bot.Key{Channel: "test", User: "ann"})
	if c.State.Turns != n || c.Version != n {
		t.Fatalf("after %d turns: state.Turns=%d version=%d", n, c.State.Turns, c.Version)
	}
}

func TestExpiryStartsAfreshAndRecordsAbandoned(t *testing.T) {
	f := newFixture(t)
	f.say("ann", "cant dm")
	f.clock.Add(bot.DefaultExpireAfter + time.Minute)
	tu := f.say("ann", "hi")
	if tu.Phase != flows.Idle || !strings.Contains(replyText(tu), "<welcome>") {
		t.Fatalf("expired conversation not restarted: %+v", tu)
	}
	st, _ := f.store.Stats(context.Background(), time.Time{})
	if st.Outcomes[bot.OutcomeAbandoned] != 1 {
		t.Fatalf("abandoned not recorded: %+v", st.Outcomes)
	}
}

func TestBadInputGetsAKindReply(t *testing.T) {
	f := newFixture(t)
	for i, text := range []string{"", "   ", "\xff\xfe\xfd", strings.Repeat("a", 100_000), "😀😀😀", "!!!???", "\u202eevil\u200b", "<b>hi</b>"} {
		tu := f.say(fmt.Sprint("u", i), text)
		if len(tu.Replies) == 0 || tu.Replies[0].Text == "" {
			t.Fatalf("input %.20q: no reply", text)
		}
	}
	tu := f.say("long", strings.Repeat("word ", 10_000))
	if !strings.Contains(replyText(tu), "<too_long>") {
		t.Fatalf("long text not flagged: %q", replyText(tu))
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hi\x1b[31m red", "hi[31m red"},
		{"a\u202eb\u200bc", "abc"},
		{"line1\nline2\tx\r", "line1\nline2 x"},
		{"\xffok", "\uFFFDok"},
		{"👨\u200d👩", "👨\u200d👩"},
	}
	for _, tt := range tests {
		if got, _ := bot.Clean(tt.in, 100); got != tt.want {
			t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got, cut := bot.Clean("héllo wörld", 5); got != "héllo" || !cut {
		t.Errorf("Clean cut = %q %v", got, cut)
	}
}

func TestUndeliveredRepliesAreRedelivered(t *testing.T) {
	f := newFixture(t)
	f.send.fail = errors.New("channel down")
	_, err := f.e.Handle(context.Background(), bot.Message{ID: "x", Channel: "test", UserID: "ann", Address: "addr-ann", Text: "cant dm"})
	if err == nil {
		t.Fatal("a failed delivery was not reported")
	}
	f.send.fail = nil
	if err := f.e.Redeliver(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.send.texts("addr-ann") != "" {
		t.Fatal("redelivered before the turn's lease ran out")
	}
	f.clock.Add(bot.OutboxLease + time.Second)
	if err := f.e.Redeliver(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.send.texts("addr-ann"), "<triage_intro>") {
		t.Fatalf("not redelivered: %q", f.send.texts("addr-ann"))
	}
	f.send.reset()
	f.clock.Add(bot.OutboxLease + time.Second)
	f.e.Redeliver(context.Background())
	if f.send.texts("addr-ann") != "" {
		t.Fatal("delivered twice")
	}
}

func TestTakeOverOutboxSendsLeasedRepliesAtOnce(t *testing.T) {
	f := newFixture(t)
	f.send.fail = errors.New("channel down")
	f.e.Handle(context.Background(), bot.Message{ID: "x", Channel: "test", UserID: "ann", Address: "addr-ann", Text: "cant dm"})
	f.send.fail = nil
	f.e.Redeliver(context.Background())
	if f.send.texts("addr-ann") != "" {
		t.Fatal("Redeliver took a leased reply")
	}
	// A new engine on the same store (the process restarted) takes it
	// over at once...
	f.clock.Add(time.Second)
	e2, err := bot.New(bot.Config{KB: kbtest.Load(t), Classifier: nlu, Store: f.store, Clock: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e2.Register("test", f.send)
	// ...but not the replies of its own turns, which it is delivering.
	f.send.fail = errors.New("channel down again")
	e2.Handle(context.Background(), bot.Message{ID: "y", Channel: "test", UserID: "bob", Address: "addr-bob", Text: "cant dm"})
	f.send.fail = nil
	if err := e2.TakeOverOutbox(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.send.texts("addr-ann"), "<triage_intro>") {
		t.Fatalf("not taken over: %q", f.send.texts("addr-ann"))
	}
	if f.send.texts("addr-bob") != "" {
		t.Fatalf("took over a reply of its own turn: %q", f.send.texts("addr-bob"))
	}
}

func TestForgetDeletesEverything(t *testing.T) {
	f := newFixture(t)
	f.say("ann", "cant dm")
	f.say("ann", "human please")
	tu := f.msg("ann", bot.Message{Command: flows.CmdForget})
	if !strings.Contains(replyText(tu), "<forgot>") {
		t.Fatalf("reply %q", replyText(tu))
	}
	ctx := context.Background()
	key := bot.Key{Channel: "test", User: "ann"}
	if _, err := f.store.Get(ctx, key); !errors.Is(err, bot.ErrNotFound) {
		t.Fatalf("conversation kept: %v", err)
	}
	if _, err := f.store.OpenTicket(ctx, key); !errors.Is(err, bot.ErrNotFound) {
		t.Fatalf("ticket kept: %v", err)
	}
	if lines, _ := f.store.Transcript(ctx, key); len(lines) != 0 {
		t.Fatalf("transcript kept: %+v", lines)
	}
	if f.place.last() == "" {
		t.Fatal("moderators not told the ticket went away")
	}
}

func TestRateLimitNoticeOnce(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < bot.DefaultRateMessages; i++ {
		if tu := f.say("spam", "hi"); tu.Limited {
			t.Fatalf("message %d limited", i+1)
		}
	}
	f.send.reset()
	first := f.say("spam", "hi")
	second := f.say("spam", "hi")
	if !first.Limited || !second.Limited {
		t.Fatal("over the limit but not limited")
	}
	if got := f.send.texts("addr-spam"); got != "<rate_limited>|" {
		t.Fatalf("want one notice, got %q", got)
	}
	if tu := f.say("other", "hi"); tu.Limited {
		t.Fatal("another user was limited")
	}
	f.clock.Add(bot.DefaultRateWindow)
	if tu := f.say("spam", "hi"); tu.Limited {
		t.Fatal("still limited after the window")
	}
	// Moderators are limited the same way.
	var last bot.ModReply
	for i := 0; i <= bot.DefaultRateMessages; i++ {
		last = f.mod(bot.ModAction{Op: bot.ModList, IsModerator: true})
	}
	if !last.Refused || last.Text != "<rate_limited>" {
		t.Fatalf("moderator flood not limited: %+v", last)
	}
}
