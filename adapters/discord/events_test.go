package discord

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/flows"
)

// handlerFunc is a Handler made of a function.
type handlerFunc func(ctx context.Context, m bot.Message) (bot.Turn, error)

func (f handlerFunc) Handle(ctx context.Context, m bot.Message) (bot.Turn, error) { return f(ctx, m) }

func (f handlerFunc) Moderate(context.Context, bot.ModAction) (bot.ModReply, error) {
	return bot.ModReply{Text: "moderated"}, nil
}

// recorder is a Handler that records messages and moderators' actions
// and answers with reply and mod.
type recorder struct {
	mu    sync.Mutex
	msgs  []bot.Message
	acts  []bot.ModAction
	reply func(bot.Message) bot.Turn
	mod   func(bot.ModAction) bot.ModReply
}

func (r *recorder) Moderate(_ context.Context, a bot.ModAction) (bot.ModReply, error) {
	r.mu.Lock()
	r.acts = append(r.acts, a)
	r.mu.Unlock()
	if r.mod == nil {
		return bot.ModReply{Text: "done"}, nil
	}
	return r.mod(a), nil
}

func (r *recorder) actions() []bot.ModAction {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bot.ModAction(nil), r.acts...)
}

func (r *recorder) Handle(_ context.Context, m bot.Message) (bot.Turn, error) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	if r.reply == nil {
		return bot.Turn{Replies: []flows.Reply{{Text: "ok", Buttons: []flows.Button{{ID: "1.o.yes", Label: "Yes"}}}}}, nil
	}
	return r.reply(m), nil
}

func (r *recorder) messages() []bot.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bot.Message(nil), r.msgs...)
}

// fakeAPI records the REST calls the adapter makes.
type fakeAPI struct {
	mu       sync.Mutex
	calls    []string
	fail     map[string]error // by op name, or op name and channel ("send_message 123")
	n        int
	channels map[string]*discordgo.Channel // answers of Channel (default: a text channel)
	msgs     int                           // messages sent, numbering their IDs
	// threadIsMessage: a thread started from a message takes its ID, as
	// on Discord (else threads are numbered 555000000000000001…).
	threadIsMessage bool
}

func (f *fakeAPI) record(op, detail string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op+" "+detail)
	where, _, _ := strings.Cut(detail, " ")
	if err, ok := f.fail[op+" "+where]; ok { // one channel only
		return err
	}
	return f.fail[op]
}

func (f *fakeAPI) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func describe(content string, comps []discordgo.MessageComponent, flags discordgo.MessageFlags, am *discordgo.MessageAllowedMentions) string {
	var ids []string
	for _, r := range comps {
		for _, c := range r.(discordgo.ActionsRow).Components {
			ids = append(ids, c.(discordgo.Button).CustomID)
		}
	}
	s := fmt.Sprintf("%q [%s]", content, strings.Join(ids, ","))
	if flags&discordgo.MessageFlagsEphemeral != 0 {
		s += " ephemeral"
	}
	if am == nil || am.Parse == nil || len(am.Parse) > 0 {
		s += " PINGS"
	}
	return s
}

func (f *fakeAPI) ChannelMessageSendComplex(ch string, d *discordgo.MessageSend, _ ...discordgo.RequestOption) (*discordgo.Message, error) {
	f.mu.Lock()
	f.msgs++
	id := fmt.Sprintf("8800000000000000%02d", f.msgs)
	f.mu.Unlock()
	detail := ch + " " + describe(d.Content, d.Components, d.Flags, d.AllowedMentions)
	if d.Reference != nil {
		detail += " reply-to=" + d.Reference.MessageID
	}
	return &discordgo.Message{ID: id, ChannelID: ch}, f.record(opSend, detail)
}

func (f *fakeAPI) ChannelMessageEditComplex(m *discordgo.MessageEdit, _ ...discordgo.RequestOption) (*discordgo.Message, error) {
	var comps []discordgo.MessageComponent
	if m.Components != nil {
		comps = *m.Components
	}
	return &discordgo.Message{ID: m.ID}, f.record(opTicketEdit, m.Channel+" "+m.ID+" "+describe(*m.Content, comps, 0, m.AllowedMentions))
}

func (f *fakeAPI) Channel(id string, _ ...discordgo.RequestOption) (*discordgo.Channel, error) {
	f.mu.Lock()
	ch, ok := f.channels[id]
	f.mu.Unlock()
	if !ok {
		ch = &discordgo.Channel{ID: id, Type: discordgo.ChannelTypeGuildText}
	}
	return ch, f.record(opChannel, id)
}

func (f *fakeAPI) InteractionRespond(i *discordgo.Interaction, r *discordgo.InteractionResponse, _ ...discordgo.RequestOption) error {
	d := fmt.Sprintf("type=%d", r.Type)
	if r.Data != nil {
		d += " " + describe(r.Data.Content, r.Data.Components, r.Data.Flags, r.Data.AllowedMentions)
	}
	return f.record(opAck, d)
}

func (f *fakeAPI) InteractionResponseEdit(i *discordgo.Interaction, e *discordgo.WebhookEdit, _ ...discordgo.RequestOption) (*discordgo.Message, error) {
	return &discordgo.Message{}, f.record(opEdit, describe(*e.Content, *e.Components, 0, e.AllowedMentions))
}

func (f *fakeAPI) InteractionResponseDelete(*discordgo.Interaction, ...discordgo.RequestOption) error {
	return f.record(opDelete, "")
}

func (f *fakeAPI) FollowupMessageCreate(i *discordgo.Interaction, _ bool, d *discordgo.WebhookParams, _ ...discordgo.RequestOption) (*discordgo.Message, error) {
	return &discordgo.Message{}, f.record(opFollowup, describe(d.Content, d.Components, d.Flags, d.AllowedMentions))
}

func (f *fakeAPI) ThreadStartComplex(ch string, d *discordgo.ThreadStart, _ ...discordgo.RequestOption) (*discordgo.Channel, error) {
	f.mu.Lock()
	f.n++
	id := fmt.Sprintf("55500000000000000%d", f.n)
	f.mu.Unlock()
	return &discordgo.Channel{ID: id}, f.record(opThread, ch+" "+d.Name)
}

func (f *fakeAPI) MessageThreadStartComplex(ch, msg string, d *discordgo.ThreadStart, o ...discordgo.RequestOption) (*discordgo.Channel, error) {
	if f.threadIsMessage {
		return &discordgo.Channel{ID: msg, ParentID: ch, Type: discordgo.ChannelTypeGuildPublicThread}, f.record(opThread, ch+" "+msg+" "+d.Name)
	}
	return f.ThreadStartComplex(ch, d, o...)
}

func (f *fakeAPI) ThreadMemberAdd(th, user string, _ ...discordgo.RequestOption) error {
	return f.record(opThreadJoin, th+" "+user)
}

func (f *fakeAPI) ApplicationCommandBulkOverwrite(app, guild string, cmds []*discordgo.ApplicationCommand, _ ...discordgo.RequestOption) ([]*discordgo.ApplicationCommand, error) {
	return cmds, f.record(opCommands, app+" "+guild)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// counter is an Observer that counts.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[k]++
}

func (c *counter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

func (c *counter) MessageIn(string)      { c.add("in") }
func (c *counter) MessageOut(string)     { c.add("out") }
func (c *counter) APIError(_, op string) { c.add("error " + op) }
func (c *counter) Retry(string)          { c.add("retry") }
func (c *counter) Undelivered(string)    { c.add("undelivered") }
func (c *counter) String() string        { return fmt.Sprint(c.n) }
func (c *counter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

const (
	me    = "900000000000000001"
	alice = "111111111111111111"
	bob   = "222222222222222222"
	guild = "333333333333333333"
	chan1 = "444444444444444444"
	dm    = "666666666666666666"
)

func unitAdapter(t *testing.T, h Handler) (*Adapter, *fakeAPI, *counter, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	obs := &counter{}
	a, err := New(Config{Token: testSecret, Observer: obs, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Backoff: time.Millisecond, MaxBackoff: time.Millisecond}, h)
	if err != nil {
		t.Fatal(err)
	}
	api := &fakeAPI{fail: map[string]error{}}
	a.rest = api
	id := me
	a.botID.Store(&id)
	a.appID.Store(&id)
	t.Cleanup(func() {
		if strings.Contains(logs.String(), testSecret) {
			t.Errorf("the token is in the logs:\n%s", logs)
		}
	})
	return a, api, obs, logs
}

func user(id, name string) *discordgo.User { return &discordgo.User{ID: id, Username: name} }

func TestOnMessageRouting(t *testing.T) {
	mention := "<@" + me + ">"
	tests := []struct {
		name     string
		msg      discordgo.Message
		ours     map[string]string // threads the bot opened → user
		wantMsg  *bot.Message      // nil: ignored
		wantCall []string          // prefixes of the API calls, in order
	}{
		{
			name:     "DM",
			msg:      discordgo.Message{ID: "10", ChannelID: dm, Author: user(alice, "alice"), Content: "my DMs won't send"},
			wantMsg:  &bot.Message{ID: "m10", UserID: alice, UserName: "alice", Address: bot.Address(dm + ":" + alice), Text: "my DMs won't send"},
			wantCall: []string{opSend + " " + dm + ` "ok" [` + alice + ":1.o.yes]"},
		},
		{
			name:     "mention in a server channel opens a thread",
			msg:      discordgo.Message{ID: "11", ChannelID: chan1, GuildID: guild, Author: user(alice, "alice"), Content: mention + " it says I'm restricted", Mentions: []*discordgo.User{user(me, "bot")}},
			wantMsg:  &bot.Message{ID: "m11", UserID: alice, UserName: "alice", Address: bot.Address("555000000000000001:" + alice), Text: "it says I'm restricted"},
			wantCall: []string{opThread + " " + chan1 + " TikTok messages help for alice", opThreadJoin + " 555000000000000001 " + alice, opSend + " 555000000000000001 "},
		},
		{
			name:     "bare mention starts",
			msg:      discordgo.Message{ID: "12", ChannelID: chan1, GuildID: guild, Author: user(alice, "alice"), Content: "<@!" + me + ">", Mentions: []*discordgo.User{user(me, "bot")}},
			wantMsg:  &bot.Message{ID: "m12", UserID: alice, UserName: "alice", Address: bot.Address("555000000000000001:" + alice), Command: flows.CmdStart},
			wantCall: []string{opThread, opThreadJoin, opSend},
		},
		{
			name: "server message without mention",
			msg:  discordgo.Message{ID: "13", ChannelID: chan1, GuildID: guild, Author: user(alice, "alice"), Content: "hello all"},
		},
		{
			name:     "the user in their thread",
			msg:      discordgo.Message{ID: "14", ChannelID: "777000000000000001", GuildID: guild, Author: user(alice, "alice"), Content: "yes"},
			ours:     map[string]string{"777000000000000001": alice},
			wantMsg:  &bot.Message{ID: "m14", UserID: alice, UserName: "alice", Address: bot.Address("777000000000000001:" + alice), Text: "yes"},
			wantCall: []string{opSend + " 777000000000000001"},
		},
		{
			name: "someone else in a user's thread",
			msg:  discordgo.Message{ID: "15", ChannelID: "777000000000000001", GuildID: guild, Author: user(bob, "mod"), Content: "hi alice, I'm a moderator"},
			ours: map[string]string{"777000000000000001": alice},
		},
		{
			name:    "someone else in a user's thread, mentioning the bot",
			msg:     discordgo.Message{ID: "16", ChannelID: "777000000000000001", GuildID: guild, Author: user(bob, "bob"), Content: mention + " me too", Mentions: []*discordgo.User{user(me, "bot")}},
			ours:    map[string]string{"777000000000000001": alice},
			wantMsg: &bot.Message{ID: "m16", UserID: bob, UserName: "bob", Address: bot.Address("777000000000000001:" + bob), Text: "me too"},
		},
		{
			name: "another bot",
			msg:  discordgo.Message{ID: "17", ChannelID: dm, Author: &discordgo.User{ID: bob, Bot: true}, Content: "hi"},
		},
		{
			name: "the bot itself",
			msg:  discordgo.Message{ID: "18", ChannelID: dm, Author: user(me, "bot"), Content: "hi"},
		},
		{
			name: "a webhook",
			msg:  discordgo.Message{ID: "19", ChannelID: chan1, GuildID: guild, WebhookID: "1", Author: user(bob, "hook"), Content: mention, Mentions: []*discordgo.User{user(me, "bot")}},
		},
		{
			name: "a system message",
			msg:  discordgo.Message{ID: "20", ChannelID: dm, Author: user(alice, "alice"), Content: "pinned", Type: discordgo.MessageTypeChannelPinnedMessage},
		},
		{
			name: "empty (no message content intent)",
			msg:  discordgo.Message{ID: "21", ChannelID: "777000000000000001", GuildID: guild, Author: user(alice, "alice")},
			ours: map[string]string{"777000000000000001": alice},
		},
		{
			name:    "a photo",
			msg:     discordgo.Message{ID: "22", ChannelID: dm, Author: user(alice, "alice"), Attachments: []*discordgo.MessageAttachment{{ID: "1"}}},
			wantMsg: &bot.Message{ID: "m22", UserID: alice, UserName: "alice", Address: bot.Address(dm + ":" + alice), NonText: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &recorder{}
			a, api, _, _ := unitAdapter(t, h)
			for th, u := range tt.ours {
				a.threads.add(th, u)
			}
			a.onMessage(context.Background(), &tt.msg)
			got := h.messages()
			if tt.wantMsg == nil {
				if len(got) != 0 || len(api.log()) != 0 {
					t.Fatalf("not ignored: %+v, calls %q", got, api.log())
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("handled %d messages", len(got))
			}
			want := *tt.wantMsg
			want.Channel = Channel
			got[0].Time = time.Time{}
			if got[0] != want {
				t.Errorf("message\n got %+v\nwant %+v", got[0], want)
			}
			calls := api.log()
			for i, prefix := range tt.wantCall {
				if i >= len(calls) || !strings.HasPrefix(calls[i], prefix) {
					t.Errorf("call %d: got %q, want prefix %q", i, calls, prefix)
				}
			}
			for _, c := range calls {
				if strings.Contains(c, "PINGS") {
					t.Errorf("a call may ping: %s", c)
				}
			}
		})
	}
}

func TestNoThreadFallsBackToChannel(t *testing.T) {
	h := &recorder{}
	a, api, _, _ := unitAdapter(t, h)
	api.fail[opThread] = errors.New("missing permissions")
	a.onMessage(context.Background(), &discordgo.Message{ID: "1", ChannelID: chan1, GuildID: guild, Author: user(alice, "alice"),
		Content: "<@" + me + "> help", Mentions: []*discordgo.User{user(me, "bot")}})
	if got := h.messages(); len(got) != 1 || got[0].Address != bot.Address(chan1+":"+alice) {
		t.Fatalf("messages %+v", got)
	}
	if calls := api.log(); !strings.HasPrefix(calls[len(calls)-1], opSend+" "+chan1) {
		t.Errorf("calls %q", calls)
	}
}

func command(name, channel, guildID string, u *discordgo.User, opts ...*discordgo.ApplicationCommandInteractionDataOption) *discordgo.Interaction {
	i := &discordgo.Interaction{ID: "700000000000000001", AppID: me, Type: discordgo.InteractionApplicationCommand, ChannelID: channel, GuildID: guildID, Token: "tok",
		Data: discordgo.ApplicationCommandInteractionData{Name: name, Options: opts}}
	if guildID != "" {
		i.Member = &discordgo.Member{User: u}
	} else {
		i.User = u
	}
	return i
}

func TestSlashCommand(t *testing.T) {
	problem := &discordgo.ApplicationCommandInteractionDataOption{Name: "problem", Type: discordgo.ApplicationCommandOptionString, Value: "can't send DMs"}
	reply := func(bot.Message) bot.Turn {
		return bot.Turn{Replies: []flows.Reply{{Text: "first"}, {Text: "second", Buttons: []flows.Button{{ID: "2.o.no", Label: "No"}}}}}
	}
	tests := []struct {
		name   string
		ix     *discordgo.Interaction
		thread bool
		fail   string // op made to fail
		want   []string
		msg    bot.Message
	}{
		{
			name: "in a server channel: a thread",
			ix:   command("troubleshoot", chan1, guild, user(alice, "alice"), problem),
			want: []string{
				opAck + ` type=5 "" [] ephemeral`,
				opThread + " " + chan1 + " TikTok messages help for alice",
				opThreadJoin + " 555000000000000001 " + alice,
				opSend + ` 555000000000000001 "first" []`,
				opSend + ` 555000000000000001 "second" [` + alice + `:2.o.no]`,
				opEdit + ` "I opened a thread for you: <#555000000000000001>. Let's continue there." []`,
			},
			msg: bot.Message{ID: "i700000000000000001", Channel: Channel, UserID: alice, UserName: "alice", Address: bot.Address("555000000000000001:" + alice), Text: "can't send DMs", Command: flows.CmdTroubleshoot},
		},
		{
			name: "in a server channel without threads: private",
			ix:   command("human", chan1, guild, user(alice, "alice")),
			fail: opThread,
			want: []string{
				opAck + ` type=5 "" [] ephemeral`,
				opThread + " " + chan1,
				opEdit + ` "first" []`,
				opFollowup + ` "second" [` + alice + `:2.o.no] ephemeral`,
			},
			msg: bot.Message{ID: "i700000000000000001", Channel: Channel, UserID: alice, UserName: "alice", Address: bot.Address(chan1 + ":" + alice), Command: flows.CmdHuman},
		},
		{
			name:   "in a thread: in place",
			ix:     command("help", "777000000000000001", guild, user(alice, "alice")),
			thread: true,
			want: []string{
				opAck + ` type=5 "" []`,
				opEdit + ` "first" []`,
				opFollowup + ` "second" [` + alice + `:2.o.no]`,
			},
			msg: bot.Message{ID: "i700000000000000001", Channel: Channel, UserID: alice, UserName: "alice", Address: bot.Address("777000000000000001:" + alice), Command: flows.CmdHelp},
		},
		{
			name: "in a DM",
			ix:   command("help", dm, "", user(alice, "alice")),
			want: []string{opAck + ` type=5 "" []`, opEdit + ` "first" []`, opFollowup + ` "second" [` + alice + `:2.o.no]`},
			msg:  bot.Message{ID: "i700000000000000001", Channel: Channel, UserID: alice, UserName: "alice", Address: bot.Address(dm + ":" + alice), Command: flows.CmdHelp},
		},
		{
			name: "acknowledgement failed: replies to the channel",
			ix:   command("help", dm, "", user(alice, "alice")),
			fail: opAck,
			want: []string{opAck + " type=5", opSend + ` ` + dm + ` "first" []`, opSend + ` ` + dm + ` "second" [` + alice + `:2.o.no]`},
			msg:  bot.Message{ID: "i700000000000000001", Channel: Channel, UserID: alice, UserName: "alice", Address: bot.Address(dm + ":" + alice), Command: flows.CmdHelp},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &recorder{reply: reply}
			a, api, _, _ := unitAdapter(t, h)
			if tt.fail != "" {
				api.fail[tt.fail] = errors.New("refused")
			}
			a.onInteraction(context.Background(), tt.ix, origin{thread: tt.thread})
			if got := h.messages(); len(got) != 1 || got[0] != tt.msg {
				t.Errorf("messages\n got %+v\nwant %+v", got, tt.msg)
			}
			calls := api.log()
			if len(calls) != len(tt.want) {
				t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(tt.want, "\n"))
			}
			for i := range calls {
				if !strings.HasPrefix(calls[i], tt.want[i]) {
					t.Errorf("call %d: %s\nwant prefix: %s", i, calls[i], tt.want[i])
				}
			}
		})
	}
}

func press(customID, channel, guildID string, u *discordgo.User) *discordgo.Interaction {
	i := &discordgo.Interaction{ID: "700000000000000002", AppID: me, Type: discordgo.InteractionMessageComponent, ChannelID: channel, GuildID: guildID, Token: "tok",
		Data:    discordgo.MessageComponentInteractionData{CustomID: customID, ComponentType: discordgo.ButtonComponent},
		Message: &discordgo.Message{ID: "800000000000000001", ChannelID: channel, Content: "Is your app up to date?"}}
	if guildID != "" {
		i.Member = &discordgo.Member{User: u}
	} else {
		i.User = u
	}
	return i
}

func TestButtonPress(t *testing.T) {
	const thread = "777000000000000001"
	next := bot.Turn{Replies: []flows.Reply{{Text: "next question", Buttons: []flows.Button{{ID: "5.o.yes", Label: "Yes"}}}}}
	stale := bot.Turn{Stale: true, Replies: []flows.Reply{{Text: "That question is already closed.", Private: true}, {Text: "open question", Buttons: []flows.Button{{ID: "5.o.yes", Label: "Yes"}}, Private: true}}}
	tests := []struct {
		name   string
		ix     *discordgo.Interaction
		turn   bot.Turn
		button string // handed to the engine; "" when not handled
		want   []string
	}{
		{
			name:   "answers the question",
			ix:     press(alice+":4.o.yes", thread, guild, user(alice, "alice")),
			turn:   next,
			button: "4.o.yes",
			want: []string{
				opAck + ` type=7 "Is your app up to date?" []`,
				opSend + ` ` + thread + ` "next question" [` + alice + `:5.o.yes]`,
			},
		},
		{
			name:   "a closed question: privately",
			ix:     press(alice+":2.o.yes", thread, guild, user(alice, "alice")),
			turn:   stale,
			button: "2.o.yes",
			want: []string{
				opAck + ` type=7`,
				opFollowup + ` "That question is already closed." [] ephemeral`,
				opFollowup + ` "open question" [` + alice + `:5.o.yes] ephemeral`,
			},
		},
		{
			name: "someone else's buttons",
			ix:   press(alice+":4.o.yes", thread, guild, user(bob, "bob")),
			want: []string{opAck + ` type=4 "These buttons belong to someone else's conversation. Use /troubleshoot to start your own." [] ephemeral`},
		},
		{
			name:   "a button without owner (older message)",
			ix:     press("human", dm, "", user(bob, "bob")),
			turn:   next,
			button: "human",
			want:   []string{opAck + ` type=7`, opSend + ` ` + dm + ` "next question" [` + bob + `:5.o.yes]`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &recorder{reply: func(bot.Message) bot.Turn { return tt.turn }}
			a, api, _, _ := unitAdapter(t, h)
			a.threads.add(thread, alice)
			a.onInteraction(context.Background(), tt.ix, origin{thread: true})
			got := h.messages()
			if tt.button == "" && len(got) != 0 || tt.button != "" && (len(got) != 1 || got[0].Button != tt.button) {
				t.Errorf("messages %+v, want button %q", got, tt.button)
			}
			calls := api.log()
			if len(calls) != len(tt.want) {
				t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(tt.want, "\n"))
			}
			for i := range calls {
				if !strings.HasPrefix(calls[i], tt.want[i]) {
					t.Errorf("call %d: %s\nwant prefix: %s", i, calls[i], tt.want[i])
				}
			}
		})
	}
}

// engineLike sends through the adapter as the engine does when the
// adapter is its Sender: the turn's replies (private for a stale press),
// then something more (a place in the queue). It records what the fake
// API saw right after each Send, and the errors Send returned.
type engineLike struct {
	s    bot.Sender
	api  *fakeAPI
	seen *[]int
	errs *[]error
}

func (e engineLike) Handle(ctx context.Context, m bot.Message) (bot.Turn, error) {
	t := bot.Turn{Replies: []flows.Reply{{Text: "reply", Private: m.Button == "stale"}}}
	err1 := e.s.Send(ctx, m.Address, t.Replies)
	*e.seen = append(*e.seen, len(e.api.log()))
	err2 := e.s.Send(ctx, m.Address, []flows.Reply{{Text: "you are number 2 in the queue"}})
	*e.seen = append(*e.seen, len(e.api.log()))
	*e.errs = append(*e.errs, err1, err2)
	return t, errors.Join(err1, err2)
}

func TestSendDuringTurn(t *testing.T) {
	var a *Adapter
	var seen []int
	var errs []error
	var api *fakeAPI
	a, api, obs, _ := unitAdapter(t, handlerFunc(func(ctx context.Context, m bot.Message) (bot.Turn, error) {
		return engineLike{s: a, api: api, seen: &seen, errs: &errs}.Handle(ctx, m)
	}))
	a.onInteraction(context.Background(), press("stale", dm, "", user(alice, "alice")), origin{})
	// The private reply is an ephemeral follow-up; the other goes to the
	// channel; each is sent while the turn runs.
	want := []string{opAck + " type=7", opFollowup + ` "reply" [] ephemeral`, opSend + " " + dm + ` "you are number 2 in the queue" []`}
	calls := api.log()
	if len(calls) != len(want) {
		t.Fatalf("calls %q", calls)
	}
	for i := range want {
		if !strings.HasPrefix(calls[i], want[i]) {
			t.Errorf("call %d: %s, want %s", i, calls[i], want[i])
		}
	}
	if fmt.Sprint(seen) != "[2 3]" || errors.Join(errs...) != nil {
		t.Errorf("calls seen after each Send %v, errors %v: want each sent before Send returned", seen, errs)
	}
	if obs.get("in") != 1 || obs.get("out") != 2 {
		t.Errorf("observer %v", obs)
	}

	// A reply that can't be delivered is Send's error, for the engine to
	// keep in its outbox; the user is told something went wrong.
	seen, errs = nil, nil
	api.fail[opFollowup] = &discordgo.RESTError{Response: &http.Response{StatusCode: 404, Status: "404 Not Found"}}
	a.onInteraction(context.Background(), press("stale", dm, "", user(alice, "alice")), origin{})
	if len(errs) != 2 || errs[0] == nil || errs[1] != nil {
		t.Errorf("Send errors %v, want the first one failed", errs)
	}
	if obs.get("undelivered") != 1 {
		t.Errorf("observer %v", obs)
	}
	delete(api.fail, opFollowup)

	// Outside a turn, Send posts to the channel at once.
	if err := a.Send(context.Background(), bot.Address(dm+":"+alice), []flows.Reply{{Text: "redelivered"}}); err != nil {
		t.Fatal(err)
	}
	if calls := api.log(); !strings.HasPrefix(calls[len(calls)-1], opSend+" "+dm+` "redelivered"`) {
		t.Errorf("calls %q", calls)
	}
	if err := a.Send(context.Background(), "not-an-address", []flows.Reply{{Text: "x"}}); err == nil || obs.get("undelivered") != 2 {
		t.Errorf("bad address: err %v, undelivered %d", err, obs.get("undelivered"))
	}
}

func TestFailedTurn(t *testing.T) {
	a, api, _, logs := unitAdapter(t, handlerFunc(func(context.Context, bot.Message) (bot.Turn, error) {
		return bot.Turn{}, errors.New("store down: " + testSecret)
	}))
	a.onInteraction(context.Background(), command("help", dm, "", user(alice, "alice")), origin{})
	calls := api.log()
	if len(calls) != 2 || !strings.HasPrefix(calls[1], opEdit+` "Sorry, something went wrong`) {
		t.Errorf("calls %q", calls)
	}
	if !strings.Contains(logs.String(), "turn failed") {
		t.Errorf("no log of the failure:\n%s", logs)
	}
	// Duplicate: nothing to say, "thinking…" removed.
	a2, api2, _, _ := unitAdapter(t, handlerFunc(func(context.Context, bot.Message) (bot.Turn, error) {
		return bot.Turn{Duplicate: true}, nil
	}))
	a2.onInteraction(context.Background(), command("help", dm, "", user(alice, "alice")), origin{})
	if calls := api2.log(); len(calls) != 2 || !strings.HasPrefix(calls[1], opDelete) {
		t.Errorf("calls %q", calls)
	}
}

func TestUndeliveredIsCounted(t *testing.T) {
	a, api, obs, logs := unitAdapter(t, &recorder{})
	api.fail[opSend] = &discordgo.RESTError{Response: &http500, ResponseBody: []byte(`{"message": "500: Internal Server Error"}`)}
	a.onMessage(context.Background(), &discordgo.Message{ID: "1", ChannelID: dm, Author: user(alice, "alice"), Content: "hi"})
	if n := len(api.log()); n != DefaultMaxAttempts {
		t.Errorf("%d tries, want %d", n, DefaultMaxAttempts)
	}
	if obs.get("undelivered") != 1 || obs.get("retry") != DefaultMaxAttempts-1 || obs.get("error "+opSend) != DefaultMaxAttempts {
		t.Errorf("observer %v", obs.snapshot())
	}
	if !strings.Contains(logs.String(), "reply not delivered") || strings.Contains(logs.String(), `"hi"`) {
		t.Errorf("logs:\n%s", logs)
	}
}

var http500 = http.Response{StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error"}
