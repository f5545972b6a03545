package telegram

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/dmdoctor/dmdoctor/adapters/internal/fifo"
	"github.com/dmdoctor/dmdoctor/adapters/telegram/telegramtest"
	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
)

// The moderators' chats and people of the hand-off tests.
const (
	modGroup   int64 = -100555
	forumGroup int64 = -100777
)

var (
	mia  = telegramtest.User{ID: 31, First: "Mia", UserName: "mia_mod"} // the group's creator
	maxi = telegramtest.User{ID: 32, First: "Maxi"}                     // an administrator
	nina = telegramtest.User{ID: 33, First: "Nina"}                     // a member, not a moderator
	ola  = telegramtest.User{ID: 34, First: "Ola"}                      // in ModUserIDs, not an administrator
)

// modOptions runs the real engine with chat as the moderators' chat.
func modOptions(chat int64, users ...int64) options {
	return options{
		engine: realEngine,
		config: func(c *Config) { c.ModChatID, c.ModUserIDs = chat, users },
		before: func(tg *telegramtest.Server) {
			tg.Admin(chat, mia, "creator")
			tg.Admin(chat, maxi, "administrator")
		},
	}
}

// forumOptions is modOptions with a moderators' chat that has topics.
func forumOptions(chat int64) options {
	o := modOptions(chat)
	admins := o.before
	o.before = func(tg *telegramtest.Server) { admins(tg); tg.Forum(chat) }
	return o
}

// askHuman has alice ask for a person, waits until the turn (and with it
// the ticket's posting) is over, and returns the ticket message's ID.
func askHuman(t *testing.T, h *harness, chat int64) int {
	t.Helper()
	n := len(h.rec.wait(t, 0))
	h.tg.Text(alice.ID, alice, "/human")
	h.rec.wait(t, n+1)
	return h.tg.WaitMsg(chat, "Ticket #1 from @alice on telegram")
}

// checkAnsweredOnce checks that every callback query was answered once.
func checkAnsweredOnce(t *testing.T, h *harness) {
	t.Helper()
	time.Sleep(20 * time.Millisecond) // let a second answer show up
	seen := map[string]int{}
	for _, p := range h.tg.CallsTo("answerCallbackQuery") {
		seen[p.Get("callback_query_id")]++
	}
	for q, n := range seen {
		if n != 1 {
			t.Errorf("callback query %s answered %d times", q, n)
		}
	}
}

func TestModeratorsClaimRelayResolveRate(t *testing.T) {
	h := start(t, modOptions(modGroup))
	tg, ctx := h.tg, context.Background()
	tg.Text(alice.ID, alice, "my messages won't send")
	h.rec.wait(t, 1)

	// The ticket appears in the group with its summary and buttons.
	ticket := askHuman(t, h, modGroup)
	if got := tg.Buttons(ticket); !slices.Equal(got, []string{"t.claim.1", "t.resolve.1", "t.return.1"}) {
		t.Fatalf("ticket buttons %v", got)
	}
	if text := tg.SentText(ticket); !strings.Contains(text, "Said: my messages won't send") {
		t.Errorf("the ticket lacks what the user said:\n%s", text)
	}
	if p := tg.SendCall(ticket); p.Get("parse_mode") != "HTML" || !strings.HasPrefix(p.Get("text"), "<b>Ticket #1") {
		t.Errorf("ticket sent as %v", p)
	}
	tg.WaitMsg(alice.ID, "number 1 in the queue")

	// An administrator claims it: the ticket says so, the user is told.
	_, q := tg.Press(mia, ticket, "t.claim.1")
	if a := tg.WaitAnswer(q); a.Get("text") != "Done: ticket #1 is now claimed." || a.Get("show_alert") == "true" {
		t.Errorf("claim answered %v", a)
	}
	tg.WaitText(ticket, "Claimed by Mia")
	if got := tg.Buttons(ticket); !slices.Equal(got, []string{"t.resolve.1", "t.return.1"}) {
		t.Errorf("buttons of the claimed ticket %v", got)
	}
	tg.WaitMsg(alice.ID, "Mia from the moderators is here")

	// What the user writes reaches the group, as a reply to the ticket.
	tg.Text(alice.ID, alice, "it still fails <i>sometimes</i>")
	line := tg.WaitMsg(modGroup, "it still fails <i>sometimes</i>")
	if p := tg.SendCall(line); p.Get("reply_to_message_id") != strconv.Itoa(ticket) || !strings.Contains(p.Get("text"), "&lt;i&gt;") {
		t.Errorf("user's line sent as %v", p)
	}

	// The moderator replies to the ticket message: the user gets it, escaped.
	tg.ReplyTo(modGroup, mia, ticket, "Try <b>this</b> & restart")
	got := tg.WaitMsg(alice.ID, "Mia: Try <b>this</b> & restart")
	if p := tg.SendCall(got); !strings.Contains(p.Get("text"), "Try &lt;b&gt;this&lt;/b&gt; &amp; restart") {
		t.Errorf("relay not escaped: %q", p.Get("text"))
	}
	// Replying to the user's line works too.
	tg.ReplyTo(modGroup, mia, line, "and update the app")
	tg.WaitMsg(alice.ID, "Mia: and update the app")

	// A second administrator is told who has it; a member is refused.
	_, q = tg.Press(maxi, ticket, "t.claim.1")
	if a := tg.WaitAnswer(q); a.Get("text") != "Ticket #1 is already claimed by Mia." || a.Get("show_alert") != "true" {
		t.Errorf("second claim answered %v", a)
	}
	_, q = tg.Press(nina, ticket, "t.resolve.1")
	if a := tg.WaitAnswer(q); a.Get("text") != "Sorry, only moderators can do that." || a.Get("show_alert") != "true" {
		t.Errorf("member's press answered %v", a)
	}
	if tk, _ := h.store.GetTicket(ctx, 1); tk.State != bot.TicketClaimed || tk.Moderator != "telegram:31" {
		t.Errorf("after the refused press: %s by %s", tk.State, tk.Moderator)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "moderator action refused") || !strings.Contains(logs, "telegram:33") {
		t.Errorf("the refusal was not logged:\n%s", logs)
	}

	// /resolve N: the ticket closes, the user is asked to rate.
	cmd := tg.Say(modGroup, mia, "/resolve 1")
	done := tg.WaitMsg(modGroup, "Done: ticket #1 is now resolved.")
	if p := tg.SendCall(done); p.Get("reply_to_message_id") != strconv.Itoa(cmd) {
		t.Errorf("the answer does not quote the command: %v", p)
	}
	tg.WaitText(ticket, "Status: resolved")
	if b := tg.Buttons(ticket); b != nil {
		t.Errorf("a resolved ticket keeps buttons %v", b)
	}
	rate := tg.WaitMsg(alice.ID, "How would you rate")
	if b := tg.Buttons(rate); len(b) != 5 || b[3] != "rate.4" {
		t.Fatalf("rating buttons %v", b)
	}
	tg.Press(alice, rate, "rate.4")
	tg.WaitMsg(alice.ID, "Anything you'd like to add")
	tg.Text(alice.ID, alice, "quick & kind")
	tg.WaitMsg(alice.ID, "Thanks for your feedback")
	tg.WaitMsg(modGroup, "rated 4/5: quick & kind")
	tk, err := h.store.GetTicket(ctx, 1)
	if err != nil || tk.State != bot.TicketResolved || tk.Rating != 4 || tk.Comment != "quick & kind" || tk.ModeratorName != "Mia" {
		t.Errorf("stored ticket %+v, %v", tk, err)
	}
	if !strings.HasPrefix(tk.Refs[Channel], strconv.FormatInt(modGroup, 10)+":m") {
		t.Errorf("ref %q", tk.Refs[Channel])
	}

	tg.Text(modGroup, mia, "/tickets")
	tg.WaitMsg(modGroup, "No open tickets.")

	for _, m := range h.rec.wait(t, 1) {
		if m.UserID != strconv.FormatInt(alice.ID, 10) {
			t.Errorf("a message from the moderators' chat reached the assistant: %+v", m)
		}
	}
	if n := tg.AttemptsOf("getChatAdministrators"); n != 1 {
		t.Errorf("%d administrator look-ups; the list is cached", n)
	}
	checkAnsweredOnce(t, h)
	checkSent(t, h)
}

func TestModeratorsTicketExpires(t *testing.T) {
	h := start(t, modOptions(modGroup))
	tg := h.tg
	ticket := askHuman(t, h, modGroup)
	h.clock.Add(bot.DefaultClaimTimeout + time.Second)
	if err := h.engine.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	told := tg.WaitMsg(alice.ID, "no moderator was free")
	if b := tg.Buttons(told); !slices.Equal(b, []string{"ho.leave", "ho.continue"}) {
		t.Errorf("buttons %v", b)
	}
	tg.WaitText(ticket, "Status: expired")
	if b := tg.Buttons(ticket); b != nil {
		t.Errorf("an expired ticket keeps buttons %v", b)
	}
	// A late claim is refused.
	_, q := tg.Press(mia, ticket, "t.claim.1")
	if a := tg.WaitAnswer(q); a.Get("text") != "Ticket #1 is closed (expired)." || a.Get("show_alert") != "true" {
		t.Errorf("late claim answered %v", a)
	}
}

func TestModeratorsAllowListNoteReturn(t *testing.T) {
	h := start(t, modOptions(modGroup, ola.ID))
	tg := h.tg
	ticket := askHuman(t, h, modGroup)

	_, q := tg.Press(ola, ticket, "t.claim.1")
	if a := tg.WaitAnswer(q); a.Get("text") != "Done: ticket #1 is now claimed." {
		t.Fatalf("allow-listed claim answered %v", a)
	}
	tg.Text(modGroup, ola, "/tickets")
	tg.WaitMsg(modGroup, "#1 @alice on telegram (asked), claimed by Ola")
	tg.Text(modGroup, ola, "/note 1 checked the account")
	tg.WaitMsg(modGroup, "Note added to ticket #1.")
	_, q = tg.Press(ola, ticket, "t.return.1")
	if a := tg.WaitAnswer(q); a.Get("text") != "Done: ticket #1 is now returned." {
		t.Fatalf("return answered %v", a)
	}
	tg.WaitMsg(alice.ID, "handed you back")
	if n := tg.AttemptsOf("getChatAdministrators"); n != 0 {
		t.Errorf("%d administrator look-ups for an allow-listed moderator", n)
	}

	// The assistant answers the user again.
	n := len(h.rec.wait(t, 1))
	tg.Text(alice.ID, alice, "my tiktok messages won't send")
	h.rec.wait(t, n+1)
	if turn := h.rec.turn(n); len(turn.Replies) == 0 || turn.Phase == flows.Handoff {
		t.Errorf("the assistant did not answer: %+v", turn)
	}
	tk, _ := h.store.GetTicket(context.Background(), 1)
	if tk.State != bot.TicketReturned || len(tk.Notes) != 1 || tk.Notes[0].Text != "checked the account" || tk.Notes[0].By != "Ola" {
		t.Errorf("ticket %+v", tk)
	}
}

func TestModeratorsForumTopics(t *testing.T) {
	h := start(t, forumOptions(forumGroup))
	tg := h.tg
	ticket := askHuman(t, h, forumGroup)
	topics := tg.CallsTo("createForumTopic")
	if len(topics) != 1 || topics[0].Get("name") != "Ticket #1" {
		t.Fatalf("createForumTopic calls %v", topics)
	}
	thread := tg.Msg(ticket)["message_thread_id"].(int)
	if p := tg.SendCall(ticket); p.Get("message_thread_id") != strconv.Itoa(thread) {
		t.Errorf("ticket posted outside its topic: %v", p)
	}
	tg.Text(alice.ID, alice, "hello?")
	line := tg.WaitMsg(forumGroup, "hello?")
	if p := tg.SendCall(line); p.Get("message_thread_id") != strconv.Itoa(thread) {
		t.Errorf("user's line outside the topic: %v", p)
	}

	// Chatter in the General topic is ignored; a message in the ticket's
	// topic is relayed (and claims the ticket).
	tg.Text(forumGroup, mia, "morning all")
	tg.InTopic(forumGroup, mia, thread, "Hi Alice, I'm on it")
	tg.WaitMsg(alice.ID, "Mia from the moderators is here")
	tg.WaitMsg(alice.ID, "Mia: Hi Alice, I'm on it")
	tg.WaitText(ticket, "Claimed by Mia")

	// A command without a number acts on the topic's ticket.
	tg.InTopic(forumGroup, mia, thread, "/resolve")
	done := tg.WaitMsg(forumGroup, "Done: ticket #1 is now resolved.")
	if p := tg.SendCall(done); p.Get("message_thread_id") != strconv.Itoa(thread) {
		t.Errorf("answer outside the topic: %v", p)
	}
	tg.WaitMsg(alice.ID, "How would you rate")
	if acts := h.rec.waitActs(t, 2); len(acts) != 2 || acts[0].Ref != fmt.Sprintf("%d:t%d", forumGroup, thread) {
		t.Errorf("actions %+v", acts)
	}
	tk, _ := h.store.GetTicket(context.Background(), 1)
	if tk.Refs[Channel] != fmt.Sprintf("%d:t%d", forumGroup, thread) {
		t.Errorf("ref %q", tk.Refs[Channel])
	}
}

// forgetMessages drops what the adapter remembers about its messages in
// the moderators' chat, as a restart would.
func forgetMessages(a *Adapter) {
	a.mod.mu.Lock()
	a.mod.tickets = fifo.New[msgKey, int64](maxModMessages)
	a.mod.topics = fifo.New[ticketRef, int](maxModMessages)
	a.mod.mu.Unlock()
}

func TestModeratorsAfterRestart(t *testing.T) {
	h := start(t, modOptions(modGroup))
	tg := h.tg
	ticket := askHuman(t, h, modGroup)
	tg.Text(alice.ID, alice, "anyone?")
	h.rec.wait(t, 2)
	line := tg.WaitMsg(modGroup, "anyone?")
	forgetMessages(h.a)
	// The ticket message is still known by its ref.
	tg.ReplyTo(modGroup, mia, ticket, "I'm here")
	tg.WaitMsg(alice.ID, "Mia: I'm here")
	tg.WaitText(ticket, "Claimed by Mia")
	// A line about the ticket is not: the moderator is told what to do.
	tg.ReplyTo(modGroup, mia, line, "hello again")
	tg.WaitMsg(modGroup, DefaultTexts.ModHint)
	// A picture is not relayed.
	tg.Push("message", withField(withField(tg.Message(modGroup, mia, ""), "sticker", sticker()), "reply_to_message", tg.Msg(ticket)))
	tg.WaitMsg(modGroup, DefaultTexts.ModNotText)
	if n := len(tg.CallsTo("sendMessage")); n == 0 || strings.Contains(tg.SentText(tg.LastSent()), "hello again") {
		t.Error("a line the bot could not place was relayed")
	}
}

func TestModeratorsForumAfterRestart(t *testing.T) {
	h := start(t, forumOptions(forumGroup))
	tg := h.tg
	ticket := askHuman(t, h, forumGroup)
	thread := tg.Msg(ticket)["message_thread_id"].(int)
	forgetMessages(h.a)
	tg.InTopic(forumGroup, mia, thread, "I'm here")
	tg.WaitMsg(alice.ID, "Mia: I'm here")
	// The ticket message of the topic is not known any more: its new state
	// is posted in the topic.
	update := tg.WaitMsg(forumGroup, "Claimed by Mia")
	if update == ticket || tg.Msg(update)["message_thread_id"] != thread {
		t.Errorf("update %d (ticket %d) in thread %v", update, ticket, tg.Msg(update)["message_thread_id"])
	}
}

func TestModChatRouting(t *testing.T) {
	long := strings.Repeat("a long answer ", 20)
	h := start(t, options{
		config: func(c *Config) { c.ModChatID = modGroup },
		before: func(tg *telegramtest.Server) { tg.Admin(modGroup, mia, "creator") },
		mod: func(a bot.ModAction) bot.ModReply {
			if a.Op == bot.ModResolve {
				return bot.ModReply{Text: long}
			}
			return bot.ModReply{Text: "ok " + a.Op}
		},
	})
	tg := h.tg
	tg.Text(modGroup, mia, "hello everyone")
	tg.Text(modGroup, mia, "@dmdoctor_bot my DMs fail")
	tg.Text(modGroup, mia, "/troubleshoot")
	tg.Text(modGroup, mia, "/claim@otherbot 3")
	claim := tg.Say(modGroup, mia, "/claim 3")
	tg.WaitMsg(modGroup, "ok claim")
	refused := tg.Say(modGroup, nina, "/claim@dmdoctor_bot 4")
	tg.Push("edited_message", withField(tg.Message(modGroup, mia, "/claim 5"), "edit_date", time.Now().Unix()))
	note := tg.Say(modGroup, mia, "/note 3 called her")
	help := tg.Say(modGroup, mia, "/resolve")
	okMsg := tg.WaitMsg(modGroup, "ok help")
	tg.ReplyTo(modGroup, mia, okMsg, "who is this for?")
	tg.WaitMsg(modGroup, DefaultTexts.ModHint)
	_, other := tg.Press(mia, okMsg, "1.o.yes")
	_, press := tg.Press(mia, okMsg, "t.resolve.3")
	acts := h.rec.waitActs(t, 5)
	byMsg := func(a, b bot.ModAction) int { return strings.Compare(a.MsgID, b.MsgID) }
	slices.SortFunc(acts, byMsg) // moderators' actions run in parallel
	id := func(n int) string { return fmt.Sprintf("m%d:%d", modGroup, n) }
	want := []bot.ModAction{
		{Place: Channel, MsgID: id(claim), Moderator: "telegram:31", Name: "Mia", IsModerator: true, Op: bot.ModClaim, Ticket: 3},
		{Place: Channel, MsgID: id(refused), Moderator: "telegram:33", Name: "Nina", Op: bot.ModClaim, Ticket: 4},
		{Place: Channel, MsgID: id(note), Moderator: "telegram:31", Name: "Mia", IsModerator: true, Op: bot.ModNote, Ticket: 3, Text: "called her"},
		{Place: Channel, MsgID: id(help), Moderator: "telegram:31", Name: "Mia", IsModerator: true, Op: bot.ModHelp},
		{Place: Channel, MsgID: "cb" + press, Moderator: "telegram:31", Name: "Mia", IsModerator: true, Op: bot.ModResolve, Ticket: 3},
	}
	slices.SortFunc(want, byMsg)
	if !slices.Equal(acts, want) {
		t.Errorf("actions:\n%+v\nwant\n%+v", acts, want)
	}
	if a := tg.WaitAnswer(other); a.Get("text") != "" {
		t.Errorf("a press on another button answered %v", a)
	}
	// Too long for a notice: answered empty, said in the chat.
	if a := tg.WaitAnswer(press); a.Get("text") != "" {
		t.Errorf("long answer as a notice: %v", a)
	}
	tg.WaitMsg(modGroup, strings.TrimSpace(long))
	if n := len(h.rec.msgs); n != 0 {
		t.Errorf("%d messages of the moderators' chat reached the assistant", n)
	}
	if n := tg.AttemptsOf("getChatAdministrators"); n != 1 {
		t.Errorf("%d administrator look-ups; want 1 (cached)", n)
	}
	if n := len(tg.CallsTo("sendChatAction")); n != 0 {
		t.Errorf("typing shown in the moderators' chat")
	}
	cmds := tg.CallsTo("setMyCommands")
	scoped := slices.IndexFunc(cmds, func(p url.Values) bool { return p.Get("scope") != "" })
	if len(cmds) != 2 || scoped < 0 || cmds[scoped].Get("scope") != `{"type":"chat","chat_id":-100555}` ||
		!strings.Contains(cmds[scoped].Get("commands"), `"tickets"`) {
		t.Errorf("setMyCommands calls %v", cmds)
	}
	checkAnsweredOnce(t, h)
}

func TestTicketRef(t *testing.T) {
	for _, r := range []ticketRef{{Chat: -1001234567890, Msg: 42}, {Chat: -100, Thread: 7}, {Chat: 5, Msg: 1}} {
		got, err := parseRef(r.String())
		if err != nil || got != r {
			t.Errorf("round trip of %+v: %+v, %v", r, got, err)
		}
	}
	for _, bad := range []string{"", "-100", "-100:", "-100:m", "-100:x4", "x:m4", "0:m4", "-100:m0", "-100:t-1", "-100/123/0/0/g"} {
		if _, err := parseRef(bad); err == nil {
			t.Errorf("parseRef(%q) accepted", bad)
		}
	}
}

func TestTicketMessage(t *testing.T) {
	a := testAdapter(t)
	v := bot.TicketView{Text: "Ticket #3 from <x> & co\nSaid: a < b", Buttons: []flows.Button{{ID: "t.claim.3", Label: "Claim"}}}
	m := a.ticketMessage(v, false)
	if m.html != "<b>Ticket #3 from &lt;x&gt; &amp; co</b>\nSaid: a &lt; b" || m.markup == nil {
		t.Errorf("rendered %q, %v", m.html, m.markup)
	}
	if m := a.ticketMessage(bot.TicketView{Text: "Ticket #3"}, false); m.markup != nil {
		t.Errorf("a new ticket without buttons has a keyboard")
	}
	if m := a.ticketMessage(bot.TicketView{Text: "Ticket #3"}, true); m.markup == nil || len(m.markup.InlineKeyboard) != 0 {
		t.Errorf("an edit without buttons must send an empty keyboard: %+v", m.markup)
	}
	huge := a.ticketMessage(bot.TicketView{Text: "Ticket #3\n" + strings.Repeat("é", 5000)}, false)
	if n := utf16Len(telegramtest.HTMLText(huge.html)); n > maxMessageLen {
		t.Errorf("a huge ticket is %d characters", n)
	}
	q := &tgbotapi.Message{Entities: []tgbotapi.MessageEntity{{Type: "bold", Offset: 0, Length: 9}}}
	if !isTicketMessage(q) || isTicketMessage(&tgbotapi.Message{}) {
		t.Error("isTicketMessage")
	}
}

func TestConfigFromEnvModerators(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{EnvToken: "1:abc"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cfg, on, err := ConfigFromEnv(env(EnvModChatID, " -1001234567890 ", EnvModUserIDs, "11, 22,,33,"))
	if !on || err != nil || cfg.ModChatID != -1001234567890 || !slices.Equal(cfg.ModUserIDs, []int64{11, 22, 33}) {
		t.Errorf("got %d %v, %v", cfg.ModChatID, cfg.ModUserIDs, err)
	}
	if cfg, _, err := ConfigFromEnv(env(EnvModChatID, "42")); err != nil || cfg.ModChatID != 42 {
		t.Errorf("a private moderators' chat: %d, %v", cfg.ModChatID, err)
	}
	for name, tt := range map[string]struct {
		getenv func(string) string
		says   string
	}{
		"chat not a number":  {env(EnvModChatID, "@mods"), EnvModChatID},
		"chat zero":          {env(EnvModChatID, "0"), EnvModChatID},
		"user not a number":  {env(EnvModChatID, "-100", EnvModUserIDs, "11,abc"), `"abc"`},
		"user negative":      {env(EnvModChatID, "-100", EnvModUserIDs, "-5"), EnvModUserIDs},
		"users without chat": {env(EnvModUserIDs, "11"), EnvModChatID},
		"no token": {func(k string) string {
			return map[string]string{EnvModChatID: "-100"}[k]
		}, EnvToken},
	} {
		_, _, err := ConfigFromEnv(tt.getenv)
		if err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := New(Config{Token: "1:a", ModUserIDs: []int64{1}}, &scripted{}); err == nil {
		t.Error("moderator IDs without a chat accepted")
	}
}

func TestModPlaceFailures(t *testing.T) {
	h := start(t, options{
		config: func(c *Config) { c.ModChatID = forumGroup },
		before: func(tg *telegramtest.Server) { tg.Forum(forumGroup) },
	})
	tg, ctx := h.tg, context.Background()
	view := bot.TicketView{Text: "Ticket #7 from someone\nStatus: pending", Buttons: []flows.Button{{ID: "t.claim.7", Label: "Claim"}}}

	// No right to create topics: the ticket goes to the chat itself.
	tg.Fail("createForumTopic", 1, telegramtest.Fault{Status: 400, Description: "Bad Request: not enough rights to create a topic"})
	ref, err := h.a.Post(ctx, bot.Ticket{ID: 7}, view)
	if err != nil || !strings.HasPrefix(ref, fmt.Sprintf("%d:m", forumGroup)) {
		t.Fatalf("Post without topics: %q, %v", ref, err)
	}
	// Updating to the same view changes nothing and is not an error.
	if err := h.a.Update(ctx, bot.Ticket{ID: 7}, ref, view); err != nil {
		t.Errorf("Update with the same view: %v", err)
	}
	// A long line is split; the first part quotes the ticket.
	long := strings.Repeat("word ", 1000)
	if err := h.a.Notify(ctx, bot.Ticket{ID: 7}, ref, long); err != nil {
		t.Fatal(err)
	}
	sent := tg.CallsTo("sendMessage")
	if n := len(sent); n != 3 || sent[1].Get("reply_to_message_id") == "" || sent[2].Get("reply_to_message_id") != "" {
		t.Errorf("%d messages for the ticket and a long line: %v", n, sent)
	}
	// Telegram down: Post fails, counted, the token not logged.
	tg.Fail("sendMessage", DefaultMaxAttempts, telegramtest.Fault{Status: 502, Description: "Bad Gateway"})
	if _, err := h.a.Post(ctx, bot.Ticket{ID: 8}, view); err == nil || strings.Contains(err.Error(), fakeToken) {
		t.Errorf("Post with Telegram down: %v", err)
	}
	if _, _, _, _, undelivered := h.obs.get(); undelivered != 1 {
		t.Errorf("%d undelivered", undelivered)
	}
	if err := h.a.Update(ctx, bot.Ticket{ID: 7}, "not a ref", view); err == nil {
		t.Error("Update with a bad ref")
	}
	if !strings.Contains(h.logs.String(), "ticket not posted") {
		t.Errorf("the failure was not logged:\n%s", h.logs.String())
	}
	// Without a moderators' chat the adapter is no moderators' place.
	plain := testAdapter(t)
	if _, err := plain.Post(ctx, bot.Ticket{ID: 1}, view); err == nil {
		t.Error("Post without a moderators' chat")
	}
}
