package discord

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/adapters/discord/discordtest"
	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/brain"
	"github.com/dmdoctor/dmdoctor/flows"
	"github.com/dmdoctor/dmdoctor/kb"
	"github.com/dmdoctor/dmdoctor/store/memory"
)

// These tests run the moderators' hand-off end to end: the real engine
// and knowledge base, the real discordgo, the fake Discord, and a
// moderators' channel in a server where some members have the
// moderators' role.

const (
	modChan = "555555555555555555"
	modRole = "888888888888888888"
	mia     = "121212121212121212" // a moderator
	max2    = "131313131313131313" // another moderator
)

var (
	uMia     = discordtest.User{ID: mia, Username: "mia"}
	uMax     = discordtest.User{ID: max2, Username: "max"}
	modRoles = []string{"999999999999999999", modRole}
)

// withMods makes the adapter a moderators' place.
func withMods(c *Config, f *discordtest.Server) {
	c.ModChannelID, c.ModRoleID = modChan, modRole
	f.AddChannel(modChan, guild, 0)
}

// testClock is the engine's clock, moved forward by tests.
type testClock struct {
	mu   sync.Mutex
	skew time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skew)
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.skew += d
	c.mu.Unlock()
}

var trained struct {
	once  sync.Once
	kb    *kb.KB
	model bot.Classifier
	err   error
}

// modEngine is the real engine on the embedded knowledge base, with a
// clock the test moves, its store and its log. The classifier is trained
// once for all the tests (it is safe for concurrent use).
func modEngine(t *testing.T) (*bot.Engine, *memory.Store, *testClock, *syncBuffer) {
	t.Helper()
	trained.once.Do(func() {
		k, m, err := brain.Start("")
		trained.kb, trained.model, trained.err = k, m, err
	})
	if trained.err != nil {
		t.Fatal(trained.err)
	}
	st := memory.New()
	clk := &testClock{}
	logs := &syncBuffer{}
	e, err := bot.New(bot.Config{KB: trained.kb, Classifier: trained.model, Store: st, Clock: clk.now,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return e, st, clk, logs
}

// say fills a KB message's {placeholders} and escapes it as the adapter
// shows it on Discord.
func say(e *bot.Engine, name string, kv ...string) string {
	s := e.KB().Msg(name)
	for i := 0; i+1 < len(kv); i += 2 {
		s = strings.ReplaceAll(s, "{"+kv[i]+"}", kv[i+1])
	}
	return escapeText(s)
}

// ticketIn returns the message of ticket n in the moderators' channel.
func ticketIn(v discordtest.View, n int) (discordtest.Message, bool) {
	for _, m := range v.In(modChan) {
		if m.Via == "channel" && strings.HasPrefix(m.Content, "Ticket #"+strconv.Itoa(n)+" from") {
			return m, true
		}
	}
	return discordtest.Message{}, false
}

// buttonIDs lists the custom_ids of a message's buttons.
func buttonIDs(m discordtest.Message) []string {
	var ids []string
	for _, row := range m.Buttons {
		for _, b := range row {
			ids = append(ids, b.CustomID)
		}
	}
	return ids
}

// answerTo returns the messages that answer an interaction.
func answerTo(v discordtest.View, ix string) []discordtest.Message {
	var out []discordtest.Message
	for _, m := range v.Messages {
		if m.Interaction == ix && !m.Deleted && m.Content != "" {
			out = append(out, m)
		}
	}
	return out
}

// privately reports whether an interaction was answered with exactly one
// ephemeral message, with this content.
func privately(v discordtest.View, ix, content string) bool {
	ms := answerTo(v, ix)
	return len(ms) == 1 && ms[0].Ephemeral && ms[0].Content == content
}

func hasContent(ms []discordtest.Message, sub string) bool {
	for _, m := range ms {
		if strings.Contains(m.Content, sub) {
			return true
		}
	}
	return false
}

// askForHuman has a user in a DM describe the problem and then use /human;
// it waits for the ticket in the moderators' channel and returns it.
func askForHuman(t *testing.T, r *rig, u discordtest.User, channel string, n int) discordtest.Message {
	t.Helper()
	f := r.fake
	f.Say(discordtest.UserMessage{ChannelID: channel, Author: u, Content: "I can't send messages to my friend"})
	f.Wait(t, "an answer", wait, func(v discordtest.View) bool { return len(v.In(channel)) > 0 })
	r.quiet()
	f.Slash(discordtest.Command{Name: "human", ChannelID: channel, User: u})
	v := f.Wait(t, "the ticket in the moderators' channel", wait, func(v discordtest.View) bool {
		m, ok := ticketIn(v, n)
		_, th := v.Threads[m.ID]
		return ok && th
	})
	r.quiet()
	m, _ := ticketIn(v, n)
	return m
}

func TestE2EModeratorsHandOff(t *testing.T) {
	t.Parallel()
	e, st, _, elogs := modEngine(t)
	r := start(t, e, withMods)
	f := r.fake
	ctx := context.Background()
	key := bot.Key{Channel: Channel, User: alice}

	// /mod and /forget are registered; the moderators' channel was checked.
	var names []string
	for _, c := range f.Commands() {
		names = append(names, c["name"].(string))
	}
	if slices.Sort(names); strings.Join(names, ",") != "forget,help,human,mod,troubleshoot" {
		t.Errorf("commands %v", names)
	}
	f.Wait(t, "the moderators' channel checked", wait, func(v discordtest.View) bool {
		return len(v.CallsTo("GET", "/channels/"+modChan)) == 1
	})

	// alice asks for a person in a DM: the ticket appears with its summary,
	// buttons anyone may press (no owner), and a thread.
	tk := askForHuman(t, r, uAlice, dm, 1)
	v := f.Snapshot()
	if !strings.Contains(tk.Content, "alice on discord") || !strings.Contains(tk.Content, "Said: I can't send messages to my friend") {
		t.Errorf("ticket %q", tk.Content)
	}
	if got := strings.Join(buttonIDs(tk), " "); got != "t.claim.1 t.resolve.1 t.return.1" {
		t.Errorf("ticket buttons %s", got)
	}
	if th := v.Threads[tk.ID]; th.ParentID != modChan || th.Name != "Ticket #1" || th.FromMessage != tk.ID {
		t.Errorf("ticket thread %+v", th)
	}
	thread := tk.ID
	if !hasContent(v.In(dm), say(e, "handoff_queue", "position", "1")) {
		t.Errorf("alice not told her place in the queue: %q", texts(v.In(dm)))
	}

	// mia (a moderator) claims: the ticket message shows it, alice is told.
	claim := f.Press(discordtest.Press{MessageID: tk.ID, CustomID: "t.claim.1", GuildID: guild, User: uMia, Roles: modRoles})
	v = f.Wait(t, "the claim shown and told", wait, func(v discordtest.View) bool {
		m := byID(v, tk.ID)
		return strings.Contains(m.Content, "Claimed by mia") && hasContent(v.In(dm), say(e, "handoff_claimed", "moderator", "mia")) &&
			len(answerTo(v, claim)) == 1
	})
	if v.AckType[claim] != 6 || v.AckLatency[claim] > ackDeadline {
		t.Errorf("claim acknowledged with %d after %v", v.AckType[claim], v.AckLatency[claim])
	}
	if got := strings.Join(buttonIDs(byID(v, tk.ID)), " "); got != "t.resolve.1 t.return.1" {
		t.Errorf("buttons after the claim: %s", got)
	}
	if !privately(v, claim, say(e, "mod_done", "id", "1", "state", "claimed")) {
		t.Errorf("mia told %+v", answerTo(v, claim))
	}

	// alice's next message reaches the thread (escaped, pinging nobody).
	f.Say(discordtest.UserMessage{ChannelID: dm, Author: uAlice, Content: "is anyone there? @everyone **hi**"})
	v = f.Wait(t, "alice's message in the ticket's thread", wait, func(v discordtest.View) bool {
		return hasContent(v.In(thread), "is anyone there? @\u200beveryone \\*\\*hi\\*\\*")
	})
	r.quiet()

	// mia answers in the thread; alice gets it, escaped, pinging nobody
	// (the fake refuses any message that could ping).
	before := len(f.Snapshot().In(dm))
	f.Say(discordtest.UserMessage{ChannelID: thread, GuildID: guild, Author: uMia, Roles: modRoles, Nick: "Mia (mods)",
		Content: "Hi **alice** @everyone, try <@" + bob + "> now"})
	v = f.Wait(t, "mia's answer in alice's DM", wait, func(v discordtest.View) bool { return len(v.In(dm)) > before })
	want := say(e, "relay", "moderator", "Mia (mods)", "text", "Hi **alice** @everyone, try <@"+bob+"> now")
	if got := v.In(dm)[before].Content; got != want || !strings.Contains(got, `\*\*alice\*\* @`+"\u200b"+`everyone, try \<@`) {
		t.Errorf("alice got %q, want %q", got, want)
	}

	// max, a moderator too, can't take it, nor write to alice; bob, not a
	// moderator, can't resolve it (refused privately, logged, nothing
	// changes) and is not heard in the thread.
	taken := f.Press(discordtest.Press{MessageID: tk.ID, CustomID: "t.claim.1", GuildID: guild, User: uMax, Roles: modRoles})
	refused := f.Press(discordtest.Press{MessageID: tk.ID, CustomID: "t.resolve.1", GuildID: guild, User: uBob})
	f.Say(discordtest.UserMessage{ChannelID: thread, GuildID: guild, Author: uBob, Content: "let me help too"})
	maxSays := f.Say(discordtest.UserMessage{ChannelID: thread, GuildID: guild, Author: uMax, Roles: modRoles, Content: "me too"})
	v = f.Wait(t, "max and bob answered", wait, func(v discordtest.View) bool {
		return len(answerTo(v, taken)) == 1 && len(answerTo(v, refused)) == 1 && hasContent(v.In(thread), "only they can do that")
	})
	r.quiet()
	v = f.Snapshot()
	if !privately(v, taken, say(e, "mod_already_claimed", "id", "1", "moderator", "mia")) {
		t.Errorf("max told %+v", answerTo(v, taken))
	}
	if !privately(v, refused, say(e, "mod_not_moderator")) {
		t.Errorf("bob told %+v", answerTo(v, refused))
	}
	for _, m := range v.In(thread) {
		if strings.Contains(m.Content, "only they can do that") && m.ReplyTo != maxSays {
			t.Errorf("max's refusal is not a reply to his message: %+v", m)
		}
	}
	if got, _ := st.GetTicket(ctx, 1); got.State != bot.TicketClaimed || got.Moderator != "discord:"+mia {
		t.Errorf("ticket after the refusals: %s by %s", got.State, got.Moderator)
	}
	if edits := byID(v, tk.ID).Edits; edits != 1 {
		t.Errorf("ticket message edited %d times, want once (the claim)", edits)
	}
	if len(v.In(dm)) != before+1 {
		t.Errorf("alice got more: %q", texts(v.In(dm)[before+1:]))
	}
	if !strings.Contains(r.logs.String(), "ticket's thread from a non-moderator ignored") {
		t.Error("bob's message in the thread not logged")
	}
	if l := elogs.String(); !strings.Contains(l, "moderator action refused") || !strings.Contains(l, "who=discord:"+bob) {
		t.Errorf("bob's press not logged:\n%s", l)
	}

	// /mod tickets lists it.
	list := f.Slash(discordtest.Command{Name: "mod", Sub: "tickets", ChannelID: modChan, GuildID: guild, User: uMia, Roles: modRoles})
	v = f.Wait(t, "the list", wait, func(v discordtest.View) bool { return len(answerTo(v, list)) == 1 })
	if !privately(v, list, escapeText("#1 alice on discord (asked), claimed by mia")) {
		t.Errorf("list %+v", answerTo(v, list))
	}

	// mia resolves with /mod in the ticket's thread (no number needed).
	resolve := f.Slash(discordtest.Command{Name: "mod", Sub: "resolve", ChannelID: thread, Thread: true, GuildID: guild, User: uMia, Roles: modRoles})
	v = f.Wait(t, "resolved; alice asked to rate", wait, func(v discordtest.View) bool {
		q, ok := lastWithButtons(v.In(dm))
		return len(answerTo(v, resolve)) == 1 && ok && len(buttonIDs(q)) == 5 && len(byID(v, tk.ID).Buttons) == 0
	})
	if !privately(v, resolve, say(e, "mod_done", "id", "1", "state", "resolved")) {
		t.Errorf("resolve answered %+v", answerTo(v, resolve))
	}
	if c := byID(v, tk.ID).Content; !strings.Contains(c, "resolved") {
		t.Errorf("ticket message after resolve: %q", c)
	}
	r.quiet()

	// alice rates 4 and comments.
	q, _ := lastWithButtons(f.Snapshot().In(dm))
	if got := strings.Join(buttonIDs(q), " "); !strings.HasPrefix(got, alice+":rate.1 ") {
		t.Errorf("rating buttons %s", got)
	}
	f.Press(discordtest.Press{MessageID: q.ID, CustomID: alice + ":rate.4", User: uAlice})
	f.Wait(t, "the comment question", wait, func(v discordtest.View) bool { return hasContent(v.In(dm), say(e, "ask_comment")) })
	r.quiet()
	f.Say(discordtest.UserMessage{ChannelID: dm, Author: uAlice, Content: "quick and kind"})
	v = f.Wait(t, "thanks, and the rating in the thread", wait, func(v discordtest.View) bool {
		return hasContent(v.In(dm), say(e, "rated")) && hasContent(v.In(thread), "rated 4/5: quick and kind")
	})
	r.quiet()
	if got, _ := st.GetTicket(ctx, 1); got.State != bot.TicketResolved || got.Rating != 4 || got.Comment != "quick and kind" {
		t.Errorf("ticket %s rated %d %q", got.State, got.Rating, got.Comment)
	}

	// /forget deletes everything about alice and says so.
	forget := f.Slash(discordtest.Command{Name: "forget", ChannelID: dm, User: uAlice})
	v = f.Wait(t, "the forget answer", wait, func(v discordtest.View) bool { return len(answerTo(v, forget)) == 1 })
	if ms := answerTo(v, forget); ms[0].Content != say(e, "forgot") || ms[0].Via != "response" {
		t.Errorf("forget answered %+v", ms)
	}
	r.quiet()
	if _, err := st.Get(ctx, key); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("alice's conversation still kept: %v", err)
	}
	if ts, _ := st.ListTickets(ctx); len(ts) != 0 {
		t.Errorf("alice's tickets still kept: %+v", ts)
	}
	if lines, _ := st.Transcript(ctx, key); len(lines) != 0 {
		t.Errorf("alice's transcript still kept: %d lines", len(lines))
	}
}

func TestE2ETicketExpiresAndModeratorReturns(t *testing.T) {
	t.Parallel()
	e, st, clk, _ := modEngine(t)
	r := start(t, e, withMods)
	f := r.fake
	ctx := context.Background()

	// Nobody claims alice's ticket in time: she is told and may leave a
	// message or go on; the ticket shows it expired.
	tk := askForHuman(t, r, uAlice, dm, 1)
	clk.add(bot.DefaultClaimTimeout + time.Minute)
	if err := e.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	v := f.Wait(t, "alice told; the ticket expired", wait, func(v discordtest.View) bool {
		return hasContent(v.In(dm), say(e, "handoff_expired")) && len(byID(v, tk.ID).Buttons) == 0
	})
	if q, _ := lastWithButtons(v.In(dm)); !strings.HasPrefix(strings.Join(buttonIDs(q), " "), alice+":ho.leave") {
		t.Errorf("expired: buttons %v", buttonIDs(q))
	}
	if got, _ := st.GetTicket(ctx, 1); got.State != bot.TicketExpired || !strings.Contains(byID(v, tk.ID).Content, "expired") {
		t.Errorf("ticket %s, message %q", got.State, byID(v, tk.ID).Content)
	}

	// bob's ticket: mia claims it with /mod, then hands bob back to the
	// assistant with the Return button; the assistant answers him again.
	const bobDM = "676767676767676767"
	tk2 := askForHuman(t, r, uBob, bobDM, 2)
	claim := f.Slash(discordtest.Command{Name: "mod", Sub: "claim", Options: []discordtest.Arg{{Name: "ticket", Value: 2}},
		ChannelID: modChan, GuildID: guild, User: uMia, Roles: modRoles})
	v = f.Wait(t, "claimed", wait, func(v discordtest.View) bool {
		return len(answerTo(v, claim)) == 1 && strings.Contains(byID(v, tk2.ID).Content, "Claimed by mia")
	})
	if !privately(v, claim, say(e, "mod_done", "id", "2", "state", "claimed")) {
		t.Errorf("claim answered %+v", answerTo(v, claim))
	}
	note := f.Slash(discordtest.Command{Name: "mod", Sub: "note", Options: []discordtest.Arg{{Name: "text", Value: "checked his account"}, {Name: "ticket", Value: 2}},
		ChannelID: modChan, GuildID: guild, User: uMia, Roles: modRoles})
	f.Wait(t, "noted", wait, func(v discordtest.View) bool { return privately(v, note, say(e, "mod_noted", "id", "2")) })
	ret := f.Press(discordtest.Press{MessageID: tk2.ID, CustomID: "t.return.2", GuildID: guild, User: uMia, Roles: modRoles})
	v = f.Wait(t, "bob handed back", wait, func(v discordtest.View) bool {
		return hasContent(v.In(bobDM), say(e, "handoff_returned")) && len(answerTo(v, ret)) == 1 && len(byID(v, tk2.ID).Buttons) == 0
	})
	r.quiet()
	before, inThread := len(v.In(bobDM)), len(v.In(tk2.ID))
	f.Say(discordtest.UserMessage{ChannelID: bobDM, Author: uBob, Content: "my messages won't send"})
	v = f.Wait(t, "the assistant answers bob", wait, func(v discordtest.View) bool { return len(v.In(bobDM)) > before })
	r.quiet()
	v = f.Snapshot()
	if hasContent(v.In(bobDM)[before:], say(e, "handoff_waiting")) || len(v.In(tk2.ID)) != inThread {
		t.Errorf("bob is still with the moderators: %q", texts(v.In(bobDM)[before:]))
	}
	if got, _ := st.GetTicket(ctx, 2); got.State != bot.TicketReturned || len(got.Notes) != 1 || got.Notes[0].Text != "checked his account" {
		t.Errorf("ticket 2: %s, notes %+v", got.State, got.Notes)
	}
}

// telegramFake is the Telegram side of an engine: a Sender that records.
type telegramFake struct {
	mu   sync.Mutex
	sent map[bot.Address][]string
}

func (s *telegramFake) Send(_ context.Context, to bot.Address, replies []flows.Reply) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range replies {
		s.sent[to] = append(s.sent[to], r.Text)
	}
	return nil
}

func (s *telegramFake) texts(to bot.Address) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sent[to]...)
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestE2ETelegramUserHandledFromDiscord(t *testing.T) {
	t.Parallel()
	e, _, _, _ := modEngine(t)
	tg := &telegramFake{sent: map[bot.Address][]string{}}
	e.Register("telegram", tg)
	r := start(t, e, withMods)
	f := r.fake
	ctx := context.Background()
	const tina bot.Address = "tg-chat-42"
	for i, m := range []bot.Message{{Text: "my DMs won't send"}, {Command: flows.CmdHuman}} {
		m.ID, m.Channel, m.UserID, m.UserName, m.Address = "tg"+strconv.Itoa(i), "telegram", "42", "tina", tina
		if _, err := e.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	v := f.Wait(t, "tina's ticket in Discord", wait, func(v discordtest.View) bool { _, ok := ticketIn(v, 1); return ok })
	tk, _ := ticketIn(v, 1)
	if !strings.Contains(tk.Content, "tina on telegram") {
		t.Errorf("ticket %q", tk.Content)
	}
	f.Press(discordtest.Press{MessageID: tk.ID, CustomID: "t.claim.1", GuildID: guild, User: uMia, Roles: modRoles})
	claimed := e.KB().Msg("handoff_claimed")
	waitFor(t, "tina told of the claim", func() bool {
		return slices.Contains(tg.texts(tina), strings.ReplaceAll(claimed, "{moderator}", "mia"))
	})
	f.Say(discordtest.UserMessage{ChannelID: tk.ID, GuildID: guild, Author: uMia, Roles: modRoles, Content: "Hello from Discord, **Tina**"})
	relay := strings.NewReplacer("{moderator}", "mia", "{text}", "Hello from Discord, **Tina**").Replace(e.KB().Msg("relay"))
	waitFor(t, "tina gets mia's message (plain: the Telegram channel escapes its own way)", func() bool {
		return slices.Contains(tg.texts(tina), relay)
	})
	if _, err := e.Handle(ctx, bot.Message{ID: "tg3", Channel: "telegram", UserID: "42", Address: tina, Text: "thanks, it works!"}); err != nil {
		t.Fatal(err)
	}
	f.Wait(t, "tina's answer in the thread", wait, func(v discordtest.View) bool {
		return hasContent(v.In(tk.ID), "telegram:42 on ticket #1: thanks, it works!")
	})
}

func TestE2EForgetInAServerIsPrivate(t *testing.T) {
	t.Parallel()
	e, st, _, _ := modEngine(t)
	r := start(t, e, withMods)
	f := r.fake
	f.Say(discordtest.UserMessage{ChannelID: dm, Author: uBob, Content: "my messages won't send"})
	f.Wait(t, "an answer", wait, func(v discordtest.View) bool { return len(v.In(dm)) > 0 })
	r.quiet()
	ix := f.Slash(discordtest.Command{Name: "forget", ChannelID: chan1, GuildID: guild, User: uBob})
	v := f.Wait(t, "the private answer", wait, func(v discordtest.View) bool { return len(answerTo(v, ix)) == 1 })
	if !privately(v, ix, say(e, "forgot")) || v.AckType[ix] != 5 {
		t.Errorf("forget answered %+v (ack %d)", answerTo(v, ix), v.AckType[ix])
	}
	if len(v.Threads) != 0 {
		t.Errorf("a thread was opened for /forget: %+v", v.Threads)
	}
	r.quiet()
	if _, err := st.Get(context.Background(), bot.Key{Channel: Channel, User: bob}); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("bob's conversation still kept: %v", err)
	}
	// In the moderators' channel, the assistant stays out of the way.
	f.Say(discordtest.UserMessage{ChannelID: modChan, GuildID: guild, Author: uBob, MentionBot: true, Content: "<@" + discordtest.BotID + "> help"})
	help := f.Slash(discordtest.Command{Name: "troubleshoot", ChannelID: modChan, GuildID: guild, User: uMia, Roles: modRoles})
	v = f.Wait(t, "the moderators' help", wait, func(v discordtest.View) bool { return len(answerTo(v, help)) == 1 })
	if !privately(v, help, say(e, "mod_help")) || len(v.Threads) != 0 || len(v.In(modChan)) != 1 {
		t.Errorf("in the moderators' channel: %+v, threads %+v", v.In(modChan), v.Threads)
	}
}
